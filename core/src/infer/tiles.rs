//! Whole-scan tiling for the per-scan outputs (classification, regression, embeddings):
//! patches that cover the network grid without gaps, cut out into batches. Segmentation
//! has its own overlapping, Gaussian-weighted windows (`sliding.rs`).

use burn::prelude::*;

use super::window_starts;

/// Window origins `[z, y, x]` tiling a grid of `size` (tensor order) with `patch`-sized
/// windows, evenly spread and without extra overlap; a grid smaller than the patch gets
/// one window (zero-padded when cut out).
pub fn tile_windows(size: [usize; 3], patch: [usize; 3]) -> Vec<[usize; 3]> {
    let starts: Vec<Vec<usize>> = (0..3)
        .map(|a| window_starts(size[a].max(patch[a]), patch[a], 0.0))
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
