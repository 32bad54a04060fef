//! The page: WebGPU status line, file picker, scan facts and the middle axial slice.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlInputElement, ImageData};

use crate::file;
use crate::gpu::{self, Probe};
use crate::render::Rgba;
use crate::scan::{self, ScanInfo};

/// State of the scan panel.
#[derive(Debug, Clone, PartialEq)]
enum ScanState {
    Empty,
    Busy { name: String, step: &'static str },
    Loaded(ScanInfo),
    Failed { name: String, message: String },
}

#[component]
pub fn App() -> impl IntoView {
    let probe = RwSignal::new(None::<Probe>);
    let state = RwSignal::new(ScanState::Empty);
    let canvas: NodeRef<html::Canvas> = NodeRef::new();
    // Counts file selections, so a slow decode never overwrites a newer one.
    let generation = StoredValue::new(0u64);

    spawn_local(async move { probe.set(Some(gpu::init().await)) });

    let on_change = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(picked) = input.files().and_then(|files| files.get(0)) else {
            return;
        };
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        spawn_local(async move {
            let name = picked.name();
            let current = move || generation.get_value() == mine;
            state.set(ScanState::Busy {
                name: name.clone(),
                step: "Reading",
            });
            let bytes = match file::read_bytes(&picked).await {
                Ok(bytes) => bytes,
                Err(message) => {
                    if current() {
                        state.set(ScanState::Failed { name, message });
                    }
                    return;
                }
            };
            if !current() {
                return;
            }
            state.set(ScanState::Busy {
                name: name.clone(),
                step: "Decoding",
            });
            file::yield_to_paint().await;
            if !current() {
                return;
            }
            let next = match scan::open(&name, &bytes) {
                Ok((info, slice)) => match draw(canvas, &slice) {
                    Ok(()) => ScanState::Loaded(info),
                    Err(message) => ScanState::Failed { name, message },
                },
                Err(message) => ScanState::Failed { name, message },
            };
            state.set(next);
        });
    };

    let loaded = move || matches!(state.get(), ScanState::Loaded(_));

    view! {
        <header>
            <h1>"brainfm"</h1>
            <p class="tagline">"A brain-MRI foundation model that runs in your browser."</p>
        </header>
        <main>
            <p class="compute" data-testid="compute" aria-live="polite">{move || compute_line(probe.get())}</p>
            <section class="open">
                <label for="scan-file">"Open a brain MRI scan (.nii or .nii.gz)"</label>
                <input id="scan-file" data-testid="file" type="file" accept=".nii,.gz,.nii.gz" on:change=on_change />
                <p class="privacy">"The file is read and decoded inside this tab; it is never uploaded."</p>
            </section>
            <section class="scan" data-testid="scan" aria-live="polite">
                {move || scan_panel(state.get())}
                <figure hidden=move || !loaded()>
                    <canvas node_ref=canvas data-testid="slice"></canvas>
                    <figcaption>{move || match state.get() {
                        ScanState::Loaded(info) => info.caption(),
                        _ => String::new(),
                    }}</figcaption>
                </figure>
            </section>
        </main>
    }
}

/// The WebGPU / CPU status line.
fn compute_line(probe: Option<Probe>) -> String {
    match probe {
        None => "Checking for WebGPU…".into(),
        Some(Probe::WebGpu { sum }) => {
            format!("WebGPU ready (test: sum of [1, 2, 3] = {sum} on the GPU)")
        }
        Some(Probe::Cpu { reason, cpu_sum }) => {
            let test = match cpu_sum {
                Ok(sum) => format!("CPU test: sum of [1, 2, 3] = {sum}"),
                Err(e) => format!("the CPU test failed too: {e}"),
            };
            format!("WebGPU unavailable: {reason} — CPU (burn flex in WASM) will be used ({test})")
        }
    }
}

fn scan_panel(state: ScanState) -> AnyView {
    match state {
        ScanState::Empty => view! { <p class="hint">"No scan open yet."</p> }.into_any(),
        ScanState::Busy { name, step } => view! { <p class="busy">{format!("{step} {name}…")}</p> }.into_any(),
        ScanState::Failed { name, message } => view! {
            <p class="error" role="alert" data-testid="error">{format!("Could not open {name}: {message}")}</p>
        }
        .into_any(),
        ScanState::Loaded(info) => {
            let rows = info.facts().into_iter().map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> }).collect_view();
            view! {
                <h2>{info.name.clone()}</h2>
                <dl class="facts" data-testid="facts">{rows}</dl>
            }
            .into_any()
        }
    }
}

/// Put the rendered slice on the canvas, sized to the slice.
fn draw(canvas: NodeRef<html::Canvas>, slice: &Rgba) -> Result<(), String> {
    let canvas: HtmlCanvasElement = canvas
        .get_untracked()
        .ok_or("the page has no slice canvas")?;
    canvas.set_width(slice.width);
    canvas.set_height(slice.height);
    let ctx = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
        .ok_or("this browser gave no 2D canvas context")?;
    let image = ImageData::new_with_u8_clamped_array_and_sh(
        Clamped(&slice.pixels[..]),
        slice.width,
        slice.height,
    )
    .map_err(|e| {
        format!(
            "could not create the slice image ({})",
            file::js_message(&e)
        )
    })?;
    ctx.put_image_data(&image, 0, 0)
        .map_err(|e| format!("could not draw the slice ({})", file::js_message(&e)))
}
