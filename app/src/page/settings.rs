//! The user's choices that outlive a reload (localStorage, through gloo-storage): CPU
//! instead of WebGPU, and which bundled model to start with. Scans and models never go here.
//!
//! localStorage can be missing or throw (private modes, storage disabled), and gloo's
//! `LocalStorage::raw` then throws instead of returning an error
//! (gloo-storage-0.3.0/src/local_storage.rs), so `available` checks first; without it every
//! choice falls back to its default and nothing fails.

use gloo_storage::{LocalStorage, Storage};

const CPU_ONLY: &str = "brainfm.cpu_only";
const BUNDLED_MODEL: &str = "brainfm.bundled_model";

fn available() -> bool {
    matches!(
        web_sys::window().map(|w| w.local_storage()),
        Some(Ok(Some(_)))
    )
}

fn get<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
    available().then(|| LocalStorage::get(key).ok()).flatten()
}

fn set<T: serde::Serialize>(key: &str, value: T) {
    if !available() || LocalStorage::set(key, value).is_err() {
        leptos::logging::log!("could not remember {key} (localStorage unavailable)");
    }
}

/// Whether the user last chose the CPU over WebGPU (default: no).
pub fn cpu_only() -> bool {
    get(CPU_ONLY).unwrap_or(false)
}

pub fn set_cpu_only(on: bool) {
    set(CPU_ONLY, on);
}

/// The URL of the bundled model the user last picked, if any.
pub fn bundled_model() -> Option<String> {
    get(BUNDLED_MODEL)
}

pub fn set_bundled_model(url: &str) {
    set(BUNDLED_MODEL, url);
}
