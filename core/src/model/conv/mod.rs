//! brainfm's 3D convolution: its own kernels on the CPU backend (burn-flex, natively and in
//! the browser's CPU fallback), burn's `conv3d` on GPU backends.
//!
//! burn-flex's stock conv3d builds an im2col block element by element and differentiates
//! through conv_transpose3d and a volume-sized "kernel"; these kernels gather contiguous runs
//! from a polyphase copy of the input and run one GEMM per tile for the forward pass, the
//! input gradient and the weight gradient (see `kernel`). The model keeps burn's `Conv3d`
//! modules (same parameter names, so every bundle and checkpoint loads unchanged) and only
//! calls [`forward`] instead of `Conv3d::forward`.

mod backend;
mod kernel;
mod shape;
#[cfg(test)]
mod tests;

pub use backend::CpuConv3dOps;
pub use shape::ConvShape;

use burn::backend::{Dispatch, DispatchDevice};
use burn::nn::conv::Conv3d;
use burn::nn::PaddingConfig3d;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;
use std::cell::Cell;
use std::sync::OnceLock;

thread_local! {
    static OVERRIDE: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Runs `f` with brainfm's CPU kernels (this convolution and the fused InstanceNorm +
/// LeakyReLU of `model::norm`) on (`true`) or with burn's stock ops (`false`) on this thread,
/// for side-by-side tests and benchmarks.
pub fn with_cpu_kernels<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let before = OVERRIDE.with(|o| o.replace(Some(on)));
    let result = f();
    OVERRIDE.with(|o| o.set(before));
    result
}

/// Whether convolutions on the CPU backend use brainfm's kernels: yes, unless
/// [`with_cpu_kernels`] says otherwise or the environment has `BRAINFM_STOCK_CONV=1`
/// (a whole CLI run on burn's kernels, for before/after timings).
pub fn cpu_kernels_enabled() -> bool {
    static DEFAULT: OnceLock<bool> = OnceLock::new();
    OVERRIDE.with(|o| o.get()).unwrap_or_else(|| {
        *DEFAULT.get_or_init(|| std::env::var("BRAINFM_STOCK_CONV").map_or(true, |v| v != "1"))
    })
}

/// burn's `conv3d` contract, on brainfm's kernels where the tensor lives on the CPU backend.
pub fn conv3d(
    x: Tensor<5>,
    weight: Tensor<5>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<3>,
) -> Tensor<5> {
    let on_cpu = matches!(
        x.device().without_autodiff().as_dispatch(),
        DispatchDevice::Flex(_)
    );
    if on_cpu && cpu_kernels_enabled() {
        let (x, weight) = (x.into_dispatch(), weight.into_dispatch());
        Tensor::from_dispatch(match bias {
            Some(b) => {
                <Dispatch as CpuConv3dOps>::cpu_conv3d_bias(x, weight, b.into_dispatch(), options)
            }
            None => <Dispatch as CpuConv3dOps>::cpu_conv3d(x, weight, options),
        })
    } else {
        burn::tensor::module::conv3d(x, weight, bias, options)
    }
}

/// `conv.forward(x)`, through [`conv3d`].
pub fn forward(conv: &Conv3d, x: Tensor<5>) -> Tensor<5> {
    let padding = match conv.padding {
        PaddingConfig3d::Valid => [0, 0, 0],
        PaddingConfig3d::Explicit(a, b, c) => [a, b, c],
        // No preset pads "same"; burn's module knows its rules.
        PaddingConfig3d::Same => return conv.forward(x),
    };
    conv3d(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        ConvOptions::new(conv.stride, padding, conv.dilation, conv.groups),
    )
}
