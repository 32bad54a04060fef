//! The segmentation model: the bundled ones (the T1w default loads at a first visit, the
//! multi-contrast one on request; later visits start with the last picked), or a .bfm the
//! user opens. The worker parses and loads it once per load and says what it is.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::browser::fetch_bytes;
use super::{format, settings};
use crate::protocol::{Bytes, ModelInfo, Request, Slot};

/// The bundled models (docs/MODEL_CARD.md): (URL, name shown, button text, test id).
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

/// The model the page has handed to the worker.
#[derive(Clone, Copy)]
pub struct Models {
    /// What the worker said of the last model sent; `None` before any.
    info: RwSignal<Option<Result<ModelInfo, String>>>,
    /// A model was sent and the worker has not answered yet.
    pending: RwSignal<bool>,
}

impl Models {
    pub fn new() -> Self {
        Models {
            info: RwSignal::new(None),
            pending: RwSignal::new(false),
        }
    }

    /// A usable segmentation model is loaded and no other is on its way (tracked).
    pub fn has_model(self) -> bool {
        !self.pending.get() && self.info.with(|i| matches!(i, Some(Ok(_))))
    }

    pub fn has_model_untracked(self) -> bool {
        !self.pending.get_untracked() && self.info.with_untracked(|i| matches!(i, Some(Ok(_))))
    }

    /// The model as the diagnostics report it.
    pub fn summary(self) -> Vec<(String, String)> {
        self.info.with_untracked(|i| match i {
            None => vec![("Model".into(), "none loaded".into())],
            Some(Err(e)) => vec![("Model".into(), format!("failed to load: {e}"))],
            Some(Ok(m)) => vec![
                ("Model".into(), format!("{} ({} preset)", m.name, m.preset)),
                ("File".into(), format!("{}, {} bytes", m.file, m.size)),
                ("Classes".into(), m.classes.join(", ")),
                (
                    "Patch".into(),
                    format!("{:?} voxels at {:?} mm", m.patch, m.spacing),
                ),
                ("Load time".into(), format!("{:.0} ms", m.load_ms)),
            ],
        })
    }

    /// How long the worker took to load the current model, ms.
    pub fn load_ms(self) -> f64 {
        self.info.with_untracked(|i| {
            i.as_ref()
                .and_then(|i| i.as_ref().ok())
                .map_or(0.0, |i| i.load_ms)
        })
    }

    /// Hand `bytes` (the file `name`) to the worker, which answers with its facts.
    pub fn load(self, name: String, bytes: Vec<u8>) {
        self.pending.set(true);
        let request = Request::Model {
            slot: Slot::Segmentation,
            name,
            bytes: Bytes(bytes),
        };
        if let Err(e) = super::bridge::send(&request) {
            self.loaded(Err(e));
        }
    }

    /// The worker's answer to `load`.
    pub fn loaded(self, info: Result<ModelInfo, String>) {
        self.pending.set(false);
        self.info.set(Some(info));
    }

    /// The worker failed: a model on its way will not be answered.
    pub fn worker_failed(self, message: &str) {
        if self.pending.get_untracked() {
            self.loaded(Err(format!("the model could not be loaded: {message}")));
        }
    }

    pub fn read_failed(self, message: String) {
        self.info.set(Some(Err(message)));
    }

    /// Fetch the bundled model the user last picked (the T1w default on a first visit),
    /// unless the user opened one meanwhile. A site served without it keeps the hint.
    pub fn load_start_model(self) {
        let picked = settings::bundled_model();
        let (url, name, ..) = BUNDLED_MODELS
            .into_iter()
            .find(|m| picked.as_deref() == Some(m.0))
            .unwrap_or(BUNDLED_MODELS[0]);
        spawn_local(async move {
            let result = fetch_bytes(url).await;
            if self.info.get_untracked().is_some() || self.pending.get_untracked() {
                return;
            }
            match result {
                Ok(bytes) => self.load(name.into(), bytes),
                Err(e) => leptos::logging::log!("no bundled model at start ({url}): {e}"),
            }
        });
    }

    /// Switch to a bundled model on the user's request; the next visit starts with it.
    fn load_bundled(self, url: &'static str, name: &'static str) {
        spawn_local(async move {
            match fetch_bytes(url).await {
                Ok(bytes) => {
                    settings::set_bundled_model(url);
                    self.load(name.into(), bytes)
                }
                Err(e) => self.read_failed(format!("Could not fetch {name}: {e}")),
            }
        });
    }
}

#[component]
pub fn ModelPanel() -> impl IntoView {
    let models = expect_context::<Models>();
    view! {
        <div class="model" data-testid="model">
            {move || match models.info.get() {
                _ if models.pending.get() => view! { <p class="busy">"Loading the model…"</p> }.into_any(),
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
                        disabled=move || models.info.with(|i| matches!(i, Some(Ok(m)) if m.file == name))
                        on:click=move |_| models.load_bundled(url, name)>{text}</button>
                }).collect_view()}
            </p>
        </div>
    }
}
