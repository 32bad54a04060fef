//! brainfm in the browser: a Leptos (CSR) page that opens a brain MRI from the user's disk,
//! decodes it with brainfm-core inside the tab, shows it in three planes, and segments it
//! with core's `segment_volume` in a Web Worker on WebGPU (burn flex on the CPU as fallback).
//!
//! The whole app is wasm32-only (its dependencies are declared for wasm32 alone); a native
//! build yields a small binary that explains how to build the real thing.

// Pure modules used by the wasm32 UI; compiled natively too so its unit tests run without a browser.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod format;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod render;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod teach_render;

#[cfg(target_arch = "wasm32")]
mod file;
#[cfg(target_arch = "wasm32")]
mod finetune;
#[cfg(target_arch = "wasm32")]
mod gpu;
#[cfg(target_arch = "wasm32")]
mod idb;
#[cfg(target_arch = "wasm32")]
mod msg;
#[cfg(target_arch = "wasm32")]
mod runner;
#[cfg(target_arch = "wasm32")]
mod saved;
#[cfg(target_arch = "wasm32")]
mod scan;
#[cfg(target_arch = "wasm32")]
mod settings;
#[cfg(target_arch = "wasm32")]
mod teach;
#[cfg(target_arch = "wasm32")]
mod teach_panel;
#[cfg(target_arch = "wasm32")]
mod train;
#[cfg(target_arch = "wasm32")]
mod ui;
#[cfg(target_arch = "wasm32")]
mod worker;

/// One module, two roles: in the page it mounts the UI; in the inference worker
/// (www/static/worker.js imports the same module) it serves inference requests.
#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    if web_sys::window().is_some() {
        leptos::mount::mount_to_body(ui::App);
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
