//! The volume pipeline: voxel grids, NIfTI I/O, FreeSurfer MGH/MGZ and DICOM input from bytes, RAS reorientation, resampling,
//! crop/pad, intensity normalisation, and the preprocessing transform with its exact
//! inverse (network output -> labels on the user's original grid).
//!
//! Conventions: arrays are x-fastest (`i + nx*(j + ny*k)`); affines map voxel indices to
//! world RAS+ millimetres like NIfTI; spacing is per array axis in mm. Nothing here touches
//! the filesystem, spawns threads or reads clocks, so all of it runs in the browser.
//!
//! Typical use:
//! ```ignore
//! let img = read_nifti(&bytes, &ReadOptions::default())?;
//! let pre = preprocess(&img.volume, &PreprocessConfig::default())?;
//! // ... network on pre.volume -> per-class probabilities (channel-major) ...
//! let labels = pre.transform.probabilities_to_input(&probs, classes)?;
//! let file = write_labels(&img.header, &labels)?;
//! ```

// Index loops read best for 3x3 / 4x4 geometry.
#![allow(clippy::needless_range_loop)]

pub mod affine;
pub mod crop;
pub mod dicom;
mod error;
mod grid;
mod labels;
pub mod mgh;
pub mod nifti;
pub mod normalize;
pub mod orient;
pub mod pad;
pub mod pipeline;
pub mod resample;
mod scan;

#[cfg(test)]
pub(crate) mod test_util;

pub use affine::Affine;
pub use crop::{crop, foreground_box, uncrop, CropBox};
pub use error::VolumeError;
pub use grid::{voxel_count, Grid, LabelMap, Volume};
pub use labels::BadLabel;
pub use mgh::{read_mgh, write_mgh_labels, write_mgh_volume};
pub use nifti::{
    header_from_grid, read_nifti, write_labels, write_volume, NiftiHeader, NiftiImage, ReadOptions,
};
pub use normalize::{zscore_foreground, IntensityStats};
pub use orient::{orientation_code, reorient_to_ras, Reorientation};
pub use pad::{pad, padding_for, unpad, Padding};
pub use pipeline::{preprocess, GridTransform, PreprocessConfig, Preprocessed};
pub use resample::{
    resample_channels, resample_nearest_to_dims, resample_nearest_to_spacing, resample_to_dims,
    resample_to_spacing,
};
pub use scan::{is_scan_name, read_first_volume, read_scan, scan_stem, ScanFormat, SCAN_ENDINGS};
