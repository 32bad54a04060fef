//! The FOMO25 winner's latent split: every encoder level is average-pooled to the
//! bottleneck resolution and concatenated; 1x1x1 convolutions give the VAE mean and
//! log-variance of a subject/anatomy latent `z_s` and a contrast/modality latent `z_m`.

use burn::module::Param;
use burn::nn::conv::Conv3d;
use burn::prelude::*;

use super::blocks::{avg_pool_cells, conv1x1, conv_cost, Shape3};
use super::conv;

#[derive(Config, Debug, PartialEq)]
pub struct LatentConfig {
    /// Channels of the subject (anatomy) latent `z_s`.
    pub subject_channels: usize,
    /// Channels of the modality (contrast) latent `z_m`.
    pub modality_channels: usize,
    /// Initial bias of both log-variance heads. With burn's default (about 0) the posterior
    /// starts at unit variance, so a sampled z is mostly noise and the decoder learns to
    /// ignore it; a low value (the presets use -4, docs/SWAP_ABLATION.md) starts nearly
    /// deterministic and lets the KL term open the variance up. `None`: burn's default initialisation (and what
    /// bundles written before this field existed mean).
    pub logvar_bias: Option<f64>,
}

impl LatentConfig {
    pub fn out_channels(&self) -> usize {
        self.subject_channels.saturating_add(self.modality_channels)
    }

    /// `encoder_widths` are the channels of the levels that get pooled and concatenated.
    pub fn init(&self, encoder_widths: &[usize], device: &Device) -> LatentSplit {
        let pooled: usize = encoder_widths.iter().sum();
        let logvar = |channels| {
            let conv = conv1x1(pooled, channels, device);
            match self.logvar_bias {
                Some(b) => with_bias(conv, b, device),
                None => conv,
            }
        };
        LatentSplit {
            subject_mean: conv1x1(pooled, self.subject_channels, device),
            subject_logvar: logvar(self.subject_channels),
            modality_mean: conv1x1(pooled, self.modality_channels, device),
            modality_logvar: logvar(self.modality_channels),
        }
    }
}

/// `conv` with every bias set to `value`.
fn with_bias(mut conv: Conv3d, value: f64, device: &Device) -> Conv3d {
    let channels = conv.weight.dims()[0];
    conv.bias = Some(Param::from_tensor(Tensor::full([channels], value, device)));
    conv
}

#[derive(Module, Debug)]
pub struct LatentSplit {
    pub subject_mean: Conv3d,
    pub subject_logvar: Conv3d,
    pub modality_mean: Conv3d,
    pub modality_logvar: Conv3d,
}

/// Spatial latent maps at bottleneck resolution: `[B, C, D/s, H/s, W/s]`.
#[derive(Clone, Debug)]
pub struct Latents {
    pub subject_mean: Tensor<5>,
    pub subject_logvar: Tensor<5>,
    pub modality_mean: Tensor<5>,
    pub modality_logvar: Tensor<5>,
}

impl Latents {
    /// `[mean z_s, mean z_m]`: the deterministic representation used after pre-training.
    pub fn mean_concat(&self) -> Tensor<5> {
        Tensor::cat(
            vec![self.subject_mean.clone(), self.modality_mean.clone()],
            1,
        )
    }
}

impl LatentSplit {
    pub fn forward(&self, features: &[Tensor<5>]) -> Latents {
        let levels = features.len();
        let pooled: Vec<Tensor<5>> = features
            .iter()
            .enumerate()
            .map(|(l, f)| avg_pool_cells(f.clone(), 1 << (levels - 1 - l)))
            .collect();
        let x = Tensor::cat(pooled, 1);
        Latents {
            subject_mean: conv::forward(&self.subject_mean, x.clone()),
            subject_logvar: conv::forward(&self.subject_logvar, x.clone()),
            modality_mean: conv::forward(&self.modality_mean, x.clone()),
            modality_logvar: conv::forward(&self.modality_logvar, x),
        }
    }

    pub fn cost(&self, bottleneck: Shape3) -> u64 {
        [
            &self.subject_mean,
            &self.subject_logvar,
            &self.modality_mean,
            &self.modality_logvar,
        ]
        .iter()
        .map(|c| conv_cost(c, bottleneck).macs)
        .sum()
    }
}
