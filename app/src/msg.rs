//! Small helpers for the plain JS objects the page and the worker exchange.

use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;

pub fn obj(fields: &[(&str, JsValue)]) -> Object {
    let o = Object::new();
    for (k, v) in fields {
        set(&o, k, v);
    }
    o
}

pub fn set(o: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(o, &JsValue::from_str(key), value);
}

pub fn get(o: &JsValue, key: &str) -> JsValue {
    Reflect::get(o, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

pub fn get_bool(o: &JsValue, key: &str) -> bool {
    get(o, key).as_bool().unwrap_or(false)
}

pub fn get_f64(o: &JsValue, key: &str) -> f64 {
    get(o, key).as_f64().unwrap_or(0.0)
}

pub fn get_string(o: &JsValue, key: &str) -> String {
    get(o, key).as_string().unwrap_or_default()
}
