//! The compute device: burn on WebGPU when the browser offers it, burn's flex CPU backend
//! (compiled into the WASM) otherwise. Initialised once, asynchronously, then cached.
//!
//! Every read back to the host is async (`into_data_async`): blocking reads panic on wasm.

use std::cell::RefCell;

use burn::tensor::wgpu::WgpuBackend;
use burn::tensor::{Device, Tensor};
use wasm_bindgen::JsValue;

/// Which backend the cached device runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    WebGpu,
    /// burn-flex on the CPU, inside the WASM module.
    Flex,
}

/// What the probe found, for the status line.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// WebGPU initialised and `sum([1, 2, 3])` came back as `sum`.
    WebGpu { sum: f32 },
    /// WebGPU is not usable (`reason`); the same op on flex gave `cpu_sum` (or its error).
    Cpu {
        reason: String,
        cpu_sum: Result<f32, String>,
    },
}

struct Chosen {
    device: Device,
    backend: Backend,
    probe: Probe,
}

thread_local! {
    /// The device chosen by [`init`], reused by everything that computes.
    static CHOSEN: RefCell<Option<Chosen>> = const { RefCell::new(None) };
}

/// The device chosen by [`init`], once it has finished.
#[allow(dead_code)] // consumed by inference, which lands with the model bundle
pub fn device() -> Option<(Device, Backend)> {
    CHOSEN.with(|c| c.borrow().as_ref().map(|c| (c.device.clone(), c.backend)))
}

/// Initialise the compute device and check it with a tiny op. The first completed call
/// decides; later calls return its result without touching WebGPU again (burn's wgpu
/// runtime can be initialised only once per page).
pub async fn init() -> Probe {
    if let Some(probe) = CHOSEN.with(|c| c.borrow().as_ref().map(|c| c.probe.clone())) {
        return probe;
    }
    let (device, backend, probe) = match webgpu_device().await {
        Ok(gpu) => match smoke_test(&gpu).await {
            Ok(sum) => (gpu, Backend::WebGpu, Probe::WebGpu { sum }),
            Err(e) => {
                cpu_fallback(format!(
                    "WebGPU started but a test computation failed ({e})"
                ))
                .await
            }
        },
        Err(reason) => cpu_fallback(reason).await,
    };
    CHOSEN.with(|c| {
        *c.borrow_mut() = Some(Chosen {
            device,
            backend,
            probe: probe.clone(),
        })
    });
    probe
}

async fn cpu_fallback(reason: String) -> (Device, Backend, Probe) {
    let cpu = Device::flex();
    let cpu_sum = smoke_test(&cpu).await;
    (cpu, Backend::Flex, Probe::Cpu { reason, cpu_sum })
}

/// burn's wgpu runtime pinned to the browser's WebGPU.
async fn webgpu_device() -> Result<Device, String> {
    // Without `navigator.gpu` there is nothing to ask; say so instead of a deeper error.
    let window = web_sys::window().ok_or("no browser window (running outside a page?)")?;
    let gpu = js_sys::Reflect::get(&window.navigator(), &JsValue::from_str("gpu"))
        .unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser does not expose WebGPU (navigator.gpu is missing: WebGPU needs a \
                    browser that supports it, switched on, and a secure https:// or localhost page)"
            .into());
    }
    Device::wgpu_options()
        .graphics_api(WgpuBackend::WebGpu)
        .init_async()
        .await
        .map_err(|e| e.to_string())
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
