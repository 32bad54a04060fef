//! VAE pieces of the latent split: reparameterised sampling, KL to N(0, I), and the
//! channel-wise cosine similarity used to pull subject and push modality latents.

use burn::prelude::*;

use crate::rng::Rng;

/// log-variances are clamped before `exp` so one bad step cannot overflow.
const LOGVAR_LIMIT: f64 = 10.0;

/// `mean + eps * exp(logvar / 2)` with `eps ~ N(0, 1)` drawn on the host, so the draw is
/// part of the checkpointed run state rather than a backend's private RNG. Scan `i` draws
/// from `rngs[i]`: a batch split across data-parallel ranks draws what the whole batch would.
pub fn sample_latent(mean: Tensor<5>, logvar: Tensor<5>, rngs: &mut [Rng]) -> Tensor<5> {
    let dims = mean.dims();
    assert_eq!(rngs.len(), dims[0], "one generator per scan");
    let per_scan: usize = dims[1..].iter().product();
    let draws: Vec<f32> = rngs.iter_mut().flat_map(|r| r.normals(per_scan)).collect();
    let eps = Tensor::<5>::from_data(TensorData::new(draws, dims), &mean.device());
    mean + eps
        * logvar
            .clamp(-LOGVAR_LIMIT, LOGVAR_LIMIT)
            .mul_scalar(0.5)
            .exp()
}

/// `KL(N(mean, exp(logvar)) || N(0, 1))`, averaged over every latent element.
pub fn kl_divergence(mean: Tensor<5>, logvar: Tensor<5>) -> Tensor<1> {
    let logvar = logvar.clamp(-LOGVAR_LIMIT, LOGVAR_LIMIT);
    (logvar.clone().add_scalar(1.0) - mean.square() - logvar.exp())
        .mean()
        .mul_scalar(-0.5)
}

/// Cosine similarity along channels at every voxel (`F.cosine_similarity(a, b, dim=1)`),
/// averaged over batch and space.
pub fn cosine_per_voxel(a: Tensor<5>, b: Tensor<5>) -> Tensor<1> {
    let dot = (a.clone() * b.clone()).sum_dim(1);
    let na = a.square().sum_dim(1).sqrt();
    let nb = b.square().sum_dim(1).sqrt();
    (dot / (na * nb).clamp_min(1e-8)).mean()
}

/// Unit-length channel vectors at every voxel, flattened to `[n, c * voxels]`, and the
/// voxel count: the Gram matrix of these rows / voxels is the mean per-voxel cosine of
/// every pair of scans, which lets pair terms run as one matmul instead of gathers.
fn unit_rows(z: Tensor<5>) -> (Tensor<2>, usize) {
    let [n, c, d, h, w] = z.dims();
    let norm = z.clone().square().sum_dim(1).sqrt().clamp_min(1e-8);
    ((z / norm).reshape([n, c * d * h * w]), d * h * w)
}

/// `sum_ij weights[i * n + j] * cos(z_i, z_j)` with cos the mean per-voxel channel cosine.
pub fn weighted_pair_cosine(z: Tensor<5>, weights: &[f32]) -> Tensor<1> {
    let n = z.dims()[0];
    let device = z.device();
    let (u, voxels) = unit_rows(z);
    let gram = u.clone().matmul(u.transpose());
    let w = Tensor::<2>::from_data(TensorData::new(weights.to_vec(), [n, n]), &device);
    (gram * w).sum().div_scalar(voxels as f64)
}

/// Per-scan mean channel cosine between `a_i` and `b_i`: `[n]`.
pub fn cosine_per_scan(a: Tensor<5>, b: Tensor<5>) -> Tensor<1> {
    let [n, _, d, h, w] = a.dims();
    let dot = (a.clone() * b.clone()).sum_dim(1);
    let norms = (a.square().sum_dim(1).sqrt() * b.square().sum_dim(1).sqrt()).clamp_min(1e-8);
    (dot / norms)
        .reshape([n, d * h * w])
        .mean_dim(1)
        .reshape([n])
}
