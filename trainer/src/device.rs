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
        self.device_for(0)
    }

    /// The device of the `local_rank`-th replica on this machine: GPU `local_rank` (a
    /// data-parallel run puts one replica per GPU); the CPU is shared.
    pub fn device_for(self, local_rank: usize) -> Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::flex()),
            DeviceChoice::Wgpu => wgpu(local_rank),
            DeviceChoice::Cuda => cuda(local_rank),
        }
    }
}

#[cfg(feature = "wgpu")]
fn wgpu(local_rank: usize) -> Result<Device> {
    Ok(Device::wgpu(match local_rank {
        0 => DeviceKind::DefaultDevice,
        i => DeviceKind::DiscreteGpu(i),
    }))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu(_: usize) -> Result<Device> {
    bail!("this brainfm was built without the wgpu backend: rebuild with `cargo build --release -p brainfm-trainer --features wgpu`")
}

#[cfg(feature = "cuda")]
fn cuda(local_rank: usize) -> Result<Device> {
    Ok(Device::cuda(local_rank))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_: usize) -> Result<Device> {
    bail!("this brainfm was built without the CUDA backend: rebuild with `cargo build --release -p brainfm-trainer --features cuda`")
}
