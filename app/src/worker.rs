//! The inference worker: the same WASM module, started by www/static/worker.js in a
//! dedicated module Web Worker. It owns the compute device (WebGPU or flex) and runs core's
//! `segment_volume` on the bytes the page sends, so the page stays responsive.
//!
//! Protocol (plain JS objects, `type` field):
//! page -> worker: `init {cpuOnly}`, `run {scan: Uint8Array, bundle: Uint8Array}`, and
//! `train` / `trainControl` (fine-tuning: see crate::train), `teach` (crate::teach).
//! worker -> page: `hello` (handler installed), `ready {backend, text, budget}`,
//! `progress {stage, done, total}`, `done {...}`, `error {message}`.
//! Cancelling is done by the page terminating the worker (works on the CPU path too,
//! where inference never yields).

use std::ops::ControlFlow;

use brainfm_core::bundle::Bundle;
use brainfm_core::infer::{segment_volume, InferenceConfig, Progress, Stage};
use brainfm_core::volume::{read_nifti, write_labels, NiftiImage, ReadOptions, VolumeError};
use js_sys::{Array, Float64Array, Object, Uint16Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::gpu::{self, Backend, Probe};
use crate::msg::{get, get_bool, obj, set};

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn post(value: &JsValue) {
    let _ = scope().post_message(value);
}

fn post_transfer(value: &JsValue, transfer: &Array) {
    let _ = scope().post_message_with_transfer(value, transfer);
}

/// Entry point when the module runs inside a worker.
pub fn start() {
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let data = ev.data();
        wasm_bindgen_futures::spawn_local(async move { handle(data).await });
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    post(&obj(&[("type", "hello".into())]));
}

async fn handle(data: JsValue) {
    match get(&data, "type").as_string().as_deref() {
        Some("init") => {
            let probe = gpu::init(get_bool(&data, "cpuOnly")).await;
            let msg = obj(&[
                ("type", "ready".into()),
                ("backend", probe.backend.id().into()),
                ("text", status_text(&probe).into()),
                ("budget", (probe.budget as f64).into()),
            ]);
            post(&msg);
        }
        Some("run") => {
            let scan = get(&data, "scan")
                .dyn_into::<Uint8Array>()
                .map(|a| a.to_vec());
            let bundle = get(&data, "bundle")
                .dyn_into::<Uint8Array>()
                .map(|a| a.to_vec());
            let result = match (scan, bundle) {
                (Ok(scan), Ok(bundle)) => run(&scan, &bundle).await,
                _ => Err("internal error: the page sent no scan or no model".into()),
            };
            if let Err(message) = result {
                post(&obj(&[
                    ("type", "error".into()),
                    ("message", message.into()),
                ]));
            }
        }
        Some("train") => crate::train::handle(data).await,
        Some("teach") => crate::teach::handle(data).await,
        Some("trainControl") => crate::train::control(&crate::msg::get_string(&data, "action")),
        other => post(&obj(&[
            ("type", "error".into()),
            (
                "message",
                format!("internal error: unknown request {other:?}").into(),
            ),
        ])),
    }
}

/// The line the page shows about the compute device.
pub fn status_text(p: &Probe) -> String {
    let test = match &p.test {
        Ok(sum) => format!("test sum of [1, 2, 3] = {sum}"),
        Err(e) => format!("the test computation failed: {e}"),
    };
    match p.backend {
        Backend::WebGpu => format!(
            "WebGPU ready on {} ({test}); activation budget {} MiB",
            p.adapter.as_deref().unwrap_or("an unnamed adapter"),
            p.budget >> 20
        ),
        Backend::Flex => format!(
            "WebGPU not used: {} — models run on the CPU (burn flex in WASM), which is much slower ({test})",
            p.fallback_reason.as_deref().unwrap_or("unknown reason")
        ),
    }
}

fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::Preprocessing => "preprocessing",
        Stage::Inference => "inference",
        Stage::Postprocessing => "postprocessing",
    }
}

/// Decodes a NIfTI the page sent; of a 4-D series, the first volume (the one the viewer
/// shows).
pub(crate) fn read_first_volume(bytes: &[u8]) -> Result<NiftiImage, VolumeError> {
    match read_nifti(bytes, &ReadOptions::default()) {
        Err(VolumeError::FourDimensional { .. }) => read_nifti(
            bytes,
            &ReadOptions {
                volume: Some(0),
                ..ReadOptions::default()
            },
        ),
        other => other,
    }
}

async fn run(scan: &[u8], bundle_bytes: &[u8]) -> Result<(), String> {
    let (device, probe) =
        gpu::device().ok_or("the compute device is not ready yet; try again in a moment")?;
    let image = read_first_volume(scan).map_err(|e| format!("the scan: {e}"))?;
    let t0 = js_sys::Date::now();
    let bundle = Bundle::from_bytes(bundle_bytes).map_err(|e| format!("the model file: {e}"))?;
    let model = bundle
        .load_model(&device)
        .map_err(|e| format!("the model file: {e}"))?;
    let t_loaded = js_sys::Date::now();
    let meta = bundle.meta();
    let inference = InferenceConfig {
        patch: meta.patch_size,
        overlap: 0.5,
        mirror_tta: false,
        max_batch: if probe.backend == Backend::WebGpu {
            2
        } else {
            1
        },
        memory_budget: probe.budget,
    };
    let mut report = |p: Progress| {
        post(&obj(&[
            ("type", "progress".into()),
            ("stage", stage_name(p.stage).into()),
            ("done", (p.done as f64).into()),
            ("total", (p.total as f64).into()),
        ]));
        ControlFlow::Continue(())
    };
    let seg = segment_volume(
        &model,
        bundle.config(),
        meta,
        &image.volume,
        &inference,
        &device,
        &mut report,
    )
    .await
    .map_err(|e| match probe.backend {
        Backend::WebGpu => {
            format!("{e} (on WebGPU; switch to the CPU and retry if the GPU is the problem)")
        }
        Backend::Flex => e.to_string(),
    })?;
    let t_done = js_sys::Date::now();
    let nifti = write_labels(&image.header, &seg.labels)
        .map_err(|e| format!("writing the segmentation: {e}"))?;

    let labels = Uint16Array::new_with_length(seg.labels.data.len() as u32);
    labels.copy_from(&seg.labels.data);
    let volumes = Float64Array::new_with_length(seg.volumes_ml.len() as u32);
    volumes.copy_from(&seg.volumes_ml);
    let names = Array::new();
    for n in &meta.class_names {
        names.push(&JsValue::from_str(n));
    }
    let file = Uint8Array::new_with_length(nifti.len() as u32);
    file.copy_from(&nifti);
    let msg: Object = obj(&[
        ("type", "done".into()),
        ("backend", probe.backend.id().into()),
        ("modelName", meta.name.clone().into()),
        ("modelLoadMs", (t_loaded - t0).into()),
        ("inferenceMs", (t_done - t_loaded).into()),
        (
            "plan",
            format!(
                "patch {:?}, batch {}, largest activation {:.1} MiB (budget {} MiB), network grid {:?}",
                seg.plan.patch,
                seg.plan.batch,
                seg.plan.largest_activation as f64 / (1u64 << 20) as f64,
                probe.budget >> 20,
                seg.processed_dims
            )
            .into(),
        ),
        ("largestActivation", (seg.plan.largest_activation as f64).into()),
        ("labels", labels.clone().into()),
        ("volumes", volumes.into()),
        ("names", names.into()),
        ("nifti", file.clone().into()),
    ]);
    set(
        &msg,
        "dims",
        &Array::of3(
            &(seg.labels.dims[0] as f64).into(),
            &(seg.labels.dims[1] as f64).into(),
            &(seg.labels.dims[2] as f64).into(),
        ),
    );
    let transfer = Array::of2(&labels.buffer(), &file.buffer());
    post_transfer(&msg, &transfer);
    Ok(())
}
