//! The page: compute status, open a scan / a model (picker, drag and drop, the sample),
//! three synced views with window/level and the label overlay, run / cancel with progress,
//! legend with volumes, export.
//!
//! Over 500 lines: the page's shared state (`Ctx`) and the components that read it are
//! kept together until a split can be built for wasm32 and checked in the browser tests
//! in the same change.

use std::rc::Rc;
use std::time::Duration;

use brainfm_core::bundle::Bundle;
use brainfm_core::metrics::{label_name, VolumesTable};
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{Clamped, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CanvasRenderingContext2d, File, HtmlCanvasElement, HtmlInputElement, ImageData};

use crate::file;
use crate::format;
use crate::render::{label_colour, mm_per_pixel, render_slice, Plane, SliceGeom};
use crate::runner::{self, Event, Finished};
use crate::scan::{self, Loaded};

/// Longest side of a view, in canvas pixels.
const VIEW_PX: usize = 448;
/// The bundled sample scan (same origin; see www/LICENSES.md).
const SAMPLE_URL: &str = "sample/colin27_t1_2mm.nii.gz";
const SAMPLE_NAME: &str = "colin27_t1_2mm.nii.gz (sample)";
/// The bundled models (docs/MODEL_CARD.md): the T1w default loads at a first visit, the
/// multi-contrast one on request; later visits start with the last picked (settings.rs).
/// (URL, name shown, button text, test id.)
const BUNDLED_MODELS: [(&str, &str, &str, &str); 2] = [
    (
        "models/default.bfm",
        "default.bfm (bundled)",
        "T1-weighted scans (default)",
        "bundled-default",
    ),
    (
        "models/multicontrast.bfm",
        "multicontrast.bfm (bundled)",
        "T2w, FLAIR or other contrasts",
        "bundled-multicontrast",
    ),
];

#[derive(Debug, Clone, PartialEq)]
enum ScanState {
    Empty,
    Busy(String),
    Loaded,
    Failed(String),
}

/// A model bundle the user opened.
struct ModelFile {
    bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
struct ModelInfo {
    name: String,
    file: String,
    classes: Vec<String>,
    patch: [usize; 3],
    spacing: [f64; 3],
    provenance: String,
    size: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum RunState {
    Idle,
    Running {
        started: f64,
        stage: String,
        done: usize,
        total: usize,
    },
    Done {
        backend: String,
        seconds: f64,
        model_load_ms: f64,
        inference_ms: f64,
        largest_activation: f64,
        plan: String,
        model_name: String,
    },
    Failed(String),
    Cancelled,
}

/// The segmentation as displayed.
struct SegView {
    /// Labels in display (RAS) order.
    labels: Vec<u16>,
    result: Finished,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct LabelStyle {
    visible: bool,
    opacity: f64,
}

/// Everything the page's parts share (all `Copy` handles).
#[derive(Clone, Copy)]
pub(crate) struct Ctx {
    scan_state: RwSignal<ScanState>,
    scan: StoredValue<Option<Loaded>, LocalStorage>,
    scan_rev: RwSignal<u64>,
    cursor: RwSignal<[usize; 3]>,
    win: RwSignal<(f64, f64)>,
    model: StoredValue<Option<ModelFile>, LocalStorage>,
    model_info: RwSignal<Option<Result<ModelInfo, String>>>,
    pub(crate) compute: RwSignal<Option<(String, String)>>,
    cpu_only: RwSignal<bool>,
    run: RwSignal<RunState>,
    now: RwSignal<f64>,
    seg: StoredValue<Option<SegView>, LocalStorage>,
    seg_rev: RwSignal<u64>,
    styles: RwSignal<Vec<LabelStyle>>,
    /// The fine-tuning panel (crate::finetune).
    pub(crate) ft: crate::finetune::Ft,
    /// The teaching panel (crate::teach_panel).
    pub(crate) teach: crate::teach_panel::Teach,
    /// Models kept in IndexedDB (crate::saved).
    pub(crate) saved: crate::saved::Saved,
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

impl Ctx {
    fn new() -> Self {
        Ctx {
            scan_state: RwSignal::new(ScanState::Empty),
            scan: StoredValue::new_local(None),
            scan_rev: RwSignal::new(0),
            cursor: RwSignal::new([0; 3]),
            win: RwSignal::new((0.0, 1.0)),
            model: StoredValue::new_local(None),
            model_info: RwSignal::new(None),
            compute: RwSignal::new(None),
            cpu_only: RwSignal::new(crate::settings::cpu_only()),
            run: RwSignal::new(RunState::Idle),
            now: RwSignal::new(now_ms()),
            seg: StoredValue::new_local(None),
            seg_rev: RwSignal::new(0),
            styles: RwSignal::new(Vec::new()),
            ft: crate::finetune::Ft::new(),
            teach: crate::teach_panel::Teach::new(),
            saved: crate::saved::Saved::new(),
        }
    }

    /// The open scan's file bytes.
    pub(crate) fn scan_bytes(&self) -> Option<Vec<u8>> {
        self.scan
            .with_value(|s| s.as_ref().map(|s| s.bytes.clone()))
    }

    /// A scan is open (tracked).
    pub(crate) fn has_scan(&self) -> bool {
        self.scan_state.get() == ScanState::Loaded
    }

    /// The crosshair in world (scanner RAS) millimetres.
    pub(crate) fn cursor_mm(&self) -> Option<[f64; 3]> {
        let c = self.cursor.get_untracked();
        self.scan.with_value(|s| {
            s.as_ref().map(|s| {
                s.display
                    .voxel_to_world([c[0] as f64, c[1] as f64, c[2] as f64])
            })
        })
    }

    /// The current segmentation as .nii.gz bytes on the scan's grid.
    pub(crate) fn seg_nifti(&self) -> Option<Vec<u8>> {
        self.seg
            .with_value(|g| g.as_ref().map(|g| g.result.nifti.clone()))
    }

    /// The current model's bundle bytes.
    pub(crate) fn model_bytes(&self) -> Option<Vec<u8>> {
        self.model
            .with_value(|m| m.as_ref().map(|m| m.bytes.clone()))
    }

    /// A segmentation is running (tracked).
    pub(crate) fn busy(&self) -> bool {
        matches!(self.run.get(), RunState::Running { .. })
    }

    fn running(&self) -> bool {
        matches!(self.run.get_untracked(), RunState::Running { .. })
    }

    /// Start (or restart) the inference worker with the current CPU / WebGPU choice.
    fn start_worker(self) {
        self.compute.set(None);
        self.ft.worker_restarted();
        self.teach.worker_gone("the compute worker was restarted");
        let handler: Rc<dyn Fn(Event)> = Rc::new(move |ev| self.on_worker_event(ev));
        if let Err(e) = runner::start(self.cpu_only.get_untracked(), handler) {
            self.compute.set(Some(("none".into(), e)));
        }
    }

    fn on_worker_event(self, ev: Event) {
        match ev {
            Event::Ready { backend, text } => self.compute.set(Some((backend, text))),
            Event::Progress { stage, done, total } => {
                if let RunState::Running { started, .. } = self.run.get_untracked() {
                    self.run.set(RunState::Running {
                        started,
                        stage,
                        done,
                        total,
                    });
                }
            }
            Event::Done(result) => {
                let RunState::Running { started, .. } = self.run.get_untracked() else {
                    return;
                };
                let labels = self.scan.with_value(|s| match s {
                    Some(s) => s.labels_for_display(result.labels.clone()),
                    None => Err("the scan was closed".into()),
                });
                match labels {
                    Ok(labels) => {
                        let classes = result.volumes_ml.len().max(result.names.len());
                        self.styles.set(
                            (0..classes)
                                .map(|l| LabelStyle {
                                    visible: l != 0,
                                    opacity: 0.5,
                                })
                                .collect(),
                        );
                        self.run.set(RunState::Done {
                            backend: result.backend.clone(),
                            seconds: (now_ms() - started) / 1000.0,
                            model_load_ms: result.model_load_ms,
                            inference_ms: result.inference_ms,
                            largest_activation: result.largest_activation,
                            plan: result.plan.clone(),
                            model_name: result.model_name.clone(),
                        });
                        self.seg.set_value(Some(SegView {
                            labels,
                            result: *result,
                        }));
                        self.seg_rev.update(|r| *r += 1);
                    }
                    Err(e) => self.run.set(RunState::Failed(e)),
                }
            }
            Event::Train(ev) => self.ft.on_event(ev),
            Event::Teach(ev) => self.teach.on_event(ev),
            Event::Error(message) => {
                self.ft.worker_failed(&message);
                self.teach.worker_gone(&message);
                if self.running() {
                    self.run.set(RunState::Failed(message));
                } else if self.compute.get_untracked().is_none() {
                    self.compute.set(Some(("none".into(), message)));
                } else {
                    self.run.set(RunState::Failed(message));
                }
            }
        }
    }

    fn cancel_run(self) {
        if self.running() {
            self.run.set(RunState::Cancelled);
            self.compute.set(None);
            if let Err(e) = runner::cancel() {
                self.compute.set(Some(("none".into(), e)));
            }
        }
    }

    fn start_run(self) {
        if self.running() {
            return;
        }
        let scan = self
            .scan
            .with_value(|s| s.as_ref().map(|s| s.bytes.clone()));
        let model = self
            .model
            .with_value(|m| m.as_ref().map(|m| m.bytes.clone()));
        let (Some(scan), Some(model)) = (scan, model) else {
            self.run
                .set(RunState::Failed("open a scan and a model first".into()));
            return;
        };
        let started = now_ms();
        self.now.set(started);
        self.run.set(RunState::Running {
            started,
            stage: "starting".into(),
            done: 0,
            total: 0,
        });
        if let Err(e) = runner::run(&scan, &model) {
            self.run.set(RunState::Failed(e));
        }
    }

    /// Decode and show a scan (replacing any previous one and its segmentation).
    fn load_scan(self, name: String, bytes: Vec<u8>) {
        self.cancel_run();
        self.scan_state
            .set(ScanState::Busy(format!("Decoding {name}…")));
        spawn_local(async move {
            file::yield_to_paint().await;
            match scan::open(&name, bytes) {
                Ok(loaded) => {
                    let d = loaded.display.dims;
                    let s = loaded.info.stats;
                    self.win.set((s.p01 as f64, s.p99 as f64));
                    self.cursor.set([d[0] / 2, d[1] / 2, d[2] / 2]);
                    self.scan.set_value(Some(loaded));
                    self.seg.set_value(None);
                    self.styles.set(Vec::new());
                    self.run.set(RunState::Idle);
                    self.scan_state.set(ScanState::Loaded);
                    self.scan_rev.update(|r| *r += 1);
                    self.seg_rev.update(|r| *r += 1);
                }
                Err(message) => self.scan_state.set(ScanState::Failed(format!(
                    "Could not open {name}: {message}"
                ))),
            }
        });
    }

    pub(crate) fn load_model(self, name: String, bytes: Vec<u8>) {
        let info = match Bundle::from_bytes(&bytes) {
            Ok(b) => {
                let meta = b.meta();
                match b.config().seg_classes() {
                    None => Err(format!(
                        "{name} is a brainfm model without a segmentation head (a pre-trained encoder?); \
                         fine-tune it for segmentation first"
                    )),
                    Some(classes) => Ok(ModelInfo {
                        name: meta.name.clone(),
                        file: name.clone(),
                        classes: (0..classes)
                            .map(|l| meta.class_names.get(l).cloned().unwrap_or_else(|| format!("label {l}")))
                            .collect(),
                        patch: meta.patch_size,
                        spacing: meta.preprocess.target_spacing,
                        provenance: meta.provenance.clone(),
                        size: bytes.len(),
                    }),
                }
            }
            Err(e) => Err(format!("Could not open {name}: {e}")),
        };
        if info.is_ok() {
            self.model.set_value(Some(ModelFile { bytes }));
        } else {
            self.model.set_value(None);
        }
        self.model_info.set(Some(info));
    }

    /// A file from the picker or a drop: a scan or a model, by its name.
    fn open_file(self, f: File) {
        let name = f.name();
        let lower = name.to_lowercase();
        let is_model = lower.ends_with(".bfm");
        let is_scan =
            lower.ends_with(".nii") || lower.ends_with(".nii.gz") || lower.ends_with(".gz");
        if !is_model && !is_scan {
            self.scan_state.set(ScanState::Failed(format!(
                "{name} is neither a NIfTI scan (.nii, .nii.gz) nor a brainfm model (.bfm)"
            )));
            return;
        }
        if is_scan {
            self.scan_state
                .set(ScanState::Busy(format!("Reading {name}…")));
        }
        spawn_local(async move {
            match file::read_bytes(&f).await {
                Ok(bytes) if is_model => self.load_model(name, bytes),
                Ok(bytes) => self.load_scan(name, bytes),
                Err(message) if is_model => self
                    .model_info
                    .set(Some(Err(format!("Could not read {name}: {message}")))),
                Err(message) => self.scan_state.set(ScanState::Failed(format!(
                    "Could not read {name}: {message}"
                ))),
            }
        });
    }

    /// Fetch the bundled model the user last picked (the T1w default on a first visit),
    /// unless the user opened one meanwhile. A site served without it keeps the "open a
    /// model" hint.
    fn load_start_model(self) {
        let picked = crate::settings::bundled_model();
        let (url, name, ..) = BUNDLED_MODELS
            .into_iter()
            .find(|m| picked.as_deref() == Some(m.0))
            .unwrap_or(BUNDLED_MODELS[0]);
        spawn_local(async move {
            let result = fetch_bytes(url).await;
            if self.model_info.get_untracked().is_some() {
                return;
            }
            match result {
                Ok(bytes) => self.load_model(name.into(), bytes),
                Err(e) => leptos::logging::log!("no bundled model at start ({url}): {e}"),
            }
        });
    }

    /// Switch to a bundled model on the user's request; the next visit starts with it.
    fn load_bundled_model(self, url: &'static str, name: &'static str) {
        spawn_local(async move {
            match fetch_bytes(url).await {
                Ok(bytes) => {
                    crate::settings::set_bundled_model(url);
                    self.load_model(name.into(), bytes)
                }
                Err(e) => self
                    .model_info
                    .set(Some(Err(format!("Could not fetch {name}: {e}")))),
            }
        });
    }

    fn load_sample(self) {
        self.scan_state
            .set(ScanState::Busy("Fetching the sample scan…".into()));
        spawn_local(async move {
            match fetch_bytes(SAMPLE_URL).await {
                Ok(bytes) => self.load_scan(SAMPLE_NAME.into(), bytes),
                Err(e) => self.scan_state.set(ScanState::Failed(format!(
                    "Could not load the sample scan: {e}"
                ))),
            }
        });
    }
}

pub(crate) async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no browser window")?;
    let resp = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| file::js_message(&e))?;
    let resp: web_sys::Response = resp.dyn_into().map_err(|_| "not a response".to_string())?;
    if !resp.ok() {
        return Err(format!(
            "the server answered {} {}",
            resp.status(),
            resp.status_text()
        ));
    }
    let buf = JsFuture::from(resp.array_buffer().map_err(|e| file::js_message(&e))?)
        .await
        .map_err(|e| file::js_message(&e))?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

/// Offer `bytes` as a download named `name`.
pub(crate) fn download(name: &str, mime: &str, bytes: &[u8]) -> Result<(), String> {
    let array = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&array, &opts)
        .map_err(|e| file::js_message(&e))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| file::js_message(&e))?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| file::js_message(&e))?
        .unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    // Give the browser time to start the download before the URL goes away.
    let revoke = wasm_bindgen::closure::Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(w) = web_sys::window() {
        let _ =
            w.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 10_000);
    }
    Ok(())
}

fn stem(name: &str) -> String {
    let base = name.split(' ').next().unwrap_or(name);
    base.trim_end_matches(".gz")
        .trim_end_matches(".nii")
        .to_string()
}

#[component]
pub fn App() -> impl IntoView {
    let ctx = Ctx::new();
    ctx.start_worker();
    ctx.load_start_model();
    let canvases: [NodeRef<html::Canvas>; 3] = [NodeRef::new(), NodeRef::new(), NodeRef::new()];

    // Tick the elapsed-time display while a run is going.
    let _ = set_interval_with_handle(
        move || {
            if ctx.running() {
                ctx.now.set(now_ms());
            }
        },
        Duration::from_millis(200),
    );

    // Redraw the three views whenever what they show changes.
    Effect::new(move |_| {
        ctx.scan_rev.track();
        ctx.seg_rev.track();
        let cursor = ctx.cursor.get();
        let win = ctx.win.get();
        let styles = ctx.styles.get();
        draw_views(ctx, &canvases, cursor, win, &styles);
    });

    let on_pick = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
        else {
            return;
        };
        if let Some(files) = input.files() {
            for i in 0..files.length() {
                if let Some(f) = files.get(i) {
                    ctx.open_file(f);
                }
            }
        }
        // Let the same file be picked again.
        input.set_value("");
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        if let Some(files) = ev.data_transfer().and_then(|d| d.files()) {
            for i in 0..files.length() {
                if let Some(f) = files.get(i) {
                    ctx.open_file(f);
                }
            }
        }
    };

    let loaded = move || ctx.scan_state.get() == ScanState::Loaded;

    view! {
        <header>
            <h1>"brainfm"</h1>
            <p class="tagline">"A brain-MRI foundation model that runs in your browser. Your scan never leaves this tab."</p>
        </header>
        <main on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default() on:drop=on_drop>
            <section class="compute">
                <p data-testid="compute" aria-live="polite"
                   data-backend=move || ctx.compute.get().map(|c| c.0).unwrap_or_default()>
                    {move || match ctx.compute.get() {
                        None => "Starting the compute worker and checking for WebGPU…".to_string(),
                        Some((_, text)) => text,
                    }}
                </p>
                <label class="inline">
                    <input type="checkbox" data-testid="cpu-only"
                        prop:checked=move || ctx.cpu_only.get()
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            crate::settings::set_cpu_only(on);
                            ctx.cpu_only.set(on);
                            ctx.cancel_run();
                            ctx.start_worker();
                        } />
                    " Use the CPU instead of WebGPU"
                </label>
            </section>
            <section class="open">
                <label for="files">"Open a brain MRI scan (.nii, .nii.gz) and a brainfm model (.bfm) — or drop them anywhere on the page"</label>
                <input id="files" data-testid="file" type="file" multiple accept=".nii,.gz,.nii.gz,.bfm" on:change=on_pick />
                <button type="button" data-testid="sample" on:click=move |_| ctx.load_sample()>"Open the sample scan (Colin27, 2 mm)"</button>
                <p class="privacy">"Files are read and processed inside this tab; nothing is uploaded. The page makes no requests to other sites."</p>
                <div data-testid="scan-state" aria-live="polite">{move || match ctx.scan_state.get() {
                    ScanState::Empty => view! { <p class="hint">"No scan open yet."</p> }.into_any(),
                    ScanState::Busy(text) => view! { <p class="busy">{text}</p> }.into_any(),
                    ScanState::Loaded => ().into_any(),
                    ScanState::Failed(message) => view! { <p class="error" role="alert" data-testid="error">{message}</p> }.into_any(),
                }}</div>
                <ModelPanel ctx=ctx />
            </section>
            <section class="scan" hidden=move || !loaded() data-testid="scan">
                {move || { ctx.scan_rev.track(); scan_facts(ctx) }}
                <WindowControls ctx=ctx />
                <div class="views">
                    {Plane::ALL.into_iter().zip(canvases).map(|(plane, canvas)| view! { <PlaneView ctx=ctx plane=plane canvas=canvas /> }).collect_view()}
                </div>
                <p class="caption">{move || { ctx.scan_rev.track(); ctx.scan.with_value(|s| s.as_ref().map(|s| s.info.caption()).unwrap_or_default()) }}</p>
            </section>
            <RunPanel ctx=ctx />
            <Legend ctx=ctx />
            <crate::teach_panel::TeachPanel ctx=ctx />
            <crate::finetune::FinetunePanel ctx=ctx />
            <crate::saved::SavedModels ctx=ctx />
        </main>
    }
}

fn scan_facts(ctx: Ctx) -> AnyView {
    ctx.scan.with_value(|s| match s {
        None => ().into_any(),
        Some(s) => {
            let rows = s
                .info
                .facts()
                .into_iter()
                .map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> })
                .collect_view();
            view! {
                <h2>{s.info.name.clone()}</h2>
                <dl class="facts" data-testid="facts">{rows}</dl>
            }
            .into_any()
        }
    })
}

#[component]
fn ModelPanel(ctx: Ctx) -> impl IntoView {
    view! {
        <div class="model" data-testid="model">
            {move || match ctx.model_info.get() {
                None => view! {
                    <p class="hint">"No model loaded yet (the bundled default model loads at start). You can also open a .bfm bundle \
                        from brainfm export or brainfm finetune."</p>
                }.into_any(),
                Some(Err(message)) => view! { <p class="error" role="alert" data-testid="model-error">{message}</p> }.into_any(),
                Some(Ok(m)) => view! {
                    <p data-testid="model-info">
                        <strong>{format!("Model: {}", m.name)}</strong>
                        {format!(" ({}, {}) — classes: {}; patch {}; resampled to {} mm",
                            m.file, format::bytes(m.size), m.classes.join(", "),
                            format::triple(m.patch.map(|p| p as f64)), format::triple(m.spacing))}
                    </p>
                    <p class="hint">{if m.provenance.is_empty() { "No provenance recorded in the bundle.".to_string() } else { format!("Provenance: {}", m.provenance) }}</p>
                }.into_any(),
            }}
            <p class="bundled">"Bundled models: "
                {BUNDLED_MODELS.into_iter().map(|(url, name, text, id)| view! {
                    <button type="button" data-testid=id
                        disabled=move || matches!(ctx.model_info.get(), Some(Ok(m)) if m.file == name)
                        on:click=move |_| ctx.load_bundled_model(url, name)>{text}</button>
                }).collect_view()}
            </p>
        </div>
    }
}

#[component]
fn WindowControls(ctx: Ctx) -> impl IntoView {
    let range = move || {
        ctx.scan_rev.track();
        ctx.scan
            .with_value(|s| {
                s.as_ref()
                    .map(|s| (s.info.stats.min as f64, s.info.stats.max as f64))
            })
            .unwrap_or((0.0, 1.0))
    };
    let step = move || {
        let (lo, hi) = range();
        ((hi - lo) / 500.0).max(1e-6).to_string()
    };
    view! {
        <div class="window">
            <label>"Level "
                <input type="range" data-testid="level" min=move || range().0.to_string() max=move || range().1.to_string() step=step
                    prop:value=move || { let (lo, hi) = ctx.win.get(); ((lo + hi) / 2.0).to_string() }
                    on:input=move |ev| { if let Ok(c) = event_target_value(&ev).parse::<f64>() {
                        ctx.win.update(|(lo, hi)| { let w = *hi - *lo; *lo = c - w / 2.0; *hi = c + w / 2.0; });
                    } } />
            </label>
            <label>"Window "
                <input type="range" data-testid="width" min=step max=move || { let (lo, hi) = range(); (hi - lo).to_string() } step=step
                    prop:value=move || { let (lo, hi) = ctx.win.get(); (hi - lo).to_string() }
                    on:input=move |ev| { if let Ok(w) = event_target_value(&ev).parse::<f64>() {
                        ctx.win.update(|(lo, hi)| { let c = (*lo + *hi) / 2.0; *lo = c - w / 2.0; *hi = c + w / 2.0; });
                    } } />
            </label>
            <span class="muted">{move || { let (lo, hi) = ctx.win.get(); format!("{} to {}", format::number(lo), format::number(hi)) }}</span>
            <button type="button" on:click=move |_| {
                if let Some(s) = ctx.scan.with_value(|s| s.as_ref().map(|s| s.info.stats)) { ctx.win.set((s.p01 as f64, s.p99 as f64)); }
            }>"Reset (1st–99th percentile)"</button>
        </div>
    }
}

#[component]
fn PlaneView(ctx: Ctx, plane: Plane, canvas: NodeRef<html::Canvas>) -> impl IntoView {
    let ax = plane.axes();
    let dims = move || {
        ctx.scan_rev.track();
        ctx.scan
            .with_value(|s| s.as_ref().map(|s| s.display.dims))
            .unwrap_or([1; 3])
    };
    let ras = move || {
        ctx.scan_rev.track();
        ctx.scan
            .with_value(|s| s.as_ref().map(|s| s.info.shown_in_ras).unwrap_or(false))
    };
    let mark = move |i: usize| move || if ras() { plane.marks()[i] } else { "" };
    let step = move |delta: i64| {
        let n = dims()[ax.fixed] as i64;
        ctx.cursor
            .update(|c| c[ax.fixed] = (c[ax.fixed] as i64 + delta).clamp(0, n - 1) as usize);
    };
    let point = move |ev: &leptos::ev::MouseEvent| {
        let Some(el) = canvas.get_untracked() else {
            return;
        };
        let el: HtmlCanvasElement = el;
        let rect = el.get_bounding_client_rect();
        if rect.width() <= 0.0 || rect.height() <= 0.0 {
            return;
        }
        let x = (ev.client_x() - rect.left()) * el.width() as f64 / rect.width();
        let y = (ev.client_y() - rect.top()) * el.height() as f64 / rect.height();
        let Some(geom) = ctx
            .scan
            .with_value(|s| s.as_ref().map(|s| view_geom(s, plane)))
        else {
            return;
        };
        let (c, r) = (geom.col_voxel(x), geom.row_voxel(y));
        ctx.cursor.update(|cur| {
            cur[ax.col] = c;
            cur[ax.row] = r;
        });
    };
    let name = plane.name().to_lowercase();
    view! {
        <figure class="plane">
            <figcaption>{move || format!("{} — slice {} of {}", plane.name(), ctx.cursor.get()[ax.fixed] + 1, dims()[ax.fixed])}</figcaption>
            <div class="view">
                <canvas node_ref=canvas tabindex="0" data-testid=format!("view-{name}")
                    aria-label=format!("{} view: click to move the crosshair, arrow keys to change slice", plane.name())
                    on:mousedown=move |ev| point(&ev)
                    on:mousemove=move |ev| { if ev.buttons() & 1 == 1 { point(&ev) } }
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                        let d = match ev.key().as_str() {
                            "ArrowUp" | "ArrowRight" => 1,
                            "ArrowDown" | "ArrowLeft" => -1,
                            "PageUp" => 10,
                            "PageDown" => -10,
                            _ => return,
                        };
                        ev.prevent_default();
                        step(d);
                    }></canvas>
                <span class="mark left">{mark(0)}</span>
                <span class="mark right">{mark(1)}</span>
                <span class="mark top">{mark(2)}</span>
                <span class="mark bottom">{mark(3)}</span>
            </div>
            <input type="range" min="0" max=move || (dims()[ax.fixed] - 1).to_string() step="1"
                data-testid=format!("slider-{name}") aria-label=format!("{} slice", plane.name())
                prop:value=move || ctx.cursor.get()[ax.fixed].to_string()
                on:input=move |ev| { if let Ok(v) = event_target_value(&ev).parse::<usize>() {
                    ctx.cursor.update(|c| c[ax.fixed] = v.min(dims()[ax.fixed] - 1));
                } } />
        </figure>
    }
}

fn view_geom(s: &Loaded, plane: Plane) -> SliceGeom {
    let v = &s.display;
    SliceGeom::new(
        plane,
        v.dims,
        v.spacing,
        mm_per_pixel(v.dims, v.spacing, VIEW_PX),
    )
}

fn draw_views(
    ctx: Ctx,
    canvases: &[NodeRef<html::Canvas>; 3],
    cursor: [usize; 3],
    win: (f64, f64),
    styles: &[LabelStyle],
) {
    ctx.scan.with_value(|s| {
        let Some(s) = s else { return };
        ctx.seg.with_value(|seg| {
            let labels = seg
                .as_ref()
                .map(|g| &g.labels[..])
                .filter(|l| l.len() == s.display.data.len());
            let lut: Vec<[u8; 4]> = styles
                .iter()
                .enumerate()
                .map(|(l, st)| {
                    let [r, g, b] = label_colour(l);
                    let a = if st.visible && l != 0 {
                        (st.opacity.clamp(0.0, 1.0) * 255.0).round() as u8
                    } else {
                        0
                    };
                    [r, g, b, a]
                })
                .collect();
            for (plane, canvas) in Plane::ALL.into_iter().zip(canvases) {
                let Some(el) = canvas.get_untracked() else {
                    continue;
                };
                let geom = view_geom(s, plane);
                let ax = plane.axes();
                let (img, shown) = render_slice(
                    &s.display.data,
                    labels,
                    &lut,
                    s.display.dims,
                    &geom,
                    cursor[ax.fixed],
                    win.0 as f32,
                    win.1 as f32,
                );
                let _ = paint(
                    &el,
                    &img,
                    geom.col_pixel(cursor[ax.col]),
                    geom.row_pixel(cursor[ax.row]),
                );
                let _ = el.set_attribute("data-overlay", &shown.to_string());
            }
        })
    })
}

/// Sizes `canvas` to `img` (only when it differs: resizing clears it) and draws `img`;
/// returns the 2D context for drawing on top.
pub(crate) fn put_rgba(
    canvas: &HtmlCanvasElement,
    img: &crate::render::Rgba,
) -> Result<CanvasRenderingContext2d, JsValue> {
    if canvas.width() != img.width || canvas.height() != img.height {
        canvas.set_width(img.width);
        canvas.set_height(img.height);
    }
    let ctx: CanvasRenderingContext2d = canvas
        .get_context("2d")?
        .ok_or_else(|| JsValue::from_str("no 2D context"))?
        .unchecked_into();
    let data = ImageData::new_with_u8_clamped_array_and_sh(
        Clamped(&img.pixels[..]),
        img.width,
        img.height,
    )?;
    ctx.put_image_data(&data, 0, 0)?;
    Ok(ctx)
}

fn paint(
    canvas: &HtmlCanvasElement,
    img: &crate::render::Rgba,
    cx: f64,
    cy: f64,
) -> Result<(), JsValue> {
    let ctx = put_rgba(canvas, img)?;
    ctx.set_stroke_style_str("rgba(0, 255, 0, 0.7)");
    ctx.set_line_width(1.0);
    ctx.begin_path();
    let (w, h) = (img.width as f64, img.height as f64);
    let (x, y) = (cx.floor() + 0.5, cy.floor() + 0.5);
    ctx.move_to(x, 0.0);
    ctx.line_to(x, h);
    ctx.move_to(0.0, y);
    ctx.line_to(w, y);
    ctx.stroke();
    Ok(())
}

#[component]
fn RunPanel(ctx: Ctx) -> impl IntoView {
    let has_model = move || matches!(ctx.model_info.get(), Some(Ok(_)));
    let can_run = move || {
        loaded_scan(ctx)
            && has_model()
            && ctx.compute.get().is_some()
            && !matches!(ctx.run.get(), RunState::Running { .. })
            && !ctx.ft.training()
    };
    view! {
        <section class="run">
            <div class="buttons">
                <button type="button" data-testid="run" disabled=move || !can_run() on:click=move |_| ctx.start_run()>"Segment"</button>
                <button type="button" data-testid="cancel" disabled=move || !matches!(ctx.run.get(), RunState::Running { .. }) on:click=move |_| ctx.cancel_run()>"Cancel"</button>
                <button type="button" data-testid="export-nifti" disabled=move || !matches!(ctx.run.get(), RunState::Done { .. })
                    on:click=move |_| {
                        let name = ctx.scan.with_value(|s| s.as_ref().map(|s| stem(&s.info.name))).unwrap_or_default();
                        let r = ctx.seg.with_value(|g| g.as_ref().map(|g| download(&format!("{name}_brainfm_seg.nii.gz"), "application/gzip", &g.result.nifti)));
                        if let Some(Err(e)) = r { ctx.run.set(RunState::Failed(format!("Could not save the segmentation: {e}"))); }
                    }>"Download segmentation (.nii.gz)"</button>
                <button type="button" data-testid="export-csv" disabled=move || !matches!(ctx.run.get(), RunState::Done { .. })
                    on:click=move |_| {
                        let name = ctx.scan.with_value(|s| s.as_ref().map(|s| stem(&s.info.name))).unwrap_or_default();
                        let r = ctx.seg.with_value(|g| g.as_ref().map(|g| download(&format!("{name}_brainfm_volumes.csv"), "text/csv", VolumesTable::from_volumes(&g.result.volumes_ml, &g.result.names).to_csv().as_bytes())));
                        if let Some(Err(e)) = r { ctx.run.set(RunState::Failed(format!("Could not save the volumes: {e}"))); }
                    }>"Download volumes (.csv)"</button>
            </div>
            {move || match ctx.run.get() {
                RunState::Idle => view! { <p class="hint" data-testid="run-status">{if can_run() { "Ready to segment." } else { "Open a scan and a model to segment." }}</p> }.into_any(),
                RunState::Running { started, stage, done, total } => {
                    let secs = (ctx.now.get() - started).max(0.0) / 1000.0;
                    let backend = backend_name(&ctx.compute.get().map(|c| c.0).unwrap_or_default());
                    view! {
                        <progress data-testid="progress" max=total.max(1).to_string() value=done.to_string()></progress>
                        <p data-testid="run-status" data-state="running">{format!("Running on {backend}: {stage} {done} of {total} — {secs:.1} s")}</p>
                    }.into_any()
                }
                RunState::Done { backend, seconds, model_load_ms, inference_ms, largest_activation, plan, model_name } => view! {
                    <p data-testid="run-status" data-state="done" data-backend=backend.clone()
                        data-model-load-ms=model_load_ms.to_string() data-inference-ms=inference_ms.to_string()
                        data-largest-activation=largest_activation.to_string()>
                        {format!("Segmented with {model_name} on {} in {seconds:.1} s (model load {model_load_ms:.0} ms, \
                            preprocessing + inference + mapping back {:.1} s); {plan}.", backend_name(&backend), inference_ms / 1000.0)}
                    </p>
                }.into_any(),
                RunState::Failed(message) => view! { <p class="error" role="alert" data-testid="run-status" data-state="failed">{format!("Segmentation failed: {message}")}</p> }.into_any(),
                RunState::Cancelled => view! { <p class="hint" data-testid="run-status" data-state="cancelled">"Cancelled."</p> }.into_any(),
            }}
        </section>
    }
}

fn loaded_scan(ctx: Ctx) -> bool {
    ctx.scan_state.get() == ScanState::Loaded
}

fn backend_name(id: &str) -> &'static str {
    match id {
        "webgpu" => "WebGPU",
        "cpu" => "the CPU (WASM)",
        _ => "no device",
    }
}

#[component]
fn Legend(ctx: Ctx) -> impl IntoView {
    view! {
        <section class="legend" hidden=move || { ctx.seg_rev.track(); ctx.seg.with_value(|s| s.is_none()) }>
            <h2>"Labels"</h2>
            <table data-testid="legend">
                <thead><tr><th>"Show"</th><th>"Label"</th><th>"Name"</th><th>"Volume (mL)"</th><th>"Opacity"</th></tr></thead>
                <tbody>
                {move || {
                    ctx.seg_rev.track();
                    let rows: Vec<(usize, String, f64)> = ctx.seg.with_value(|s| s.as_ref().map(|s| {
                        s.result.volumes_ml.iter().enumerate().map(|(l, v)| (l, label_name(&s.result.names, l), *v)).collect()
                    }).unwrap_or_default());
                    rows.into_iter().map(|(l, name, ml)| {
                        let [r, g, b] = label_colour(l);
                        view! {
                            <tr data-label=l.to_string()>
                                <td><input type="checkbox" aria-label=format!("show {name}")
                                    prop:checked=move || ctx.styles.with(|s| s.get(l).map(|s| s.visible).unwrap_or(false))
                                    on:change=move |ev| { let on = event_target_checked(&ev); ctx.styles.update(|s| if let Some(s) = s.get_mut(l) { s.visible = on; }); } /></td>
                                <td><span class="swatch" style:background-color=format!("rgb({r}, {g}, {b})")></span>{l.to_string()}</td>
                                <td>{name.clone()}</td>
                                <td class="num" data-testid="ml">{format!("{ml:.2}")}</td>
                                <td><input type="range" min="0" max="1" step="0.05" aria-label=format!("opacity of {name}")
                                    prop:value=move || ctx.styles.with(|s| s.get(l).map(|s| s.opacity).unwrap_or(0.5)).to_string()
                                    on:input=move |ev| { if let Ok(o) = event_target_value(&ev).parse::<f64>() { ctx.styles.update(|s| if let Some(s) = s.get_mut(l) { s.opacity = o; }); } } /></td>
                            </tr>
                        }
                    }).collect_view()
                }}
                </tbody>
            </table>
        </section>
    }
}
