//! InstanceNorm followed by LeakyReLU, fused into one kernel on the CPU backend (burn-flex,
//! natively and in the browser's CPU fallback); burn's composite ops elsewhere.
//!
//! The model keeps burn's `InstanceNorm` modules (same parameter names, so every bundle and
//! checkpoint loads unchanged) and calls [`norm_act`] or [`norm`] instead of
//! `InstanceNorm::forward`. [`crate::model::conv::with_cpu_kernels`] and
//! `BRAINFM_STOCK_CONV=1` switch these kernels off together with the convolution's.

mod backend;
mod kernel;
#[cfg(test)]
mod tests;

pub use backend::CpuNormActOps;

use super::conv::cpu_kernels_enabled;
use burn::backend::{Dispatch, DispatchDevice};
use burn::nn::norm::InstanceNorm;
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;

/// `leaky_relu(norm.forward(x), slope)`.
pub fn norm_act(norm: &InstanceNorm, x: Tensor<5>, slope: f64) -> Tensor<5> {
    fused(norm, x, slope).unwrap_or_else(|x| leaky_relu(norm.forward(x), slope))
}

/// `norm.forward(x)`.
pub fn norm(norm: &InstanceNorm, x: Tensor<5>) -> Tensor<5> {
    fused(norm, x, 1.0).unwrap_or_else(|x| norm.forward(x))
}

/// The fused kernel's result, or `x` back where burn's ops must run: another backend,
/// another dtype, a norm without affine parameters, or the kernels switched off.
fn fused(norm: &InstanceNorm, x: Tensor<5>, slope: f64) -> Result<Tensor<5>, Tensor<5>> {
    let on_cpu = matches!(
        x.device().without_autodiff().as_dispatch(),
        DispatchDevice::Flex(_)
    );
    let (Some(gamma), Some(beta)) = (&norm.gamma, &norm.beta) else {
        return Err(x);
    };
    let [_, channels, ..] = x.dims();
    if !on_cpu
        || !cpu_kernels_enabled()
        || x.dtype() != burn::tensor::DType::F32
        || channels != norm.num_channels
    {
        return Err(x);
    }
    let (gamma, beta) = (gamma.val(), beta.val());
    if gamma.dtype() != x.dtype() || beta.dtype() != x.dtype() {
        return Err(x);
    }
    Ok(Tensor::from_dispatch(
        <Dispatch as CpuNormActOps>::cpu_instance_norm_act(
            x.into_dispatch(),
            gamma.into_dispatch(),
            beta.into_dispatch(),
            norm.epsilon,
            slope,
        ),
    ))
}
