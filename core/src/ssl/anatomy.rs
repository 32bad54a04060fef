//! Anatomy consistency: every scan of a subject (all contrasts, all sessions in the
//! batch) must give the same subject latent, not only the two scans of a swap pair.

use burn::prelude::*;

use super::latent::cosine_per_scan;

/// `[n, n]` row-stochastic matrix averaging each scan's row over its subject's scans.
pub fn subject_averaging(subjects: &[usize]) -> Vec<f32> {
    let n = subjects.len();
    let mut m = vec![0f32; n * n];
    for i in 0..n {
        let count = subjects.iter().filter(|&&s| s == subjects[i]).count() as f32;
        for j in 0..n {
            if subjects[j] == subjects[i] {
                m[i * n + j] = 1.0 / count;
            }
        }
    }
    m
}

/// For each scan, the mean of `z` over the scans of its subject (same shape as `z`).
pub fn subject_mean_per_scan(z: Tensor<5>, subjects: &[usize]) -> Tensor<5> {
    let dims = z.dims();
    let n = dims[0];
    let m = Tensor::<2>::from_data(
        TensorData::new(subject_averaging(subjects), [n, n]),
        &z.device(),
    );
    m.matmul(z.reshape([n, dims[1] * dims[2] * dims[3] * dims[4]]))
        .reshape(dims)
}

/// Mean over scans of subjects with two or more scans of `1 - cos(z_i, subject mean)`;
/// zero when no subject has two scans (nothing to agree with).
pub fn anatomy_consistency(z_subject: Tensor<5>, subjects: &[usize]) -> Tensor<1> {
    let device = z_subject.device();
    let n = subjects.len();
    let weights: Vec<f32> = subjects
        .iter()
        .map(|s| {
            if subjects.iter().filter(|&t| t == s).count() > 1 {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let used: f32 = weights.iter().sum();
    if used == 0.0 {
        return Tensor::zeros([1], &device);
    }
    let mean = subject_mean_per_scan(z_subject.clone(), subjects);
    let cos = cosine_per_scan(z_subject, mean);
    let w = Tensor::<1>::from_data(TensorData::new(weights, [n]), &device);
    (cos.neg().add_scalar(1.0) * w)
        .sum()
        .div_scalar(used as f64)
}

/// Pair weights for [`weighted_pair_cosine`](super::latent::weighted_pair_cosine): every
/// unordered pair of distinct scans of one subject, each pair weighted equally; `None`
/// when the batch has no such pair.
pub fn same_subject_pairs(subjects: &[usize]) -> Option<Vec<f32>> {
    let n = subjects.len();
    let pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .filter(|&(i, j)| subjects[i] == subjects[j])
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let mut w = vec![0f32; n * n];
    for (i, j) in &pairs {
        w[i * n + j] = 1.0 / pairs.len() as f32;
    }
    Some(w)
}
