//! The U-Net encoder: one code path for Yucca-style plain encoders (FOMO25 `base`)
//! and ResEnc encoders (nnssl `resenc-l`).

use burn::prelude::*;

use super::blocks::{ConvNormAct, Cost, EncoderUnit, ResidualBlock, Shape3};

#[derive(Config, Debug, PartialEq)]
pub struct EncoderConfig {
    /// Input channels (1: each contrast is encoded separately with shared weights).
    #[config(default = 1)]
    pub in_channels: usize,
    /// Filters per level, shallow to deep. Level `l > 0` starts with a stride-2 unit.
    pub widths: Vec<usize>,
    /// Units per level: plain conv-norm-act layers, or residual blocks.
    pub units: Vec<usize>,
    /// Residual blocks (ResEnc) instead of plain conv-norm-act layers (Yucca).
    #[config(default = false)]
    pub residual: bool,
}

impl EncoderConfig {
    pub fn levels(&self) -> usize {
        self.widths.len()
    }

    /// Total down-sampling factor: inputs must be divisible by it.
    pub fn stride(&self) -> usize {
        1 << (self.levels().saturating_sub(1))
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.widths.is_empty() {
            return Err("encoder needs at least one level".into());
        }
        if self.widths.len() != self.units.len() {
            return Err(format!(
                "encoder has {} widths but {} unit counts",
                self.widths.len(),
                self.units.len()
            ));
        }
        if self.widths.contains(&0) || self.units.contains(&0) || self.in_channels == 0 {
            return Err("encoder widths, unit counts and input channels must be positive".into());
        }
        Ok(())
    }

    pub fn init(&self, device: &Device) -> Encoder {
        // Residual encoders start with a plain stem so the first block works at full width.
        let stem = self
            .residual
            .then(|| ConvNormAct::new(self.in_channels, self.widths[0], 1, device));
        let mut prev = if self.residual {
            self.widths[0]
        } else {
            self.in_channels
        };
        let mut levels = Vec::with_capacity(self.levels());
        for (l, (&width, &units)) in self.widths.iter().zip(&self.units).enumerate() {
            let mut level = Vec::with_capacity(units);
            for u in 0..units {
                let stride = if l > 0 && u == 0 { 2 } else { 1 };
                let unit = if self.residual {
                    EncoderUnit::Residual(ResidualBlock::new(prev, width, stride, device))
                } else {
                    EncoderUnit::Plain(ConvNormAct::new(prev, width, stride, device))
                };
                level.push(unit);
                prev = width;
            }
            levels.push(EncoderLevel { units: level });
        }
        Encoder { stem, levels }
    }
}

#[derive(Module, Debug)]
pub struct EncoderLevel {
    pub units: Vec<EncoderUnit>,
}

#[derive(Module, Debug)]
pub struct Encoder {
    pub stem: Option<ConvNormAct>,
    pub levels: Vec<EncoderLevel>,
}

impl Encoder {
    /// The output of every level, shallow (full resolution) to deep.
    pub fn forward(&self, x: Tensor<5>) -> Vec<Tensor<5>> {
        let mut x = match &self.stem {
            Some(stem) => stem.forward(x),
            None => x,
        };
        let mut features = Vec::with_capacity(self.levels.len());
        for level in &self.levels {
            for unit in &level.units {
                x = unit.forward(x);
            }
            features.push(x.clone());
        }
        features
    }

    /// MACs for an input of spatial size `shape`, and the spatial size of each level.
    pub fn cost(&self, shape: Shape3) -> (u64, Vec<Shape3>) {
        let mut macs = 0;
        let mut s = shape;
        if let Some(stem) = &self.stem {
            let c = stem.cost(s);
            macs += c.macs;
            s = c.out_shape;
        }
        let mut shapes = Vec::new();
        for level in &self.levels {
            for unit in &level.units {
                let c: Cost = unit.cost(s);
                macs += c.macs;
                s = c.out_shape;
            }
            shapes.push(s);
        }
        (macs, shapes)
    }
}
