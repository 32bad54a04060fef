//! NIfTI-1 / NIfTI-2 decode and encode, from and to bytes (no filesystem: the browser
//! hands us bytes). Our own parser: it checks every header value before trusting it.

mod datatype;
mod geometry;
mod header;
mod read;
mod write;

#[cfg(test)]
mod tests;

pub(crate) use datatype::decode;
pub use datatype::{code_name, DataType};
pub use geometry::{header_geometry, quatern_rotation, spatial_unit_scale};
pub use header::NiftiHeader;
pub use read::{read_nifti, NiftiImage, ReadOptions};
pub(crate) use read::{read_up_to, skip, CRC_CHECK_LIMIT};
pub use write::{header_from_grid, write_labels, write_volume, NIFTI_INTENT_LABEL};
