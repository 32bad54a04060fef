//! Padding to sizes the network accepts (multiples of its total stride, minimum patch size)
//! and removing that padding again.

use serde::{Deserialize, Serialize};

use super::crop::{crop, CropBox};
use super::error::VolumeError;
use super::grid::Grid;

/// Voxels added before and after the data along each axis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Padding {
    pub before: [usize; 3],
    pub after: [usize; 3],
}

/// Padding of `dims` up to at least `min_size`, then up to a multiple of `multiple`
/// (0 or 1: no rounding); split `total / 2` before, the rest after, so content stays
/// centred.
pub fn padding_for(
    dims: [usize; 3],
    multiple: usize,
    min_size: [usize; 3],
) -> Result<Padding, VolumeError> {
    let mut p = Padding::default();
    for a in 0..3 {
        let mut target = dims[a].max(min_size[a]);
        if multiple > 1 {
            target = target
                .div_ceil(multiple)
                .checked_mul(multiple)
                .ok_or(VolumeError::InvalidGridDims { dims })?;
        }
        let total = target - dims[a];
        p.before[a] = total / 2;
        p.after[a] = total - total / 2;
    }
    Ok(p)
}

impl Padding {
    pub fn padded_dims(&self, dims: [usize; 3]) -> [usize; 3] {
        [0, 1, 2].map(|a| dims[a] + self.before[a] + self.after[a])
    }

    pub fn is_zero(&self) -> bool {
        self.before == [0; 3] && self.after == [0; 3]
    }
}

/// Pads with `value`; the affine is shifted so original voxels keep their world positions.
pub fn pad<T: Copy>(g: &Grid<T>, p: &Padding, value: T) -> Result<Grid<T>, VolumeError> {
    g.checked_len()?;
    if p.is_zero() {
        return Ok(g.clone());
    }
    g.embed(p.padded_dims(g.dims), p.before, value)
}

/// Removes padding `p` from a padded grid.
pub fn unpad<T: Copy>(g: &Grid<T>, p: &Padding) -> Result<Grid<T>, VolumeError> {
    if p.is_zero() {
        return Ok(g.clone());
    }
    let mut end = [0usize; 3];
    for a in 0..3 {
        end[a] = g.dims[a]
            .checked_sub(p.after[a])
            .filter(|e| *e > p.before[a])
            .ok_or_else(|| VolumeError::InvalidConfig {
                message: format!("padding {p:?} does not fit in dims {:?}", g.dims),
            })?;
    }
    crop(
        g,
        &CropBox {
            start: p.before,
            end,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::affine::IDENTITY;

    #[test]
    fn multiples_and_minimum_sizes() {
        let p = padding_for([30, 32, 1], 16, [0, 48, 0]).unwrap();
        assert_eq!(p.padded_dims([30, 32, 1]), [32, 48, 16]);
        assert_eq!(p.before, [1, 8, 7]);
        assert_eq!(p.after, [1, 8, 8]);
        assert!(padding_for([5, 5, 5], 0, [0; 3]).unwrap().is_zero());
        assert_eq!(
            padding_for([5, 5, 5], 1, [7, 0, 0])
                .unwrap()
                .padded_dims([5, 5, 5]),
            [7, 5, 5]
        );
    }

    #[test]
    fn pad_unpad_round_trip() {
        let g: Grid<u16> = Grid::new([3, 2, 2], [1.0; 3], IDENTITY, (1..=12).collect()).unwrap();
        let p = padding_for(g.dims, 4, [0; 3]).unwrap();
        let padded = pad(&g, &p, 0).unwrap();
        assert_eq!(padded.dims, [4, 4, 4]);
        assert_eq!(padded.data.iter().filter(|&&v| v != 0).count(), 12);
        let w = padded.voxel_to_world(p.before.map(|x| x as f64));
        assert_eq!(w, [0.0; 3]);
        assert_eq!(unpad(&padded, &p).unwrap(), g);
    }
}
