//! Self-supervised objectives of the two MICCAI 2025 winners:
//! - masked reconstruction (SSL3D winner's MAE; FOMO25 masks the input the same way),
//! - the FOMO25 winner's cross-contrast swap of subject and modality latents,
//! - anatomy consistency of the subject latent across all scans of a subject, and where
//!   label maps exist, anatomical segmentation from it.
//!
//! Every function takes tensors and a seeded [`Rng`](crate::rng::Rng) and returns loss
//! tensors: nothing here reads tensors back, so it runs unchanged in the browser.

pub mod anat_seg;
pub mod anatomy;
pub mod latent;
pub mod mask;
pub mod objective;
pub mod recon;
pub mod swap;

#[cfg(test)]
mod tests;

pub use anat_seg::{anatomy_segmentation, mode_downsample};
pub use anatomy::{anatomy_consistency, same_subject_pairs, subject_mean_per_scan};
pub use latent::{
    cosine_per_scan, cosine_per_voxel, kl_divergence, sample_latent, weighted_pair_cosine,
};
pub use mask::{apply_mask, block_mask, mask_tensor, MaskConfig};
pub use objective::{compute, Objective, ObjectiveConfig, ObjectiveOutput, SslBatch};
pub use recon::{masked_mse, reconstruction_loss, smooth_l1, ReconLoss};
pub use swap::{swap_loss, SwapTerms, SwapWeights};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SslError {
    #[error("the {objective} objective needs {what}")]
    ModelLacks {
        objective: &'static str,
        what: &'static str,
    },
    #[error("invalid batch: {0}")]
    BadBatch(String),
    #[error("invalid masking: {0}")]
    BadMask(String),
}
