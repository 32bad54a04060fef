//! Pre-training data: the subjects `crate::layout::discover` finds (BIDS, nnU-Net raw,
//! flat folders), preprocess each subject once into a memory-mapped half-precision
//! cache, and draw random foreground-biased crops with augmentation on worker threads.

pub mod cache;
pub mod loader;
pub mod targets;

pub use cache::build_cache;
pub use loader::{Loader, LoaderConfig};
