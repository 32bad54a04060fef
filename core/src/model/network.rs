//! The whole network: encoder, optional latent split, and the heads a task needs.

use burn::prelude::*;

use super::anatomy::{AnatomyHead, AnatomyHeadConfig};
use super::blocks::Shape3;
use super::decoder::{ReconDecoder, ReconDecoderConfig, SegDecoder, SegDecoderConfig};
use super::encoder::{Encoder, EncoderConfig};
use super::heads::{GlobalHead, HeadConfig};
use super::latent::{LatentConfig, LatentSplit, Latents};
use super::ModelError;

/// Everything needed to rebuild a network: stored in every model bundle.
#[derive(Config, Debug, PartialEq)]
pub struct ModelConfig {
    /// Preset the configuration came from (`tiny`, `small`, `base`, `resenc-l`, or `custom`).
    pub preset: String,
    pub encoder: EncoderConfig,
    /// Subject/modality latent split (FOMO25 winner). Without it the deepest encoder
    /// level is the representation.
    pub latent: Option<LatentConfig>,
    /// Skip-free reconstruction decoder for cross-contrast pre-training.
    pub recon: Option<ReconDecoderConfig>,
    /// Dense decoder with skips: segmentation logits, or a 1-channel MAE reconstruction.
    pub seg: Option<SegDecoderConfig>,
    /// Global classification/regression head.
    pub head: Option<HeadConfig>,
    /// Label logits from the subject latent (`swap+anat` pre-training where label maps
    /// exist). Absent from bundles written before it existed, which read as `None`.
    pub anatomy: Option<AnatomyHeadConfig>,
}

impl ModelConfig {
    /// Channels of the representation the heads read (latent concat or deepest level).
    pub fn representation_channels(&self) -> usize {
        match &self.latent {
            Some(l) => l.out_channels(),
            None => *self.encoder.widths.last().unwrap_or(&0),
        }
    }

    /// Input sizes must be multiples of this.
    pub fn stride(&self) -> usize {
        self.encoder.stride()
    }

    /// Segmentation classes (None when there is no segmentation decoder).
    pub fn seg_classes(&self) -> Option<usize> {
        self.seg.as_ref().map(|s| s.out_channels)
    }

    /// Replace (or add) the segmentation decoder for `classes` output channels.
    pub fn with_seg_classes(mut self, classes: usize, convs_per_level: usize) -> Self {
        self.seg = Some(
            SegDecoderConfig::new(
                self.representation_channels(),
                self.encoder.widths.clone(),
                classes,
            )
            .with_convs_per_level(convs_per_level),
        );
        self
    }

    /// Replace (or add) the global head for `outputs` classes (1 for regression).
    pub fn with_global_head(mut self, outputs: usize) -> Self {
        self.head = Some(HeadConfig::new(self.representation_channels(), outputs));
        self
    }

    /// Check that the parts fit together, so a hand-edited or corrupt config gives an
    /// error instead of a shape panic deep in a forward pass.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.encoder.validate().map_err(ModelError::InvalidConfig)?;
        // Before anything is allocated: a bundle's header could ask for a network of any
        // size, and building it would exhaust memory (the browser tab's worker included).
        let bound = self.parameter_bound();
        if bound > MAX_PARAMETERS {
            return Err(ModelError::InvalidConfig(format!(
                "the configuration asks for up to {bound} parameters; brainfm builds at most {MAX_PARAMETERS}"
            )));
        }
        let rep = self.representation_channels();
        let levels = self.encoder.levels();
        if let Some(latent) = &self.latent {
            if latent.subject_channels == 0 || latent.modality_channels == 0 {
                return Err(ModelError::InvalidConfig(
                    "latent channels must be positive".into(),
                ));
            }
        }
        if let Some(recon) = &self.recon {
            if recon.in_channels != rep {
                return Err(ModelError::InvalidConfig(format!(
                    "reconstruction decoder expects {} input channels but the representation has {rep}",
                    recon.in_channels
                )));
            }
            if recon.widths.len() + 1 != levels {
                return Err(ModelError::InvalidConfig(format!(
                    "reconstruction decoder has {} up-samplings but the encoder has {} down-samplings",
                    recon.widths.len(),
                    levels - 1
                )));
            }
        }
        if let Some(seg) = &self.seg {
            if seg.in_channels != rep || seg.encoder_widths != self.encoder.widths {
                return Err(ModelError::InvalidConfig(
                    "segmentation decoder does not match the encoder".into(),
                ));
            }
            if seg.out_channels == 0 {
                return Err(ModelError::InvalidConfig(
                    "segmentation needs at least one class".into(),
                ));
            }
        }
        if let Some(anatomy) = &self.anatomy {
            let subject = self.latent.as_ref().map(|l| l.subject_channels);
            if subject != Some(anatomy.in_channels) || anatomy.classes < 2 {
                return Err(ModelError::InvalidConfig(
                    "the anatomy head needs a subject latent of its input width and two or more classes".into(),
                ));
            }
        }
        if let Some(head) = &self.head {
            if head.in_channels != rep || head.outputs == 0 {
                return Err(ModelError::InvalidConfig(
                    "classification/regression head does not match the representation".into(),
                ));
            }
        }
        Ok(())
    }

    /// An upper bound on the parameter count, from the configuration alone (3x3x3 kernels
    /// everywhere, residual units counted twice; saturating, so absurd values stay large).
    pub fn parameter_bound(&self) -> u128 {
        let c = |x: usize| x as u128;
        // 3x3x3 kernels: 27 weights per input-output channel pair.
        let conv = |factors: &[u128]| factors.iter().fold(27u128, |a, &b| a.saturating_mul(b));
        let e = &self.encoder;
        let mut total = 0u128;
        let mut prev = c(e.in_channels);
        for (&w, &units) in e.widths.iter().zip(&e.units) {
            let residual = 1 + e.residual as u128;
            total = total.saturating_add(conv(&[c(w), prev.max(c(w)), residual, c(units)]));
            prev = c(w);
        }
        let rep = c(self.representation_channels());
        if let Some(l) = &self.latent {
            let latent = c(l.subject_channels).saturating_add(c(l.modality_channels));
            total = total.saturating_add(conv(&[rep, 2, latent]));
        }
        if let Some(r) = &self.recon {
            let mut prev = c(r.in_channels);
            for &w in &r.widths {
                total = total.saturating_add(conv(&[2, c(w), prev.max(c(w))]));
                prev = c(w);
            }
            total = total.saturating_add(prev.saturating_mul(c(r.out_channels)));
        }
        if let Some(sd) = &self.seg {
            let mut prev = c(sd.in_channels);
            for &w in sd.encoder_widths.iter().rev() {
                let convs = c(sd.convs_per_level.max(1));
                total = total.saturating_add(conv(&[c(w), prev.saturating_add(c(w)), convs]));
                prev = c(w);
            }
            total = total.saturating_add(prev.saturating_mul(c(sd.out_channels)));
        }
        if let Some(h) = &self.head {
            let hidden = c(h.hidden);
            total = total
                .saturating_add(c(h.in_channels).saturating_mul(hidden))
                .saturating_add(hidden.saturating_mul(c(h.outputs)));
        }
        if let Some(a) = &self.anatomy {
            total = total.saturating_add(conv(&[c(a.in_channels), c(a.classes)]));
        }
        total
    }

    pub fn init(&self, device: &Device) -> Result<BrainNet, ModelError> {
        self.validate()?;
        Ok(BrainNet {
            encoder: self.encoder.init(device),
            latent: self
                .latent
                .as_ref()
                .map(|l| l.init(&self.encoder.widths, device)),
            recon: self.recon.as_ref().map(|r| r.init(device)),
            seg: self.seg.as_ref().map(|s| s.init(device)),
            head: self.head.as_ref().map(|h| h.init(device)),
            anatomy: self.anatomy.as_ref().map(|a| a.init(device)),
        })
    }
}

#[derive(Module, Debug)]
pub struct BrainNet {
    pub encoder: Encoder,
    pub latent: Option<LatentSplit>,
    pub recon: Option<ReconDecoder>,
    pub seg: Option<SegDecoder>,
    pub head: Option<GlobalHead>,
    pub anatomy: Option<AnatomyHead>,
}

/// What the encoder (and latent split) make of one input.
#[derive(Clone, Debug)]
pub struct Representation {
    /// Encoder outputs, shallow to deep.
    pub levels: Vec<Tensor<5>>,
    pub latents: Option<Latents>,
}

impl Representation {
    /// The deterministic representation the heads read.
    pub fn deep(&self) -> Tensor<5> {
        match &self.latents {
            Some(l) => l.mean_concat(),
            None => self
                .levels
                .last()
                .expect("encoder has at least one level")
                .clone(),
        }
    }
}

impl BrainNet {
    pub fn represent(&self, x: Tensor<5>) -> Representation {
        let levels = self.encoder.forward(x);
        let latents = self.latent.as_ref().map(|l| l.forward(&levels));
        Representation { levels, latents }
    }

    /// Segmentation logits `[B, classes, D, H, W]` for inputs `[B, 1, D, H, W]`.
    pub fn segment(&self, x: Tensor<5>) -> Result<Tensor<5>, ModelError> {
        let seg = self
            .seg
            .as_ref()
            .ok_or(ModelError::MissingPart("segmentation decoder"))?;
        let rep = self.represent(x);
        Ok(seg.forward(rep.deep(), &rep.levels))
    }

    /// Classification logits or regression outputs `[B, outputs]`.
    pub fn predict_global(&self, x: Tensor<5>) -> Result<Tensor<2>, ModelError> {
        let head = self
            .head
            .as_ref()
            .ok_or(ModelError::MissingPart("classification/regression head"))?;
        Ok(head.forward(self.represent(x).deep()))
    }

    /// Reconstruction from given latent maps (`[z_s, z_m]` concatenated).
    pub fn reconstruct(&self, latent_concat: Tensor<5>) -> Result<Tensor<5>, ModelError> {
        let recon = self
            .recon
            .as_ref()
            .ok_or(ModelError::MissingPart("reconstruction decoder"))?;
        Ok(recon.forward(latent_concat))
    }

    /// Multiply-accumulates of one forward pass of every part on a `patch`-sized input.
    pub fn cost(&self, patch: Shape3) -> CostReport {
        let (encoder, shapes) = self.encoder.cost(patch);
        let bottleneck = *shapes.last().unwrap_or(&patch);
        CostReport {
            encoder,
            latent: self.latent.as_ref().map_or(0, |l| l.cost(bottleneck)),
            recon: self.recon.as_ref().map_or(0, |r| r.cost(bottleneck).macs),
            seg: self.seg.as_ref().map_or(0, |s| s.cost(bottleneck).macs),
            head: self.head.as_ref().map_or(0, |h| h.macs()),
        }
    }
}

/// The largest network a configuration may ask for: four times `resenc-l` (~102 M).
pub const MAX_PARAMETERS: u128 = 400_000_000;

/// MACs per part for one patch (FLOPs = 2 x MACs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CostReport {
    pub encoder: u64,
    pub latent: u64,
    pub recon: u64,
    pub seg: u64,
    pub head: u64,
}

impl CostReport {
    pub fn total_macs(&self) -> u64 {
        self.encoder + self.latent + self.recon + self.seg + self.head
    }

    /// FLOPs of segmentation inference (encoder, latent, segmentation decoder).
    pub fn segmentation_flops(&self) -> u64 {
        2 * (self.encoder + self.latent + self.seg)
    }
}
