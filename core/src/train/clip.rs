//! Clipping by the global norm over every parameter (PyTorch's `clip_grad_norm_`, what
//! the winners use). burn's own clipping works per parameter tensor, which is weaker.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

struct SumSquares<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for SumSquares<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.square().sum();
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    scale: Tensor<1>,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let s: Tensor<D> = self.scale.clone().reshape([1usize; D]);
            self.grads.register(param.id, g * s);
        }
    }
}

/// Scale all gradients by `min(1, max_norm / (norm + 1e-6))`. Returns the norm before
/// clipping as a `[1]` tensor (on the gradients' device, not read back). The scale stays
/// a tensor so clipping never waits for the device.
pub fn clip_global_norm<M: Module>(
    model: &M,
    mut grads: GradientsParams,
    max_norm: Option<f64>,
) -> (GradientsParams, Option<Tensor<1>>) {
    let mut sum = SumSquares {
        grads: &grads,
        sum: None,
    };
    model.visit(&mut sum);
    let Some(norm) = sum.sum.map(|s| s.sqrt()) else {
        return (grads, None);
    };
    if let Some(max_norm) = max_norm {
        let scale = norm
            .clone()
            .add_scalar(1e-6)
            .recip()
            .mul_scalar(max_norm)
            .clamp_max(1.0);
        model.visit(&mut Scale {
            grads: &mut grads,
            scale,
        });
    }
    (grads, Some(norm))
}
