//! Teaching views of the self-supervised objectives, computed from a user's scan with the
//! same masking, latent split and decoders that pre-training uses: what the model fills in
//! under a block mask, and what the cross-contrast swap does (one subject's anatomy
//! rendered in another scan's contrast). The browser app shows these; they live here so
//! the app does not re-implement any of it.
//!
//! Everything works on one patch of the network grid around a point the user picks, so a
//! small device answers in seconds, and returns one axial slice through that point.

mod masked;
mod net;
mod patch;
mod swap;

#[cfg(test)]
mod tests;

pub use masked::{masked_reconstruction, MaskedView};
pub use patch::{axial_slice, patch_origin, teaching_patch, TeachPatch};
pub use swap::{contrast_swap, synth_pair, SwapView};

use crate::ssl::SslError;
use crate::synth::SynthError;
use crate::volume::VolumeError;

#[derive(Debug, thiserror::Error)]
pub enum TeachError {
    #[error("{0}")]
    Volume(#[from] VolumeError),
    #[error("{0}")]
    Mask(#[from] SslError),
    #[error("synthesis: {0}")]
    Synth(#[from] SynthError),
    #[error("this model has no {0}; the teaching views need a pre-trained model (e.g. the bundled pretrained.bfm)")]
    ModelLacks(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("the compute device failed while reading results: {0}")]
    Device(String),
}

/// One axial slice for display, in the viewer's axial orientation: columns run from the
/// patient's left to right (RAS x), rows from anterior (top) to posterior.
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}
