//! The page's list of models kept in this browser (idb.rs): keep an adapted model,
//! use a kept one again after a reload, delete it.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::format;
use super::idb::{self, Kept};
use super::model::Models;

#[derive(Clone, Copy)]
pub struct Saved {
    list: RwSignal<Vec<Kept>>,
    /// Loaded once: the list is read at start.
    loaded: RwSignal<bool>,
    message: RwSignal<Option<String>>,
}

impl Saved {
    pub fn new() -> Self {
        Saved {
            list: RwSignal::new(Vec::new()),
            loaded: RwSignal::new(false),
            message: RwSignal::new(None),
        }
    }

    pub fn refresh(self) {
        spawn_local(async move {
            match idb::list().await {
                Ok(list) => self.list.set(list),
                Err(e) => self.message.set(Some(e)),
            }
            self.loaded.set(true);
        });
    }

    /// Keep `bytes` as `name`; the outcome shows in the list's message line.
    pub fn keep(self, name: String, bytes: Vec<u8>) {
        spawn_local(async move {
            match idb::save(&name, &bytes).await {
                Ok(_) => {
                    self.message
                        .set(Some(format!("{name} is kept in this browser.")));
                    self.refresh();
                }
                Err(e) => self
                    .message
                    .set(Some(format!("Could not keep {name}: {e}"))),
            }
        });
    }

    fn apply(self, models: Models, k: Kept) {
        spawn_local(async move {
            match idb::load(k.key).await {
                Ok(bytes) => {
                    models.load(format!("{}.bfm (kept in this browser)", k.name), bytes);
                    self.message.set(None);
                }
                Err(e) => self
                    .message
                    .set(Some(format!("Could not load {}: {e}", k.name))),
            }
        });
    }

    fn delete(self, k: Kept) {
        spawn_local(async move {
            match idb::delete(k.key).await {
                Ok(()) => {
                    self.message
                        .set(Some(format!("{} deleted from this browser.", k.name)));
                    self.refresh();
                }
                Err(e) => self
                    .message
                    .set(Some(format!("Could not delete {}: {e}", k.name))),
            }
        });
    }
}

fn when(ms: f64) -> String {
    let d = js_sys::Date::new(&ms.into());
    String::from(d.to_locale_string("en-GB", &wasm_bindgen::JsValue::UNDEFINED))
}

#[component]
pub fn SavedModels() -> impl IntoView {
    let s = expect_context::<Saved>();
    let models = expect_context::<Models>();
    s.refresh();
    view! {
        <section class="saved" data-testid="saved-models" data-count=move || s.list.get().len().to_string()
            data-loaded=move || s.loaded.get().to_string()>
            <h2>"Models kept in this browser"</h2>
            <p class="hint">"Adapted models you keep stay in this browser's storage on this machine (IndexedDB), \
                also after a reload. They are never uploaded."</p>
            {move || s.message.get().map(|m| view! { <p data-testid="saved-message" aria-live="polite">{m}</p> })}
            {move || if s.loaded.get() && s.list.with(|l| l.is_empty()) {
                Some(view! { <p class="hint">"None kept yet: fine-tune a model, then press \"Keep in this browser\"."</p> })
            } else { None }}
            <ul>
                {move || s.list.get().into_iter().map(|k| {
                    let (a, d) = (k.clone(), k.clone());
                    view! {
                        <li data-testid="saved-model" data-name=k.name.clone()>
                            {format!("{} — {}, kept {} ", k.name, format::bytes(k.size), when(k.saved_ms))}
                            <button type="button" data-testid="saved-use" on:click=move |_| s.apply(models, a.clone())>"Use"</button>
                            " "
                            <button type="button" data-testid="saved-delete" on:click=move |_| s.delete(d.clone())>"Delete"</button>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}
