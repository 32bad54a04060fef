//! Building blocks shared by every network of the family.
//!
//! Down-sampling is a stride-2 convolution (burn has no 3D pooling, and ResEnc/Yucca
//! U-Nets down-sample this way anyway). Up-sampling is a 1x1x1 convolution to 8x the
//! channels followed by a voxel shuffle: mathematically identical to a kernel-2,
//! stride-2 transposed convolution but fast on every burn backend.

use burn::module::Module;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::norm::{InstanceNorm, InstanceNormConfig};
use burn::nn::PaddingConfig3d;
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;

use super::{conv, norm};

/// Negative slope of every LeakyReLU in the family (nnU-Net, Yucca and nnssl all use 0.01).
pub const LEAKY_SLOPE: f64 = 0.01;

/// 3x3x3 convolution (stride 1 or 2), affine InstanceNorm, LeakyReLU(0.01).
#[derive(Module, Debug)]
pub struct ConvNormAct {
    pub conv: Conv3d,
    pub norm: InstanceNorm,
}

impl ConvNormAct {
    pub fn new(in_channels: usize, out_channels: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: conv3x3(in_channels, out_channels, stride, device),
            norm: InstanceNormConfig::new(out_channels).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        norm::norm_act(&self.norm, conv::forward(&self.conv, x), LEAKY_SLOPE)
    }

    pub fn out_channels(&self) -> usize {
        self.norm.num_channels
    }

    pub fn cost(&self, shape: Shape3) -> Cost {
        conv_cost(&self.conv, shape)
    }
}

/// Pre-activation-free residual block of ResEnc U-Nets:
/// `act(norm(conv(act(norm(conv(x))))) + skip(x))`, where `skip` is the identity or,
/// when the shape changes, a strided 1x1x1 projection with its own norm.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    pub first: ConvNormAct,
    pub second_conv: Conv3d,
    pub second_norm: InstanceNorm,
    pub projection: Option<Projection>,
}

/// Strided 1x1x1 convolution + norm on the skip path of a residual block.
#[derive(Module, Debug)]
pub struct Projection {
    pub conv: Conv3d,
    pub norm: InstanceNorm,
}

impl ResidualBlock {
    pub fn new(in_channels: usize, out_channels: usize, stride: usize, device: &Device) -> Self {
        let projection = (in_channels != out_channels || stride != 1).then(|| Projection {
            conv: Conv3dConfig::new([in_channels, out_channels], [1, 1, 1])
                .with_stride([stride; 3])
                .with_bias(false)
                .init(device),
            norm: InstanceNormConfig::new(out_channels).init(device),
        });
        Self {
            first: ConvNormAct::new(in_channels, out_channels, stride, device),
            second_conv: conv3x3(out_channels, out_channels, 1, device),
            second_norm: InstanceNormConfig::new(out_channels).init(device),
            projection,
        }
    }

    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let skip = match &self.projection {
            Some(p) => norm::norm(&p.norm, conv::forward(&p.conv, x.clone())),
            None => x.clone(),
        };
        let main = norm::norm(
            &self.second_norm,
            conv::forward(&self.second_conv, self.first.forward(x)),
        );
        leaky_relu(main + skip, LEAKY_SLOPE)
    }

    pub fn out_channels(&self) -> usize {
        self.second_norm.num_channels
    }

    pub fn cost(&self, shape: Shape3) -> Cost {
        let first = self.first.cost(shape);
        let second = conv_cost(&self.second_conv, first.out_shape);
        let mut total = first.then(second);
        if let Some(p) = &self.projection {
            total.macs += conv_cost(&p.conv, shape).macs;
        }
        total
    }
}

/// Either kind of encoder unit, so one encoder code path serves plain and residual presets.
#[derive(Module, Debug)]
pub enum EncoderUnit {
    Plain(ConvNormAct),
    Residual(ResidualBlock),
}

impl EncoderUnit {
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        match self {
            Self::Plain(b) => b.forward(x),
            Self::Residual(b) => b.forward(x),
        }
    }

    pub fn cost(&self, shape: Shape3) -> Cost {
        match self {
            Self::Plain(b) => b.cost(shape),
            Self::Residual(b) => b.cost(shape),
        }
    }
}

/// x2 up-sampling: 1x1x1 convolution to `8 * out_channels`, then a voxel shuffle.
#[derive(Module, Debug)]
pub struct Upsample2x {
    pub conv: Conv3d,
}

impl Upsample2x {
    pub fn new(in_channels: usize, out_channels: usize, device: &Device) -> Self {
        Self {
            conv: Conv3dConfig::new([in_channels, 8 * out_channels], [1, 1, 1]).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        voxel_shuffle(conv::forward(&self.conv, x))
    }

    pub fn cost(&self, shape: Shape3) -> Cost {
        let c = conv_cost(&self.conv, shape);
        Cost {
            macs: c.macs,
            out_shape: shape.map(|n| n * 2),
        }
    }
}

/// `[B, 8C, D, H, W] -> [B, C, 2D, 2H, 2W]`, channel `c*8 + a*4 + b*2 + e` going to
/// offset `(a, b, e)` of each 2x2x2 output cell (the layout of a k=2, s=2 transposed conv).
/// Done one axis at a time so no intermediate tensor exceeds five dimensions.
pub fn voxel_shuffle(x: Tensor<5>) -> Tensor<5> {
    let [b, c8, d, h, w] = x.dims();
    assert!(
        c8 % 8 == 0,
        "voxel_shuffle needs channels divisible by 8, got {c8}"
    );
    let c = c8 / 8;
    // Interleave e into W.
    let x = x.reshape([b * c * 4, 2, d * h, w]).permute([0, 2, 3, 1]);
    // Interleave b into H: layout is now [B*C*2(a), 2(b), D, H, 2W].
    let x = x
        .reshape([b * c * 2, 2, d, h, 2 * w])
        .permute([0, 2, 3, 1, 4]);
    // Interleave a into D: layout is now [B*C, 2(a), D, 2H*2W].
    let x = x.reshape([b * c, 2, d, 4 * h * w]).permute([0, 2, 1, 3]);
    x.reshape([b, c, 2 * d, 2 * h, 2 * w])
}

/// Average over non-overlapping `f x f x f` cells: `[B, C, D, H, W] -> [B, C, D/f, H/f, W/f]`.
/// Dimensions must be divisible by `f` (the pipeline pads to the network stride).
pub fn avg_pool_cells(x: Tensor<5>, f: usize) -> Tensor<5> {
    if f == 1 {
        return x;
    }
    let [b, c, d, h, w] = x.dims();
    assert!(
        d % f == 0 && h % f == 0 && w % f == 0,
        "avg_pool_cells: {d}x{h}x{w} is not divisible by {f}"
    );
    let x = x.reshape([b * c * (d / f), f, h * w]).mean_dim(1);
    let x = x.reshape([b * c * (d / f) * (h / f), f, w]).mean_dim(1);
    let x = x
        .reshape([b * c * (d / f) * (h / f) * (w / f), f])
        .mean_dim(1);
    x.reshape([b, c, d / f, h / f, w / f])
}

/// A 3x3x3 convolution with "same" padding; stride 2 halves every dimension (rounding up).
pub fn conv3x3(in_channels: usize, out_channels: usize, stride: usize, device: &Device) -> Conv3d {
    Conv3dConfig::new([in_channels, out_channels], [3, 3, 3])
        .with_stride([stride; 3])
        .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
        .init(device)
}

/// A 1x1x1 convolution (channel mixing), used for heads and latent projections.
pub fn conv1x1(in_channels: usize, out_channels: usize, device: &Device) -> Conv3d {
    Conv3dConfig::new([in_channels, out_channels], [1, 1, 1]).init(device)
}

/// Spatial size of a 3D feature map (depth, height, width).
pub type Shape3 = [usize; 3];

/// Multiply-accumulate count of a layer or network on a given input size, with the
/// spatial size it outputs. FLOPs are 2x MACs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    pub macs: u64,
    pub out_shape: Shape3,
}

impl Cost {
    /// Sequential composition: add the MACs, keep the second layer's output size.
    pub fn then(self, next: Cost) -> Cost {
        Cost {
            macs: self.macs + next.macs,
            out_shape: next.out_shape,
        }
    }
}

/// MACs of a convolution on an input of spatial size `shape` (bias ignored).
pub fn conv_cost(conv: &Conv3d, shape: Shape3) -> Cost {
    let [c_out, c_in_per_group, k0, k1, k2] = conv.weight.dims();
    let kernel = [k0, k1, k2];
    let pad = match conv.padding {
        PaddingConfig3d::Explicit(a, b, c) => [a, b, c],
        PaddingConfig3d::Valid => [0, 0, 0],
        PaddingConfig3d::Same => kernel.map(|k| k / 2),
    };
    let mut out_shape = [0; 3];
    for i in 0..3 {
        let span = shape[i] + 2 * pad[i];
        out_shape[i] = if span < kernel[i] {
            0
        } else {
            (span - kernel[i]) / conv.stride[i] + 1
        };
    }
    let out_voxels: u64 = out_shape.iter().map(|&n| n as u64).product();
    Cost {
        macs: out_voxels * (c_out * c_in_per_group * k0 * k1 * k2) as u64,
        out_shape,
    }
}
