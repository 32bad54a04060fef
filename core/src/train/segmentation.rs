//! The supervised segmentation objective for fine-tuning: cross-entropy plus soft Dice
//! over the foreground classes (nnU-Net's default), or a Tversky term in place of Dice
//! for unbalanced structures.

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use serde::{Deserialize, Serialize};

use super::TrainError;
use crate::ssl::ObjectiveOutput;

/// The overlap term next to cross-entropy.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OverlapLoss {
    Dice,
    /// `TP / (TP + alpha FP + beta FN)`; beta > alpha favours recall.
    Tversky {
        alpha: f64,
        beta: f64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegLossConfig {
    pub overlap: OverlapLoss,
    pub ce_weight: f64,
    pub overlap_weight: f64,
}

impl Default for SegLossConfig {
    fn default() -> Self {
        Self {
            overlap: OverlapLoss::Dice,
            ce_weight: 1.0,
            overlap_weight: 1.0,
        }
    }
}

/// Images `[B, 1, D, H, W]` and their one-hot labels `[B, classes, D, H, W]`, on the
/// model's device. One-hot is built on the host so no integer kernels are needed on
/// WebGPU.
pub struct SegBatch {
    pub images: Tensor<5>,
    pub one_hot: Tensor<5>,
}

impl SegBatch {
    /// From host patches: `images` `n * patch^3` (x fastest), `labels` likewise.
    pub fn from_host(
        images: Vec<f32>,
        labels: &[u16],
        n: usize,
        patch: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let vox: usize = patch.iter().product();
        if images.len() != n * vox || labels.len() != n * vox {
            return Err(TrainError::BadBatch(format!(
                "{} image and {} label values for {n} patches of {patch:?}",
                images.len(),
                labels.len()
            )));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= classes) {
            return Err(TrainError::BadBatch(format!(
                "label {bad} in a batch for {classes} classes"
            )));
        }
        let mut one_hot = vec![0f32; n * classes * vox];
        for (i, &l) in labels.iter().enumerate() {
            let (b, v) = (i / vox, i % vox);
            one_hot[(b * classes + l as usize) * vox + v] = 1.0;
        }
        // Host data is x fastest; tensors are [.., D=z, H=y, W=x].
        let [x, y, z] = patch;
        Ok(Self {
            images: Tensor::from_data(TensorData::new(images, [n, 1, z, y, x]), device),
            one_hot: Tensor::from_data(TensorData::new(one_hot, [n, classes, z, y, x]), device),
        })
    }
}

/// `[C, N]`: per-class values over batch and space.
fn per_class(t: Tensor<5>) -> Tensor<2> {
    let [b, c, d, h, w] = t.dims();
    t.reshape([b, c, d * h * w])
        .swap_dims(0, 1)
        .reshape([c, b * d * h * w])
}

/// Cross-entropy + overlap loss of `logits` against `batch.one_hot`. The overlap term is
/// a batch-level soft score averaged over the foreground classes (class 0 is background).
pub fn segmentation_loss(
    logits: Tensor<5>,
    batch: &SegBatch,
    cfg: &SegLossConfig,
) -> Result<ObjectiveOutput, TrainError> {
    let (ld, yd) = (logits.dims(), batch.one_hot.dims());
    if ld != yd {
        return Err(TrainError::BadBatch(format!(
            "logits {ld:?} and labels {yd:?} differ: does the model have one output per class?"
        )));
    }
    let classes = ld[1];
    let y = per_class(batch.one_hot.clone());
    let ce = per_class(log_softmax(logits.clone(), 1))
        .mul(y.clone())
        .sum_dim(0)
        .mean()
        .neg();
    let p = per_class(softmax(logits, 1));
    let eps = 1e-5;
    let tp = p.clone().mul(y.clone()).sum_dim(1);
    let fp = p.clone().sum_dim(1).sub(tp.clone());
    let fneg = y.sum_dim(1).sub(tp.clone());
    let (name, score) = match cfg.overlap {
        OverlapLoss::Dice => (
            "dice",
            tp.clone()
                .mul_scalar(2.0)
                .add_scalar(eps)
                .div(tp.mul_scalar(2.0).add(fp).add(fneg).add_scalar(eps)),
        ),
        OverlapLoss::Tversky { alpha, beta } => (
            "tversky",
            tp.clone().add_scalar(eps).div(
                tp.add(fp.mul_scalar(alpha))
                    .add(fneg.mul_scalar(beta))
                    .add_scalar(eps),
            ),
        ),
    };
    let fg = if classes > 1 {
        score.slice([1..classes, 0..1])
    } else {
        score
    };
    let overlap = fg.mean();
    let loss = ce.clone().mul_scalar(cfg.ce_weight).add(
        overlap
            .clone()
            .neg()
            .add_scalar(1.0)
            .mul_scalar(cfg.overlap_weight),
    );
    Ok(ObjectiveOutput {
        loss,
        terms: vec![("ce", ce), (name, overlap)],
    })
}
