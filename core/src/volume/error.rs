//! One error type for the whole volume pipeline, so callers (CLI, app) can show a single
//! message that says exactly what is wrong with the file or the request.

use thiserror::Error;

use super::affine::Affine;
use super::labels::BadLabel;

impl VolumeError {
    /// `Err` naming the first non-finite entry of `a`, if any.
    pub(crate) fn check_affine(a: &Affine) -> Result<(), VolumeError> {
        for (row, r) in a.iter().enumerate() {
            for (col, &value) in r.iter().enumerate() {
                if !value.is_finite() {
                    return Err(VolumeError::NonFiniteAffine { row, col, value });
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum VolumeError {
    #[error("voxel data has {actual} values but dims {dims:?} need {expected}")]
    DataLength {
        dims: [usize; 3],
        expected: usize,
        actual: usize,
    },

    #[error("grid dims {dims:?} are invalid: every dimension must be at least 1 and the voxel count must fit in memory")]
    InvalidGridDims { dims: [usize; 3] },

    #[error("voxel spacing {spacing:?} is invalid: every spacing must be finite and > 0 mm")]
    InvalidSpacing { spacing: [f64; 3] },

    #[error("affine entry [{row}][{col}] is {value}: every entry must be finite")]
    NonFiniteAffine { row: usize, col: usize, value: f64 },

    #[error(
        "affine is singular (its 3x3 part has determinant {det}); cannot determine orientation"
    )]
    SingularAffine { det: f64 },

    #[error("file is {len} bytes, shorter than a NIfTI header ({needed} bytes)")]
    FileTooShort { len: usize, needed: usize },

    #[error("not a NIfTI file: sizeof_hdr is {little_endian} (little-endian) / {big_endian} (big-endian), expected 348 (NIfTI-1) or 540 (NIfTI-2)")]
    BadHeaderSize { little_endian: i32, big_endian: i32 },

    #[error("bad NIfTI-{version} magic {found:?}, expected {expected:?}")]
    BadMagic {
        version: u8,
        found: String,
        expected: String,
    },

    #[error("this is a two-file NIfTI header (magic {magic:?}: the voxels live in a separate .img file); only single-file .nii / .nii.gz is supported")]
    PairFile { magic: String },

    #[error("dim[0] = {ndim} is out of range 1..=7")]
    BadDimCount { ndim: i64 },

    #[error("dimension dim[{axis}] = {value} is invalid: must be >= 1")]
    BadDim { axis: usize, value: i64 },

    #[error("image has {extra_dims:?} extent beyond the 4th dimension (dims {dims:?}); only 3D and 4D images are supported")]
    HigherDimensions {
        dims: Vec<i64>,
        extra_dims: Vec<i64>,
    },

    #[error("image is 4D with {volumes} volumes; choose one (volume index 0..{volumes})")]
    FourDimensional { volumes: usize },

    #[error("volume index {index} out of range: the image has {volumes} volume(s)")]
    VolumeIndexOutOfRange { index: usize, volumes: usize },

    #[error("image has {voxels} voxels per volume (dims {dims:?}), over the limit of {max}")]
    TooManyVoxels {
        dims: Vec<i64>,
        voxels: u128,
        max: usize,
    },

    #[error("unsupported NIfTI datatype {code} ({name}); supported: uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32, float64")]
    UnsupportedDatatype { code: i32, name: &'static str },

    #[error("DICOM: {reason}")]
    Dicom { reason: String },

    #[error("unsupported MGH voxel type {code}; supported: 0 (uchar), 1 (int), 3 (float), 4 (short), 10 (ushort)")]
    UnsupportedMghType { code: i32 },

    #[error("not an MGH/MGZ file: version is {version}, expected 1")]
    BadMghVersion { version: i32 },

    #[error("bitpix {bitpix} does not match datatype {datatype} ({name}), which needs {expected}")]
    BitpixMismatch {
        datatype: i32,
        name: &'static str,
        bitpix: i32,
        expected: i32,
    },

    #[error("vox_offset {vox_offset} is invalid: {reason}")]
    BadVoxOffset { vox_offset: f64, reason: String },

    #[error("voxel data truncated: need {needed} bytes from offset {offset} but only {available} are present")]
    Truncated {
        offset: u64,
        needed: u64,
        available: u64,
    },

    #[error("header field {field} has non-finite value(s) {values:?}")]
    NonFiniteField {
        field: &'static str,
        values: Vec<f64>,
    },

    #[error("corrupt gzip stream: {message}")]
    Gzip { message: String },

    #[error("label map dims {labels:?} differ from the image dims {header:?}")]
    DimsMismatch {
        header: Vec<i64>,
        labels: [usize; 3],
    },

    #[error("{what}: got {actual} values, expected {expected}")]
    BufferLength {
        what: &'static str,
        expected: usize,
        actual: usize,
    },

    #[error("not a label map: voxel {voxel:?} holds {value}, {problem}")]
    NotALabelMap {
        voxel: [usize; 3],
        value: f32,
        problem: BadLabel,
    },

    #[error("invalid preprocessing configuration: {message}")]
    InvalidConfig { message: String },
}
