//! JavaScript values from Rust: exception messages (both sides of the worker boundary) and
//! plain objects (IndexedDB records).

use wasm_bindgen::{JsCast, JsValue};

/// A readable message from a JS exception value.
pub fn message(value: &JsValue) -> String {
    if let Some(err) = value.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

/// A plain JS object with these fields (IndexedDB records).
pub fn obj(fields: &[(&str, JsValue)]) -> js_sys::Object {
    let o = js_sys::Object::new();
    for (k, v) in fields {
        let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o
}

/// A field of a JS object; `undefined` when missing.
pub fn get(o: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(o, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

pub fn get_f64(o: &JsValue, key: &str) -> f64 {
    get(o, key).as_f64().unwrap_or(0.0)
}

pub fn get_string(o: &JsValue, key: &str) -> String {
    get(o, key).as_string().unwrap_or_default()
}
