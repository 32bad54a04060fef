//! Correcting the segmentation by hand: a round brush or an eraser of chosen size and
//! label, drawn on any of the three views, with undo and redo (buttons, Ctrl+Z, Ctrl+Y).
//! The volumes follow each stroke, and the downloads carry the edited labels. The stroke
//! logic is `edit_history.rs`; the labels live with the segmentation in `Run`.

use brainfm_core::metrics::label_name;
use leptos::prelude::*;

use super::edit_history::disc;
use super::render::Plane;
use super::run::Run;
use super::viewer::Viewer;

/// The brush, as the edit panel sets it.
#[derive(Clone, Copy)]
pub struct Editor {
    /// Drawing on the views (otherwise a click moves the crosshair).
    pub on: RwSignal<bool>,
    pub eraser: RwSignal<bool>,
    pub label: RwSignal<u16>,
    pub radius_mm: RwSignal<f64>,
}

impl Editor {
    pub fn new() -> Self {
        Editor {
            on: RwSignal::new(false),
            eraser: RwSignal::new(false),
            label: RwSignal::new(1),
            radius_mm: RwSignal::new(3.0),
        }
    }

    pub fn drawing(self) -> bool {
        self.on.get_untracked()
    }

    /// Paint the brush at display voxel `at`, in the slice of `plane` through it.
    pub fn paint(self, viewer: Viewer, run: Run, plane: Plane, at: [usize; 3]) {
        let value = match self.eraser.get_untracked() {
            true => 0,
            false => self.label.get_untracked(),
        };
        let radius = self.radius_mm.get_untracked();
        if let Some(voxels) = viewer.with_scan(|s| {
            let d = &s.display;
            disc(d.dims, d.spacing, plane.axes(), at, radius)
        }) {
            run.paint(voxels, value);
        }
    }
}

#[component]
pub fn EditPanel() -> impl IntoView {
    let editor = expect_context::<Editor>();
    let run = expect_context::<Run>();
    let names = move || {
        run.seg_rev.track();
        run.volumes().map(|(ml, names)| {
            (0..ml.len().max(names.len()))
                .map(|l| label_name(&names, l))
                .collect::<Vec<_>>()
        })
    };
    view! {
        <section class="edit" hidden=move || names().is_none() data-testid="edit">
            <h2>"Correct the labels"</h2>
            <div class="buttons">
                <label><input type="checkbox" data-testid="edit-on" prop:checked=move || editor.on.get()
                    on:change=move |ev| editor.on.set(event_target_checked(&ev)) />
                    " Draw on the views"</label>
                <label>"Label "
                    <select data-testid="edit-label" on:change=move |ev| {
                        if let Ok(l) = event_target_value(&ev).parse::<u16>() { editor.label.set(l) }
                    }>
                        {move || names().unwrap_or_default().into_iter().enumerate().skip(1).map(|(l, name)| view! {
                            <option value=l.to_string() selected=move || editor.label.get() as usize == l>{format!("{l}: {name}")}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label><input type="checkbox" data-testid="edit-eraser" prop:checked=move || editor.eraser.get()
                    on:change=move |ev| editor.eraser.set(event_target_checked(&ev)) />
                    " Eraser (paints background)"</label>
                <label>"Brush radius "
                    <input type="range" min="0.5" max="20" step="0.5" data-testid="edit-radius"
                        prop:value=move || editor.radius_mm.get().to_string()
                        on:input=move |ev| { if let Ok(r) = event_target_value(&ev).parse::<f64>() { editor.radius_mm.set(r) } } />
                    {move || format!(" {:.1} mm", editor.radius_mm.get())}</label>
                <button type="button" data-testid="undo" disabled=move || !run.edit_state().0
                    on:click=move |_| run.step_edits(false)>"Undo"</button>
                <button type="button" data-testid="redo" disabled=move || !run.edit_state().1
                    on:click=move |_| run.step_edits(true)>"Redo"</button>
            </div>
            <p class="hint" data-testid="edit-status" data-changed=move || run.edit_state().2.to_string()>{move || {
                let changed = run.edit_state().2;
                match changed {
                    0 => "Tick “Draw on the views”, then click or drag on a view to paint the chosen label in that slice (Ctrl+Z undoes, Ctrl+Y redoes). The downloads carry your edits.".to_string(),
                    n => format!("{n} voxels changed by hand; the volumes above and both downloads include the edits."),
                }
            }}</p>
        </section>
    }
}
