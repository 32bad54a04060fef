//! brainfm in the browser: a Leptos (CSR) page that opens a brain MRI from the user's disk,
//! decodes it with brainfm-core inside the tab, shows it in three planes, and segments,
//! fine-tunes and teaches with core in a Web Worker on WebGPU (burn flex on the CPU as
//! fallback).
//!
//! `page/` runs on the page, `worker/` in the worker; they share only `protocol` (the typed
//! messages between them). The app is wasm32-only apart from the pure modules, which are
//! compiled natively too so their unit tests run without a browser.

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod protocol;

#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
mod worker;

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod page;

/// One module, two roles: in the page it mounts the UI; in the worker (www/static/worker.js
/// imports the same module) it serves the page's requests.
#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    if web_sys::window().is_some() {
        leptos::mount::mount_to_body(page::App);
    } else {
        worker::start();
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    println!(
        "brainfm-app is the browser app; it only does something when built for wasm32.\n\
         Build it with trunk from the repository root:  trunk build --release --offline\n\
         (see Trunk.toml; the page lands in dist/)."
    );
}
