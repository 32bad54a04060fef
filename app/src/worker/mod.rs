//! The compute worker: the same WASM module, started by www/static/worker.js in a dedicated
//! module Web Worker. It owns the compute device (WebGPU or flex), keeps the scan and the
//! models the page sent (each decoded or parsed once per load), and answers the page's
//! `Request`s with `Reply`s (crate::protocol), one request at a time in arrival order;
//! only `TrainControl` is handled at once, so a running fine-tuning can be paused.
//! Cancelling is done by the page terminating the worker (works on the CPU path too,
//! where inference never yields).

mod gpu;
mod segment;
mod teach;
mod train;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use brainfm_core::bundle::Bundle;
use brainfm_core::model::BrainNet;
use brainfm_core::volume::{self, NiftiImage, ReadOptions, VolumeError};
use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::protocol::{wire, ModelInfo, Reply, Request, Slot};
use gpu::{Backend, Probe};

/// A bundle the page sent, parsed and put on the device once.
pub(crate) struct KeptModel {
    pub bundle: Bundle,
    pub model: BrainNet,
}

/// What the worker keeps between requests.
#[derive(Default)]
struct Kept {
    scan: Option<Rc<NiftiImage>>,
    segmentation: Option<Rc<KeptModel>>,
    teaching: Option<Rc<KeptModel>>,
}

thread_local! {
    static KEPT: RefCell<Kept> = RefCell::new(Kept::default());
    static QUEUE: RefCell<VecDeque<Request>> = const { RefCell::new(VecDeque::new()) };
    static DRAINING: Cell<bool> = const { Cell::new(false) };
}

/// Send `reply` to the page, transferring its buffer.
pub(crate) fn reply(reply: &Reply) {
    let bytes = wire::encode(reply);
    let array = Uint8Array::new_with_length(bytes.len() as u32);
    array.copy_from(&bytes);
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let _ = scope.post_message_with_transfer(&array, &Array::of1(&array.buffer()));
}

/// Entry point when the module runs inside a worker.
pub fn start() {
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let request = match ev.data().dyn_into::<Uint8Array>() {
            Ok(bytes) => wire::decode::<Request>(&bytes.to_vec()),
            Err(_) => Err("a message that is not a brainfm request".into()),
        };
        match request {
            Ok(Request::TrainControl(c)) => train::control(c),
            Ok(request) => {
                QUEUE.with(|q| q.borrow_mut().push_back(request));
                if !DRAINING.with(|d| d.replace(true)) {
                    wasm_bindgen_futures::spawn_local(drain());
                }
            }
            Err(e) => reply(&Reply::Failed(format!(
                "internal error: the worker got {e}"
            ))),
        }
    });
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    reply(&Reply::Hello);
}

async fn drain() {
    while let Some(request) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
        handle(request).await;
    }
    DRAINING.with(|d| d.set(false));
}

async fn handle(request: Request) {
    match request {
        Request::Init { cpu_only } => {
            let probe = gpu::init(cpu_only).await;
            reply(&Reply::Ready {
                backend: probe.backend.wire(),
                text: status_text(&probe),
                budget: probe.budget,
                facts: device_facts(&probe),
            });
        }
        Request::Scan(scan) => {
            // The page decoded this scan itself, so a grid error here is a bug, not bad input.
            let image = scan.into_image().map_err(|e| {
                reply(&Reply::Failed(format!(
                    "internal error: the scan's grid: {e}"
                )))
            });
            KEPT.with(|k| k.borrow_mut().scan = image.ok().map(Rc::new));
        }
        Request::Model { slot, name, bytes } => {
            let loaded = load_model(slot, &name, &bytes.0);
            reply(&match loaded {
                Ok(info) => Reply::ModelLoaded { slot, info },
                Err(message) => Reply::ModelFailed { slot, message },
            });
        }
        Request::Segment => {
            if let Err(message) = segment::run().await {
                reply(&Reply::SegmentFailed(message));
            }
        }
        Request::Train(request) => train::handle(*request).await,
        Request::Teach(request) => teach::handle(request).await,
        Request::TrainControl(c) => train::control(c),
    }
}

/// Parse `bytes`, check it fits `slot`, put it on the device and keep it.
fn load_model(slot: Slot, name: &str, bytes: &[u8]) -> Result<ModelInfo, String> {
    let (device, _) = device()?;
    let t0 = js_sys::Date::now();
    let bundle = Bundle::from_bytes(bytes).map_err(|e| format!("Could not open {name}: {e}"))?;
    let meta = bundle.meta();
    let classes = match (slot, bundle.config().seg_classes()) {
        (Slot::Segmentation, None) => {
            return Err(format!(
                "{name} is a brainfm model without a segmentation head (a pre-trained encoder?); \
                 fine-tune it for segmentation first"
            ))
        }
        (Slot::Teaching, _)
            if bundle.config().latent.is_none() || bundle.config().recon.is_none() =>
        {
            return Err(format!(
                "{name} has no latent split or no reconstruction decoder"
            ))
        }
        (_, classes) => classes.unwrap_or(0),
    };
    let info = ModelInfo {
        name: meta.name.clone(),
        preset: bundle.config().preset.to_string(),
        file: name.to_string(),
        classes: (0..classes)
            .map(|l| {
                meta.class_names
                    .get(l)
                    .cloned()
                    .unwrap_or_else(|| format!("label {l}"))
            })
            .collect(),
        patch: meta.patch_size,
        spacing: meta.preprocess.target_spacing,
        provenance: meta.provenance.clone(),
        size: bytes.len(),
        load_ms: 0.0,
    };
    let model = bundle
        .load_model(&device)
        .map_err(|e| format!("Could not open {name}: {e}"))?;
    let info = ModelInfo {
        load_ms: js_sys::Date::now() - t0,
        ..info
    };
    let kept = Some(Rc::new(KeptModel { bundle, model }));
    KEPT.with(|k| match slot {
        Slot::Segmentation => k.borrow_mut().segmentation = kept,
        Slot::Teaching => k.borrow_mut().teaching = kept,
    });
    Ok(info)
}

/// The device chosen at `Init`.
pub(crate) fn device() -> Result<(burn::tensor::Device, Probe), String> {
    gpu::device().ok_or_else(|| "the compute device is not ready yet; try again in a moment".into())
}

/// The kept scan.
pub(crate) fn scan() -> Result<Rc<NiftiImage>, String> {
    KEPT.with(|k| k.borrow().scan.clone())
        .ok_or_else(|| "open a scan first".into())
}

/// The kept model of `slot`.
pub(crate) fn model(slot: Slot) -> Result<Rc<KeptModel>, String> {
    KEPT.with(|k| {
        let k = k.borrow();
        match slot {
            Slot::Segmentation => k.segmentation.clone(),
            Slot::Teaching => k.teaching.clone(),
        }
    })
    .ok_or_else(|| match slot {
        Slot::Segmentation => "open a model first".into(),
        Slot::Teaching => "the pre-trained model is not loaded".into(),
    })
}

/// The line the page shows about the compute device.
/// The probe's findings for the page's diagnostics.
fn device_facts(p: &Probe) -> Vec<(String, String)> {
    let mut facts = vec![(
        "Backend".to_string(),
        match p.backend {
            Backend::WebGpu => "WebGPU (burn wgpu)".to_string(),
            Backend::Flex => "CPU (burn flex in WASM)".to_string(),
        },
    )];
    let mut add = |k: &str, v: String| facts.push((k.to_string(), v));
    if let Some(adapter) = &p.adapter {
        add("Adapter", adapter.clone());
    }
    if let Some(max) = p.max_binding {
        add("maxStorageBufferBindingSize", format!("{max} bytes"));
    }
    add("Activation budget", format!("{} MiB", p.budget >> 20));
    if let Some(reason) = &p.fallback_reason {
        add("WebGPU not used because", reason.clone());
    }
    add(
        "Device self-test",
        match &p.test {
            Ok(sum) => format!("sum of [1, 2, 3] = {sum}"),
            Err(e) => format!("failed: {e}"),
        },
    );
    let scope = js_sys::global();
    let navigator = crate::js::get(&scope, "navigator");
    add(
        "Worker threads available",
        crate::js::get_f64(&navigator, "hardwareConcurrency").to_string(),
    );
    facts
}

fn status_text(p: &Probe) -> String {
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

/// Decodes a NIfTI file the page sent (a label map, a fine-tuning pair); of a 4-D series,
/// the first volume (the one the viewer shows).
pub(crate) fn read_first_volume(bytes: &[u8]) -> Result<NiftiImage, VolumeError> {
    volume::read_first_volume(bytes, &ReadOptions::default()).map(|(image, _)| image)
}

/// Yield to the worker's event loop for `ms` milliseconds (lets control messages in).
pub(crate) async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}
