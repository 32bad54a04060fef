//! Tiling the network grid with windows: the overlapping ones of sliding-window
//! segmentation, and for the per-scan outputs (classification, regression, embeddings)
//! windows that cover the grid without gaps, preprocessed and cut out into batches.

use burn::prelude::*;

use super::{window_starts, InferError};
use crate::bundle::BundleMeta;
use crate::model::ModelConfig;
use crate::volume::{preprocess, Volume};

/// A scan preprocessed as in training, in tensor order, with the windows that cover it.
pub struct TiledGrid {
    pub data: Vec<f32>,
    /// `[z, y, x]`.
    pub size: [usize; 3],
    /// `[x, y, z]`, as the volume has them.
    pub dims: [usize; 3],
    pub windows: Vec<[usize; 3]>,
}

/// Check `patch` (tensor order) against the network's stride, preprocess `input` with the
/// bundle's settings and tile the grid without gaps or extra overlap.
pub fn tile_scan(
    config: &ModelConfig,
    meta: &BundleMeta,
    input: &Volume,
    patch: [usize; 3],
) -> Result<TiledGrid, InferError> {
    let stride = config.stride();
    if patch.iter().any(|&p| p == 0 || p % stride != 0) {
        return Err(InferError::InvalidConfig(format!(
            "patch {patch:?} must be positive multiples of {stride}"
        )));
    }
    let pre = preprocess(input, &meta.preprocess)?;
    let dims = pre.volume.dims;
    let size = [dims[2], dims[1], dims[0]];
    Ok(TiledGrid {
        windows: tile_windows(size, patch, 0.0),
        data: pre.volume.data,
        size,
        dims,
    })
}

/// Window origins `[z, y, x]` tiling a grid of `size` (tensor order) with `patch`-sized
/// windows, evenly spread with at least `overlap` (a fraction) between neighbours; a grid
/// smaller than the patch gets one window (zero-padded when cut out).
pub fn tile_windows(size: [usize; 3], patch: [usize; 3], overlap: f64) -> Vec<[usize; 3]> {
    let starts: Vec<Vec<usize>> = (0..3)
        .map(|a| window_starts(size[a].max(patch[a]), patch[a], overlap))
        .collect();
    let mut windows = Vec::new();
    for &z in &starts[0] {
        for &y in &starts[1] {
            for &x in &starts[2] {
                windows.push([z, y, x]);
            }
        }
    }
    windows
}

/// The windows `batch` of `data` (a grid of `size`, tensor order) as one `[B, 1, patch]`
/// tensor; voxels past the grid's end are zero.
pub fn cut_batch(
    data: &[f32],
    size: [usize; 3],
    patch: [usize; 3],
    batch: &[[usize; 3]],
    device: &Device,
) -> Tensor<5> {
    let pv: usize = patch.iter().product();
    let mut input = vec![0f32; batch.len() * pv];
    for (b, s) in batch.iter().enumerate() {
        let out = &mut input[b * pv..(b + 1) * pv];
        for z in 0..patch[0].min(size[0] - s[0].min(size[0])) {
            for y in 0..patch[1].min(size[1] - s[1].min(size[1])) {
                let src = ((s[0] + z) * size[1] + s[1] + y) * size[2] + s[2];
                let n = patch[2].min(size[2] - s[2].min(size[2]));
                let dst = (z * patch[1] + y) * patch[2];
                out[dst..dst + n].copy_from_slice(&data[src..src + n]);
            }
        }
    }
    Tensor::<5>::from_data(
        TensorData::new(input, [batch.len(), 1, patch[0], patch[1], patch[2]]),
        device,
    )
}

/// A bundle header for the tiling tests: 1 mm grids padded to multiples of 16, 16³ patches.
#[cfg(test)]
pub fn test_meta(task: crate::bundle::Task) -> BundleMeta {
    BundleMeta {
        postprocess: Default::default(),
        name: "t".into(),
        task,
        class_names: vec![],
        preprocess: crate::volume::PreprocessConfig {
            pad_multiple: 16,
            ..Default::default()
        },
        patch_size: [16; 3],
        provenance: String::new(),
        created_by: String::new(),
    }
}
