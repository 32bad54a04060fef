//! Segmenting the open scan: run / cancel with progress, the finished segmentation as the
//! views draw it, and its export.

use std::time::Duration;

use brainfm_core::metrics::{volumes_of_labels_ml, VolumesTable};
use brainfm_core::volume::write_labels;
use leptos::prelude::*;

use super::browser::{self, now_ms};
use super::compute::Compute;
use super::edit_history::History;
use super::finetune::Ft;
use super::model::Models;
use super::viewer::{overlay_lut, Viewer};
use crate::protocol::{BackendId, Request, Segmentation};

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
        backend: BackendId,
        seconds: f64,
        inference_ms: f64,
        largest_activation: u64,
        plan: String,
        model_name: String,
    },
    Failed(String),
    Cancelled,
}

/// The segmentation as displayed, with the hand edits made to it.
struct SegView {
    /// Labels in display (RAS) order, edits included.
    labels: Vec<u16>,
    /// The worker's result; `volumes_ml` follows the edits.
    result: Segmentation,
    edits: History,
    /// Millilitres a display voxel holds, for the volumes after each edit.
    voxel_ml: f64,
}

/// The segmentation run and its result.
#[derive(Clone, Copy)]
pub struct Run {
    /// The worker is restarted on cancel.
    compute: Compute,
    state: RwSignal<RunState>,
    now: RwSignal<f64>,
    seg: StoredValue<Option<SegView>, LocalStorage>,
    /// Bumped whenever `seg` changes (StoredValue is not reactive).
    pub seg_rev: RwSignal<u64>,
    /// Per label: (shown, opacity).
    pub styles: RwSignal<Vec<(bool, f64)>>,
    /// Why the current (or last) run left WebGPU for the CPU: its device was lost mid-run.
    fallback: RwSignal<Option<String>>,
}

impl Run {
    pub fn new(compute: Compute) -> Self {
        Run {
            compute,
            state: RwSignal::new(RunState::Idle),
            now: RwSignal::new(now_ms()),
            seg: StoredValue::new_local(None),
            seg_rev: RwSignal::new(0),
            styles: RwSignal::new(Vec::new()),
            fallback: RwSignal::new(None),
        }
    }

    /// Tick the elapsed-time display while a run is going.
    pub fn tick(self) {
        let _ = set_interval_with_handle(
            move || {
                if self.running() {
                    self.now.set(now_ms());
                }
            },
            Duration::from_millis(200),
        );
    }

    /// Running now (tracked).
    pub fn busy(self) -> bool {
        self.state.with(|s| matches!(s, RunState::Running { .. }))
    }

    pub fn running(self) -> bool {
        matches!(self.state.get_untracked(), RunState::Running { .. })
    }

    /// Forget the segmentation (a new scan).
    pub fn clear(self) {
        self.seg.set_value(None);
        self.styles.set(Vec::new());
        self.state.set(RunState::Idle);
        self.seg_rev.update(|r| *r += 1);
    }

    pub fn progress(self, stage: String, done: usize, total: usize) {
        if let RunState::Running { started, .. } = self.state.get_untracked() {
            self.state.set(RunState::Running {
                started,
                stage,
                done,
                total,
            });
        }
    }

    pub fn done(self, mut result: Segmentation, viewer: Viewer) {
        let RunState::Running { started, .. } = self.state.get_untracked() else {
            return;
        };
        // Only the display-order copy is kept; the exports use `result.nifti`.
        let on_input_grid = std::mem::take(&mut result.labels.0);
        let labels = viewer
            .with_scan(|s| {
                let voxel_ml = s.display.spacing.iter().product::<f64>() / 1000.0;
                s.labels_for_display(on_input_grid).map(|l| (l, voxel_ml))
            })
            .unwrap_or_else(|| Err("the scan was closed".into()));
        match labels {
            Ok((labels, voxel_ml)) => {
                let classes = result.volumes_ml.len().max(result.names.len());
                self.styles
                    .set((0..classes).map(|l| (l != 0, 0.5)).collect());
                self.state.set(RunState::Done {
                    backend: result.backend,
                    seconds: (now_ms() - started) / 1000.0,
                    inference_ms: result.inference_ms,
                    largest_activation: result.largest_activation,
                    plan: result.plan.clone(),
                    model_name: result.model_name.clone(),
                });
                self.seg.set_value(Some(SegView {
                    labels,
                    result,
                    edits: History::default(),
                    voxel_ml,
                }));
                self.seg_rev.update(|r| *r += 1);
            }
            Err(e) => self.state.set(RunState::Failed(e)),
        }
    }

    pub fn failed(self, message: String) {
        let message = match self.fallback.get_untracked() {
            Some(why) if self.running() => format!(
                "the WebGPU device was lost ({why}), and the CPU could not finish the run: {message}"
            ),
            _ => message,
        };
        self.state.set(RunState::Failed(message));
    }

    /// The WebGPU device was lost while this run went on (the worker has been restarted on
    /// the CPU): send the same run to the new worker. Nothing when no run is going.
    pub fn resume_on_cpu(self, why: String) {
        let RunState::Running { started, .. } = self.state.get_untracked() else {
            return;
        };
        self.fallback.set(Some(why));
        self.state.set(RunState::Running {
            started,
            stage: "restarting on the CPU".into(),
            done: 0,
            total: 0,
        });
        if let Err(e) = super::bridge::send(&Request::Segment) {
            self.failed(e);
        }
    }

    /// Stop a running segmentation (terminates the worker; a fresh one starts).
    pub fn cancel(self) {
        if self.running() {
            self.state.set(RunState::Cancelled);
            self.compute.starting();
            if let Err(e) = super::bridge::cancel() {
                self.compute.failed(e);
            }
        }
    }

    fn start(self) {
        if self.running() {
            return;
        }
        let started = now_ms();
        self.now.set(started);
        self.fallback.set(None);
        self.state.set(RunState::Running {
            started,
            stage: "starting".into(),
            done: 0,
            total: 0,
        });
        if let Err(e) = super::bridge::send(&Request::Segment) {
            self.failed(e);
        }
    }

    /// Runs `f` on the labels in display order, if there is a segmentation.
    pub fn with_display_labels<R>(self, f: impl FnOnce(Option<&[u16]>) -> R) -> R {
        self.seg
            .with_value(|g| f(g.as_ref().map(|g| &g.labels[..])))
    }

    /// The overlay colours (tracked).
    pub fn lut(self) -> Vec<[u8; 4]> {
        self.styles.with(|s| overlay_lut(s))
    }

    /// Per label: (label, volume in mL), with the class names.
    pub fn volumes(self) -> Option<(Vec<f64>, Vec<String>)> {
        self.seg.with_value(|g| {
            g.as_ref()
                .map(|g| (g.result.volumes_ml.clone(), g.result.names.clone()))
        })
    }

    /// The segmentation as .nii.gz bytes on the scan's grid: the worker's file, or, once
    /// edited by hand, the edited labels mapped back onto the scan's grid and header.
    pub fn nifti(self, viewer: Viewer) -> Result<Option<Vec<u8>>, String> {
        let edited = self.seg.with_value(|g| match g {
            Some(g) if g.edits.can_undo() => Some(g.labels.clone()),
            _ => None,
        });
        let Some(labels) = edited else {
            return Ok(self
                .seg
                .with_value(|g| g.as_ref().map(|g| g.result.nifti.0.clone())));
        };
        viewer
            .with_scan(|s| {
                let labels = s.labels_for_input(labels)?;
                write_labels(&s.header, &labels).map_err(|e| e.to_string())
            })
            .transpose()
    }

    /// The last segmentation as the diagnostics report it (no voxel data).
    pub fn summary(self) -> Vec<(String, String)> {
        let state = match self.state.get_untracked() {
            RunState::Idle => "none yet".to_string(),
            RunState::Running {
                stage, done, total, ..
            } => {
                format!("running: {stage} {done} of {total}")
            }
            RunState::Done {
                backend,
                seconds,
                inference_ms,
                largest_activation,
                plan,
                model_name,
            } => format!(
                "done with {model_name} on {} in {seconds:.1} s (worker {inference_ms:.0} ms); \
                 largest activation {largest_activation} bytes; {plan}",
                backend.name()
            ),
            RunState::Failed(message) => format!("failed: {message}"),
            RunState::Cancelled => "cancelled".to_string(),
        };
        let changed = self
            .seg
            .with_value(|g| g.as_ref().map_or(0, |g| g.edits.changed_voxels()));
        let mut out = vec![
            ("Segmentation".into(), state),
            ("Voxels edited by hand".into(), changed.to_string()),
        ];
        if let Some(why) = self.fallback.get_untracked() {
            out.push((
                "Moved to the CPU mid-run".into(),
                format!("the WebGPU device was lost ({why})"),
            ));
        }
        out
    }

    /// Paint `voxels` (display order) with `value` as part of the current stroke.
    pub fn paint(self, voxels: Vec<usize>, value: u16) {
        self.edit(|edits, labels| edits.paint(labels, voxels, value));
    }

    /// The mouse button is up: the stroke can be undone as a whole.
    pub fn end_stroke(self) {
        self.seg.update_value(|g| {
            if let Some(g) = g {
                g.edits.end_stroke();
            }
        });
        self.seg_rev.update(|r| *r += 1);
    }

    /// Undo (`redo` false) or redo the last stroke.
    pub fn step_edits(self, redo: bool) {
        self.edit(|edits, labels| match redo {
            true => edits.redo(labels),
            false => edits.undo(labels),
        });
    }

    /// Change the labels through their history; when `change` changed any, the volumes
    /// follow at once and the views redraw.
    fn edit(self, change: impl FnOnce(&mut History, &mut [u16]) -> bool) {
        let changed = self.seg.try_update_value(|g| {
            g.as_mut().is_some_and(|g| {
                let changed = change(&mut g.edits, &mut g.labels);
                if changed {
                    g.result.volumes_ml =
                        volumes_of_labels_ml(&g.labels, g.result.volumes_ml.len(), g.voxel_ml);
                }
                changed
            })
        });
        if changed == Some(true) {
            self.seg_rev.update(|r| *r += 1);
        }
    }

    /// (can undo, can redo, voxels changed by hand) (tracked).
    pub fn edit_state(self) -> (bool, bool, usize) {
        self.seg_rev.track();
        self.seg.with_value(|g| {
            g.as_ref().map_or((false, false, 0), |g| {
                (
                    g.edits.can_undo(),
                    g.edits.can_redo(),
                    g.edits.changed_voxels(),
                )
            })
        })
    }

    fn export(self, what: &str, name: String, mime: &str, bytes: Option<Vec<u8>>) {
        if let Some(bytes) = bytes {
            if let Err(e) = browser::download(&name, mime, &bytes) {
                self.failed(format!("Could not save the {what}: {e}"));
            }
        }
    }
}

#[component]
pub fn RunPanel() -> impl IntoView {
    let run = expect_context::<Run>();
    let viewer = expect_context::<Viewer>();
    let models = expect_context::<Models>();
    let compute = expect_context::<Compute>();
    let ft = expect_context::<Ft>();
    let can_run = move || {
        viewer.has_scan()
            && models.has_model()
            && compute.ready_now()
            && !run.busy()
            && !ft.training()
    };
    let done = move || run.state.with(|s| matches!(s, RunState::Done { .. }));
    view! {
        <section class="run">
            <div class="buttons">
                <button type="button" data-testid="run" disabled=move || !can_run() on:click=move |_| run.start()>"Segment"</button>
                <button type="button" data-testid="cancel" disabled=move || !run.busy() on:click=move |_| run.cancel()>"Cancel"</button>
                <button type="button" data-testid="export-nifti" disabled=move || !done()
                    on:click=move |_| match run.nifti(viewer) {
                        Ok(bytes) => run.export("segmentation", format!("{}_brainfm_seg.nii.gz", viewer.stem()), "application/gzip", bytes),
                        Err(e) => run.failed(format!("Could not write the edited labels: {e}")),
                    }>
                    "Download segmentation (.nii.gz)"</button>
                <button type="button" data-testid="export-csv" disabled=move || !done()
                    on:click=move |_| run.export("volumes", format!("{}_brainfm_volumes.csv", viewer.stem()), "text/csv",
                        run.volumes().map(|(ml, names)| VolumesTable::from_volumes(&ml, &names).to_csv().into_bytes()))>
                    "Download volumes (.csv)"</button>
            </div>
            {move || match run.state.get() {
                RunState::Idle => view! { <p class="hint" data-testid="run-status">{if can_run() { "Ready to segment." } else { "Open a scan and a model to segment." }}</p> }.into_any(),
                RunState::Running { started, stage, done, total } => {
                    let secs = (run.now.get() - started).max(0.0) / 1000.0;
                    let fallback = run.fallback.get();
                    let text = match &fallback {
                        Some(why) => format!("WebGPU device lost ({why}): finishing on the CPU. {stage} {done} of {total} — {secs:.1} s"),
                        None => format!("Running on {}: {stage} {done} of {total} — {secs:.1} s", compute.backend().name()),
                    };
                    view! {
                        <progress data-testid="progress" max=total.max(1).to_string() value=done.to_string()></progress>
                        <p data-testid="run-status" data-state="running" data-fallback=fallback.is_some().then_some("cpu")>{text}</p>
                    }.into_any()
                }
                RunState::Done { backend, seconds, inference_ms, largest_activation, plan, model_name } => {
                    let model_load_ms = models.load_ms();
                    let fallback = run.fallback.get();
                    let lost = match (&fallback, compute.gpu_lost()) {
                        (Some(why), _) => format!(" The WebGPU device was lost during this run ({why}), so it was finished on the CPU; \
                            later runs stay on the CPU until you reload the page."),
                        (None, Some(_)) => " The WebGPU device was lost earlier in this tab: runs stay on the CPU until you reload the page.".to_string(),
                        (None, None) => String::new(),
                    };
                    view! {
                        <p data-testid="run-status" data-state="done" data-backend=backend.id()
                            data-fallback=fallback.is_some().then_some("cpu")
                            data-model-load-ms=model_load_ms.to_string() data-inference-ms=inference_ms.to_string()
                            data-largest-activation=largest_activation.to_string()>
                            {format!("Segmented with {model_name} on {} in {seconds:.1} s (preprocessing + inference + mapping back {:.1} s; \
                                the model was loaded once, in {model_load_ms:.0} ms); {plan}.{lost}", backend.name(), inference_ms / 1000.0)}
                        </p>
                    }.into_any()
                }
                RunState::Failed(message) => view! { <p class="error" role="alert" data-testid="run-status" data-state="failed">{format!("Segmentation failed: {message}")}</p> }.into_any(),
                RunState::Cancelled => view! { <p class="hint" data-testid="run-status" data-state="cancelled">"Cancelled."</p> }.into_any(),
            }}
        </section>
    }
}
