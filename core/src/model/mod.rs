//! The brainfm model family: blocks, encoder, latent split, decoders, heads, presets.
//!
//! burn 0.22 selects the backend at run time through `Device`, so every module here
//! runs unchanged on flex (CPU), wgpu/WebGPU and CUDA.

pub mod anatomy;
pub mod blocks;
pub mod conv;
pub mod decoder;
pub mod encoder;
pub mod heads;
#[cfg(test)]
mod kernel_checks;
pub mod latent;
pub mod network;
pub mod norm;
mod parallel;
pub mod presets;

#[cfg(test)]
mod tests;

pub use anatomy::{AnatomyHead, AnatomyHeadConfig};
pub use blocks::{Cost, Shape3};
pub use network::{BrainNet, CostReport, ModelConfig, Representation, MAX_PARAMETERS};
pub use presets::Preset;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("unknown preset '{0}' (choose tiny, small, base or resenc-l)")]
    UnknownPreset(String),
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),
    #[error("this model has no {0}")]
    MissingPart(&'static str),
}
