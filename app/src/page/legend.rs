//! The legend of a segmentation: per label its colour, name and volume, with show / opacity
//! controls for the overlay.

use brainfm_core::metrics::label_name;
use leptos::prelude::*;

use super::render::label_colour;
use super::run::Run;

#[component]
pub fn Legend() -> impl IntoView {
    let run = expect_context::<Run>();
    let styles = run.styles;
    view! {
        <section class="legend" hidden=move || { run.seg_rev.track(); run.volumes().is_none() }>
            <h2>"Labels"</h2>
            <table data-testid="legend">
                <thead><tr><th>"Show"</th><th>"Label"</th><th>"Name"</th><th>"Volume (mL)"</th><th>"Opacity"</th></tr></thead>
                <tbody>
                {move || {
                    run.seg_rev.track();
                    let rows: Vec<(usize, String, f64)> = run.volumes().map(|(ml, names)| {
                        ml.iter().enumerate().map(|(l, v)| (l, label_name(&names, l), *v)).collect()
                    }).unwrap_or_default();
                    rows.into_iter().map(|(l, name, ml)| {
                        let [r, g, b] = label_colour(l);
                        view! {
                            <tr data-label=l.to_string()>
                                <td><input type="checkbox" aria-label=format!("show {name}")
                                    prop:checked=move || styles.with(|s| s.get(l).map(|s| s.0).unwrap_or(false))
                                    on:change=move |ev| { let on = event_target_checked(&ev); styles.update(|s| if let Some(s) = s.get_mut(l) { s.0 = on; }); } /></td>
                                <td><span class="swatch" style:background-color=format!("rgb({r}, {g}, {b})")></span>{l.to_string()}</td>
                                <td>{name.clone()}</td>
                                <td class="num" data-testid="ml">{format!("{ml:.2}")}</td>
                                <td><input type="range" min="0" max="1" step="0.05" aria-label=format!("opacity of {name}")
                                    prop:value=move || styles.with(|s| s.get(l).map(|s| s.1).unwrap_or(0.5)).to_string()
                                    on:input=move |ev| { if let Ok(o) = event_target_value(&ev).parse::<f64>() { styles.update(|s| if let Some(s) = s.get_mut(l) { s.1 = o; }); } } /></td>
                            </tr>
                        }
                    }).collect_view()
                }}
                </tbody>
            </table>
        </section>
    }
}
