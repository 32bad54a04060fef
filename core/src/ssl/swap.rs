//! The FOMO25 winner's cross-contrast swap. Two (or more) co-registered scans of one
//! subject give subject latents z_s and modality latents z_m; the subject part is
//! averaged over the subject's scans and must still reconstruct every scan when paired
//! with that scan's own modality part:
//!
//! `3 (rec_a + rec_b) + 1 (cross_ab + cross_ba) + w_kl (4 KL terms)
//!  + 0.5 (1 - cos(z_s_a, z_s_b)) + 0.5 cos(z_m_a, z_m_b)`
//!
//! With K scans per subject the pair sums become `2/K` times sums over the K scans (so
//! the weights keep their meaning), and the cosine terms average over every pair.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::anatomy::{same_subject_pairs, subject_mean_per_scan};
use super::latent::{kl_divergence, sample_latent, weighted_pair_cosine};
use super::recon::{reconstruction_loss, ReconLoss};
use super::{apply_mask, SslError};
use crate::model::BrainNet;
use crate::rng::Rng;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SwapWeights {
    pub self_recon: f64,
    pub cross_recon: f64,
    /// KL weight reached at the end of the ramp.
    pub kl_max: f64,
    /// Steps over which the KL weight rises linearly from 0 to `kl_max`.
    pub kl_ramp_steps: u64,
    /// Weight of `1 - cos(z_s_a, z_s_b)`.
    pub subject_pull: f64,
    /// Weight of `cos(z_m_a, z_m_b)`.
    pub modality_push: f64,
    /// Steps over which both cosine weights rise linearly from 0 to `subject_pull` and
    /// `modality_push`, like the KL weight (0: full weight from the first step, as the
    /// FOMO25 winner). From step 0 the pull is met most cheaply by a z_s that ignores its
    /// input, before the reconstructions have made z_s carry anything
    /// (docs/SWAP_ABLATION.md).
    pub cos_ramp_steps: u64,
}

impl Default for SwapWeights {
    fn default() -> Self {
        Self {
            self_recon: 3.0,
            cross_recon: 1.0,
            kl_max: 1e-3,
            kl_ramp_steps: 1000,
            subject_pull: 0.5,
            modality_push: 0.5,
            cos_ramp_steps: 1000,
        }
    }
}

impl SwapWeights {
    pub fn kl_weight(&self, step: u64) -> f64 {
        self.kl_max * ramp(step, self.kl_ramp_steps)
    }

    /// Factor on both cosine weights at `step`.
    pub fn cos_factor(&self, step: u64) -> f64 {
        ramp(step, self.cos_ramp_steps)
    }
}

/// Linear 0 -> 1 over `steps` (1 at once when `steps` is 0).
fn ramp(step: u64, steps: u64) -> f64 {
    if steps == 0 {
        return 1.0;
    }
    (step as f64 / steps as f64).min(1.0)
}

/// Latents and loss terms of one swap forward pass.
pub struct SwapTerms {
    pub self_recon: Tensor<1>,
    pub cross_recon: Tensor<1>,
    pub kl: Tensor<1>,
    /// Mean same-subject cosine of z_s (pulled towards 1); zero without pairs.
    pub subject_cos: Tensor<1>,
    /// Mean same-subject cosine of z_m (pushed down); zero without pairs.
    pub modality_cos: Tensor<1>,
    /// Subject latent means, for the anatomy-consistency term.
    pub subject_mean: Tensor<5>,
    pub total: Tensor<1>,
}

/// `scans`: `[n, 1, d, h, w]`, co-registered within a subject; `subjects[i]`: subject of
/// scan i; `mask`: `[n, 1, d, h, w]` block mask (1 = hidden).
pub fn swap_loss(
    model: &BrainNet,
    scans: Tensor<5>,
    subjects: &[usize],
    mask: Tensor<5>,
    recon: &ReconLoss,
    weights: &SwapWeights,
    step: u64,
    rngs: &mut [Rng],
) -> Result<SwapTerms, SslError> {
    let lacks = |what| SslError::ModelLacks {
        objective: "swap",
        what,
    };
    let rep = model.represent(apply_mask(scans.clone(), mask.clone()));
    let lat = rep
        .latents
        .ok_or(lacks("a subject/modality latent split"))?;
    let z_s = sample_latent(lat.subject_mean.clone(), lat.subject_logvar.clone(), rngs);
    let z_m = sample_latent(lat.modality_mean.clone(), lat.modality_logvar.clone(), rngs);
    let z_s_subject = subject_mean_per_scan(z_s.clone(), subjects);

    let own = model
        .reconstruct(Tensor::cat(vec![z_s, z_m.clone()], 1))
        .map_err(|_| lacks("a reconstruction decoder"))?;
    let swapped = model
        .reconstruct(Tensor::cat(vec![z_s_subject, z_m], 1))
        .map_err(|_| lacks("a reconstruction decoder"))?;
    // Losses average over scans; x2 turns that into the winner's sum over a pair.
    let self_recon = reconstruction_loss(recon, own, scans.clone(), mask.clone()).mul_scalar(2.0);
    let cross_recon = reconstruction_loss(recon, swapped, scans, mask).mul_scalar(2.0);
    let kl = (kl_divergence(lat.subject_mean.clone(), lat.subject_logvar)
        + kl_divergence(lat.modality_mean.clone(), lat.modality_logvar))
    .mul_scalar(2.0);

    let device = self_recon.device();
    let (subject_cos, modality_cos) = match same_subject_pairs(subjects) {
        Some(w) => (
            weighted_pair_cosine(lat.subject_mean.clone(), &w),
            weighted_pair_cosine(lat.modality_mean, &w),
        ),
        None => (Tensor::zeros([1], &device), Tensor::zeros([1], &device)),
    };
    let has_pairs = same_subject_pairs(subjects).is_some();
    let mut total = self_recon.clone().mul_scalar(weights.self_recon)
        + cross_recon.clone().mul_scalar(weights.cross_recon)
        + kl.clone().mul_scalar(weights.kl_weight(step));
    if has_pairs {
        let cos = weights.cos_factor(step);
        total = total
            + subject_cos
                .clone()
                .neg()
                .add_scalar(1.0)
                .mul_scalar(weights.subject_pull * cos)
            + modality_cos.clone().mul_scalar(weights.modality_push * cos);
    }
    Ok(SwapTerms {
        self_recon,
        cross_recon,
        kl,
        subject_cos,
        modality_cos,
        subject_mean: lat.subject_mean,
        total,
    })
}
