//! The compute panel: which device the worker found (WebGPU or the CPU) and the switch
//! between them. Once the WebGPU device has been lost, the worker stays on the CPU until
//! the page is reloaded.

use leptos::prelude::*;

use super::settings;
use super::Restart;
use crate::protocol::BackendId;

/// The worker's device as the page knows it.
#[derive(Clone, Copy)]
pub struct Compute {
    /// `None` while the worker starts; then its backend and status line.
    status: RwSignal<Option<(BackendId, String)>>,
    /// What the worker found about its device, for the diagnostics.
    facts: RwSignal<Vec<(String, String)>>,
    cpu_only: RwSignal<bool>,
    /// Why the WebGPU device was lost in this tab (the CPU is used from then on).
    gpu_lost: RwSignal<Option<String>>,
}

impl Compute {
    pub fn new() -> Self {
        Compute {
            status: RwSignal::new(None),
            facts: RwSignal::new(Vec::new()),
            cpu_only: RwSignal::new(settings::cpu_only()),
            gpu_lost: RwSignal::new(None),
        }
    }

    pub fn starting(self) {
        self.status.set(None);
        self.facts.set(Vec::new());
    }

    pub fn ready(self, backend: BackendId, text: String, mut facts: Vec<(String, String)>) {
        let text = match self.gpu_lost.get_untracked() {
            Some(why) if backend == BackendId::Cpu => {
                facts.push(("WebGPU device lost".into(), why.clone()));
                format!(
                    "WebGPU device lost ({why}): models run on the CPU (burn flex in WASM) \
                     until you reload the page"
                )
            }
            _ => text,
        };
        self.status.set(Some((backend, text)));
        self.facts.set(facts);
    }

    /// The worker's WebGPU device was lost: the CPU from now on. False when it already was
    /// (the loss is handled once).
    pub fn lose_gpu(self, why: String) -> bool {
        if self.gpu_lost.with_untracked(|l| l.is_some()) {
            return false;
        }
        self.gpu_lost.set(Some(why));
        true
    }

    /// Why the WebGPU device was lost in this tab, if it was (tracked).
    pub fn gpu_lost(self) -> Option<String> {
        self.gpu_lost.get()
    }

    /// The device as the diagnostics report it.
    pub fn summary(self) -> Vec<(String, String)> {
        let mut out = vec![(
            "Status".to_string(),
            self.status.with_untracked(|s| {
                s.as_ref()
                    .map_or("the worker is starting".to_string(), |s| s.1.clone())
            }),
        )];
        out.extend(self.facts.get_untracked());
        out.push(("CPU forced".into(), self.cpu_only().to_string()));
        out
    }

    pub fn failed(self, message: String) {
        self.status.set(Some((BackendId::None, message)));
    }

    /// The worker has answered `Ready` or failed (untracked).
    pub fn is_up(self) -> bool {
        self.status.get_untracked().is_some()
    }

    /// A device is ready (tracked).
    pub fn ready_now(self) -> bool {
        self.status.with(|s| s.is_some())
    }

    /// The backend in use (tracked); `None` while the worker starts.
    pub fn backend(self) -> BackendId {
        self.status
            .with(|s| s.as_ref().map_or(BackendId::None, |s| s.0))
    }

    /// The worker should start on the CPU: the user's choice, or a lost WebGPU device.
    pub fn cpu_only(self) -> bool {
        self.cpu_only.get_untracked() || self.gpu_lost.with_untracked(|l| l.is_some())
    }
}

#[component]
pub fn ComputePanel() -> impl IntoView {
    let compute = expect_context::<Compute>();
    let restart = expect_context::<Restart>();
    view! {
        <section class="compute">
            <p data-testid="compute" aria-live="polite"
               data-backend=move || compute.status.with(|s| s.as_ref().map(|s| s.0.id()).unwrap_or_default())>
                {move || match compute.status.get() {
                    None => "Starting the compute worker and checking for WebGPU…".to_string(),
                    Some((_, text)) => text,
                }}
            </p>
            <label class="inline">
                <input type="checkbox" data-testid="cpu-only"
                    prop:checked=move || compute.cpu_only.get() || compute.gpu_lost.with(|l| l.is_some())
                    disabled=move || compute.gpu_lost.with(|l| l.is_some())
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        settings::set_cpu_only(on);
                        compute.cpu_only.set(on);
                        restart.run();
                    } />
                " Use the CPU instead of WebGPU"
            </label>
        </section>
    }
}
