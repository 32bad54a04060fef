//! Synthetic head shells: concentric layers around a brain-only label map that random
//! contrasts turn into stand-ins for CSF/dura, skull and scalp.

use super::BACKGROUND;
use crate::metrics::euclidean_distance_transform;
use crate::synth::SynthError;
use crate::volume::LabelMap;

/// Synthetic head shells: concentric layers around the labelled region (`labels > 0`),
/// layer `j` covering the background voxels whose distance to it lies in
/// `(t_0 + .. + t_{j-1}, t_0 + .. + t_j]` mm, labelled `max + 1 + j`. With random
/// per-label contrasts they stand in for CSF/dura, skull and scalp around a
/// brain-only label map.
pub fn add_head_shells(labels: &LabelMap, thickness_mm: &[f64]) -> Result<LabelMap, SynthError> {
    if thickness_mm.iter().any(|t| !(t.is_finite() && *t > 0.0)) {
        return Err(SynthError::BadConfig(
            "shell thicknesses must be positive millimetres".into(),
        ));
    }
    let max = labels.data.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return Err(SynthError::EmptyLabels);
    }
    if max as usize + thickness_mm.len() > u16::MAX as usize {
        return Err(SynthError::BadConfig("too many labels".into()));
    }
    let inside: Vec<bool> = labels.data.iter().map(|&l| l > 0).collect();
    let d2 = euclidean_distance_transform(&inside, labels.dims, labels.spacing);
    let mut bounds = Vec::with_capacity(thickness_mm.len());
    let mut sum = 0.0;
    for t in thickness_mm {
        sum += t;
        bounds.push(sum * sum + 1e-9);
    }
    let data = labels
        .data
        .iter()
        .zip(&d2)
        .map(|(&l, &d)| {
            if l > 0 {
                return l;
            }
            match bounds.iter().position(|&b| d <= b) {
                Some(j) => max + 1 + j as u16,
                None => BACKGROUND,
            }
        })
        .collect();
    Ok(LabelMap {
        data,
        ..labels.clone()
    })
}
