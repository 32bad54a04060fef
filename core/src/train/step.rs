//! The training state and its step.

use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::clip::clip_global_norm;
use super::collective::{average_gradients, Collective, CollectiveError};
use super::global::{global_loss, GlobalBatch, GlobalTaskConfig};
use super::schedule::LrSchedule;
use super::segmentation::{segmentation_loss, SegBatch, SegLossConfig};
use crate::model::BrainNet;
use crate::model::ModelError;
use crate::rng::Rng;
use crate::ssl::{compute, ObjectiveConfig, ObjectiveOutput, SslBatch, SslError};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Objective(#[from] SslError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("bad training batch: {0}")]
    BadBatch(String),
    #[error("reading the loss back from the device failed: {0}")]
    Readback(String),
    #[error("the model must live on an autodiff device (Device::autodiff()) to train")]
    NotAutodiff,
    #[error("data-parallel gradient average failed: {0}")]
    Collective(#[from] CollectiveError),
}

/// The optimiser side of training, whatever the objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub schedule: LrSchedule,
    /// AdamW decoupled weight decay (PyTorch's default 0.01).
    pub weight_decay: f64,
    /// Global gradient-norm limit; `None` disables clipping.
    pub clip_norm: Option<f64>,
    /// Seeds every random draw of the step (masks, latent noise).
    pub seed: u64,
}

impl TrainConfig {
    /// The FOMO25 winner's optimiser: AdamW lr 1e-4, warm-up then cosine, clip 1.0.
    pub fn new(total_steps: u64) -> Self {
        Self {
            schedule: LrSchedule {
                base_lr: 1e-4,
                warmup_steps: (total_steps / 20).max(1),
                total_steps,
                min_lr: 0.0,
            },
            weight_decay: 0.01,
            clip_norm: Some(1.0),
            seed: 0,
        }
    }

    pub fn optimizer(&self) -> ModuleOptimizer {
        AdamWConfig::new()
            .with_weight_decay(self.weight_decay as f32)
            .with_epsilon(1e-8)
            .init()
    }
}

/// What one step did, read back from the device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub step: u64,
    pub lr: f64,
    pub loss: f32,
    /// Global gradient norm before clipping.
    pub grad_norm: f32,
    /// Unweighted objective terms (SSL: recon, cross, kl, cos_s, cos_m, anat;
    /// segmentation: ce, dice or tversky; classification: ce; regression: smooth_l1, mae).
    pub terms: Vec<(String, f32)>,
    /// True when the loss or gradients were not finite and the update was skipped.
    pub skipped: bool,
}

/// Model + optimiser + step counter. The step counter is the whole RNG state: every draw
/// of step `k` comes from `Rng::derive(seed, k)`, so a resumed run repeats the original.
pub struct Trainer {
    pub model: BrainNet,
    pub optimizer: ModuleOptimizer,
    pub config: TrainConfig,
    /// Steps completed.
    pub step: u64,
    /// The other data-parallel replicas, if any: gradients, loss and terms are averaged
    /// with theirs before clipping, so every replica takes the same step.
    pub replicas: Option<Box<dyn Collective>>,
}

impl Trainer {
    pub fn new(model: BrainNet, config: TrainConfig) -> Self {
        let optimizer = config.optimizer();
        Self {
            model,
            optimizer,
            config,
            step: 0,
            replicas: None,
        }
    }

    /// This replica's slots of each step's batch when each replica holds `per_replica`:
    /// slot `g` of the whole batch is the same sample whichever replica draws it.
    pub fn slots(&self, per_replica: usize) -> std::ops::Range<usize> {
        let rank = self.replicas.as_ref().map_or(0, |r| r.rank());
        rank * per_replica..(rank + 1) * per_replica
    }

    /// Train data-parallel with the replicas `collective` reaches (world size 1: alone).
    pub fn with_replicas(mut self, collective: Box<dyn Collective>) -> Self {
        self.replicas = (collective.world() > 1).then_some(collective);
        self
    }

    /// One self-supervised step on `batch` (already on the model's device).
    pub async fn ssl_step(
        &mut self,
        batch: &SslBatch,
        objective: &ObjectiveConfig,
    ) -> Result<StepReport, TrainError> {
        let mut rng = Rng::derive(self.config.seed, self.step);
        let out = compute(&self.model, batch, objective, self.step, &mut rng)?;
        self.optimise(out).await
    }

    /// One supervised segmentation step (fine-tuning): the model needs its
    /// segmentation decoder; frozen parts (see [`super::freeze`]) get no update.
    pub async fn segmentation_step(
        &mut self,
        batch: &SegBatch,
        loss: &SegLossConfig,
    ) -> Result<StepReport, TrainError> {
        let logits = self.model.segment(batch.images.clone())?;
        let out = segmentation_loss(logits, batch, loss)?;
        self.optimise(out).await
    }

    /// One supervised classification or regression step: the model needs its global
    /// head; frozen parts get no update.
    pub async fn global_step(
        &mut self,
        batch: &GlobalBatch,
        task: &GlobalTaskConfig,
    ) -> Result<StepReport, TrainError> {
        let outputs = self.model.predict_global(batch.images.clone())?;
        let out = global_loss(outputs, batch, task)?;
        self.optimise(out).await
    }

    /// Backward, (average over replicas,) clip, one readback, AdamW: the part every
    /// objective shares.
    async fn optimise(&mut self, out: ObjectiveOutput) -> Result<StepReport, TrainError> {
        let step = self.step;
        if !out.loss.is_autodiff() {
            return Err(TrainError::NotAutodiff);
        }
        let device = out.loss.device().inner();
        let grads = GradientsParams::from_grads(out.loss.backward(), &self.model);
        let names: Vec<String> = out.terms.iter().map(|(n, _)| n.to_string()).collect();
        let mut scalars = vec![out.loss.inner()];
        scalars.extend(out.terms.into_iter().map(|(_, t)| t.inner()));
        // Alone, the loss and terms ride on the norm's readback below; data-parallel, they
        // are read back with the gradients and averaged with them.
        let (grads, averaged) = match &self.replicas {
            Some(replicas) => {
                let values = Tensor::cat(scalars.clone(), 0);
                let (grads, values) =
                    average_gradients(&self.model, grads, values, replicas.as_ref()).await?;
                (grads, Some(values))
            }
            None => (grads, None),
        };
        let (grads, norm) = clip_global_norm(&self.model, grads, self.config.clip_norm);
        let norm = norm.unwrap_or_else(|| Tensor::zeros([1], &device));
        let (loss, grad_norm, term_values) = match averaged {
            Some(values) => (values[0], read_floats(norm).await?[0], values[1..].to_vec()),
            None => {
                let mut parts = vec![scalars[0].clone(), norm];
                parts.extend(scalars[1..].iter().cloned());
                let values = read_floats(Tensor::cat(parts, 0)).await?;
                (values[0], values[1], values[2..].to_vec())
            }
        };
        let terms = names.into_iter().zip(term_values).collect();
        let lr = self.config.schedule.lr(step);
        let skipped = !(loss.is_finite() && grad_norm.is_finite());
        if !skipped {
            self.model = self.optimizer.step(lr, self.model.clone(), grads);
        }
        self.step += 1;
        Ok(StepReport {
            step,
            lr,
            loss,
            grad_norm,
            terms,
            skipped,
        })
    }
}

async fn read_floats(values: Tensor<1>) -> Result<Vec<f32>, TrainError> {
    values
        .into_data_async()
        .await
        .map_err(|e| TrainError::Readback(format!("{e:?}")))?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| TrainError::Readback(format!("{e:?}")))
}
