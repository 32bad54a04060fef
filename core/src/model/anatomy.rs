//! Anatomical segmentation head on the subject latent (`swap+anat` pre-training): a
//! 1x1x1 convolution from z_s to label logits at latent resolution. Kept that small on
//! purpose: the anatomy must be readable from z_s itself, not computed by the head.

use burn::nn::conv::Conv3d;
use burn::prelude::*;

use super::blocks::conv1x1;
use super::conv;

#[derive(Config, Debug, PartialEq)]
pub struct AnatomyHeadConfig {
    /// Channels of the subject latent it reads.
    pub in_channels: usize,
    /// Label classes (largest label value + 1).
    pub classes: usize,
}

impl AnatomyHeadConfig {
    pub fn init(&self, device: &Device) -> AnatomyHead {
        AnatomyHead {
            logits: conv1x1(self.in_channels, self.classes, device),
        }
    }
}

#[derive(Module, Debug)]
pub struct AnatomyHead {
    pub logits: Conv3d,
}

impl AnatomyHead {
    /// `z_s`: `[B, C_s, d, h, w]` -> logits `[B, classes, d, h, w]`.
    pub fn forward(&self, z_subject: Tensor<5>) -> Tensor<5> {
        conv::forward(&self.logits, z_subject)
    }
}
