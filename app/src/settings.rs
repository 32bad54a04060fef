//! The user's choices that outlive a reload (localStorage): CPU instead of WebGPU, and which
//! bundled model to start with. Scans and models never go here.
//!
//! Reached through `Reflect` rather than web-sys's `Storage`: a new web-sys feature would
//! rebuild burn's WebGPU stack (see idb.rs). localStorage can be missing or throw (private
//! modes, storage disabled); then every choice falls back to its default and nothing fails.

use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};

const CPU_ONLY: &str = "brainfm.cpu_only";
const BUNDLED_MODEL: &str = "brainfm.bundled_model";

fn storage() -> Option<JsValue> {
    Reflect::get(&js_sys::global(), &JsValue::from_str("localStorage"))
        .ok()
        .filter(|s| s.is_object())
}

/// localStorage and one of its methods.
fn method(name: &str) -> Option<(JsValue, Function)> {
    let s = storage()?;
    let f = Reflect::get(&s, &JsValue::from_str(name))
        .ok()?
        .dyn_into()
        .ok()?;
    Some((s, f))
}

fn get(key: &str) -> Option<String> {
    let (s, f) = method("getItem")?;
    f.call1(&s, &JsValue::from_str(key)).ok()?.as_string()
}

fn set(key: &str, value: &str) {
    let stored = method("setItem").and_then(|(s, f)| {
        f.call2(&s, &JsValue::from_str(key), &JsValue::from_str(value))
            .ok()
    });
    if stored.is_none() {
        leptos::logging::log!("could not remember {key} (localStorage unavailable)");
    }
}

/// Whether the user last chose the CPU over WebGPU (default: no).
pub fn cpu_only() -> bool {
    get(CPU_ONLY).as_deref() == Some("true")
}

pub fn set_cpu_only(on: bool) {
    set(CPU_ONLY, if on { "true" } else { "false" });
}

/// The file name of the bundled model the user last picked, if any.
pub fn bundled_model() -> Option<String> {
    get(BUNDLED_MODEL)
}

pub fn set_bundled_model(file: &str) {
    set(BUNDLED_MODEL, file);
}
