//! "Copy diagnostics": what a user pastes into a bug report. The browser, the compute
//! device and its limits, the model, the scan's grid and the last run's timings; never the
//! scan's name or any voxel. The text is shown as well as copied, because the clipboard
//! may be refused.

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use super::compute::Compute;
use super::format;
use super::model::Models;
use super::run::Run;
use super::viewer::Viewer;
use crate::js::{get, get_f64, get_string};

fn browser_facts() -> Vec<(String, String)> {
    let window: JsValue = web_sys::window().map(JsValue::from).unwrap_or_default();
    let navigator = get(&window, "navigator");
    let mut facts = vec![
        (
            "User agent".to_string(),
            get_string(&navigator, "userAgent"),
        ),
        (
            "WebGPU API present".to_string(),
            (!get(&navigator, "gpu").is_undefined()).to_string(),
        ),
        (
            "Logical processors".to_string(),
            get_f64(&navigator, "hardwareConcurrency").to_string(),
        ),
    ];
    let memory = get_f64(&navigator, "deviceMemory");
    if memory > 0.0 {
        facts.push(("Device memory (approx.)".into(), format!("{memory} GB")));
    }
    facts.push((
        "Service worker".to_string(),
        (!get(&navigator, "serviceWorker").is_undefined()).to_string(),
    ));
    facts
}

/// Ask the clipboard to take `text`; resolves to whether it did.
async fn copy(text: &str) -> bool {
    let window: JsValue = web_sys::window().map(JsValue::from).unwrap_or_default();
    let clipboard = get(&get(&window, "navigator"), "clipboard");
    let Ok(write) = get(&clipboard, "writeText").dyn_into::<js_sys::Function>() else {
        return false;
    };
    let Ok(promise) = write.call1(&clipboard, &JsValue::from_str(text)) else {
        return false;
    };
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(promise))
        .await
        .is_ok()
}

#[component]
pub fn DiagnosticsPanel() -> impl IntoView {
    let compute = expect_context::<Compute>();
    let models = expect_context::<Models>();
    let viewer = expect_context::<Viewer>();
    let run = expect_context::<Run>();
    let text = RwSignal::new(String::new());
    let copied = RwSignal::new(None::<bool>);
    let gather = move |_| {
        let report = format::report(
            &format!("brainfm web app {}", env!("CARGO_PKG_VERSION")),
            &[
                ("Browser", browser_facts()),
                ("Compute", compute.summary()),
                ("Model", models.summary()),
                ("Scan", viewer.summary()),
                ("Last run", run.summary()),
            ],
        );
        text.set(report.clone());
        copied.set(None);
        leptos::task::spawn_local(async move { copied.set(Some(copy(&report).await)) });
    };
    view! {
        <section class="diagnostics">
            <button type="button" data-testid="copy-diagnostics" on:click=gather>"Copy diagnostics"</button>
            <span class="hint" data-testid="diagnostics-copied">{move || match copied.get() {
                None => "",
                Some(true) => " Copied: paste it into your bug report. It holds no scan data.",
                Some(false) => " The browser did not allow copying: select the text below and copy it.",
            }}</span>
            <textarea readonly rows="14" data-testid="diagnostics" hidden=move || text.with(|t| t.is_empty())
                aria-label="diagnostics report" prop:value=move || text.get()></textarea>
        </section>
    }
}
