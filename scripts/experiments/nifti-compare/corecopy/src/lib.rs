//! Copy of brainfm-core's NIfTI reader/writer (crate::volume paths kept as in core).
pub mod volume;
/// test-only access to header encoding (used by the hostile harness to build cases)
pub use volume::nifti::encode_header_pub as encode_header;
