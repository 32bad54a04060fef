//! Cropping to the foreground bounding box and putting results back into the full grid.
//!
//! Foreground rule (as nnU-Net): voxels that are non-zero (and finite). Scanner backgrounds
//! that are noisy rather than exactly zero simply give a larger box, at worst the whole image,
//! which is safe; a threshold guessed from the intensities could cut into dark tissue.

use serde::{Deserialize, Serialize};

use super::error::VolumeError;
use super::grid::{check_dims, Grid};

/// A box of voxels `start[a] .. end[a]` (end exclusive) in array coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CropBox {
    pub start: [usize; 3],
    pub end: [usize; 3],
}

impl CropBox {
    pub fn full(dims: [usize; 3]) -> Self {
        Self {
            start: [0; 3],
            end: dims,
        }
    }

    pub fn dims(&self) -> [usize; 3] {
        [0, 1, 2].map(|a| self.end[a].saturating_sub(self.start[a]))
    }

    fn check(&self, dims: [usize; 3]) -> Result<(), VolumeError> {
        if (0..3).all(|a| self.start[a] < self.end[a] && self.end[a] <= dims[a]) {
            Ok(())
        } else {
            Err(VolumeError::InvalidConfig {
                message: format!(
                    "crop box {:?}..{:?} does not fit in dims {dims:?}",
                    self.start, self.end
                ),
            })
        }
    }
}

/// Smallest box holding every voxel where `is_fg` holds, or `None` if there is none.
pub fn bbox_where<T: Copy>(
    data: &[T],
    dims: [usize; 3],
    is_fg: impl Fn(T) -> bool,
) -> Option<CropBox> {
    let mut lo = dims;
    let mut hi = [0usize; 3];
    let mut any = false;
    let mut idx = 0;
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                if data.get(idx).is_some_and(|&v| is_fg(v)) {
                    any = true;
                    for (a, x) in [i, j, k].into_iter().enumerate() {
                        lo[a] = lo[a].min(x);
                        hi[a] = hi[a].max(x + 1);
                    }
                }
                idx += 1;
            }
        }
    }
    any.then_some(CropBox { start: lo, end: hi })
}

/// Bounding box of the non-zero finite voxels, grown by `margin` voxels and clamped to the
/// image. An image with no foreground gives the full box (nothing to cut, nothing lost).
pub fn foreground_box(v: &Grid<f32>, margin: usize) -> CropBox {
    match bbox_where(&v.data, v.dims, |x| x != 0.0 && x.is_finite()) {
        None => CropBox::full(v.dims),
        Some(b) => CropBox {
            start: b.start.map(|s| s.saturating_sub(margin)),
            end: [0, 1, 2].map(|a| b.end[a].saturating_add(margin).min(v.dims[a])),
        },
    }
}

/// The voxels inside `b`; the affine is shifted so every kept voxel keeps its world position.
pub fn crop<T: Copy>(g: &Grid<T>, b: &CropBox) -> Result<Grid<T>, VolumeError> {
    g.checked_len()?;
    b.check(g.dims)?;
    let d = b.dims();
    let mut data = Vec::with_capacity(d[0] * d[1] * d[2]);
    for k in b.start[2]..b.end[2] {
        for j in b.start[1]..b.end[1] {
            let row = g.index(0, j, k);
            data.extend_from_slice(&g.data[row + b.start[0]..row + b.end[0]]);
        }
    }
    let mut affine = g.affine;
    for r in 0..3 {
        affine[r][3] += (0..3)
            .map(|c| g.affine[r][c] * b.start[c] as f64)
            .sum::<f64>();
    }
    Ok(Grid {
        dims: d,
        spacing: g.spacing,
        affine,
        data,
    })
}

/// Places `g` (the content of box `b`) into a grid of `full_dims` filled with `fill`.
pub fn uncrop<T: Copy>(
    g: &Grid<T>,
    full_dims: [usize; 3],
    b: &CropBox,
    fill: T,
) -> Result<Grid<T>, VolumeError> {
    check_dims(full_dims)?;
    b.check(full_dims)?;
    let d = b.dims();
    if g.dims != d || g.data.len() != d[0] * d[1] * d[2] {
        return Err(VolumeError::DataLength {
            dims: d,
            expected: d[0] * d[1] * d[2],
            actual: g.data.len(),
        });
    }
    g.embed(full_dims, b.start, fill)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::affine::IDENTITY;

    fn blob() -> Grid<f32> {
        let dims = [10, 8, 6];
        let mut g = Grid::new(dims, [1.0; 3], IDENTITY, vec![0f32; 480]).unwrap();
        for (i, j, k) in [(3, 2, 1), (6, 5, 3)] {
            let idx = g.index(i, j, k);
            g.data[idx] = 1.0;
        }
        let idx = g.index(9, 7, 5);
        g.data[idx] = f32::NAN; // not foreground
        g.affine[0][3] = 5.0;
        g
    }

    #[test]
    fn foreground_box_with_margin_clamped() {
        let g = blob();
        assert_eq!(
            foreground_box(&g, 0),
            CropBox {
                start: [3, 2, 1],
                end: [7, 6, 4]
            }
        );
        assert_eq!(
            foreground_box(&g, 2),
            CropBox {
                start: [1, 0, 0],
                end: [9, 8, 6]
            }
        );
        let empty = Grid::new([3, 3, 3], [1.0; 3], IDENTITY, vec![0f32; 27]).unwrap();
        assert_eq!(foreground_box(&empty, 1), CropBox::full([3, 3, 3]));
    }

    #[test]
    fn crop_then_uncrop_restores_inside_and_keeps_world_positions() {
        let g = blob();
        let b = foreground_box(&g, 1);
        let c = crop(&g, &b).unwrap();
        assert_eq!(c.dims, b.dims());
        assert_eq!(
            c.voxel_to_world([0.0; 3]),
            g.voxel_to_world(b.start.map(|x| x as f64))
        );
        let u = uncrop(&c, g.dims, &b, 0.0).unwrap();
        assert_eq!(u.affine, g.affine);
        for (x, (a, bb)) in u.data.iter().zip(&g.data).enumerate() {
            if !bb.is_nan() {
                assert_eq!(a, bb, "voxel {x}");
            }
        }
        assert!(crop(
            &g,
            &CropBox {
                start: [0; 3],
                end: [11, 1, 1]
            }
        )
        .is_err());
    }
}
