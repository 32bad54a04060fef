//! Objective selection: `mae`, `swap` (FOMO25 winner) and `swap+anat` (swap plus
//! anatomy consistency across all of a subject's scans).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::anat_seg::{anatomy_segmentation, mode_downsample};
use super::anatomy::anatomy_consistency;
use super::mask::{apply_mask, mask_tensor, MaskConfig};
use super::recon::{reconstruction_loss, ReconLoss};
use super::swap::{swap_loss, SwapWeights};
use super::SslError;
use crate::model::{AnatomyHead, BrainNet};
use crate::rng::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Masked autoencoder: reconstruct the hidden blocks.
    Mae,
    /// Cross-contrast swap of subject and modality latents.
    Swap,
    /// Swap plus anatomy consistency of z_s across all scans of a subject.
    #[serde(rename = "swap+anat")]
    SwapAnat,
}

impl Objective {
    pub fn name(self) -> &'static str {
        match self {
            Objective::Mae => "mae",
            Objective::Swap => "swap",
            Objective::SwapAnat => "swap+anat",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Objective::Mae, Objective::Swap, Objective::SwapAnat]
            .into_iter()
            .find(|o| o.name() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveConfig {
    pub objective: Objective,
    pub mask: MaskConfig,
    pub recon: ReconLoss,
    #[serde(default)]
    pub swap: SwapWeights,
    /// Weight of the anatomy-consistency term (`swap+anat`).
    #[serde(default = "default_anatomy")]
    pub anatomy: f64,
    /// Weight of the anatomical-segmentation term (`swap+anat`, scans with label maps,
    /// models with an anatomy head).
    #[serde(default = "default_anatomy_seg")]
    pub anatomy_seg: f64,
}

fn default_anatomy() -> f64 {
    0.5
}

/// 2 rather than 0.5: at 0.5 the head learnt little beyond the label prior in the
/// end-to-end test (docs/SWAP_ABLATION.md).
fn default_anatomy_seg() -> f64 {
    2.0
}

impl ObjectiveConfig {
    /// The winners' defaults: MAE as nnssl (16^3 blocks, 75 %, masked MSE); swap as the
    /// FOMO25 winner (4^3 blocks, 60 %) with its masked-MSE option rather than SmoothL1
    /// (beta 0.1) on the whole patch, which mostly rewards copying the visible voxels and
    /// left z_s without a subject code (docs/SWAP_ABLATION.md).
    pub fn new(objective: Objective) -> Self {
        let (mask, recon) = match objective {
            Objective::Mae => (MaskConfig::nnssl(), ReconLoss::MaskedMse),
            _ => (MaskConfig::fomo25(), ReconLoss::MaskedMse),
        };
        Self {
            objective,
            mask,
            recon,
            swap: SwapWeights::default(),
            anatomy: default_anatomy(),
            anatomy_seg: default_anatomy_seg(),
        }
    }
}

/// Scans `[n, 1, d, h, w]` and the subject of each; scans of one subject share the crop.
#[derive(Clone, Debug)]
pub struct SslBatch {
    pub scans: Tensor<5>,
    pub subjects: Vec<usize>,
    /// Per scan, its subject's label map cropped like the scan (`d * h * w`, x fastest),
    /// where one exists; empty when the batch has no labels at all.
    pub labels: Vec<Option<Vec<u16>>>,
    /// Per scan, its index in the step's whole batch: the scan's mask and latent noise are
    /// drawn from it, so ranks that each hold part of a batch draw what one process holding
    /// all of it would. `0..n` for a batch held whole ([`SslBatch::whole_batch_keys`]).
    pub keys: Vec<u64>,
}

impl SslBatch {
    /// The keys of a batch that is the step's whole batch.
    pub fn whole_batch_keys(n: usize) -> Vec<u64> {
        (0..n as u64).collect()
    }

    pub fn validate(&self) -> Result<(), SslError> {
        let [n, c, ..] = self.scans.dims();
        if c != 1 {
            return Err(SslError::BadBatch(format!(
                "scans must have 1 channel, got {c}"
            )));
        }
        if n != self.subjects.len() || n == 0 {
            return Err(SslError::BadBatch(format!(
                "{n} scans but {} subject ids",
                self.subjects.len()
            )));
        }
        if self.keys.len() != n {
            return Err(SslError::BadBatch(format!(
                "{n} scans but {} scan keys",
                self.keys.len()
            )));
        }
        if !self.labels.is_empty() && self.labels.len() != n {
            return Err(SslError::BadBatch(format!(
                "{n} scans but {} label entries",
                self.labels.len()
            )));
        }
        Ok(())
    }
}

/// The loss to minimise and its named (unweighted) terms for logging.
pub struct ObjectiveOutput {
    pub loss: Tensor<1>,
    pub terms: Vec<(&'static str, Tensor<1>)>,
}

/// Cross-entropy of the anatomy head on the subject latent means against the batch's
/// label maps, mode-downsampled from the `patch_d` patch to latent resolution.
fn anatomy_term(
    head: &AnatomyHead,
    subject_mean: Tensor<5>,
    batch: &SslBatch,
    patch_d: usize,
) -> Result<Tensor<1>, SslError> {
    let [n, _, ld, ..] = subject_mean.dims();
    if batch.labels.iter().all(Option::is_none) {
        return Ok(Tensor::zeros([1], &subject_mean.device()));
    }
    let [_, _, d, h, w] = batch.scans.dims();
    let factor = patch_d / ld.max(1);
    let targets = (0..n)
        .map(|i| match &batch.labels[i] {
            Some(l) => mode_downsample(l, [w, h, d], factor).map(Some),
            None => Ok(None),
        })
        .collect::<Result<Vec<_>, _>>()?;
    anatomy_segmentation(head.forward(subject_mean), &targets)
}

/// One forward pass of the configured objective.
pub fn compute(
    model: &BrainNet,
    batch: &SslBatch,
    cfg: &ObjectiveConfig,
    step: u64,
    rng: &mut Rng,
) -> Result<ObjectiveOutput, SslError> {
    batch.validate()?;
    let [_, _, d, h, w] = batch.scans.dims();
    let step_seed = rng.next_u64();
    let mut rngs: Vec<Rng> = batch
        .keys
        .iter()
        .map(|&k| Rng::derive(step_seed, k))
        .collect();
    let mask = mask_tensor([d, h, w], &cfg.mask, &mut rngs, &batch.scans.device())?;
    match cfg.objective {
        Objective::Mae => {
            let input = apply_mask(batch.scans.clone(), mask.clone());
            let pred = if model.latent.is_some() && model.recon.is_some() {
                let rep = model.represent(input);
                let deep = rep.deep();
                model.reconstruct(deep).map_err(|_| SslError::ModelLacks {
                    objective: "mae",
                    what: "a decoder",
                })?
            } else {
                model.segment(input).map_err(|_| SslError::ModelLacks {
                    objective: "mae",
                    what: "a decoder",
                })?
            };
            if pred.dims()[1] != 1 {
                return Err(SslError::ModelLacks {
                    objective: "mae",
                    what: "a 1-channel reconstruction decoder",
                });
            }
            let loss = reconstruction_loss(&cfg.recon, pred, batch.scans.clone(), mask);
            Ok(ObjectiveOutput {
                loss: loss.clone(),
                terms: vec![("recon", loss)],
            })
        }
        Objective::Swap | Objective::SwapAnat => {
            let t = swap_loss(
                model,
                batch.scans.clone(),
                &batch.subjects,
                mask,
                &cfg.recon,
                &cfg.swap,
                step,
                &mut rngs,
            )?;
            let mut loss = t.total;
            let mut terms = vec![
                ("recon", t.self_recon),
                ("cross", t.cross_recon),
                ("kl", t.kl),
                ("cos_s", t.subject_cos),
                ("cos_m", t.modality_cos),
            ];
            if cfg.objective == Objective::SwapAnat {
                let anat = anatomy_consistency(t.subject_mean.clone(), &batch.subjects);
                loss = loss + anat.clone().mul_scalar(cfg.anatomy);
                terms.push(("anat", anat));
                if let Some(head) = &model.anatomy {
                    let seg = anatomy_term(head, t.subject_mean, batch, d)?;
                    loss = loss + seg.clone().mul_scalar(cfg.anatomy_seg);
                    terms.push(("anat_seg", seg));
                }
            }
            Ok(ObjectiveOutput { loss, terms })
        }
    }
}
