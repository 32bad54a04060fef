use crate::model::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(
        "not a brainfm model bundle (bad magic bytes; expected a .bfm file written by `brainfm`)"
    )]
    BadMagic,
    #[error("the bundle is truncated ({len} bytes): re-download or re-export it")]
    Truncated { len: usize },
    #[error(
        "bundle format version {found} is not supported (this brainfm reads version {supported})"
    )]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("the bundle header is not valid: {0}")]
    BadHeader(String),
    #[error("the bundle's weights are {found} bytes but its header says {expected}: the file is truncated or corrupt")]
    WeightsLength { expected: u64, found: u64 },
    #[error("the bundle's weights fail their checksum (expected SHA-256 {expected}, found {found}): the file is corrupt")]
    Checksum { expected: String, found: String },
    #[error("the bundle's model configuration is invalid: {0}")]
    Model(#[from] ModelError),
    #[error("the weights do not match the model configuration: {0}")]
    WeightsMismatch(String),
    #[error("could not (de)serialise the weights: {0}")]
    Weights(String),
}
