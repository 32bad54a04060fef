//! Random cubic block masking. Masked voxels are zero-filled in the input (both winners
//! do this) and are where the masked-MSE loss looks.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::SslError;
use crate::rng::Rng;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaskConfig {
    /// Edge of the cubic blocks in voxels.
    pub block: usize,
    /// Fraction of blocks masked (exact count per scan, rounded).
    pub ratio: f64,
}

impl MaskConfig {
    /// FOMO25 winner: 4-voxel cubes, 60 %.
    pub fn fomo25() -> Self {
        Self {
            block: 4,
            ratio: 0.6,
        }
    }

    /// nnssl / SSL3D winner: 16-voxel cubes, 75 %.
    pub fn nnssl() -> Self {
        Self {
            block: 16,
            ratio: 0.75,
        }
    }

    pub fn validate(&self) -> Result<(), SslError> {
        if self.block == 0 {
            return Err(SslError::BadMask(
                "block size must be at least 1 voxel".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.ratio) {
            return Err(SslError::BadMask(format!(
                "ratio {} must be in [0, 1)",
                self.ratio
            )));
        }
        Ok(())
    }
}

impl Default for MaskConfig {
    fn default() -> Self {
        Self::fomo25()
    }
}

/// One mask per scan, `1.0` where masked, laid out `[n, d, h, w]` (last axis fastest).
/// Blocks tile the patch from the origin; edge blocks are clipped. Exactly
/// `round(ratio * blocks)` blocks are masked per scan.
pub fn block_mask(
    n: usize,
    dims: [usize; 3],
    cfg: &MaskConfig,
    rng: &mut Rng,
) -> Result<Vec<f32>, SslError> {
    cfg.validate()?;
    let b = cfg.block;
    let cells = [
        dims[0].div_ceil(b),
        dims[1].div_ceil(b),
        dims[2].div_ceil(b),
    ];
    let total = cells[0] * cells[1] * cells[2];
    let masked = ((cfg.ratio * total as f64).round() as usize).min(total);
    let voxels = dims[0] * dims[1] * dims[2];
    let mut out = vec![0f32; n * voxels];
    let mut order: Vec<usize> = (0..total).collect();
    for scan in 0..n {
        // Partial Fisher-Yates: the first `masked` entries are a uniform random subset.
        for i in 0..masked {
            let j = i + rng.below(total - i);
            order.swap(i, j);
        }
        let dst = &mut out[scan * voxels..(scan + 1) * voxels];
        for &cell in &order[..masked] {
            let (cz, cy, cx) = (
                cell / (cells[1] * cells[2]),
                (cell / cells[2]) % cells[1],
                cell % cells[2],
            );
            for z in cz * b..((cz + 1) * b).min(dims[0]) {
                for y in cy * b..((cy + 1) * b).min(dims[1]) {
                    let row = (z * dims[1] + y) * dims[2];
                    dst[row + cx * b..row + ((cx + 1) * b).min(dims[2])].fill(1.0);
                }
            }
        }
    }
    Ok(out)
}

/// One [`block_mask`] per scan, scan `i` drawn from `rngs[i]`, as a `[n, 1, d, h, w]`
/// tensor on `device`.
pub fn mask_tensor(
    dims: [usize; 3],
    cfg: &MaskConfig,
    rngs: &mut [Rng],
    device: &Device,
) -> Result<Tensor<5>, SslError> {
    let n = rngs.len();
    let mut data = Vec::with_capacity(n * dims.iter().product::<usize>());
    for rng in rngs.iter_mut() {
        data.extend(block_mask(1, dims, cfg, rng)?);
    }
    Ok(Tensor::from_data(
        TensorData::new(data, [n, 1, dims[0], dims[1], dims[2]]),
        device,
    ))
}

/// Zero-fill the masked voxels.
pub fn apply_mask(x: Tensor<5>, mask: Tensor<5>) -> Tensor<5> {
    x * (mask.neg() + 1.0)
}
