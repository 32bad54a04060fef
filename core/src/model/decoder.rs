//! Decoders: the light skip-free decoder used for pre-training reconstructions, and
//! the U-Net segmentation decoder with skip connections.

use burn::nn::conv::Conv3d;
use burn::prelude::*;

use super::blocks::{conv1x1, conv_cost, ConvNormAct, Cost, Shape3, Upsample2x};
use super::conv;

/// Skip-free decoder (FOMO25 pre-training): x2 up-sampling and one conv per level.
#[derive(Config, Debug, PartialEq)]
pub struct ReconDecoderConfig {
    pub in_channels: usize,
    /// Widths after each up-sampling, deep to shallow (one per encoder down-sampling).
    pub widths: Vec<usize>,
    #[config(default = 1)]
    pub out_channels: usize,
}

impl ReconDecoderConfig {
    pub fn init(&self, device: &Device) -> ReconDecoder {
        let mut prev = self.in_channels;
        let mut stages = Vec::new();
        for &w in &self.widths {
            stages.push(UpStage {
                up: Upsample2x::new(prev, w, device),
                convs: vec![ConvNormAct::new(w, w, 1, device)],
            });
            prev = w;
        }
        ReconDecoder {
            stages,
            output: conv1x1(prev, self.out_channels, device),
        }
    }
}

/// One decoder level: up-sample, (concatenate the skip), convolutions.
#[derive(Module, Debug)]
pub struct UpStage {
    pub up: Upsample2x,
    pub convs: Vec<ConvNormAct>,
}

impl UpStage {
    fn forward(&self, x: Tensor<5>, skip: Option<Tensor<5>>) -> Tensor<5> {
        let mut x = self.up.forward(x);
        if let Some(skip) = skip {
            x = Tensor::cat(vec![x, skip], 1);
        }
        for conv in &self.convs {
            x = conv.forward(x);
        }
        x
    }

    fn cost(&self, shape: Shape3) -> Cost {
        let mut c = self.up.cost(shape);
        for conv in &self.convs {
            c = c.then(conv.cost(c.out_shape));
        }
        c
    }
}

#[derive(Module, Debug)]
pub struct ReconDecoder {
    pub stages: Vec<UpStage>,
    pub output: Conv3d,
}

impl ReconDecoder {
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let x = self.stages.iter().fold(x, |x, s| s.forward(x, None));
        conv::forward(&self.output, x)
    }

    pub fn cost(&self, shape: Shape3) -> Cost {
        stages_cost(&self.stages, &self.output, shape)
    }
}

/// MACs of up-sampling stages followed by the output convolution.
fn stages_cost(stages: &[UpStage], output: &Conv3d, shape: Shape3) -> Cost {
    let start = Cost {
        macs: 0,
        out_shape: shape,
    };
    let c = stages
        .iter()
        .fold(start, |c, s| c.then(s.cost(c.out_shape)));
    c.then(conv_cost(output, c.out_shape))
}

/// U-Net decoder with skip connections from every encoder level but the deepest.
#[derive(Config, Debug, PartialEq)]
pub struct SegDecoderConfig {
    /// Channels of the deepest input (the last encoder level, or the latent concat).
    pub in_channels: usize,
    /// Encoder widths, shallow to deep; the decoder mirrors all but the deepest.
    pub encoder_widths: Vec<usize>,
    /// Conv-norm-act layers after each skip concatenation.
    #[config(default = 2)]
    pub convs_per_level: usize,
    /// Output channels: classes (segmentation logits) or 1 (reconstruction).
    pub out_channels: usize,
}

impl SegDecoderConfig {
    pub fn init(&self, device: &Device) -> SegDecoder {
        let mut prev = self.in_channels;
        let mut stages = Vec::new();
        let shallow = &self.encoder_widths[..self.encoder_widths.len().saturating_sub(1)];
        for &w in shallow.iter().rev() {
            let mut convs = vec![ConvNormAct::new(2 * w, w, 1, device)];
            for _ in 1..self.convs_per_level.max(1) {
                convs.push(ConvNormAct::new(w, w, 1, device));
            }
            stages.push(UpStage {
                up: Upsample2x::new(prev, w, device),
                convs,
            });
            prev = w;
        }
        SegDecoder {
            stages,
            output: conv1x1(prev, self.out_channels, device),
        }
    }
}

#[derive(Module, Debug)]
pub struct SegDecoder {
    pub stages: Vec<UpStage>,
    pub output: Conv3d,
}

impl SegDecoder {
    /// `deep`: bottleneck features; `skips`: encoder outputs shallow to deep (the
    /// deepest level is not used as a skip).
    pub fn forward(&self, deep: Tensor<5>, skips: &[Tensor<5>]) -> Tensor<5> {
        let mut x = deep;
        for (stage, skip) in self.stages.iter().zip(skips.iter().rev().skip(1)) {
            x = stage.forward(x, Some(skip.clone()));
        }
        conv::forward(&self.output, x)
    }

    pub fn cost(&self, shape: Shape3) -> Cost {
        stages_cost(&self.stages, &self.output, shape)
    }
}
