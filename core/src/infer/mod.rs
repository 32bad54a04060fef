//! Sliding-window inference: Gaussian-weighted patches, optional mirror TTA, a memory
//! budget that bounds the largest live activation, progress and cancellation. One
//! async routine serves the CLI (blocking on it) and the browser worker (awaiting it).

mod embed;
mod error;
mod global;
mod plan;
mod postprocess;
mod readback;
mod segment;
mod sliding;
pub mod teach;
mod tiles;
mod window;

#[cfg(test)]
mod tests;

pub use embed::{embed_volume, Embedding};
pub use error::InferError;
pub use global::{
    aggregate_log_probabilities, median, predict_global_volume, GlobalOutput, GlobalPrediction,
};
pub use plan::{activation_bytes, InferenceConfig, Plan};
pub use postprocess::{keep_largest_component, Postprocess};
pub use segment::{segment_volume, Segmentation};
pub use sliding::{sliding_window, Progress, Stage};
pub use window::{gaussian_importance, window_starts};
