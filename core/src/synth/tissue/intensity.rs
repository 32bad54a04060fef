//! Tissue classes from one scan's intensities: deterministic 1-D k-means over a mask.

use super::BACKGROUND;
use crate::synth::SynthError;
use crate::volume::{LabelMap, Volume};

/// Deterministic 1-D k-means (Lloyd's algorithm from the `(i + 0.5) / k` quantiles);
/// returns the `k` centres in ascending order.
pub fn kmeans_1d(values: &[f32], k: usize, max_iter: usize) -> Result<Vec<f64>, SynthError> {
    if k == 0 || values.len() < k {
        return Err(SynthError::BadConfig(format!(
            "k-means needs 1 <= k <= number of values, got k = {k} for {} values",
            values.len()
        )));
    }
    let mut sorted: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.len() < k {
        return Err(SynthError::BadConfig(
            "too few finite values for k-means".into(),
        ));
    }
    sorted.sort_by(f32::total_cmp);
    let mut distinct = sorted.clone();
    distinct.dedup();
    if distinct.len() < k {
        return Err(SynthError::BadConfig(format!(
            "k-means with k = {k} needs at least {k} distinct values, found {}",
            distinct.len()
        )));
    }
    // Start from the (i + 0.5) / k quantiles, moved to distinct values so that no two
    // centres coincide (coinciding centres would never separate).
    let n = sorted.len();
    let mut centres = Vec::with_capacity(k);
    let mut prev: Option<usize> = None;
    for i in 0..k {
        let q = sorted[(((i as f64 + 0.5) / k as f64) * n as f64) as usize % n];
        let mut j = distinct.partition_point(|&v| v < q);
        if let Some(p) = prev {
            j = j.max(p + 1);
        }
        j = j.min(distinct.len() - (k - i));
        centres.push(distinct[j] as f64);
        prev = Some(j);
    }
    // On sorted data each cluster is a contiguous run: assign by boundaries (midpoints).
    for _ in 0..max_iter {
        let mut sums = vec![0f64; k];
        let mut counts = vec![0usize; k];
        let mut c = 0;
        for &v in &sorted {
            let v = v as f64;
            while c + 1 < k && v > 0.5 * (centres[c] + centres[c + 1]) {
                c += 1;
            }
            sums[c] += v;
            counts[c] += 1;
        }
        let next: Vec<f64> = (0..k)
            .map(|i| {
                if counts[i] > 0 {
                    sums[i] / counts[i] as f64
                } else {
                    centres[i]
                }
            })
            .collect();
        let moved = next
            .iter()
            .zip(&centres)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        centres = next;
        if moved < 1e-9 {
            break;
        }
    }
    centres.sort_by(f64::total_cmp);
    Ok(centres)
}

/// Tissue classes from intensities: 1-D k-means over the voxels inside `mask` (default:
/// the non-zero voxels of `image`); each masked voxel gets `1 + ` the index of its
/// nearest centre, centres sorted by intensity (for T1: 1 CSF < 2 GM < 3 WM); voxels
/// outside the mask are 0. Deterministic.
pub fn tissue_from_intensity(
    image: &Volume,
    mask: Option<&[bool]>,
    classes: usize,
) -> Result<(LabelMap, Vec<f64>), SynthError> {
    if classes == 0 || classes >= u16::MAX as usize {
        return Err(SynthError::BadConfig(format!(
            "the number of classes must be between 1 and 65534, got {classes}"
        )));
    }
    let owned: Vec<bool>;
    let mask = match mask {
        Some(m) => {
            if m.len() != image.data.len() {
                return Err(SynthError::BadConfig(format!(
                    "the mask has {} voxels but the image has {}",
                    m.len(),
                    image.data.len()
                )));
            }
            m
        }
        None => {
            owned = image.data.iter().map(|&v| v != 0.0).collect();
            &owned
        }
    };
    let values: Vec<f32> = image
        .data
        .iter()
        .zip(mask)
        .filter(|(_, &m)| m)
        .map(|(&v, _)| v)
        .collect();
    if values.is_empty() {
        return Err(SynthError::EmptyLabels);
    }
    let centres = kmeans_1d(&values, classes, 200)?;
    let data = image
        .data
        .iter()
        .zip(mask)
        .map(|(&v, &m)| {
            if !m || !v.is_finite() {
                return BACKGROUND;
            }
            let v = v as f64;
            let mut best = 0;
            for (i, c) in centres.iter().enumerate() {
                if (v - c).abs() < (v - centres[best]).abs() {
                    best = i;
                }
            }
            best as u16 + 1
        })
        .collect();
    Ok((
        LabelMap {
            dims: image.dims,
            spacing: image.spacing,
            affine: image.affine,
            data,
        },
        centres,
    ))
}
