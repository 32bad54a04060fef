//! The cross-contrast swap view: two synthetic contrasts of the patch's anatomy, and A's
//! subject latent decoded with B's modality latent.

use burn::prelude::*;

use crate::model::BrainNet;
use crate::synth::{synth_subject, SynthConfig, SynthError};
use crate::volume::{zscore_foreground, LabelMap};

use super::net::{decode, read, tensor};
use super::{axial_slice, Slice, TeachError, TeachPatch};

/// Two contrasts of one subject and "A's anatomy in B's contrast" on one slice.
#[derive(Clone, Debug)]
pub struct SwapView {
    pub a: Slice,
    pub b: Slice,
    pub a_in_b: Slice,
    /// |a_in_b - b|.
    pub error: Slice,
    /// Mean absolute difference to B over the patch's foreground: of the swap and, for
    /// scale, of A itself.
    pub swap_vs_b: f64,
    pub a_vs_b: f64,
}

/// Two random contrasts of the patch's anatomy (core's SynthSeg-style synthesis; one
/// shared deformation, so they stay co-registered), each z-scored like a real scan.
pub fn synth_pair(patch: &TeachPatch, seed: u64) -> Result<[Vec<f32>; 2], TeachError> {
    let labels = patch.labels.as_ref().ok_or_else(|| {
        TeachError::Invalid("a label map is needed to synthesise contrasts".into())
    })?;
    let s = patch.spacing;
    let affine = [
        [s[0], 0.0, 0.0, 0.0],
        [0.0, s[1], 0.0, 0.0],
        [0.0, 0.0, s[2], 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let map = LabelMap::new(patch.size, s, affine, labels.clone())?;
    let cfg = SynthConfig {
        contrasts: vec!["A".into(), "B".into()],
        ..SynthConfig::default()
    };
    let subject = synth_subject(&map, &cfg, seed).map_err(|e| match e {
        SynthError::EmptyLabels => TeachError::Invalid(
            "no labelled voxels around the crosshair: move it into the brain".into(),
        ),
        e => e.into(),
    })?;
    let mut images = subject.images.into_iter().map(|(_, v)| {
        let mut d = v.data;
        zscore_foreground(&mut d);
        d
    });
    match (images.next(), images.next()) {
        (Some(a), Some(b)) => Ok([a, b]),
        _ => Err(TeachError::Invalid(
            "synthesis returned fewer than two contrasts".into(),
        )),
    }
}

/// Encode A and B, decode A's subject latent with B's modality latent.
pub async fn contrast_swap(
    model: &BrainNet,
    a: &[f32],
    b: &[f32],
    patch: &TeachPatch,
    device: &Device,
) -> Result<SwapView, TeachError> {
    let size = patch.size;
    let n = size[0] * size[1] * size[2];
    if a.len() != n || b.len() != n {
        return Err(TeachError::Invalid(format!(
            "contrast images of {} and {} voxels for a {size:?} patch",
            a.len(),
            b.len()
        )));
    }
    let lat = |x: &[f32]| {
        model
            .represent(tensor(x, size, device))
            .latents
            .ok_or(TeachError::ModelLacks("subject/modality latent split"))
    };
    let (la, lb) = (lat(a)?, lat(b)?);
    let swapped = decode(
        model,
        Tensor::cat(vec![la.subject_mean, lb.modality_mean], 1),
    )?;
    let a_in_b = read(swapped).await?;
    let error: Vec<f32> = a_in_b.iter().zip(b).map(|(s, v)| (s - v).abs()).collect();
    let foreground_mean = |x: &[f32]| {
        let (s, k) = x
            .iter()
            .zip(b)
            .filter(|(_, v)| **v != 0.0)
            .fold((0f64, 0usize), |(s, k), (x, v)| {
                (s + (x - v).abs() as f64, k + 1)
            });
        if k == 0 {
            0.0
        } else {
            s / k as f64
        }
    };
    let z = patch.slice;
    Ok(SwapView {
        swap_vs_b: foreground_mean(&a_in_b),
        a_vs_b: foreground_mean(a),
        a: axial_slice(a, size, z),
        b: axial_slice(b, size, z),
        a_in_b: axial_slice(&a_in_b, size, z),
        error: axial_slice(&error, size, z),
    })
}
