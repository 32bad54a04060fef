//! Measurement copy: only the modules read_nifti/write_* need, copied verbatim from
//! core/src/volume/ by run.sh (this file is the only one adapted).
#![allow(clippy::needless_range_loop)]
pub mod affine;
mod error;
mod grid;
mod labels;
pub mod nifti;
pub use affine::Affine;
pub use error::VolumeError;
pub use grid::{voxel_count, Grid, LabelMap, Volume};
pub use labels::BadLabel;
pub use nifti::{header_from_grid, read_nifti, write_labels, write_volume, NiftiHeader, NiftiImage, ReadOptions};
