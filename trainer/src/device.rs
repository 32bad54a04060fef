//! `--device`: which burn backend runs the network.

use anyhow::{bail, Result};
use burn::prelude::*;
use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceChoice {
    /// burn-flex: pure-Rust multi-threaded SIMD CPU backend (the fastest CPU backend
    /// for 3D convolutions measured here; see docs/BENCHMARKS.md).
    Cpu,
    /// wgpu: Vulkan, Metal or DirectX 12 GPUs (build with `--features wgpu`).
    Wgpu,
    /// CUDA: NVIDIA GPUs (build with `--features cuda`).
    Cuda,
}

impl DeviceChoice {
    pub fn device(self) -> Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::flex()),
            DeviceChoice::Wgpu => wgpu(),
            DeviceChoice::Cuda => cuda(),
        }
    }
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<Device> {
    Ok(Device::wgpu(DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<Device> {
    bail!("this brainfm was built without the wgpu backend: rebuild with `cargo build --release -p brainfm-trainer --features wgpu`")
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Device> {
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Device> {
    bail!("this brainfm was built without the CUDA backend: rebuild with `cargo build --release -p brainfm-trainer --features cuda`")
}
