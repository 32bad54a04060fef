//! Reading the user's file inside the tab (File API; nothing is uploaded) and yielding to
//! the browser so status text paints before long synchronous work.

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::File;

/// Largest file the tab will read: wasm32 memory is 4 GiB and decoding needs room for the
/// compressed bytes, the raw bytes and the f32 voxels at once.
pub const MAX_FILE_BYTES: f64 = 1024.0 * 1024.0 * 1024.0;

/// All bytes of `file`.
pub async fn read_bytes(file: &File) -> Result<Vec<u8>, String> {
    let size = file.size();
    if size > MAX_FILE_BYTES {
        return Err(format!(
            "the file is {:.1} GiB; the browser app reads files up to {:.0} GiB (use the brainfm CLI for larger ones)",
            size / 1024f64.powi(3),
            MAX_FILE_BYTES / 1024f64.powi(3)
        ));
    }
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("the browser could not read it ({})", js_message(&e)))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Resolve after the browser has had a chance to paint (one animation frame, then a task).
pub async fn yield_to_paint() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let frame = Promise::new(&mut |resolve, _| {
        if window.request_animation_frame(&resolve).is_err() {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = JsFuture::from(frame).await;
    let task = Promise::new(&mut |resolve, _| {
        if window
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0)
            .is_err()
        {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = JsFuture::from(task).await;
}

/// A readable message from a JS exception value.
pub fn js_message(value: &JsValue) -> String {
    if let Some(err) = value.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}
