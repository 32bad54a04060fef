//! Resampling between grids that cover the same physical box.
//!
//! With `n_in` voxels of size `s_in` resampled to `n_out` voxels, output voxel `x` sits at
//! input continuous index `(x + 0.5) * n_in / n_out - 0.5`: voxel *edges* of both grids
//! coincide at the box boundary, so the extent is preserved and the mapping back
//! (`n_out -> n_in`) is the exact inverse of the mapping forth. The output spacing is the
//! one that mapping implies, `s_in * n_in / n_out`, which is the requested spacing up to
//! rounding of the voxel count.

use super::affine::Affine;
use super::error::VolumeError;
use super::grid::{check_channels, check_dims, check_spacing, Grid, Volume};

/// Largest grid any resampling may produce (1 GiB of f32): a guard against configurations
/// like a 0.001 mm target spacing, not a limit real scans come near.
pub const MAX_RESAMPLED_VOXELS: usize = 1 << 28;

/// Voxel counts for `target` spacing: `max(1, round(n * s / target))` per axis.
pub fn dims_for_spacing(
    dims: [usize; 3],
    spacing: [f64; 3],
    target: [f64; 3],
) -> Result<[usize; 3], VolumeError> {
    check_spacing(spacing)?;
    check_spacing(target)?;
    let mut out = [1usize; 3];
    for a in 0..3 {
        let n = (dims[a] as f64 * spacing[a] / target[a]).round().max(1.0);
        if n.is_nan() || n > MAX_RESAMPLED_VOXELS as f64 {
            return Err(VolumeError::InvalidGridDims {
                dims: [n as usize, 0, 0],
            });
        }
        out[a] = n as usize;
    }
    check_out(out)?;
    Ok(out)
}

fn check_out(dims: [usize; 3]) -> Result<usize, VolumeError> {
    let n = check_dims(dims)?;
    if n > MAX_RESAMPLED_VOXELS {
        return Err(VolumeError::InvalidGridDims { dims });
    }
    Ok(n)
}

fn check_src<T>(g: &Grid<T>) -> Result<(), VolumeError> {
    g.checked_len().map(|_| ())
}

/// Continuous source index of destination voxel `x`.
#[inline]
fn source_coord(x: usize, n_src: usize, n_dst: usize) -> f64 {
    (x as f64 + 0.5) * (n_src as f64 / n_dst as f64) - 0.5
}

/// Geometry of the resampled grid: world(x_out) = A_in * x_in(x_out).
pub fn resampled_geometry(
    affine: &Affine,
    spacing: [f64; 3],
    src: [usize; 3],
    dst: [usize; 3],
) -> (Affine, [f64; 3]) {
    let mut a = *affine;
    let mut s = spacing;
    for c in 0..3 {
        if src[c] == dst[c] {
            continue; // keep the identity axis bit-exact
        }
        let scale = src[c] as f64 / dst[c] as f64;
        let shift = 0.5 * scale - 0.5;
        for r in 0..3 {
            a[r][3] += affine[r][c] * shift;
            a[r][c] = affine[r][c] * scale;
        }
        s[c] = spacing[c] * scale;
    }
    (a, s)
}

/// Linear-interpolation taps along one axis: (lower index, upper index, upper weight),
/// clamped at the borders.
fn linear_taps(n_src: usize, n_dst: usize) -> Vec<(usize, usize, f32)> {
    (0..n_dst)
        .map(|x| {
            let c = source_coord(x, n_src, n_dst).clamp(0.0, (n_src - 1) as f64);
            let i0 = c.floor() as usize;
            let i1 = (i0 + 1).min(n_src - 1);
            (i0, i1, (c - i0 as f64) as f32)
        })
        .collect()
}

/// Nearest source index along one axis (halves round up), clamped.
fn nearest_taps(n_src: usize, n_dst: usize) -> Vec<usize> {
    (0..n_dst)
        .map(|x| ((source_coord(x, n_src, n_dst) + 0.5).floor().max(0.0) as usize).min(n_src - 1))
        .collect()
}

/// One separable linear pass along `axis`.
fn linear_pass(src: &[f32], dims: [usize; 3], axis: usize, n_dst: usize) -> Vec<f32> {
    let taps = linear_taps(dims[axis], n_dst);
    let mut od = dims;
    od[axis] = n_dst;
    let stride = [1, dims[0], dims[0] * dims[1]];
    let st = stride[axis];
    let mut out = Vec::with_capacity(od[0] * od[1] * od[2]);
    for k in 0..od[2] {
        for j in 0..od[1] {
            for i in 0..od[0] {
                let mut idx = [i, j, k];
                let (a, b, w) = taps[idx[axis]];
                idx[axis] = 0;
                let base = idx[0] + stride[1] * idx[1] + stride[2] * idx[2];
                let (v0, v1) = (src[base + a * st], src[base + b * st]);
                out.push(if w == 0.0 {
                    v0
                } else {
                    (1.0 - w) * v0 + w * v1
                });
            }
        }
    }
    out
}

/// Trilinear resampling of one channel, as three separable passes; axes whose size does not
/// change are not touched, so they stay exact.
fn trilinear(src: &[f32], dims: [usize; 3], dst: [usize; 3]) -> Vec<f32> {
    let mut cur_dims = dims;
    let mut cur: Option<Vec<f32>> = None;
    // shrink first where possible: cheaper passes on the smaller intermediate
    let mut order = [0usize, 1, 2];
    order.sort_by(|&a, &b| {
        let ra = dst[a] as f64 / dims[a] as f64;
        let rb = dst[b] as f64 / dims[b] as f64;
        ra.total_cmp(&rb)
    });
    for axis in order {
        if cur_dims[axis] == dst[axis] {
            continue;
        }
        let next = linear_pass(cur.as_deref().unwrap_or(src), cur_dims, axis, dst[axis]);
        cur_dims[axis] = dst[axis];
        cur = Some(next);
    }
    cur.unwrap_or_else(|| src.to_vec())
}

fn nearest<T: Copy>(src: &[T], dims: [usize; 3], dst: [usize; 3]) -> Vec<T> {
    let tx = nearest_taps(dims[0], dst[0]);
    let ty = nearest_taps(dims[1], dst[1]);
    let tz = nearest_taps(dims[2], dst[2]);
    let mut out = Vec::with_capacity(dst[0] * dst[1] * dst[2]);
    for &z in &tz {
        for &y in &ty {
            let base = dims[0] * (y + dims[1] * z);
            out.extend(tx.iter().map(|&x| src[base + x]));
        }
    }
    out
}

/// Trilinear resampling of an image to `dims` (same physical box). Unchanged dims return
/// an identical copy.
pub fn resample_to_dims(v: &Volume, dims: [usize; 3]) -> Result<Volume, VolumeError> {
    check_src(v)?;
    check_out(dims)?;
    if dims == v.dims {
        return Ok(v.clone());
    }
    let (affine, spacing) = resampled_geometry(&v.affine, v.spacing, v.dims, dims);
    Ok(Grid {
        dims,
        spacing,
        affine,
        data: trilinear(&v.data, v.dims, dims),
    })
}

/// Nearest-neighbour resampling (labels, masks) to `dims`.
pub fn resample_nearest_to_dims<T: Copy>(
    g: &Grid<T>,
    dims: [usize; 3],
) -> Result<Grid<T>, VolumeError> {
    check_src(g)?;
    check_out(dims)?;
    if dims == g.dims {
        return Ok(g.clone());
    }
    let (affine, spacing) = resampled_geometry(&g.affine, g.spacing, g.dims, dims);
    Ok(Grid {
        dims,
        spacing,
        affine,
        data: nearest(&g.data, g.dims, dims),
    })
}

pub fn resample_to_spacing(v: &Volume, target: [f64; 3]) -> Result<Volume, VolumeError> {
    resample_to_dims(v, dims_for_spacing(v.dims, v.spacing, target)?)
}

pub fn resample_nearest_to_spacing<T: Copy>(
    g: &Grid<T>,
    target: [f64; 3],
) -> Result<Grid<T>, VolumeError> {
    resample_nearest_to_dims(g, dims_for_spacing(g.dims, g.spacing, target)?)
}

/// Trilinear resampling of a channel-major field (`channels` consecutive volumes).
pub fn resample_channels(
    data: &[f32],
    channels: usize,
    src: [usize; 3],
    dst: [usize; 3],
) -> Result<Vec<f32>, VolumeError> {
    let n = check_channels(data.len(), src, channels)?;
    check_out(dst)?;
    Ok(data
        .chunks_exact(n)
        .flat_map(|c| trilinear(c, src, dst))
        .collect())
}

/// Trilinear resampling of one channel given as a slice (used channel by channel to keep
/// memory at one volume when mapping probabilities back).
pub(crate) fn resample_slice(data: &[f32], src: [usize; 3], dst: [usize; 3]) -> Vec<f32> {
    trilinear(data, src, dst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::affine::IDENTITY;

    fn ramp(dims: [usize; 3], spacing: [f64; 3]) -> Volume {
        let mut data = Vec::new();
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    data.push((i as f32) * 2.0 + (j as f32) * 3.0 - (k as f32));
                }
            }
        }
        let mut a = IDENTITY;
        for c in 0..3 {
            a[c][c] = spacing[c];
            a[c][3] = 10.0 * c as f64;
        }
        Grid::new(dims, spacing, a, data).unwrap()
    }

    #[test]
    fn identity_when_dims_do_not_change() {
        let v = ramp([5, 6, 7], [1.0, 1.3, 2.0]);
        assert_eq!(resample_to_spacing(&v, [1.0, 1.3, 2.0]).unwrap(), v);
        assert_eq!(resample_to_spacing(&v, [1.0 + 1e-9, 1.3, 2.0]).unwrap(), v);
    }

    #[test]
    fn dims_and_geometry_follow_the_mapping() {
        let v = ramp([10, 10, 10], [1.0, 1.3, 2.0]);
        assert_eq!(
            dims_for_spacing(v.dims, v.spacing, [1.0; 3]).unwrap(),
            [10, 13, 20]
        );
        assert_eq!(
            dims_for_spacing([1, 1, 1], [1.0; 3], [5.0; 3]).unwrap(),
            [1, 1, 1]
        );
        assert!(dims_for_spacing([100; 3], [1.0; 3], [1e-6; 3]).is_err());
        let r = resample_to_spacing(&v, [1.0; 3]).unwrap();
        assert_eq!(r.dims, [10, 13, 20]);
        // physical extent preserved: first-voxel edge and last-voxel edge coincide
        for c in 0..3 {
            let lo_in = v.affine[c][3] - 0.5 * v.affine[c][c];
            let lo_out = r.affine[c][3] - 0.5 * r.affine[c][c];
            assert!((lo_in - lo_out).abs() < 1e-9);
            let hi_in = lo_in + v.dims[c] as f64 * v.spacing[c];
            let hi_out = lo_out + r.dims[c] as f64 * r.spacing[c];
            assert!((hi_in - hi_out).abs() < 1e-9);
        }
    }

    #[test]
    fn trilinear_reproduces_linear_functions_inside() {
        // a linear function of world position is reproduced exactly away from the clamped
        // border voxels
        let v = ramp([8, 8, 8], [2.0, 2.0, 2.0]);
        let r = resample_to_dims(&v, [16, 16, 16]).unwrap();
        for k in 1..15 {
            for j in 1..15 {
                for i in 1..15 {
                    let src = [i, j, k].map(|x| source_coord(x, 8, 16));
                    let want = src[0] * 2.0 + src[1] * 3.0 - src[2];
                    let got = r.get(i, j, k).unwrap() as f64;
                    assert!((got - want).abs() < 1e-4, "{i} {j} {k}: {got} vs {want}");
                }
            }
        }
        // world position check of one voxel: world(out) == world_in(source index)
        let w_out = r.voxel_to_world([3.0, 4.0, 5.0]);
        let w_in = v.voxel_to_world([3.0, 4.0, 5.0].map(|x: f64| (x + 0.5) * 0.5 - 0.5));
        for d in 0..3 {
            assert!((w_out[d] - w_in[d]).abs() < 1e-12);
        }
    }

    #[test]
    fn nearest_up_then_down_is_exact_for_integer_factors() {
        let g: Grid<u16> = Grid::new([4, 3, 2], [2.0; 3], IDENTITY, (0..24).collect()).unwrap();
        let up = resample_nearest_to_dims(&g, [8, 6, 4]).unwrap();
        let down = resample_nearest_to_dims(&up, [4, 3, 2]).unwrap();
        assert_eq!(down.data, g.data);
    }

    #[test]
    fn channels_resample_independently() {
        let v = ramp([4, 4, 4], [1.0; 3]);
        let mut two = v.data.clone();
        two.extend(v.data.iter().map(|x| -x));
        let r = resample_channels(&two, 2, [4, 4, 4], [6, 5, 3]).unwrap();
        let one = resample_to_dims(&v, [6, 5, 3]).unwrap();
        assert_eq!(&r[..90], &one.data[..]);
        assert!(r[90..].iter().zip(&one.data).all(|(a, b)| *a == -*b));
        assert!(resample_channels(&two, 3, [4, 4, 4], [6, 5, 3]).is_err());
    }
}
