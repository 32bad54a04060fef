use crate::model::ModelError;
use crate::volume::VolumeError;

#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("inference was cancelled")]
    Cancelled,
    #[error("{0}")]
    Volume(#[from] VolumeError),
    #[error("{0}")]
    Model(#[from] ModelError),
    #[error("invalid inference settings: {0}")]
    InvalidConfig(String),
    #[error("even one {patch:?} patch needs about {needed} MiB of activations, over the {budget} MiB memory budget; raise the budget or use a smaller model")]
    OverBudget {
        patch: [usize; 3],
        needed: u64,
        budget: u64,
    },
    #[error("the compute device failed while reading results: {0}")]
    Device(String),
}
