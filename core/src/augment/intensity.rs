//! Intensity augmentation of one (already cut) patch.

use crate::rng::Rng;
use crate::synth::smooth_field;

/// nnU-Net-style intensity changes, each with probability 0.3: gamma on the
/// [0, 1]-rescaled patch, a smooth multiplicative bias field, additive Gaussian noise.
/// `dims` is the patch shape (x fastest).
pub fn intensity_augment(v: &mut [f32], dims: [usize; 3], rng: &mut Rng) {
    if rng.bool(0.3) {
        let (lo, hi) = v
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        let g = rng.range(0.7, 1.5) as f32;
        if hi > lo {
            v.iter_mut()
                .for_each(|x| *x = lo + (hi - lo) * ((*x - lo) / (hi - lo)).powf(g));
        }
    }
    if rng.bool(0.3) {
        let bias = smooth_field(dims, 3, 0.1, rng);
        v.iter_mut().zip(bias).for_each(|(x, b)| *x *= b.exp());
    }
    if rng.bool(0.3) {
        let sd = rng.range(0.0, 0.1) as f32;
        v.iter_mut().for_each(|x| *x += sd * rng.normal() as f32);
    }
}
