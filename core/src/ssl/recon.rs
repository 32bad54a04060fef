//! Reconstruction losses: MSE on masked voxels only (MAE), or SmoothL1 on the whole
//! patch (the FOMO25 winner's default, beta 0.1).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ReconLoss {
    /// Mean squared error over masked voxels.
    MaskedMse,
    /// SmoothL1 (Huber / beta) over every voxel.
    SmoothL1 { beta: f64 },
}

/// The FOMO25 paper's loss; the swap objectives default to masked MSE instead
/// ([`super::ObjectiveConfig::new`]).
impl Default for ReconLoss {
    fn default() -> Self {
        ReconLoss::SmoothL1 { beta: 0.1 }
    }
}

/// `sum(mask * (pred - target)^2) / sum(mask)`; zero when nothing is masked.
pub fn masked_mse(pred: Tensor<5>, target: Tensor<5>, mask: Tensor<5>) -> Tensor<1> {
    let err = (pred - target).square() * mask.clone();
    // +1e-6 keeps an all-visible patch at 0 instead of NaN.
    err.sum() / (mask.sum() + 1e-6)
}

/// PyTorch's SmoothL1: `0.5 d^2 / beta` where `|d| < beta`, else `|d| - 0.5 beta`; mean.
pub fn smooth_l1(pred: Tensor<5>, target: Tensor<5>, beta: f64) -> Tensor<1> {
    let d = (pred - target).abs();
    let small = d.clone().lower_elem(beta);
    let quadratic = d.clone().square().mul_scalar(0.5 / beta);
    let linear = d.sub_scalar(0.5 * beta);
    linear.mask_where(small, quadratic).mean()
}

pub fn reconstruction_loss(
    kind: &ReconLoss,
    pred: Tensor<5>,
    target: Tensor<5>,
    mask: Tensor<5>,
) -> Tensor<1> {
    match kind {
        ReconLoss::MaskedMse => masked_mse(pred, target, mask),
        ReconLoss::SmoothL1 { beta } => smooth_l1(pred, target, *beta),
    }
}
