//! Choosing the patch size and batch so the largest live activation fits a budget.

use serde::{Deserialize, Serialize};

use super::InferError;
use crate::model::ModelConfig;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InferenceConfig {
    /// Requested patch edge lengths in voxels, tensor order (z, y, x) = RAS (S, A, R).
    pub patch: [usize; 3],
    /// Fraction of a patch shared with its neighbour (0 <= overlap < 1).
    pub overlap: f64,
    /// Average predictions over the 8 mirrorings of the input (8x slower, smoother).
    pub mirror_tta: bool,
    /// Upper bound on patches per forward pass.
    pub max_batch: usize,
    /// Bytes the largest activation tensor of one forward pass may take.
    pub memory_budget: u64,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self {
            patch: [64, 64, 64],
            overlap: 0.5,
            mirror_tta: false,
            max_batch: 2,
            memory_budget: 512 << 20,
        }
    }
}

/// The patch and batch that will be used, and what they cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub patch: [usize; 3],
    pub batch: usize,
    /// Bytes of the largest activation tensor with this patch and batch.
    pub largest_activation: u64,
}

/// Bytes of the largest single activation tensor in a segmentation forward pass of
/// `batch` patches: the widest encoder level, the decoder's skip concatenation, the
/// latent concat, or the output logits, whichever is biggest.
pub fn activation_bytes(config: &ModelConfig, patch: [usize; 3], batch: usize) -> u64 {
    let voxels =
        |level: usize| -> u64 { patch.iter().map(|&n| (n >> level).max(1) as u64).product() };
    let widths = &config.encoder.widths;
    let mut largest = 0u64;
    for (l, &w) in widths.iter().enumerate() {
        let factor = if config.encoder.residual { 2 } else { 1 };
        largest = largest.max(factor * w as u64 * voxels(l));
        if l + 1 < widths.len() && config.seg.is_some() {
            // Up-sampled features concatenated with the skip.
            largest = largest.max(2 * w as u64 * voxels(l));
        }
    }
    let bottleneck = voxels(widths.len().saturating_sub(1));
    if config.latent.is_some() {
        largest = largest.max(widths.iter().sum::<usize>() as u64 * bottleneck);
    }
    if let Some(seg) = &config.seg {
        largest = largest.max(seg.out_channels as u64 * voxels(0));
    }
    largest * batch as u64 * 4
}

impl InferenceConfig {
    pub fn validate(&self) -> Result<(), InferError> {
        if !(0.0..1.0).contains(&self.overlap) || !self.overlap.is_finite() {
            return Err(InferError::InvalidConfig(format!(
                "overlap must be in [0, 1), got {}",
                self.overlap
            )));
        }
        if self.patch.contains(&0) {
            return Err(InferError::InvalidConfig(format!(
                "patch {:?} has a zero edge",
                self.patch
            )));
        }
        if self.max_batch == 0 {
            return Err(InferError::InvalidConfig(
                "max batch must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// Fit the requested patch to the network stride and the volume (no point in a patch
    /// larger than the padded volume), shrink it until one patch fits the budget, then
    /// pick the largest batch within the budget.
    pub fn plan(&self, model: &ModelConfig, volume_dims: [usize; 3]) -> Result<Plan, InferError> {
        self.validate()?;
        let stride = model.stride();
        let round_up = |n: usize| n.div_ceil(stride) * stride;
        let mut patch = [0; 3];
        for a in 0..3 {
            patch[a] = round_up(self.patch[a].min(round_up(volume_dims[a])).max(1));
        }
        // Shrink the longest patch edge, one stride at a time, until a single patch fits:
        // the browser's memory is not ours to exceed.
        while activation_bytes(model, patch, 1) > self.memory_budget {
            let a = (0..3).max_by_key(|&a| patch[a]).expect("three axes");
            if patch[a] <= stride {
                return Err(InferError::OverBudget {
                    patch,
                    needed: activation_bytes(model, patch, 1) >> 20,
                    budget: self.memory_budget >> 20,
                });
            }
            patch[a] -= stride;
        }
        let mut batch = self.max_batch;
        while batch > 1 && activation_bytes(model, patch, batch) > self.memory_budget {
            batch -= 1;
        }
        let needed = activation_bytes(model, patch, batch);
        Ok(Plan {
            patch,
            batch,
            largest_activation: needed,
        })
    }
}
