//! The teaching panel: what self-supervised pre-training asks of the model, shown on the
//! user's own scan. The pictures are computed in the worker (worker/teach.rs, on core's
//! `infer::teach`) with the bundled pre-trained model, fetched only when the panel is
//! first opened so the app's start stays fast.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{HtmlCanvasElement, HtmlInputElement};

use super::browser::{self, fetch_bytes};
use super::compute::Compute;
use super::finetune::Ft;
use super::render::Rgba;
use super::run::Run;
use super::teach_render::{grey, heat, window};
use super::viewer::{put_rgba, Viewer};
use crate::protocol::{Bytes, ModelInfo, Picture, Reply, Request, Slot, TeachRequest, TeachView};

const PRETRAINED_URL: &str = "models/pretrained.bfm";
/// Network voxels become this many canvas pixels.
const SCALE: usize = 4;

#[derive(Clone, Debug, PartialEq)]
enum ModelState {
    NotLoaded,
    Loading,
    Ready(String),
    Failed(String),
}

#[derive(Clone, Debug, PartialEq)]
enum ViewState {
    Idle,
    Busy,
    Done(Vec<(String, f64)>),
    Failed(String),
}

impl ViewState {
    fn id(&self) -> &'static str {
        match self {
            ViewState::Idle => "idle",
            ViewState::Busy => "busy",
            ViewState::Done(_) => "done",
            ViewState::Failed(_) => "failed",
        }
    }
}

#[derive(Clone, Copy)]
pub struct Teach {
    model_state: RwSignal<ModelState>,
    mask: RwSignal<ViewState>,
    swap: RwSignal<ViewState>,
    ratio: RwSignal<f64>,
    block: RwSignal<u32>,
    seed: RwSignal<u64>,
    labels: StoredValue<Option<(String, Vec<u8>)>, LocalStorage>,
    labels_name: RwSignal<Option<String>>,
}

impl Teach {
    pub fn new() -> Self {
        Teach {
            model_state: RwSignal::new(ModelState::NotLoaded),
            mask: RwSignal::new(ViewState::Idle),
            swap: RwSignal::new(ViewState::Idle),
            ratio: RwSignal::new(0.6),
            block: RwSignal::new(4),
            seed: RwSignal::new(1),
            labels: StoredValue::new_local(None),
            labels_name: RwSignal::new(None),
        }
    }

    fn state(&self, view: TeachView) -> RwSignal<ViewState> {
        match view {
            TeachView::Swap => self.swap,
            TeachView::Mask => self.mask,
        }
    }

    /// The worker was restarted or failed: a view it was computing will not come.
    pub fn worker_gone(&self, why: &str) {
        for s in [self.mask, self.swap] {
            if s.get_untracked() == ViewState::Busy {
                s.set(ViewState::Failed(why.to_string()));
            }
        }
    }

    pub fn on_reply(&self, reply: Reply) {
        match reply {
            Reply::Taught {
                view,
                images,
                mut stats,
            } => {
                if let Err(e) = draw(view, &images) {
                    self.state(view)
                        .set(ViewState::Failed(format!("drawing the pictures: {e}")));
                    return;
                }
                stats.retain(|(_, v)| v.is_finite());
                self.state(view).set(ViewState::Done(stats));
            }
            Reply::TeachFailed { view, message } => {
                self.state(view).set(ViewState::Failed(message))
            }
            _ => {}
        }
    }

    /// The worker's answer about the pre-trained model.
    pub fn model_loaded(&self, info: Result<ModelInfo, String>) {
        self.model_state.set(match info {
            Ok(m) => ModelState::Ready(format!(
                "{} ({}, {:.0} kB)",
                m.name,
                m.preset,
                m.size as f64 / 1024.0
            )),
            Err(e) => ModelState::Failed(e),
        });
    }

    /// Fetch the pre-trained model the first time the panel opens and hand it to the worker.
    fn ensure_model(self) {
        if !matches!(
            self.model_state.get_untracked(),
            ModelState::NotLoaded | ModelState::Failed(_)
        ) {
            return;
        }
        self.model_state.set(ModelState::Loading);
        spawn_local(async move {
            let sent = match fetch_bytes(PRETRAINED_URL).await {
                Ok(bytes) => super::bridge::send(&Request::Model {
                    slot: Slot::Teaching,
                    name: PRETRAINED_URL.into(),
                    bytes: Bytes(bytes),
                }),
                Err(e) => Err(format!("could not load {PRETRAINED_URL}: {e}")),
            };
            if let Err(e) = sent {
                self.model_state.set(ModelState::Failed(e));
            }
        });
    }

    fn start(self, viewer: Viewer, run: Run, view: TeachView) {
        let state = self.state(view);
        if state.get_untracked() == ViewState::Busy {
            return;
        }
        let Some(centre_mm) = viewer.cursor_mm() else {
            state.set(ViewState::Failed("open a scan first".into()));
            return;
        };
        let labels = match view {
            TeachView::Mask => None,
            TeachView::Swap => {
                let labels = self
                    .labels
                    .with_value(|l| l.as_ref().map(|l| l.1.clone()))
                    .or_else(|| run.nifti(viewer).ok().flatten());
                if labels.is_none() {
                    state.set(ViewState::Failed(
                        "segment the scan first, or choose a label map: the two contrasts are synthesised from labels"
                            .into(),
                    ));
                    return;
                }
                labels.map(Bytes)
            }
        };
        let request = Request::Teach(TeachRequest {
            view,
            labels,
            centre_mm,
            ratio: self.ratio.get_untracked(),
            block: self.block.get_untracked() as usize,
            seed: self.seed.get_untracked(),
        });
        state.set(ViewState::Busy);
        if let Err(e) = super::bridge::send(&request) {
            state.set(ViewState::Failed(e));
        }
    }
}

fn draw(view: TeachView, images: &[Picture]) -> Result<(), String> {
    let find = |k: &str| images.iter().find(|p| p.key == k);
    let reference = find(match view {
        TeachView::Swap => "b",
        TeachView::Mask => "original",
    })
    .ok_or("the worker sent no reference picture")?;
    let win = window(&reference.data.0);
    let top = (win.1 - win.0) / 2.0;
    let hidden = find("mask").map(|m| &m.data.0[..]);
    let prefix = match view {
        TeachView::Swap => "swap",
        TeachView::Mask => "mask",
    };
    for p in images {
        let data = &p.data.0;
        let img = match (view, p.key.as_str()) {
            (_, "mask") => continue,
            (_, "error") => heat(p.width, p.height, SCALE, data, top),
            (TeachView::Mask, "masked") => grey(p.width, p.height, SCALE, data, win, hidden),
            (TeachView::Swap, "a") => grey(p.width, p.height, SCALE, data, window(data), None),
            _ => grey(p.width, p.height, SCALE, data, win, None),
        };
        paint(&format!("teach-{prefix}-{}", p.key), &img).map_err(|e| crate::js::message(&e))?;
    }
    Ok(())
}

fn paint(testid: &str, img: &Rgba) -> Result<(), JsValue> {
    let canvas: HtmlCanvasElement = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| {
            d.query_selector(&format!("canvas[data-testid=\"{testid}\"]"))
                .ok()
                .flatten()
        })
        .ok_or_else(|| JsValue::from_str(&format!("no canvas {testid}")))?
        .unchecked_into();
    put_rgba(&canvas, img).map(|_| ())
}

/// A picture with its caption and a plain-language explanation.
#[component]
fn Figure(testid: &'static str, title: &'static str, explain: &'static str) -> impl IntoView {
    view! {
        <figure class="teach-figure">
            <canvas data-testid=testid width="192" height="192"></canvas>
            <figcaption><strong>{title}</strong></figcaption>
            <p class="explain">{explain}</p>
        </figure>
    }
}

fn stat(s: &ViewState, key: &str) -> String {
    match s {
        ViewState::Done(stats) => stats
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.to_string())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

fn status_text(s: &ViewState, done: impl Fn(&[(String, f64)]) -> String) -> String {
    match s {
        ViewState::Idle => String::new(),
        ViewState::Busy => "Computing on this device…".into(),
        ViewState::Done(stats) => done(stats),
        ViewState::Failed(m) => format!("Could not compute this view: {m}"),
    }
}

fn get(stats: &[(String, f64)], key: &str) -> f64 {
    stats
        .iter()
        .find(|(k, _)| k == key)
        .map_or(f64::NAN, |s| s.1)
}

#[component]
pub fn TeachPanel() -> impl IntoView {
    let t = expect_context::<Teach>();
    let viewer = expect_context::<Viewer>();
    let run = expect_context::<Run>();
    let compute = expect_context::<Compute>();
    let ft = expect_context::<Ft>();
    let ready = move || matches!(t.model_state.get(), ModelState::Ready(_));
    let can_run = move |s: RwSignal<ViewState>| {
        ready()
            && viewer.has_scan()
            && compute.ready_now()
            && !run.busy()
            && !ft.training()
            && s.get() != ViewState::Busy
    };
    let on_labels = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(f) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        spawn_local(async move {
            match browser::read_bytes(&f).await {
                Ok(bytes) => {
                    t.labels.set_value(Some((f.name(), bytes)));
                    t.labels_name.set(Some(f.name()));
                }
                Err(e) => t.swap.set(ViewState::Failed(format!(
                    "could not read {}: {e}",
                    f.name()
                ))),
            }
        });
    };
    view! {
        <details class="teach" data-testid="teach" on:toggle=move |ev| {
            // Read as a plain property: HtmlDetailsElement would be a new web-sys feature,
            // which rebuilds burn's wgpu stack.
            let open = ev.target().map(|t| crate::js::get(&t.into(), "open").as_bool() == Some(true)).unwrap_or(false);
            if open { t.ensure_model(); }
        }>
            <summary>"How the model learns without labels (teaching views)"</summary>
            <p class="hint">"Before it ever saw a label, the model was pre-trained on two puzzles. Here they are, computed on \
                your scan around the crosshair (the axial slice through it), on this device, with a small pre-trained model."</p>
            <p data-testid="teach-model" data-state=move || match t.model_state.get() { ModelState::NotLoaded => "none", ModelState::Loading => "loading", ModelState::Ready(_) => "ready", ModelState::Failed(_) => "failed" }>
                {move || match t.model_state.get() {
                    ModelState::NotLoaded => String::new(),
                    ModelState::Loading => "Loading the pre-trained model…".into(),
                    ModelState::Ready(name) => format!("Pre-trained model: {name}."),
                    ModelState::Failed(m) => format!("The teaching views are unavailable: {m}"),
                }}
            </p>

            <h3>"1. Fill in the hidden cubes (masked reconstruction)"</h3>
            <div class="ft-settings">
                <label>{move || format!("Hidden fraction {:.0} % ", t.ratio.get() * 100.0)}
                    <input type="range" min="0.1" max="0.9" step="0.05" data-testid="teach-ratio"
                        prop:value=move || t.ratio.get().to_string()
                        on:input=move |ev| { if let Ok(v) = event_target_value(&ev).parse::<f64>() { t.ratio.set(v.clamp(0.0, 0.95)); } } />
                </label>
                <label>"Cube edge (voxels) "
                    <select data-testid="teach-block" on:change=move |ev| { if let Ok(v) = event_target_value(&ev).parse::<u32>() { t.block.set(v); } }>
                        <option value="2">"2"</option>
                        <option value="4" selected=true>"4"</option>
                        <option value="8">"8"</option>
                        <option value="16">"16"</option>
                    </select>
                </label>
                <button type="button" data-testid="teach-mask-run" disabled=move || !can_run(t.mask)
                    on:click=move |_| t.start(viewer, run, TeachView::Mask)>"Hide and reconstruct"</button>
                <button type="button" disabled=move || !can_run(t.mask)
                    on:click=move |_| { t.seed.update(|s| *s += 1); t.start(viewer, run, TeachView::Mask); }>"Other cubes"</button>
            </div>
            <p data-testid="teach-mask-status" aria-live="polite" data-state=move || t.mask.get().id()
                data-masked-error=move || stat(&t.mask.get(), "maskedError")
                data-visible-error=move || stat(&t.mask.get(), "visibleError")>
                {move || status_text(&t.mask.get(), |s| format!(
                    "Mean error under the hidden cubes {:.3}, on the visible voxels {:.3} ({:.0} % hidden).",
                    get(s, "maskedError"), get(s, "visibleError"), get(s, "maskedFraction") * 100.0))}
            </p>
            <div class="teach-grid" hidden=move || !matches!(t.mask.get(), ViewState::Done(_))>
                <Figure testid="teach-mask-original" title="Your scan"
                    explain="A slice of your scan around the crosshair, as the model sees it: resampled to its voxel size and with normalised brightness." />
                <Figure testid="teach-mask-masked" title="What the model is shown"
                    explain="The blue cubes are hidden (set to zero). Pre-training shows the model thousands of such puzzles." />
                <Figure testid="teach-mask-reconstruction" title="The model's reconstruction"
                    explain="The model's guess of the whole patch, hidden cubes included, from what it could see. To guess well it has to learn what brains look like, and no labels are needed for that." />
                <Figure testid="teach-mask-error" title="Error map"
                    explain="Where the guess differs from your scan (black = right, yellow = far off). Errors under the hidden cubes are what pre-training reduces." />
            </div>

            <h3>"2. Same anatomy, another contrast (cross-contrast swap)"</h3>
            <div class="ft-settings">
                <label>"Labels to synthesise from: the segmentation of this scan, or a label map "
                    <input type="file" data-testid="teach-labels" accept=".nii,.gz,.nii.gz,.mgz,.mgh" on:change=on_labels /></label>
                <span class="muted">{move || t.labels_name.get().map(|n| format!("using {n}")).unwrap_or_else(|| "using the segmentation of this scan (press Segment first if there is none)".into())}</span>
                <button type="button" data-testid="teach-swap-run" disabled=move || !can_run(t.swap)
                    on:click=move |_| t.start(viewer, run, TeachView::Swap)>"Synthesise and swap"</button>
                <button type="button" disabled=move || !can_run(t.swap)
                    on:click=move |_| { t.seed.update(|s| *s += 1); t.start(viewer, run, TeachView::Swap); }>"Other contrasts"</button>
            </div>
            <p data-testid="teach-swap-status" aria-live="polite" data-state=move || t.swap.get().id()
                data-swap-vs-b=move || stat(&t.swap.get(), "swapVsB")
                data-a-vs-b=move || stat(&t.swap.get(), "aVsB")>
                {move || status_text(&t.swap.get(), |s| format!(
                    "Mean difference to B: the swap {:.3}, A itself {:.3}.", get(s, "swapVsB"), get(s, "aVsB")))}
            </p>
            <div class="teach-grid" hidden=move || !matches!(t.swap.get(), ViewState::Done(_))>
                <Figure testid="teach-swap-a" title="Contrast A"
                    explain="One anatomy (from the labels), given random tissue brightness, blur, a bias field and noise: like one kind of MRI scan." />
                <Figure testid="teach-swap-b" title="Contrast B"
                    explain="The same anatomy with other random brightness: like a second kind of scan (say T2 after T1) of the same person." />
                <Figure testid="teach-swap-aInB" title="A's anatomy in B's contrast"
                    explain="The model splits each scan into an anatomy code and a contrast code. Here A's anatomy code is decoded with B's contrast code. If the split works this looks like B, because the anatomy code holds no contrast." />
                <Figure testid="teach-swap-error" title="Difference to B"
                    explain="Pre-training makes this small. That is why what the model learns about anatomy carries over from one contrast to another." />
            </div>
        </details>
    }
}
