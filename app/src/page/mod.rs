//! The page: one store per panel (all `Copy` handles, shared through Leptos context), the
//! panels that read them, and the router that hands each worker reply to the store it is
//! for. The compute worker is reached only through `bridge`.

// Pure modules, compiled natively too so their unit tests run without a browser.
pub mod edit_history;
pub mod format;
pub mod render;
pub mod teach_render;

#[cfg(target_arch = "wasm32")]
mod bridge;
#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
mod compute;
#[cfg(target_arch = "wasm32")]
mod diagnostics;
#[cfg(target_arch = "wasm32")]
mod dicom;
#[cfg(target_arch = "wasm32")]
mod dropped;
#[cfg(target_arch = "wasm32")]
mod edit;
#[cfg(target_arch = "wasm32")]
mod finetune;
#[cfg(target_arch = "wasm32")]
mod idb;
#[cfg(target_arch = "wasm32")]
mod legend;
#[cfg(target_arch = "wasm32")]
mod model;
#[cfg(target_arch = "wasm32")]
mod open;
#[cfg(target_arch = "wasm32")]
mod run;
#[cfg(target_arch = "wasm32")]
mod saved;
#[cfg(target_arch = "wasm32")]
mod scan;
#[cfg(target_arch = "wasm32")]
mod settings;
#[cfg(target_arch = "wasm32")]
mod teach;
#[cfg(target_arch = "wasm32")]
mod viewer;

#[cfg(target_arch = "wasm32")]
pub use app::App;

#[cfg(target_arch = "wasm32")]
mod app {
    use std::rc::Rc;

    use leptos::prelude::*;

    use super::compute::{Compute, ComputePanel};
    use super::diagnostics::DiagnosticsPanel;
    use super::edit::{EditPanel, Editor};
    use super::finetune::{FinetunePanel, Ft};
    use super::legend::Legend;
    use super::model::{ModelPanel, Models};
    use super::open::{OpenPanel, Opener};
    use super::run::{Run, RunPanel};
    use super::saved::{Saved, SavedModels};
    use super::teach::{Teach, TeachPanel};
    use super::viewer::{ScanSection, Viewer};
    use crate::protocol::{Reply, Slot};

    /// Every store, for the router.
    #[derive(Clone, Copy)]
    struct Stores {
        compute: Compute,
        viewer: Viewer,
        models: Models,
        run: Run,
        ft: Ft,
        teach: Teach,
    }

    impl Stores {
        fn route(self, reply: Reply) {
            match reply {
                Reply::Hello => {}
                Reply::Ready {
                    backend,
                    text,
                    facts,
                    ..
                } => self.compute.ready(backend, text, facts),
                Reply::ModelLoaded {
                    slot: Slot::Segmentation,
                    info,
                } => self.models.loaded(Ok(info)),
                Reply::ModelFailed {
                    slot: Slot::Segmentation,
                    message,
                } => self.models.loaded(Err(message)),
                Reply::ModelLoaded {
                    slot: Slot::Teaching,
                    info,
                } => self.teach.model_loaded(Ok(info)),
                Reply::ModelFailed {
                    slot: Slot::Teaching,
                    message,
                } => self.teach.model_loaded(Err(message)),
                Reply::Progress { stage, done, total } => self.run.progress(stage, done, total),
                Reply::Segmented(seg) => self.run.done(*seg, self.viewer),
                Reply::SegmentFailed(message) => self.run.failed(message),
                Reply::TrainPlan { .. }
                | Reply::TrainStep(_)
                | Reply::TrainVal { .. }
                | Reply::Trained { .. }
                | Reply::TrainFailed(_) => self.ft.on_reply(reply),
                Reply::Taught { .. } | Reply::TeachFailed { .. } => self.teach.on_reply(reply),
                Reply::DeviceLost { reason, message } => {
                    let why = Reply::lost_text(&reason, &message);
                    // Later: this runs inside the worker's message handler, which replacing
                    // the worker drops.
                    wasm_bindgen_futures::spawn_local(async move { self.device_lost(why) });
                }
                Reply::Failed(message) => {
                    // Not tied to a request: whatever was waiting on the worker ends here.
                    self.ft.worker_failed(&message);
                    self.models.worker_failed(&message);
                    self.teach.worker_gone(&message);
                    if self.run.running() || self.compute.is_up() {
                        self.run.failed(message);
                    } else {
                        self.compute.failed(message);
                    }
                }
            }
        }

        /// The worker's WebGPU device is gone, and with it everything on it: a fresh worker
        /// on the CPU (for the rest of this page's life) gets the scan and models again, and
        /// a segmentation that was running is sent to it to finish there. A fine-tuning or a
        /// teaching view that was running ends with the reason.
        fn device_lost(self, why: String) {
            if !self.compute.lose_gpu(why.clone()) {
                return;
            }
            let rerun = self.run.running();
            self.ft.worker_failed(&format!(
                "the WebGPU device was lost ({why}); start the fine-tuning again to run it on the CPU"
            ));
            self.teach
                .worker_gone(&format!("the WebGPU device was lost ({why}); try again"));
            self.start_worker();
            if rerun {
                self.run.resume_on_cpu(why);
            }
        }

        /// Start (or restart) the worker with the current CPU / WebGPU choice.
        fn start_worker(self) {
            self.compute.starting();
            self.ft.worker_restarted();
            self.teach.worker_gone("the compute worker was restarted");
            let handler: Rc<dyn Fn(Reply)> = Rc::new(move |reply| self.route(reply));
            if let Err(e) = super::bridge::start(self.compute.cpu_only(), handler) {
                self.compute.failed(e);
            }
        }
    }

    /// Restart the worker (the CPU / WebGPU switch); provided as context for the compute panel.
    #[derive(Clone, Copy)]
    pub struct Restart(StoredValue<Rc<dyn Fn()>, LocalStorage>);

    impl Restart {
        pub fn run(self) {
            self.0.with_value(|f| f());
        }
    }

    #[component]
    pub fn App() -> impl IntoView {
        let compute = Compute::new();
        let stores = Stores {
            compute,
            viewer: Viewer::new(),
            models: Models::new(),
            run: Run::new(compute),
            ft: Ft::new(),
            teach: Teach::new(),
        };
        provide_context(stores.compute);
        provide_context(stores.viewer);
        provide_context(stores.models);
        provide_context(stores.run);
        provide_context(stores.ft);
        provide_context(stores.teach);
        provide_context(Saved::new());
        provide_context(Editor::new());
        provide_context(super::dicom::DicomPick::new());
        provide_context(Restart(StoredValue::new_local(Rc::new(move || {
            stores.run.cancel();
            stores.start_worker();
        }))));
        stores.start_worker();
        stores.models.load_start_model();
        stores.run.tick();
        let opener = Opener::from_context();

        view! {
            <header>
                <h1>"brainfm"</h1>
                <p class="tagline">"A brain-MRI foundation model that runs in your browser. Your scan never leaves this tab."</p>
            </header>
            <main on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default()
                  on:drop=move |ev: leptos::ev::DragEvent| opener.drop(ev)>
                <ComputePanel />
                <OpenPanel>
                    <ModelPanel />
                </OpenPanel>
                <ScanSection />
                <RunPanel />
                <Legend />
                <EditPanel />
                <TeachPanel />
                <FinetunePanel />
                <SavedModels />
                <DiagnosticsPanel />
            </main>
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use app::Restart;
