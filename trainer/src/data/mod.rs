//! Pre-training data: discover scans and group them into subjects (BIDS, nnU-Net raw,
//! flat folders), preprocess each subject once into a memory-mapped half-precision
//! cache, and draw random foreground-biased crops with augmentation on worker threads.

pub mod cache;
pub mod discover;
pub mod loader;
pub mod targets;

pub use cache::build_cache;
pub use discover::discover;
pub use loader::{Loader, LoaderConfig};
