//! The patch the teaching views work on: the scan preprocessed as the model expects, cut
//! around the chosen world point, and the axial slice through it that the views show.

use crate::bundle::BundleMeta;
use crate::model::ModelConfig;
use crate::volume::affine::{inv3, linear};
use crate::volume::{preprocess, Affine, Grid, LabelMap, PreprocessConfig, Volume};

use super::{Slice, TeachError};

/// A patch of the network grid around the chosen point: the preprocessed scan and,
/// when given, the label map on the same voxels. `size` is x, y, z (x fastest in `image`).
#[derive(Clone, Debug)]
pub struct TeachPatch {
    pub image: Vec<f32>,
    pub labels: Option<Vec<u16>>,
    pub size: [usize; 3],
    pub spacing: [f64; 3],
    /// z index (in the patch) of the chosen point: the slice the views show.
    pub slice: usize,
}

fn patch_dims(meta: &BundleMeta, config: &ModelConfig) -> [usize; 3] {
    let s = config.stride().max(1);
    // patch_size is stored depth-first (z, y, x), as the network sees it.
    let p = meta.patch_size;
    [p[2], p[1], p[0]].map(|e| e.max(1).div_ceil(s) * s)
}

/// Voxel (of a grid with `affine`) nearest to the world point `mm`.
fn world_to_voxel(affine: &Affine, mm: [f64; 3]) -> Result<[f64; 3], TeachError> {
    let inv = inv3(&linear(affine))
        .ok_or_else(|| TeachError::Invalid("the scan's affine cannot be inverted".into()))?;
    let d = [
        mm[0] - affine[0][3],
        mm[1] - affine[1][3],
        mm[2] - affine[2][3],
    ];
    Ok(std::array::from_fn(|r| {
        (0..3).map(|c| inv[r][c] * d[c]).sum::<f64>()
    }))
}

/// Start of a `size` box holding `centre` (voxels), kept inside `dims`.
pub fn patch_origin(dims: [usize; 3], size: [usize; 3], centre: [f64; 3]) -> [usize; 3] {
    std::array::from_fn(|a| {
        let c = if centre[a].is_finite() {
            centre[a].round()
        } else {
            0.0
        };
        let start = c - (size[a] / 2) as f64;
        start.clamp(0.0, dims[a].saturating_sub(size[a]) as f64) as usize
    })
}

fn cut<T: Copy>(g: &Grid<T>, origin: [usize; 3], size: [usize; 3]) -> Vec<T> {
    let mut out = Vec::with_capacity(size[0] * size[1] * size[2]);
    for z in 0..size[2] {
        for y in 0..size[1] {
            let row = g.index(origin[0], origin[1] + y, origin[2] + z);
            out.extend_from_slice(&g.data[row..row + size[0]]);
        }
    }
    out
}

/// Preprocess `scan` exactly as the model expects and cut its patch around the world point
/// `centre_mm` (RAS mm); `labels` (on the scan's grid) are cut on the same voxels.
pub fn teaching_patch(
    scan: &Volume,
    labels: Option<&LabelMap>,
    config: &ModelConfig,
    meta: &BundleMeta,
    centre_mm: [f64; 3],
) -> Result<TeachPatch, TeachError> {
    let size = patch_dims(meta, config);
    let prep = PreprocessConfig {
        pad_multiple: config.stride().max(1),
        min_size: size,
        ..meta.preprocess.clone()
    };
    let pre = preprocess(scan, &prep)?;
    let v = &pre.volume;
    let centre = world_to_voxel(&v.affine, centre_mm)?;
    let origin = patch_origin(v.dims, size, centre);
    let labels = match labels {
        Some(l) => {
            let on_grid = pre.transform.labels_from_input(l)?;
            Some(cut(&v.with_data(on_grid)?, origin, size))
        }
        None => None,
    };
    let slice = (centre[2].round().max(0.0) as usize)
        .saturating_sub(origin[2])
        .min(size[2] - 1);
    Ok(TeachPatch {
        image: cut(v, origin, size),
        labels,
        size,
        spacing: v.spacing,
        slice,
    })
}

/// Axial slice `z` of a patch, rows from anterior (top) to posterior.
pub fn axial_slice(data: &[f32], size: [usize; 3], z: usize) -> Slice {
    let [w, h, _] = size;
    let plane = &data[z * w * h..(z + 1) * w * h];
    let mut out = Vec::with_capacity(w * h);
    for y in (0..h).rev() {
        out.extend_from_slice(&plane[y * w..(y + 1) * w]);
    }
    Slice {
        width: w,
        height: h,
        data: out,
    }
}
