//! The fine-tuning panel: (image, label map) pairs from the user's disk, the settings, a
//! live loss curve, and the adapted model (apply it for segmentation, or download it as a
//! .bfm that `brainfm predict` accepts). The training itself runs in the worker
//! (worker/train.rs), on core's fine-tuning step.

use leptos::prelude::*;
use leptos::task::spawn_local;
use web_sys::HtmlInputElement;

use super::browser;
use super::compute::Compute;
use super::format;
use super::model::Models;
use super::run::Run;
use super::saved::Saved;
use crate::protocol::{self, Bytes, Reply, Request, TrainControl, TrainRequest};

/// A pair as the page keeps it.
#[derive(Clone)]
struct Pair {
    image_name: String,
    label_name: String,
    image: Vec<u8>,
    label: Vec<u8>,
    held_out: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FtState {
    Idle,
    Running { paused: bool },
    Done { steps: usize, stopped: bool },
    Failed(String),
}

/// The panel's state (all `Copy` handles), kept in the page's context.
#[derive(Clone, Copy)]
pub struct Ft {
    pairs: StoredValue<Vec<Pair>, LocalStorage>,
    pairs_rev: RwSignal<u64>,
    state: RwSignal<FtState>,
    plan: RwSignal<Option<String>>,
    losses: RwSignal<Vec<f64>>,
    dices: RwSignal<Vec<f64>>,
    progress: RwSignal<(usize, usize, f64)>,
    val: RwSignal<Vec<(usize, f64)>>,
    result: StoredValue<Option<(String, Vec<u8>)>, LocalStorage>,
    steps: RwSignal<u32>,
    trainable: RwSignal<String>,
    lr: RwSignal<f64>,
    new_head: RwSignal<bool>,
    class_names: RwSignal<String>,
    augment: RwSignal<bool>,
    patch: RwSignal<u32>,
    message: RwSignal<Option<String>>,
}

impl Ft {
    pub fn new() -> Self {
        Ft {
            pairs: StoredValue::new_local(Vec::new()),
            pairs_rev: RwSignal::new(0),
            state: RwSignal::new(FtState::Idle),
            plan: RwSignal::new(None),
            losses: RwSignal::new(Vec::new()),
            dices: RwSignal::new(Vec::new()),
            progress: RwSignal::new((0, 0, 0.0)),
            val: RwSignal::new(Vec::new()),
            result: StoredValue::new_local(None),
            steps: RwSignal::new(30),
            trainable: RwSignal::new("decoder".into()),
            lr: RwSignal::new(1e-3),
            new_head: RwSignal::new(false),
            class_names: RwSignal::new(String::new()),
            augment: RwSignal::new(false),
            patch: RwSignal::new(0),
            message: RwSignal::new(None),
        }
    }

    /// Training now (tracked: for reactive closures).
    pub fn training(&self) -> bool {
        matches!(self.state.get(), FtState::Running { .. })
    }

    pub fn running(&self) -> bool {
        matches!(self.state.get_untracked(), FtState::Running { .. })
    }

    /// The worker was restarted (CPU / WebGPU switch, a cancelled segmentation): any run
    /// in it is gone.
    pub fn worker_restarted(&self) {
        if self.running() {
            self.state.set(FtState::Failed(
                "the compute worker was restarted, which ended the fine-tuning run".into(),
            ));
        }
    }

    /// The worker stopped with an error.
    pub fn worker_failed(&self, message: &str) {
        if self.running() {
            self.state.set(FtState::Failed(message.to_string()));
        }
    }

    pub fn on_reply(&self, reply: Reply) {
        match reply {
            Reply::TrainPlan { text } => self.plan.set(Some(text)),
            Reply::TrainStep(s) => {
                self.losses.update(|l| l.push(s.loss));
                self.dices.update(|d| d.push(s.dice));
                self.progress.set((s.step, s.total, s.steps_per_sec));
            }
            Reply::TrainVal { step, dice } => self.val.update(|v| v.push((step, dice))),
            Reply::Trained {
                bundle,
                steps,
                stopped,
                name,
            } => {
                self.result.set_value(Some((name, bundle.0)));
                self.state.set(FtState::Done { steps, stopped });
            }
            Reply::TrainFailed(message) => self.state.set(FtState::Failed(message)),
            _ => {}
        }
    }

    fn control(&self, c: TrainControl) {
        let _ = super::bridge::send(&Request::TrainControl(c));
    }

    /// Fine-tune the model the worker holds (the one the model panel shows).
    fn start(&self, models: Models) {
        if self.running() {
            return;
        }
        if !models.has_model_untracked() {
            self.state.set(FtState::Failed(
                "open a model to start from (the bundled default model, or a .bfm)".into(),
            ));
            return;
        };
        let pairs = self.pairs.get_value();
        let (train, held): (Vec<&Pair>, Vec<&Pair>) = pairs.iter().partition(|p| !p.held_out);
        if train.is_empty() {
            self.state.set(FtState::Failed(
                "add at least one training (image, label map) pair".into(),
            ));
            return;
        }
        let pair = |p: &Pair| protocol::Pair {
            image: Bytes(p.image.clone()),
            label: Bytes(p.label.clone()),
        };
        let request = Request::Train(Box::new(TrainRequest {
            pairs: train.iter().map(|p| pair(p)).collect(),
            val: held.first().map(|p| pair(p)),
            steps: self.steps.get_untracked() as u64,
            trainable: self.trainable.get_untracked(),
            lr: self.lr.get_untracked(),
            new_head: self.new_head.get_untracked(),
            class_names: self
                .class_names
                .get_untracked()
                .split(',')
                .map(|n| n.trim().to_string())
                .collect(),
            patch: Some(self.patch.get_untracked() as usize).filter(|&p| p > 0),
            augment: self.augment.get_untracked(),
            seed: 0,
            val_every: None,
        }));
        self.losses.set(Vec::new());
        self.dices.set(Vec::new());
        self.val.set(Vec::new());
        self.plan.set(None);
        self.progress
            .set((0, self.steps.get_untracked() as usize, 0.0));
        self.result.set_value(None);
        match super::bridge::send(&request) {
            Ok(()) => self.state.set(FtState::Running { paused: false }),
            Err(e) => self.state.set(FtState::Failed(e)),
        }
    }

    fn add_pair(&self, image: HtmlInputElement, label: HtmlInputElement, held_out: bool) {
        let (Some(img), Some(lab)) = (
            image.files().and_then(|f| f.get(0)),
            label.files().and_then(|f| f.get(0)),
        ) else {
            self.message
                .set(Some("choose an image and its label map first".into()));
            return;
        };
        let this = *self;
        spawn_local(async move {
            let (a, b) = (
                browser::read_bytes(&img).await,
                browser::read_bytes(&lab).await,
            );
            match (a, b) {
                (Ok(image_bytes), Ok(label_bytes)) => {
                    this.pairs.update_value(|p| {
                        p.push(Pair {
                            image_name: img.name(),
                            label_name: lab.name(),
                            image: image_bytes,
                            label: label_bytes,
                            held_out,
                        })
                    });
                    this.pairs_rev.update(|r| *r += 1);
                    this.message.set(None);
                    image.set_value("");
                    label.set_value("");
                }
                (Err(e), _) | (_, Err(e)) => this
                    .message
                    .set(Some(format!("could not read the files: {e}"))),
            }
        });
    }
}

/// The loss curve as an SVG polyline (newest step on the right).
fn curve_points(values: &[f64], w: f64, h: f64) -> String {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return String::new();
    }
    let hi = finite.iter().cloned().fold(f64::MIN, f64::max);
    let lo = finite.iter().cloned().fold(f64::MAX, f64::min).min(0.0);
    let span = (hi - lo).max(1e-9);
    let n = values.len().max(2) - 1;
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * w / n as f64,
                h - (v - lo) / span * (h - 4.0) - 2.0
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[component]
pub fn FinetunePanel() -> impl IntoView {
    let ft = expect_context::<Ft>();
    let models = expect_context::<Models>();
    let run = expect_context::<Run>();
    let compute = expect_context::<Compute>();
    let saved = expect_context::<Saved>();
    let image_ref: NodeRef<leptos::html::Input> = NodeRef::new();
    let label_ref: NodeRef<leptos::html::Input> = NodeRef::new();
    let held_ref: NodeRef<leptos::html::Input> = NodeRef::new();
    let running = move || matches!(ft.state.get(), FtState::Running { .. });
    let done = move || matches!(ft.state.get(), FtState::Done { .. });
    let joined = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.5}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    view! {
        <section class="finetune" data-testid="finetune">
            <h2>"Fine-tune on your own labelled scans"</h2>
            <p class="hint">"Add (image, label map) pairs as NIfTI files: the model learns your labels here, on this \
                device, with the same training step as brainfm finetune. Nothing is uploaded. Label maps hold whole \
                numbers (0 = background); labels the model lacks get a new head."</p>
            <div class="pair-form">
                <label>"Image " <input type="file" data-testid="ft-image" accept=".nii,.gz,.nii.gz,.mgz,.mgh" node_ref=image_ref /></label>
                <label>"Label map " <input type="file" data-testid="ft-label" accept=".nii,.gz,.nii.gz,.mgz,.mgh" node_ref=label_ref /></label>
                <label class="inline"><input type="checkbox" data-testid="ft-heldout" node_ref=held_ref />" held out (validation Dice)"</label>
                <button type="button" data-testid="ft-add" disabled=running on:click=move |_| {
                    if let (Some(i), Some(l)) = (image_ref.get_untracked(), label_ref.get_untracked()) {
                        let held = held_ref.get_untracked().map(|h| h.checked()).unwrap_or(false);
                        ft.add_pair(i, l, held);
                    }
                }>"Add pair"</button>
            </div>
            {move || ft.message.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
            <ul data-testid="ft-pairs">
                {move || {
                    ft.pairs_rev.track();
                    ft.pairs.with_value(|p| p.iter().enumerate().map(|(i, p)| {
                        let text = format!("{} + {} ({}, {}){}", p.image_name, p.label_name,
                            format::bytes(p.image.len()), format::bytes(p.label.len()),
                            if p.held_out { " — held out" } else { "" });
                        view! {
                            <li data-held-out=p.held_out.to_string()>{text}" "
                                <button type="button" on:click=move |_| {
                                    if !ft.running() {
                                        ft.pairs.update_value(|p| { if i < p.len() { p.remove(i); } });
                                        ft.pairs_rev.update(|r| *r += 1);
                                    }
                                }>"Remove"</button>
                            </li>
                        }
                    }).collect_view())
                }}
            </ul>
            <div class="ft-settings">
                <label>"Steps " <input type="number" min="1" max="100000" data-testid="ft-steps"
                    prop:value=move || ft.steps.get().to_string()
                    on:change=move |ev| { if let Ok(v) = event_target_value(&ev).parse::<u32>() { ft.steps.set(v.max(1)); } } /></label>
                <label>"What learns "
                    <select data-testid="ft-trainable" on:change=move |ev| ft.trainable.set(event_target_value(&ev))>
                        <option value="decoder" selected=true>"decoder and head (encoder frozen)"</option>
                        <option value="last:1">"+ the deepest encoder stage"</option>
                        <option value="last:2">"+ the two deepest encoder stages"</option>
                        <option value="all">"everything"</option>
                    </select>
                </label>
                <label>"Learning rate " <input type="number" step="any" min="0" data-testid="ft-lr"
                    prop:value=move || ft.lr.get().to_string()
                    on:change=move |ev| { if let Ok(v) = event_target_value(&ev).parse::<f64>() { ft.lr.set(v); } } /></label>
                <label>"Patch edge (0 = from the device) " <input type="number" min="0" step="8" data-testid="ft-patch"
                    prop:value=move || ft.patch.get().to_string()
                    on:change=move |ev| { if let Ok(v) = event_target_value(&ev).parse::<u32>() { ft.patch.set(v); } } /></label>
                <label class="inline"><input type="checkbox" data-testid="ft-newhead"
                    prop:checked=move || ft.new_head.get() on:change=move |ev| ft.new_head.set(event_target_checked(&ev)) />" new head for my labels"</label>
                <label>"Class names (optional, comma-separated, from label 0) " <input type="text" data-testid="ft-classes"
                    prop:value=move || ft.class_names.get() on:change=move |ev| ft.class_names.set(event_target_value(&ev)) /></label>
                <label class="inline"><input type="checkbox" data-testid="ft-augment"
                    prop:checked=move || ft.augment.get() on:change=move |ev| ft.augment.set(event_target_checked(&ev)) />" augmentation (for longer runs)"</label>
            </div>
            <div class="buttons">
                <button type="button" data-testid="ft-start"
                    disabled=move || running() || run.busy() || !compute.ready_now()
                    on:click=move |_| ft.start(models)>"Start fine-tuning"</button>
                <button type="button" data-testid="ft-pause" disabled=move || !running()
                    on:click=move |_| {
                        if let FtState::Running { paused } = ft.state.get_untracked() {
                            ft.control(if paused { TrainControl::Resume } else { TrainControl::Pause });
                            ft.state.set(FtState::Running { paused: !paused });
                        }
                    }>{move || if matches!(ft.state.get(), FtState::Running { paused: true }) { "Resume" } else { "Pause" }}</button>
                <button type="button" data-testid="ft-stop" disabled=move || !running()
                    on:click=move |_| ft.control(TrainControl::Stop)>"Stop (keep the model so far)"</button>
                <button type="button" data-testid="ft-apply" disabled=move || !done()
                    on:click=move |_| {
                        if let Some((name, bytes)) = ft.result.get_value() {
                            models.load(format!("{name}.bfm (fine-tuned here)"), bytes);
                        }
                    }>"Use for segmentation"</button>
                <button type="button" data-testid="ft-download" disabled=move || !done()
                    on:click=move |_| {
                        if let Some((name, bytes)) = ft.result.get_value() {
                            if let Err(e) = browser::download(&format!("{name}.bfm"), "application/octet-stream", &bytes) {
                                ft.message.set(Some(format!("could not save the model: {e}")));
                            }
                        }
                    }>"Download model (.bfm)"</button>
                <button type="button" data-testid="ft-keep" disabled=move || !done()
                    on:click=move |_| {
                        if let Some((name, bytes)) = ft.result.get_value() {
                            saved.keep(name, bytes);
                        }
                    }>"Keep in this browser"</button>
            </div>
            {move || ft.plan.get().map(|p| view! { <p data-testid="ft-plan">{format!("Chosen for this device: {p}")}</p> })}
            <p data-testid="ft-status" aria-live="polite"
                data-state=move || match ft.state.get() { FtState::Idle => "idle", FtState::Running { .. } => "running", FtState::Done { .. } => "done", FtState::Failed(_) => "failed" }
                data-losses=move || ft.losses.with(|l| joined(l))
                data-dices=move || ft.dices.with(|d| joined(d))
                data-val=move || ft.val.with(|v| v.iter().map(|(s, d)| format!("{s}:{d:.4}")).collect::<Vec<_>>().join(","))
                data-steps-per-sec=move || ft.progress.get().2.to_string()>
                {move || {
                    let (step, total, sps) = ft.progress.get();
                    let last = ft.losses.with(|l| l.last().copied());
                    let dice = ft.dices.with(|d| d.last().copied());
                    let val = ft.val.with(|v| v.last().copied());
                    let stats = format!("step {step} of {total}{}{}{}{}",
                        last.map(|l| format!(", loss {l:.4}")).unwrap_or_default(),
                        dice.filter(|d| d.is_finite()).map(|d| format!(", training Dice {d:.3}")).unwrap_or_default(),
                        if sps > 0.0 { format!(", {sps:.2} steps/s") } else { String::new() },
                        val.map(|(s, d)| format!(", validation Dice {d:.3} (step {s})")).unwrap_or_default());
                    match ft.state.get() {
                        FtState::Idle => "Not started.".to_string(),
                        FtState::Running { paused: false } => format!("Training: {stats}"),
                        FtState::Running { paused: true } => format!("Paused: {stats}"),
                        FtState::Done { steps, stopped } => format!("{} after {steps} steps: {stats}. Use the model here or download it.",
                            if stopped { "Stopped" } else { "Finished" }),
                        FtState::Failed(m) => format!("Fine-tuning failed: {m}"),
                    }
                }}
            </p>
            <svg class="loss-curve" data-testid="ft-curve" viewBox="0 0 400 120" width="400" height="120" role="img"
                aria-label="training loss per step">
                <rect x="0" y="0" width="400" height="120" fill="none" stroke="currentColor" stroke-opacity="0.3"></rect>
                <polyline fill="none" stroke="steelblue" stroke-width="1.5"
                    points=move || ft.losses.with(|l| curve_points(l, 400.0, 120.0))></polyline>
            </svg>
        </section>
    }
}
