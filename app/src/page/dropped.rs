//! What was dropped on the page, folders included: the File and Directory Entries API
//! (`webkitGetAsEntry`, in every current browser) walks a dropped folder to its files.
//! web-sys's typed bindings for it would add features and rebuild burn's wasm build, so the
//! few calls go through `Reflect`.

use js_sys::{Array, Function, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{DataTransfer, File};

use crate::js::get;

/// How deep a dropped folder is walked.
const MAX_DEPTH: usize = 8;

fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = get(target, method).dyn_into()?;
    f.apply(target, &args.iter().collect::<Array>())
}

/// Calls `method(onSuccess, onError)` and waits for whichever comes.
async fn callback(target: &JsValue, method: &str) -> Result<JsValue, JsValue> {
    let promise = Promise::new(&mut |resolve, reject| {
        if let Err(e) = call(target, method, &[resolve.into(), reject.clone().into()]) {
            let _ = reject.call1(&JsValue::NULL, &e);
        }
    });
    JsFuture::from(promise).await
}

/// The entries of the drop, taken while the event lasts (they are gone after it).
pub fn entries(data: &DataTransfer) -> Vec<JsValue> {
    let items = get(data, "items");
    let n = get(&items, "length").as_f64().unwrap_or(0.0) as u32;
    (0..n)
        .filter_map(|i| {
            let item = js_sys::Reflect::get_u32(&items, i).ok()?;
            call(&item, "webkitGetAsEntry", &[]).ok()
        })
        .filter(|e| !e.is_null() && !e.is_undefined())
        .collect()
}

/// Whether any entry is a folder.
pub fn has_folder(entries: &[JsValue]) -> bool {
    entries
        .iter()
        .any(|e| get(e, "isDirectory").as_bool() == Some(true))
}

/// Every file under `entries`, folders walked (files that cannot be read are skipped).
pub async fn files(entries: Vec<JsValue>) -> Vec<File> {
    let mut out = Vec::new();
    let mut stack: Vec<(JsValue, usize)> = entries.into_iter().map(|e| (e, 0)).collect();
    while let Some((entry, depth)) = stack.pop() {
        if get(&entry, "isFile").as_bool() == Some(true) {
            if let Ok(file) = callback(&entry, "file").await {
                if let Ok(file) = file.dyn_into::<File>() {
                    out.push(file);
                }
            }
        } else if depth < MAX_DEPTH {
            let Ok(reader) = call(&entry, "createReader", &[]) else {
                continue;
            };
            // readEntries returns a batch at a time (100 in Chromium) until an empty one.
            while let Ok(batch) = callback(&reader, "readEntries").await {
                let batch: Array = batch.unchecked_into();
                if batch.length() == 0 {
                    break;
                }
                stack.extend(batch.iter().map(|e| (e, depth + 1)));
            }
        }
    }
    out.sort_by_key(|f| f.name());
    out
}
