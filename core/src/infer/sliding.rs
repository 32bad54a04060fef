//! The sliding-window loop itself.

use core::ops::ControlFlow;

use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::readback::read_f32;
use super::tiles::tile_windows;
use super::{gaussian_importance, InferError, InferenceConfig, Plan};
use crate::model::BrainNet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Preprocessing,
    Inference,
    Postprocessing,
}

/// A progress report: `done` of `total` units of the current stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub stage: Stage,
    pub done: usize,
    pub total: usize,
}

/// Class probabilities `[C][nx*ny*nz]` (x fastest) of `model` over a preprocessed volume
/// `data` of size `dims` = `[nx, ny, nz]`, by Gaussian-weighted sliding windows.
///
/// `progress` is called after every batch; returning `ControlFlow::Break` cancels.
/// Every read from the device is async, so this runs unchanged in a browser worker.
pub async fn sliding_window(
    model: &BrainNet,
    data: &[f32],
    dims: [usize; 3],
    plan: &Plan,
    config: &InferenceConfig,
    device: &Device,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<(Vec<f32>, usize), InferError> {
    let [nx, ny, nz] = dims;
    let voxels = nx * ny * nz;
    if data.len() != voxels {
        return Err(InferError::InvalidConfig(format!(
            "volume data has {} values for dims {dims:?}",
            data.len()
        )));
    }
    // Tensor order is (z, y, x): x stays the fastest axis, as in the volume.
    let size = [nz, ny, nx];
    let patch = plan.patch;
    let padded = [0, 1, 2].map(|a| size[a].max(patch[a]));
    let windows = tile_windows(size, patch, config.overlap);
    let importance = gaussian_importance(patch);
    let patch_voxels = patch.iter().product::<usize>();
    let padded_voxels = padded.iter().product::<usize>();
    let mut classes = 0;
    let mut accum: Vec<f32> = Vec::new();
    let mut weight = vec![0f32; padded_voxels];
    let flips: &[&[usize]] = if config.mirror_tta {
        &[&[], &[2], &[3], &[4], &[2, 3], &[2, 4], &[3, 4], &[2, 3, 4]]
    } else {
        &[&[]]
    };

    let total = windows.len();
    for (batch_index, batch) in windows.chunks(plan.batch).enumerate() {
        let mut input = vec![0f32; batch.len() * patch_voxels];
        for (b, start) in batch.iter().enumerate() {
            copy_patch_in(
                data,
                size,
                *start,
                patch,
                &mut input[b * patch_voxels..(b + 1) * patch_voxels],
            );
        }
        let x = Tensor::<5>::from_data(
            TensorData::new(input, [batch.len(), 1, patch[0], patch[1], patch[2]]),
            device,
        );
        let mut probs: Option<Tensor<5>> = None;
        for axes in flips {
            let xi = if axes.is_empty() {
                x.clone()
            } else {
                flip(x.clone(), axes)
            };
            let mut p = softmax(model.segment(xi)?, 1);
            if !axes.is_empty() {
                p = flip(p, axes);
            }
            probs = Some(match probs {
                Some(acc) => acc + p,
                None => p,
            });
        }
        let probs = probs.expect("at least one pass") / flips.len() as f32;
        let c = probs.dims()[1];
        let values = read_f32(probs).await?;
        if classes == 0 {
            classes = c;
            accum = vec![0f32; c * padded_voxels];
        }
        for (b, start) in batch.iter().enumerate() {
            let out = &values[b * c * patch_voxels..(b + 1) * c * patch_voxels];
            accumulate(
                out,
                c,
                start,
                patch,
                padded,
                &importance,
                &mut accum,
                &mut weight,
            );
        }
        let done = ((batch_index + 1) * plan.batch).min(total);
        if progress(Progress {
            stage: Stage::Inference,
            done,
            total,
        })
        .is_break()
        {
            return Err(InferError::Cancelled);
        }
    }

    // Normalise and drop the padding beyond the volume.
    let mut out = vec![0f32; classes * voxels];
    for c in 0..classes {
        for z in 0..nz {
            for y in 0..ny {
                let src = (z * padded[1] + y) * padded[2];
                let dst = (z * ny + y) * nx;
                for x in 0..nx {
                    let w = weight[src + x];
                    out[c * voxels + dst + x] = if w > 0.0 {
                        accum[c * padded_voxels + src + x] / w
                    } else {
                        0.0
                    };
                }
            }
        }
    }
    Ok((out, classes))
}

fn flip(x: Tensor<5>, axes: &[usize]) -> Tensor<5> {
    match axes {
        [a] => x.flip([*a]),
        [a, b] => x.flip([*a, *b]),
        [a, b, c] => x.flip([*a, *b, *c]),
        _ => x,
    }
}

/// Copy the window at `start` (tensor order) out of the volume; voxels beyond the
/// volume (when it is smaller than a patch) stay 0, the normalised background value.
fn copy_patch_in(
    data: &[f32],
    size: [usize; 3],
    start: [usize; 3],
    patch: [usize; 3],
    dst: &mut [f32],
) {
    for z in 0..patch[0] {
        let gz = start[0] + z;
        if gz >= size[0] {
            break;
        }
        for y in 0..patch[1] {
            let gy = start[1] + y;
            if gy >= size[1] {
                break;
            }
            let len = patch[2].min(size[2].saturating_sub(start[2]));
            let src = (gz * size[1] + gy) * size[2] + start[2];
            let d = (z * patch[1] + y) * patch[2];
            dst[d..d + len].copy_from_slice(&data[src..src + len]);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn accumulate(
    probs: &[f32],
    classes: usize,
    start: &[usize; 3],
    patch: [usize; 3],
    padded: [usize; 3],
    importance: &[f32],
    accum: &mut [f32],
    weight: &mut [f32],
) {
    let patch_voxels = patch.iter().product::<usize>();
    let padded_voxels = padded.iter().product::<usize>();
    for z in 0..patch[0] {
        for y in 0..patch[1] {
            let p_row = (z * patch[1] + y) * patch[2];
            let g_row = ((start[0] + z) * padded[1] + start[1] + y) * padded[2] + start[2];
            for x in 0..patch[2] {
                weight[g_row + x] += importance[p_row + x];
            }
            for c in 0..classes {
                let src = &probs[c * patch_voxels + p_row..c * patch_voxels + p_row + patch[2]];
                let dst =
                    &mut accum[c * padded_voxels + g_row..c * padded_voxels + g_row + patch[2]];
                for x in 0..patch[2] {
                    dst[x] += src[x] * importance[p_row + x];
                }
            }
        }
    }
}
