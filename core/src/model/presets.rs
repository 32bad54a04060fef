//! Named configurations of the one network family.

use super::decoder::{ReconDecoderConfig, SegDecoderConfig};
use super::encoder::EncoderConfig;
use super::latent::LatentConfig;
use super::network::ModelConfig;
use super::ModelError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// <= 0.3 M parameters: tests and the quickest browser demos.
    Tiny,
    /// <= 2 M parameters: the browser-sized model.
    Small,
    /// The FOMO25 winner: 5 levels, 32..512 filters, two convs per level, subject/modality
    /// latent split, light skip-free decoder (about 19 M parameters).
    Base,
    /// nnssl ResEnc-L: 6 stages, 32..320 channels, 1/3/4/6/6/6 residual blocks, one conv
    /// per decoder stage (about 100 M parameters), pre-trained as an MAE.
    ResEncL,
}

impl Preset {
    pub const ALL: [Preset; 4] = [Preset::Tiny, Preset::Small, Preset::Base, Preset::ResEncL];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Small => "small",
            Preset::Base => "base",
            Preset::ResEncL => "resenc-l",
        }
    }

    pub fn parse(name: &str) -> Result<Self, ModelError> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| ModelError::UnknownPreset(name.to_string()))
    }

    /// Sliding-window patch edge (voxels) that suits the preset.
    pub fn default_patch(self) -> usize {
        match self {
            Preset::Tiny | Preset::Small => 64,
            Preset::Base => 96,
            Preset::ResEncL => 160,
        }
    }

    /// The pre-training network of the preset; `seg_classes` adds a segmentation decoder.
    pub fn config(self, seg_classes: Option<usize>) -> ModelConfig {
        let (widths, units, residual, latent, convs_per_level): (
            Vec<usize>,
            Vec<usize>,
            bool,
            Option<(usize, usize)>,
            usize,
        ) = match self {
            Preset::Tiny => (
                vec![8, 16, 32, 40],
                vec![2, 2, 2, 2],
                false,
                Some((16, 16)),
                1,
            ),
            Preset::Small => (
                vec![16, 32, 64, 128],
                vec![2, 2, 2, 2],
                false,
                Some((64, 64)),
                2,
            ),
            Preset::Base => (
                vec![32, 64, 128, 256, 512],
                vec![2; 5],
                false,
                Some((256, 256)),
                2,
            ),
            Preset::ResEncL => (
                vec![32, 64, 128, 256, 320, 320],
                vec![1, 3, 4, 6, 6, 6],
                true,
                None,
                1,
            ),
        };
        let encoder = EncoderConfig::new(widths.clone(), units).with_residual(residual);
        let mut config = ModelConfig::new(self.name().to_string(), encoder);
        match latent {
            Some((subject, modality)) => {
                // Near-deterministic posteriors at the start (docs/SWAP_ABLATION.md).
                let latent = LatentConfig::new(subject, modality).with_logvar_bias(Some(-4.0));
                // Skip-free decoder: mirrors the encoder widths below the deepest level.
                let recon_widths = widths[..widths.len() - 1].iter().rev().copied().collect();
                config.recon = Some(ReconDecoderConfig::new(latent.out_channels(), recon_widths));
                config.latent = Some(latent);
            }
            None => {
                // MAE pre-training reconstructs through the skip decoder (1 channel).
                config.seg = Some(
                    SegDecoderConfig::new(*widths.last().unwrap_or(&1), widths.clone(), 1)
                        .with_convs_per_level(convs_per_level),
                );
            }
        }
        match seg_classes {
            Some(classes) => config.with_seg_classes(classes, convs_per_level),
            None => config,
        }
    }
}
