//! Intensity z-scoring over the foreground, as nnU-Net does for MRI with a non-zero mask:
//! statistics from non-zero voxels only (background would drag the mean toward 0 by an
//! amount that depends on the field of view), background set to 0 afterwards.
//! Non-finite voxels (NaN/Inf, found in some converted scans) count as background.

use serde::{Deserialize, Serialize};

/// Smallest standard deviation we divide by: a constant image becomes 0, not NaN.
pub const MIN_STD: f64 = 1e-8;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntensityStats {
    pub mean: f64,
    pub std: f64,
    /// Number of foreground voxels the statistics came from.
    pub count: usize,
}

#[inline]
pub fn is_foreground(v: f32) -> bool {
    v != 0.0 && v.is_finite()
}

/// Mean and (population) standard deviation of the foreground voxels, two-pass in f64.
/// `None` when nothing is foreground.
pub fn foreground_stats(data: &[f32]) -> Option<IntensityStats> {
    let (mut sum, mut count) = (0.0f64, 0usize);
    for &v in data.iter().filter(|v| is_foreground(**v)) {
        sum += v as f64;
        count += 1;
    }
    if count == 0 {
        return None;
    }
    let mean = sum / count as f64;
    let var = data
        .iter()
        .filter(|v| is_foreground(**v))
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / count as f64;
    Some(IntensityStats {
        mean,
        std: var.sqrt(),
        count,
    })
}

/// `(v - mean) / max(std, MIN_STD)` where `mask` is true, 0 elsewhere.
pub fn apply_zscore(data: &mut [f32], mask: &[bool], stats: &IntensityStats) {
    let std = stats.std.max(MIN_STD);
    for (v, &m) in data.iter_mut().zip(mask) {
        *v = if m && v.is_finite() {
            ((*v as f64 - stats.mean) / std) as f32
        } else {
            0.0
        };
    }
}

/// Z-scores `data` in place over its own foreground; returns the statistics used
/// (`None` and all zeros if there was no foreground).
pub fn zscore_foreground(data: &mut [f32]) -> Option<IntensityStats> {
    let mask: Vec<bool> = data.iter().map(|&v| is_foreground(v)).collect();
    let stats = foreground_stats(data);
    match &stats {
        Some(s) => apply_zscore(data, &mask, s),
        None => data.iter_mut().for_each(|v| *v = 0.0),
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zscore_over_foreground_only() {
        let mut d = vec![0.0, 2.0, 4.0, f32::NAN, 0.0, 6.0, f32::INFINITY];
        let s = zscore_foreground(&mut d).unwrap();
        assert_eq!(s.count, 3);
        assert!((s.mean - 4.0).abs() < 1e-12);
        let sd = (8.0f64 / 3.0).sqrt();
        assert!((s.std - sd).abs() < 1e-12);
        assert_eq!(d[0], 0.0);
        assert_eq!(d[3], 0.0);
        assert_eq!(d[6], 0.0);
        assert!((d[1] as f64 + 2.0 / sd).abs() < 1e-6);
        assert!((d[5] as f64 - 2.0 / sd).abs() < 1e-6);
    }

    #[test]
    fn constant_and_empty_images_stay_finite() {
        let mut d = vec![5.0f32; 10];
        zscore_foreground(&mut d).unwrap();
        assert!(d.iter().all(|&v| v == 0.0));
        let mut z = vec![0.0f32, f32::NAN];
        assert!(zscore_foreground(&mut z).is_none());
        assert!(z.iter().all(|&v| v == 0.0));
    }
}
