//! Global heads for classification and regression: global average and max pooling over
//! the representation (concatenated), then Linear, SiLU, Dropout(0.1), Linear (the
//! FOMO25 winner's MLP). Average pooling alone sees almost nothing: the representation
//! comes out of instance norm (+ leaky ReLU, + a 1x1 latent projection), so its spatial
//! mean is nearly the same for every input; the max keeps local findings (a lesion).

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::silu;

#[derive(Config, Debug, PartialEq)]
pub struct HeadConfig {
    pub in_channels: usize,
    #[config(default = 256)]
    pub hidden: usize,
    /// Classes for classification, 1 for regression.
    pub outputs: usize,
    #[config(default = 0.1)]
    pub dropout: f64,
}

impl HeadConfig {
    pub fn init(&self, device: &Device) -> GlobalHead {
        GlobalHead {
            hidden: LinearConfig::new(2 * self.in_channels, self.hidden).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            output: LinearConfig::new(self.hidden, self.outputs).init(device),
        }
    }
}

#[derive(Module, Debug)]
pub struct GlobalHead {
    pub hidden: Linear,
    pub dropout: Dropout,
    pub output: Linear,
}

impl GlobalHead {
    /// `x`: `[B, C, D, H, W]` -> `[B, outputs]`.
    pub fn forward(&self, x: Tensor<5>) -> Tensor<2> {
        let [b, c, d, h, w] = x.dims();
        let flat = x.reshape([b, c, d * h * w]);
        let pooled = Tensor::cat(
            vec![
                flat.clone().mean_dim(2).reshape([b, c]),
                flat.max_dim(2).reshape([b, c]),
            ],
            1,
        );
        self.output
            .forward(self.dropout.forward(silu(self.hidden.forward(pooled))))
    }

    pub fn macs(&self) -> u64 {
        let [i, h] = self.hidden.weight.dims();
        let [_, o] = self.output.weight.dims();
        (i * h + h * o) as u64
    }
}
