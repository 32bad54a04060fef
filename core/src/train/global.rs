//! The supervised objectives of the global head (one output per scan, not per voxel):
//! classification by cross-entropy with label smoothing, regression by SmoothL1 with a
//! wide quadratic zone (beta 10, in target units) — the FOMO25 winners' choices.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use super::TrainError;
use crate::model::BrainNet;
use crate::ssl::ObjectiveOutput;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GlobalTaskConfig {
    /// Cross-entropy against `(1 - smoothing) * one_hot + smoothing / classes`.
    Classification {
        classes: usize,
        label_smoothing: f64,
    },
    /// SmoothL1: `0.5 d^2 / beta` for `|d| < beta`, else `|d| - beta / 2`.
    Regression { beta: f64 },
}

impl GlobalTaskConfig {
    /// Classification with the default label smoothing (0.1).
    pub fn classification(classes: usize) -> Self {
        Self::Classification {
            classes,
            label_smoothing: 0.1,
        }
    }

    /// Regression with the default SmoothL1 beta (10).
    pub fn regression() -> Self {
        Self::Regression { beta: 10.0 }
    }

    /// Outputs of the head: one per class, or one value.
    pub fn outputs(&self) -> usize {
        match self {
            Self::Classification { classes, .. } => *classes,
            Self::Regression { .. } => 1,
        }
    }

    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::BadBatch(m));
        match *self {
            Self::Classification {
                classes,
                label_smoothing,
            } => {
                if classes < 2 {
                    return bad(format!(
                        "classification needs at least 2 classes, got {classes}"
                    ));
                }
                if !(0.0..1.0).contains(&label_smoothing) {
                    return bad(format!(
                        "label smoothing {label_smoothing} is not in [0, 1)"
                    ));
                }
            }
            Self::Regression { beta } => {
                if !(beta.is_finite() && beta > 0.0) {
                    return bad(format!("SmoothL1 beta {beta} must be positive"));
                }
            }
        }
        Ok(())
    }
}

/// Images `[B, 1, D, H, W]` and targets `[B, outputs]` on the model's device: a one-hot
/// row per patch (classification, built on the host) or the value (regression).
pub struct GlobalBatch {
    pub images: Tensor<5>,
    pub targets: Tensor<2>,
}

impl GlobalBatch {
    /// From host patches: `images` `n * patch^3` (x fastest) and one target per patch
    /// (the class index for classification, the value for regression).
    pub fn from_host(
        images: Vec<f32>,
        targets: &[f32],
        patch: [usize; 3],
        cfg: &GlobalTaskConfig,
        device: &Device,
    ) -> Result<Self, TrainError> {
        cfg.validate()?;
        let n = targets.len();
        let vox: usize = patch.iter().product();
        if n == 0 || images.len() != n * vox {
            return Err(TrainError::BadBatch(format!(
                "{} image values for {n} targets and patches of {patch:?}",
                images.len()
            )));
        }
        let (rows, width) = match *cfg {
            GlobalTaskConfig::Classification { classes, .. } => {
                let mut one_hot = vec![0f32; n * classes];
                for (b, &t) in targets.iter().enumerate() {
                    if !(t >= 0.0 && t.fract() == 0.0 && (t as usize) < classes) {
                        return Err(TrainError::BadBatch(format!(
                            "class {t} in a batch for {classes} classes"
                        )));
                    }
                    one_hot[b * classes + t as usize] = 1.0;
                }
                (one_hot, classes)
            }
            GlobalTaskConfig::Regression { .. } => {
                if let Some(bad) = targets.iter().find(|t| !t.is_finite()) {
                    return Err(TrainError::BadBatch(format!("regression target {bad}")));
                }
                (targets.to_vec(), 1)
            }
        };
        let [x, y, z] = patch;
        Ok(Self {
            images: Tensor::from_data(TensorData::new(images, [n, 1, z, y, x]), device),
            targets: Tensor::from_data(TensorData::new(rows, [n, width]), device),
        })
    }
}

/// The loss of head `outputs` `[B, outputs]` against `batch.targets`, averaged over the
/// batch. Terms: `ce` (classification) or `smooth_l1` and `mae` (regression).
pub fn global_loss(
    outputs: Tensor<2>,
    batch: &GlobalBatch,
    cfg: &GlobalTaskConfig,
) -> Result<ObjectiveOutput, TrainError> {
    let (od, td) = (outputs.dims(), batch.targets.dims());
    if od != td {
        return Err(TrainError::BadBatch(format!(
            "head outputs {od:?} and targets {td:?} differ: does the head have one output per class?"
        )));
    }
    match *cfg {
        GlobalTaskConfig::Classification {
            classes,
            label_smoothing,
        } => {
            let eps = label_smoothing;
            let target = batch
                .targets
                .clone()
                .mul_scalar(1.0 - eps)
                .add_scalar(eps / classes as f64);
            let ce = log_softmax(outputs, 1).mul(target).sum_dim(1).mean().neg();
            Ok(ObjectiveOutput {
                loss: ce.clone(),
                terms: vec![("ce", ce)],
            })
        }
        GlobalTaskConfig::Regression { beta } => {
            let d = outputs.sub(batch.targets.clone()).abs();
            // With m = min(|d|, beta): 0.5 m^2 / beta + (|d| - m) is SmoothL1 in both
            // regimes, without a comparison mask.
            let m = d.clone().clamp_max(beta);
            let loss = m
                .clone()
                .powi_scalar(2)
                .mul_scalar(0.5 / beta)
                .add(d.clone().sub(m))
                .mean();
            Ok(ObjectiveOutput {
                loss: loss.clone(),
                terms: vec![("smooth_l1", loss), ("mae", d.mean())],
            })
        }
    }
}

/// Start a fresh regression head at the training targets' scale: output bias = `mean`,
/// output weights times `std`. Without it the head starts near 0 and AdamW (steps of
/// about lr per weight) needs thousands of steps to reach, say, ages around 60.
pub fn scale_regression_head(mut model: BrainNet, mean: f64, std: f64) -> BrainNet {
    if let Some(head) = model.head.as_mut() {
        let std = if std.is_finite() && std > 0.0 {
            std
        } else {
            1.0
        };
        head.output.weight = head
            .output
            .weight
            .clone()
            .map(|w| w.mul_scalar(std).detach());
        head.output.bias = head
            .output
            .bias
            .clone()
            .map(|b| b.map(|b| b.zeros_like().add_scalar(mean).detach()));
    }
    model
}
