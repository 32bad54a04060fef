//! The browser's plumbing the page needs: reading the user's file (File API through
//! gloo-file; nothing is uploaded), fetching the app's own files, offering a download, and
//! yielding so status text paints before long synchronous work.

use gloo_timers::future::TimeoutFuture;
use js_sys::Promise;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::File;

use crate::js;

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
    gloo_file::futures::read_as_bytes(&gloo_file::Blob::from(web_sys::Blob::from(file.clone())))
        .await
        .map_err(|e| format!("the browser could not read it ({e})"))
}

/// The bytes at `url` on this site (the sample scan, the bundled models).
pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no browser window")?;
    let resp = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| js::message(&e))?;
    let resp: web_sys::Response = resp.dyn_into().map_err(|_| "not a response".to_string())?;
    if !resp.ok() {
        return Err(format!(
            "the server answered {} {}",
            resp.status(),
            resp.status_text()
        ));
    }
    let buf = JsFuture::from(resp.array_buffer().map_err(|e| js::message(&e))?)
        .await
        .map_err(|e| js::message(&e))?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

/// Offer `bytes` as a download named `name`.
pub fn download(name: &str, mime: &str, bytes: &[u8]) -> Result<(), String> {
    let blob = gloo_file::Blob::new_with_options(bytes, Some(mime));
    let url = gloo_file::ObjectUrl::from(blob);
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| js::message(&e))?
        .unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    // Give the browser time to start the download before the URL is revoked (on drop).
    gloo_timers::callback::Timeout::new(10_000, move || drop(url)).forget();
    Ok(())
}

/// Resolve after the browser has had a chance to paint (one animation frame, then a task).
pub async fn yield_to_paint() {
    if let Some(window) = web_sys::window() {
        let frame = Promise::new(&mut |resolve, _| {
            if window.request_animation_frame(&resolve).is_err() {
                let _ = resolve.call0(&JsValue::NULL);
            }
        });
        let _ = JsFuture::from(frame).await;
    }
    TimeoutFuture::new(0).await;
}

pub fn now_ms() -> f64 {
    js_sys::Date::now()
}
