//! The compute device, chosen inside the inference worker: burn on WebGPU when the browser
//! offers a usable adapter, burn's flex CPU backend (compiled into the WASM) otherwise.
//! Initialised once per worker, asynchronously, then cached.
//!
//! Every read back to the host is async (`into_data_async`): blocking reads panic on wasm.

use std::cell::RefCell;

use burn::tensor::wgpu::WgpuBackend;
use burn::tensor::{Device, Tensor};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::protocol::BackendId;

/// Which backend the cached device runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    WebGpu,
    /// burn-flex on the CPU, inside the WASM module.
    Flex,
}

impl Backend {
    pub fn wire(self) -> BackendId {
        match self {
            Backend::WebGpu => BackendId::WebGpu,
            Backend::Flex => BackendId::Cpu,
        }
    }
}

/// Largest activation on the CPU path. core's convolution needs no im2col (its scratch is
/// a zero-padded copy of the layer's input plus 2 MiB), so a network holds a few times its
/// largest activation at once; wasm32 has 4 GiB in all. (burn-flex's own conv3d needed
/// ~27x the activation, which had capped this at 48 MiB.)
pub const CPU_BUDGET: u64 = 128 << 20;
/// Cap on the GPU budget even when the adapter allows more.
pub const GPU_BUDGET_CAP: u64 = 512 << 20;

/// What the probe found, for the status line.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub backend: Backend,
    /// Why WebGPU is not used (None when it is).
    pub fallback_reason: Option<String>,
    /// Adapter description, e.g. "google swiftshader (fallback adapter)".
    pub adapter: Option<String>,
    /// `maxStorageBufferBindingSize` of the adapter, bytes.
    pub max_binding: Option<u64>,
    /// Bytes the largest activation may take (InferenceConfig::memory_budget).
    pub budget: u64,
    /// Result or error of `sum([1, 2, 3])` on the chosen device.
    pub test: Result<f32, String>,
}

struct Chosen {
    device: Device,
    probe: Probe,
}

thread_local! {
    static CHOSEN: RefCell<Option<Chosen>> = const { RefCell::new(None) };
}

/// The device chosen by [`init`], once it has finished.
pub fn device() -> Option<(Device, Probe)> {
    CHOSEN.with(|c| {
        c.borrow()
            .as_ref()
            .map(|c| (c.device.clone(), c.probe.clone()))
    })
}

/// Choose the compute device (WebGPU unless `cpu_only` or unusable) and check it with a tiny
/// op. The first call decides; burn's wgpu runtime can be initialised only once per worker.
pub async fn init(cpu_only: bool) -> Probe {
    if let Some((_, probe)) = device() {
        return probe;
    }
    let (device, probe) = if cpu_only {
        cpu_fallback("you chose the CPU".into()).await
    } else {
        match webgpu_device().await {
            Ok((gpu, adapter, max_binding, budget)) => match smoke_test(&gpu).await {
                Ok(sum) => (
                    gpu,
                    Probe {
                        backend: Backend::WebGpu,
                        fallback_reason: None,
                        adapter: Some(adapter),
                        max_binding: Some(max_binding),
                        budget,
                        test: Ok(sum),
                    },
                ),
                Err(e) => {
                    cpu_fallback(format!(
                        "WebGPU started but a test computation failed ({e})"
                    ))
                    .await
                }
            },
            Err(reason) => cpu_fallback(reason).await,
        }
    };
    CHOSEN.with(|c| {
        *c.borrow_mut() = Some(Chosen {
            device,
            probe: probe.clone(),
        })
    });
    probe
}

async fn cpu_fallback(reason: String) -> (Device, Probe) {
    let cpu = Device::flex();
    let test = smoke_test(&cpu).await;
    (
        cpu,
        Probe {
            backend: Backend::Flex,
            fallback_reason: Some(reason),
            adapter: None,
            max_binding: None,
            budget: CPU_BUDGET,
            test,
        },
    )
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// burn's wgpu runtime pinned to the browser's WebGPU, after checking that an adapter
/// exists (so a browser without one gets a plain reason, not a deep error).
/// Returns the device, an adapter description, maxStorageBufferBindingSize and the budget.
async fn webgpu_device() -> Result<(Device, String, u64, u64), String> {
    // Works in a window and in a worker: both have `navigator`.
    let navigator = get(&js_sys::global(), "navigator");
    let gpu = get(&navigator, "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser does not expose WebGPU (navigator.gpu is missing: WebGPU needs a \
                    browser that supports it, switched on, and a secure https:// or localhost page)"
            .into());
    }
    let request = get(&gpu, "requestAdapter")
        .dyn_into::<js_sys::Function>()
        .map_err(|_| "navigator.gpu.requestAdapter is not a function".to_string())?;
    let promise = request.call0(&gpu).map_err(|e| {
        format!(
            "asking for a WebGPU adapter failed ({})",
            crate::js::message(&e)
        )
    })?;
    let adapter = JsFuture::from(js_sys::Promise::from(promise))
        .await
        .map_err(|e| {
            format!(
                "asking for a WebGPU adapter failed ({})",
                crate::js::message(&e)
            )
        })?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("the browser has WebGPU but offers no adapter (no usable GPU, or WebGPU is switched off)".into());
    }
    let limits = get(&adapter, "limits");
    let num = |k: &str| get(&limits, k).as_f64().unwrap_or(0.0) as u64;
    let max_binding = num("maxStorageBufferBindingSize");
    let max_buffer = num("maxBufferSize");
    let info = get(&adapter, "info");
    let text = |k: &str| get(&info, k).as_string().unwrap_or_default();
    let mut description = [text("vendor"), text("architecture"), text("description")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if description.is_empty() {
        description = "unnamed adapter".into();
    }
    if get(&info, "isFallbackAdapter").as_bool() == Some(true)
        || get(&adapter, "isFallbackAdapter").as_bool() == Some(true)
    {
        description.push_str(" (software fallback adapter)");
    }
    let budget = max_binding.min(max_buffer).clamp(16 << 20, GPU_BUDGET_CAP);
    let device = Device::wgpu_options()
        .graphics_api(WgpuBackend::WebGpu)
        .init_async()
        .await
        .map_err(|e| e.to_string())?;
    Ok((device, description, max_binding, budget))
}

/// `sum([1, 2, 3])` on `device`, read back asynchronously; anything but 6 is an error.
async fn smoke_test(device: &Device) -> Result<f32, String> {
    let data = Tensor::<1>::from_floats([1.0f32, 2.0, 3.0], device)
        .sum()
        .into_data_async()
        .await
        .map_err(|e| e.to_string())?;
    let values = data.try_into_vec_as::<f32>().map_err(|e| e.to_string())?;
    match values.as_slice() {
        [sum] if (*sum - 6.0).abs() < 1e-6 => Ok(*sum),
        other => Err(format!("sum([1, 2, 3]) returned {other:?}, expected [6.0]")),
    }
}
