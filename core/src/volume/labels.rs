//! The one rule that turns a scan read as numbers into a label map. NIfTI label files
//! arrive as floats (the reader applies scl_slope/inter), so every front end needs this
//! step; a single rule means a file the CLI accepts is one the app accepts, and nothing
//! is rounded or clamped into a different segmentation without the user knowing.

use std::fmt;

use super::error::VolumeError;
use super::grid::{Grid, LabelMap, Volume};

/// What is wrong with a voxel value that should be a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadLabel {
    NotFinite,
    Negative,
    NotInteger,
    TooLarge,
}

impl fmt::Display for BadLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadLabel::NotFinite => "which is not a finite number",
            BadLabel::Negative => "but labels cannot be negative",
            BadLabel::NotInteger => "which is not a whole number",
            BadLabel::TooLarge => "over the largest label, 65535",
        })
    }
}

impl BadLabel {
    /// `None` when `value` is a valid label (a whole number in 0..=65535).
    pub fn of(value: f32) -> Option<BadLabel> {
        if !value.is_finite() {
            Some(BadLabel::NotFinite)
        } else if value < 0.0 {
            Some(BadLabel::Negative)
        } else if value.fract() != 0.0 {
            Some(BadLabel::NotInteger)
        } else if value > u16::MAX as f32 {
            Some(BadLabel::TooLarge)
        } else {
            None
        }
    }
}

impl Grid<u16> {
    /// The label map a scan of label values stands for, on the same grid. Every voxel
    /// must hold a whole number in 0..=65535; the error names the first voxel that does
    /// not (the caller adds the file name).
    pub fn from_volume(volume: &Volume) -> Result<LabelMap, VolumeError> {
        let n = volume.checked_len()?;
        let mut data = Vec::with_capacity(n);
        for (index, &value) in volume.data.iter().enumerate() {
            if let Some(problem) = BadLabel::of(value) {
                let [nx, ny, _] = volume.dims;
                return Err(VolumeError::NotALabelMap {
                    voxel: [index % nx, (index / nx) % ny, index / (nx * ny)],
                    value,
                    problem,
                });
            }
            data.push(value as u16);
        }
        volume.with_data(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::affine::IDENTITY;

    fn volume(data: Vec<f32>) -> Volume {
        Volume::new([2, 2, 2], [1.5; 3], IDENTITY, data).unwrap()
    }

    /// The whole error for one bad value at voxel (1, 0, 1) = index 5.
    fn refused(value: f32) -> (VolumeError, String) {
        let mut data = vec![1.0; 8];
        data[5] = value;
        let err = LabelMap::from_volume(&volume(data)).unwrap_err();
        let text = err.to_string();
        (err, text)
    }

    #[test]
    fn whole_numbers_become_labels_on_the_same_grid() {
        let v = volume(vec![0.0, 1.0, 2.0, 65535.0, -0.0, 7.0, 3.0, 1.0]);
        let map = LabelMap::from_volume(&v).unwrap();
        assert_eq!(map.data, vec![0, 1, 2, 65535, 0, 7, 3, 1]);
        assert_eq!(
            (map.dims, map.spacing, map.affine),
            (v.dims, v.spacing, v.affine)
        );
    }

    #[test]
    fn a_fraction_is_refused_not_rounded() {
        let (err, text) = refused(1.5);
        assert!(matches!(
            err,
            VolumeError::NotALabelMap {
                voxel: [1, 0, 1],
                problem: BadLabel::NotInteger,
                ..
            }
        ));
        assert!(text.contains("voxel [1, 0, 1] holds 1.5"), "{text}");
        assert!(text.contains("not a whole number"), "{text}");
    }

    #[test]
    fn a_negative_value_is_refused_not_clamped() {
        let (err, text) = refused(-2.0);
        assert!(matches!(
            err,
            VolumeError::NotALabelMap {
                problem: BadLabel::Negative,
                ..
            }
        ));
        assert!(text.contains("holds -2"), "{text}");
        assert!(text.contains("negative"), "{text}");
    }

    #[test]
    fn non_finite_values_are_refused() {
        for value in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let (err, text) = refused(value);
            assert!(
                matches!(
                    err,
                    VolumeError::NotALabelMap {
                        problem: BadLabel::NotFinite,
                        ..
                    }
                ),
                "{value}: {err:?}"
            );
            assert!(text.contains("not a finite number"), "{text}");
        }
    }

    #[test]
    fn a_value_over_u16_is_refused() {
        let (err, text) = refused(65536.0);
        assert!(matches!(
            err,
            VolumeError::NotALabelMap {
                problem: BadLabel::TooLarge,
                ..
            }
        ));
        assert!(text.contains("holds 65536"), "{text}");
        assert!(text.contains("65535"), "{text}");
    }
}
