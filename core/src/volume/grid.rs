//! The voxel grid shared by images, label maps and multi-channel fields.

use super::error::VolumeError;

/// A 3D voxel grid with its geometry.
///
/// `affine` maps a voxel index `(i, j, k, 1)` to world RAS+ millimetres (NIfTI convention);
/// `spacing` is the voxel size along each *array* axis. Data is x-fastest:
/// `index = i + nx * (j + ny * k)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid<T> {
    pub dims: [usize; 3],
    pub spacing: [f64; 3],
    pub affine: [[f64; 4]; 4],
    pub data: Vec<T>,
}

/// An intensity image.
pub type Volume = Grid<f32>;
/// A label map (segmentation) on an image grid.
pub type LabelMap = Grid<u16>;

/// Number of voxels of `dims`, or `None` on overflow.
pub fn voxel_count(dims: [usize; 3]) -> Option<usize> {
    dims[0].checked_mul(dims[1])?.checked_mul(dims[2])
}

pub(crate) fn check_dims(dims: [usize; 3]) -> Result<usize, VolumeError> {
    match voxel_count(dims) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(VolumeError::InvalidGridDims { dims }),
    }
}

/// Voxels per channel of a channel-major field of `len` values on `dims`, after checking
/// that it holds exactly `channels` (> 0) volumes.
pub(crate) fn check_channels(
    len: usize,
    dims: [usize; 3],
    channels: usize,
) -> Result<usize, VolumeError> {
    let n = check_dims(dims)?;
    let expected = n
        .checked_mul(channels)
        .ok_or(VolumeError::InvalidGridDims { dims })?;
    if channels == 0 || len != expected {
        return Err(VolumeError::BufferLength {
            what: "multi-channel field",
            expected,
            actual: len,
        });
    }
    Ok(n)
}

pub(crate) fn check_spacing(spacing: [f64; 3]) -> Result<(), VolumeError> {
    if spacing.iter().all(|s| s.is_finite() && *s > 0.0) {
        Ok(())
    } else {
        Err(VolumeError::InvalidSpacing { spacing })
    }
}

impl<T> Grid<T> {
    /// Builds a grid, checking that the data length matches `dims`, the spacing is
    /// positive and the affine finite.
    pub fn new(
        dims: [usize; 3],
        spacing: [f64; 3],
        affine: [[f64; 4]; 4],
        data: Vec<T>,
    ) -> Result<Self, VolumeError> {
        let expected = check_dims(dims)?;
        if data.len() != expected {
            return Err(VolumeError::DataLength {
                dims,
                expected,
                actual: data.len(),
            });
        }
        check_spacing(spacing)?;
        VolumeError::check_affine(&affine)?;
        Ok(Self {
            dims,
            spacing,
            affine,
            data,
        })
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Linear index of voxel `(i, j, k)`; no bounds check (use `get` for that).
    #[inline]
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        i + self.dims[0] * (j + self.dims[1] * k)
    }

    /// World coordinate (mm, RAS+) of the centre of voxel `(i, j, k)`; indices may be
    /// fractional or outside the grid.
    pub fn voxel_to_world(&self, ijk: [f64; 3]) -> [f64; 3] {
        super::affine::apply(&self.affine, ijk)
    }

    /// Same geometry, other data (length checked).
    pub fn with_data<U>(&self, data: Vec<U>) -> Result<Grid<U>, VolumeError> {
        Grid::new(self.dims, self.spacing, self.affine, data)
    }
}

impl<T> Grid<T> {
    /// The voxel count, after checking that the data holds exactly that many values.
    pub(crate) fn checked_len(&self) -> Result<usize, VolumeError> {
        let n = check_dims(self.dims)?;
        if self.data.len() != n {
            return Err(VolumeError::DataLength {
                dims: self.dims,
                expected: n,
                actual: self.data.len(),
            });
        }
        Ok(n)
    }
}

impl<T: Copy> Grid<T> {
    /// This grid placed at `offset` inside a `dims` grid filled with `fill`, the affine
    /// shifted so every voxel keeps its world position (padding and un-cropping). The
    /// caller checks that it fits.
    pub(crate) fn embed(
        &self,
        dims: [usize; 3],
        offset: [usize; 3],
        fill: T,
    ) -> Result<Grid<T>, VolumeError> {
        let mut data = vec![fill; check_dims(dims)?];
        let d = self.dims;
        for k in 0..d[2] {
            for j in 0..d[1] {
                let src = d[0] * (j + d[1] * k);
                let dst = offset[0] + dims[0] * (offset[1] + j + dims[1] * (offset[2] + k));
                data[dst..dst + d[0]].copy_from_slice(&self.data[src..src + d[0]]);
            }
        }
        let mut affine = self.affine;
        for r in 0..3 {
            affine[r][3] -= (0..3)
                .map(|c| self.affine[r][c] * offset[c] as f64)
                .sum::<f64>();
        }
        Ok(Grid {
            dims,
            spacing: self.spacing,
            affine,
            data,
        })
    }

    /// Value at `(i, j, k)`, or `None` outside the grid.
    #[inline]
    pub fn get(&self, i: usize, j: usize, k: usize) -> Option<T> {
        if i < self.dims[0] && j < self.dims[1] && k < self.dims[2] {
            self.data.get(self.index(i, j, k)).copied()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::affine::IDENTITY;

    #[test]
    fn new_checks_length_and_geometry() {
        let ok = Grid::new([2, 3, 4], [1.0; 3], IDENTITY, vec![0f32; 24]).unwrap();
        assert_eq!(ok.len(), 24);
        assert_eq!(ok.index(1, 2, 3), 1 + 2 * (2 + 3 * 3));
        assert_eq!(ok.get(1, 2, 3), Some(0.0));
        assert_eq!(ok.get(2, 0, 0), None);
        assert!(matches!(
            Grid::new([2, 3, 4], [1.0; 3], IDENTITY, vec![0f32; 23]),
            Err(VolumeError::DataLength {
                expected: 24,
                actual: 23,
                ..
            })
        ));
        assert!(matches!(
            Grid::new([0, 3, 4], [1.0; 3], IDENTITY, Vec::<f32>::new()),
            Err(VolumeError::InvalidGridDims { .. })
        ));
        assert!(matches!(
            Grid::new([1, 1, 1], [1.0, 0.0, 1.0], IDENTITY, vec![0u16]),
            Err(VolumeError::InvalidSpacing { .. })
        ));
        let mut bad = IDENTITY;
        bad[0][3] = f64::NAN;
        assert!(matches!(
            Grid::new([1, 1, 1], [1.0; 3], bad, vec![0u16]),
            Err(VolumeError::NonFiniteAffine { .. })
        ));
    }
}
