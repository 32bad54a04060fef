//! Real intensities inside synthetic heads: a real scan on the label map's grid lends its
//! own voxel values (partial volume, texture, the true grey/white gradient) to the labels
//! it covers, remapped per contrast through a random transfer curve, while everything
//! else (shells, clutter, air) keeps its synthetic Gaussian contrast.
//!
//! Why: a small network trained briefly on purely synthetic Gaussian tissue learns the
//! label shapes but not how a real cortex looks; one real brain under random deformations
//! and random monotone or inverted remaps teaches the texture while the contrast stays
//! random.

use super::SynthError;
use crate::volume::{LabelMap, Volume};

/// A real scan and the labels whose voxels take their intensities from it.
#[derive(Clone, Debug)]
pub struct RealIntensities {
    pub image: Volume,
    /// Labels filled from `image` (the others stay synthetic).
    pub labels: Vec<u16>,
}

impl RealIntensities {
    /// `image` must share `labels`' grid. The covered labels are every non-zero label of
    /// `labels` (the brain labels, before head shells or clutter are added).
    pub fn new(image: Volume, labels: &LabelMap) -> Result<Self, SynthError> {
        if image.dims != labels.dims {
            return Err(SynthError::DimsMismatch {
                expected: labels.dims,
                found: image.dims,
            });
        }
        if image.data.iter().any(|v| !v.is_finite()) {
            return Err(SynthError::BadConfig(
                "the real image holds NaN or infinite values".into(),
            ));
        }
        let mut present = vec![false; u16::MAX as usize + 1];
        for &l in &labels.data {
            present[l as usize] = true;
        }
        let covered: Vec<u16> = (1..=u16::MAX).filter(|&l| present[l as usize]).collect();
        if covered.is_empty() {
            return Err(SynthError::EmptyLabels);
        }
        Ok(Self {
            image,
            labels: covered,
        })
    }

    /// Whether label `l` is filled from the real image.
    pub fn covers(&self, l: u16) -> bool {
        self.labels.binary_search(&l).is_ok()
    }
}

/// Median of the real values of each covered label on the (deformed) subject, as
/// `(label, median)` pairs for the labels that have voxels.
pub fn label_medians(real: &[f32], labels: &[u16], covered: &RealIntensities) -> Vec<(u16, f32)> {
    covered
        .labels
        .iter()
        .filter_map(|&l| {
            let mut v: Vec<f32> = real
                .iter()
                .zip(labels)
                .filter(|(_, &m)| m == l)
                .map(|(&x, _)| x)
                .collect();
            if v.is_empty() {
                return None;
            }
            let mid = v.len() / 2;
            let (_, m, _) = v.select_nth_unstable_by(mid, f32::total_cmp);
            Some((l, *m))
        })
        .collect()
}

/// A piecewise-linear intensity map through `(x, y)` knots (sorted by x, x strictly
/// increasing), constant below the first knot, extended beyond the last with the last
/// segment's slope, never negative.
///
/// Constant at the low end because the darkest real voxels of a label are its own
/// (ventricles within CSF) or the zeros of a skull-stripped image's edge: they must take
/// that label's contrast, not run on towards another one (dark ventricles in a T2w).
/// A single knot (one covered label) scales in proportion instead, so its texture stays.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferCurve {
    knots: Vec<(f32, f32)>,
}

impl TransferCurve {
    /// Knots in any order; non-finite knots are dropped and of knots with equal x only
    /// one is kept. No knots at all map everything to 0.
    pub fn new(mut knots: Vec<(f32, f32)>) -> Self {
        knots.retain(|k| k.0.is_finite() && k.1.is_finite());
        if knots.is_empty() {
            knots.push((0.0, 0.0));
        }
        knots.sort_by(|a, b| a.0.total_cmp(&b.0));
        knots.dedup_by(|b, a| b.0 <= a.0);
        Self { knots }
    }

    pub fn at(&self, x: f32) -> f32 {
        let k = &self.knots;
        if k.len() == 1 && k[0].0 > 0.0 {
            return (k[0].1 * x / k[0].0).max(0.0);
        }
        if k.len() == 1 || x <= k[0].0 {
            return k[0].1.max(0.0);
        }
        let seg = k
            .windows(2)
            .position(|w| x <= w[1].0)
            .unwrap_or(k.len() - 2);
        let (a, b) = (k[seg], k[seg + 1]);
        (a.1 + (x - a.0) * (b.1 - a.1) / (b.0 - a.0)).max(0.0)
    }
}
