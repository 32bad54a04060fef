//! InstanceNorm (affine) followed by LeakyReLU, forward and backward, one `[B, C, ...]`
//! plane (one batch item, one channel) per task.
//!
//! burn's composite InstanceNorm makes about eight passes over the volume forward (mean,
//! subtract, square, mean, add, sqrt, divide, scale, shift) and LeakyReLU three more, each
//! keeping its own tensor for autodiff. Here a plane (at most a few MiB, usually L2-sized)
//! is read from memory once and written once; the statistics' passes hit the cache.

use super::super::parallel;

/// Chunk whose f32 partial sums are added into f64: exact enough for any plane size
/// (the statistics of a 256³ plane in f32 alone would lose digits) and still vectorised.
const CHUNK: usize = 4096;

/// `Σ f(v)` over `values` in f64, from f32 partials of [`CHUNK`] elements (8 lanes each).
fn sum_by(values: &[f32], f: impl Fn(f32) -> f32 + Copy) -> f64 {
    values
        .chunks(CHUNK)
        .map(|chunk| {
            let mut lanes = [0.0f32; 8];
            let mut it = chunk.chunks_exact(8);
            for eight in &mut it {
                for (lane, &v) in lanes.iter_mut().zip(eight) {
                    *lane += f(v);
                }
            }
            let tail: f32 = it.remainder().iter().map(|&v| f(v)).sum();
            lanes.iter().map(|&l| l as f64).sum::<f64>() + tail as f64
        })
        .sum()
}

/// A plane's mean as an f32 pair `hi + lo` (`v - hi` is exact for `v` near the mean, so an
/// offset plane keeps its spread) and `1 / sqrt(biased variance + eps)`, as burn's
/// InstanceNorm defines them.
struct Statistics {
    hi: f32,
    lo: f32,
    rstd: f32,
}

impl Statistics {
    fn of(plane: &[f32], eps: f64) -> Self {
        let n = plane.len() as f64;
        // Summed around the first voxel, so a plane far from zero keeps its digits.
        let pivot = plane[0];
        let mean = pivot as f64 + sum_by(plane, |v| v - pivot) / n;
        let hi = mean as f32;
        let lo = (mean - hi as f64) as f32;
        let var = sum_by(plane, |v| (v - hi - lo) * (v - hi - lo)) / n;
        Self {
            hi,
            lo,
            rstd: (1.0 / (var + eps).sqrt()) as f32,
        }
    }
}

/// One convolution output's sizes: `planes` = batch x channels planes of `len` voxels.
#[derive(Clone, Copy, Debug)]
pub struct Planes {
    pub channels: usize,
    pub len: usize,
}

impl Planes {
    fn channel(&self, plane: usize) -> usize {
        plane % self.channels
    }
}

/// `y = act(gamma * (x - mean) * rstd + beta)`, `act(z) = z < 0 ? slope * z : z`
/// (slope 1 is no activation).
pub fn forward(
    p: Planes,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f64,
    slope: f32,
) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    if p.len == 0 {
        return y;
    }
    parallel::for_each_chunk(&mut y, p.len, |out, plane| {
        let input = &x[plane * p.len..(plane + 1) * p.len];
        let c = p.channel(plane);
        let stats = Statistics::of(input, eps);
        let scale = gamma[c] * stats.rstd;
        let shift = beta[c] - stats.lo * scale;
        // Copied into locals so the loop reads no memory that `out` might alias in the
        // optimiser's eyes (the closure holds `slope` by reference): then it vectorises; it
        // ran one scalar at a time, reloading `slope` for every voxel.
        let (hi, slope) = (stats.hi, slope);
        for (o, &v) in out.iter_mut().zip(input) {
            let z = (v - hi) * scale + shift;
            // A factor, not a branch, and NaN still propagates.
            *o = z * if z < 0.0 { slope } else { 1.0 };
        }
    });
    y
}

/// Gradients of [`forward`]: `(dx, dgamma, dbeta)` from `x` and the output's gradient `dy`.
///
/// With `g = dy * act'(z)` and `x̂ = (x - mean) * rstd`:
/// `dbeta = Σ g`, `dgamma = Σ g x̂` and `dx = gamma rstd (g - Σg / N - x̂ Σ(g x̂) / N)`.
pub fn backward(
    p: Planes,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    dy: &[f32],
    eps: f64,
    slope: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut dx = vec![0.0f32; x.len()];
    let planes = if p.len == 0 { 0 } else { x.len() / p.len };
    // Per plane (Σ g, Σ g x̂), summed over the batch afterwards in a fixed order so the
    // result does not depend on the thread count.
    let mut sums = vec![(0.0f64, 0.0f64); planes];
    if p.len > 0 {
        parallel::for_each_chunk_with(&mut dx, p.len, &mut sums, |out, sum, plane| {
            let range = plane * p.len..(plane + 1) * p.len;
            let (input, grad) = (&x[range.clone()], &dy[range]);
            let c = p.channel(plane);
            let stats = Statistics::of(input, eps);
            let (gamma, beta) = (gamma[c], beta[c]);
            // Locals, for the same reason as in `forward`.
            let (hi, lo, rstd, slope) = (stats.hi, stats.lo, stats.rstd, slope);
            let act_grad = |v: f32, d: f32| {
                let xhat = (v - hi - lo) * rstd;
                let g = d * if gamma * xhat + beta < 0.0 {
                    slope
                } else {
                    1.0
                };
                (g, xhat)
            };
            let (mut sum_g, mut sum_gx) = (0.0f64, 0.0f64);
            for (chunk_x, chunk_d) in input.chunks(CHUNK).zip(grad.chunks(CHUNK)) {
                let (mut a, mut b) = ([0.0f32; 8], [0.0f32; 8]);
                let full = chunk_x.len() / 8 * 8;
                for start in (0..full).step_by(8) {
                    for lane in 0..8 {
                        let (g, xhat) = act_grad(chunk_x[start + lane], chunk_d[start + lane]);
                        a[lane] += g;
                        b[lane] += g * xhat;
                    }
                }
                for (&v, &d) in chunk_x[full..].iter().zip(&chunk_d[full..]) {
                    let (g, xhat) = act_grad(v, d);
                    a[0] += g;
                    b[0] += g * xhat;
                }
                sum_g += a.iter().map(|&s| s as f64).sum::<f64>();
                sum_gx += b.iter().map(|&s| s as f64).sum::<f64>();
            }
            let n = p.len as f64;
            let (mean_g, mean_gx) = ((sum_g / n) as f32, (sum_gx / n) as f32);
            let k = gamma * stats.rstd;
            for ((o, &v), &d) in out.iter_mut().zip(input).zip(grad) {
                let (g, xhat) = act_grad(v, d);
                *o = k * (g - mean_g - xhat * mean_gx);
            }
            *sum = (sum_g, sum_gx);
        });
    }
    let mut dgamma = vec![0.0f64; p.channels];
    let mut dbeta = vec![0.0f64; p.channels];
    for (plane, &(g, gx)) in sums.iter().enumerate() {
        dbeta[p.channel(plane)] += g;
        dgamma[p.channel(plane)] += gx;
    }
    let narrow = |v: Vec<f64>| v.into_iter().map(|s| s as f32).collect();
    (dx, narrow(dgamma), narrow(dbeta))
}
