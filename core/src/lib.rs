//! brainfm-core: the brain-MRI foundation model family, its self-supervised objectives,
//! the volume pipeline (NIfTI in/out, RAS, resampling, normalisation and the exact inverse)
//! and sliding-window inference. Compiles natively and to wasm32: no filesystem, no
//! threads, no blocking tensor reads in code the browser runs.

pub mod augment;
pub mod bundle;
pub mod infer;
pub mod metrics;
pub mod model;
pub mod rng;
pub mod ssl;
pub mod synth;
pub mod train;
pub mod volume;
