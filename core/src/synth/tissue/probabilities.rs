//! Tissue labels from grey- and white-matter probability maps (e.g. a template's tissue
//! priors): the brain envelope closed and hole-filled, then the most probable tissue.

use super::{dilate, erode, fill_holes, BACKGROUND, CSF, GREY_MATTER, WHITE_MATTER};
use crate::synth::SynthError;
use crate::volume::{LabelMap, Volume};

/// How [`tissue_from_probabilities`] turns GM/WM probability maps into labels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TissueRule {
    /// Brain tissue is `gm + wm >= brain_threshold`.
    pub brain_threshold: f32,
    /// Radius (mm) of the morphological closing of the brain tissue that bridges sulci
    /// and the thin CSF around the cortex.
    pub envelope_mm: f64,
    /// Extra dilation (mm) of the closed, hole-filled envelope (outer CSF); 0 for none.
    pub dilate_mm: f64,
}

impl Default for TissueRule {
    fn default() -> Self {
        Self {
            brain_threshold: 0.5,
            envelope_mm: 3.0,
            dilate_mm: 0.0,
        }
    }
}

fn check_same_grid<T, U>(
    a: &crate::volume::Grid<T>,
    b: &crate::volume::Grid<U>,
) -> Result<(), SynthError> {
    if a.dims != b.dims {
        return Err(SynthError::DimsMismatch {
            expected: a.dims,
            found: b.dims,
        });
    }
    Ok(())
}

/// Tissue labels from grey- and white-matter probability maps (values in 0..=1) on one
/// grid:
///
/// 1. brain tissue = `gm + wm >= rule.brain_threshold`;
/// 2. intracranial = brain tissue closed (dilate, then erode) by a ball of
///    `rule.envelope_mm`, hole-filled (so enclosed ventricles count), then dilated by
///    `rule.dilate_mm`;
/// 3. inside the intracranial region, with the CSF probability taken as the remainder
///    `csf = max(0, 1 - gm - wm)`, each voxel gets the most probable of CSF, GM, WM
///    (ties: WM over GM over CSF) — so a tissue with probability >= 0.5 always wins;
///    outside it the label is background.
pub fn tissue_from_probabilities(
    gm: &Volume,
    wm: &Volume,
    rule: &TissueRule,
) -> Result<LabelMap, SynthError> {
    check_same_grid(gm, wm)?;
    if !(rule.brain_threshold.is_finite()
        && rule.brain_threshold > 0.0
        && rule.envelope_mm.is_finite()
        && rule.envelope_mm >= 0.0
        && rule.dilate_mm.is_finite()
        && rule.dilate_mm >= 0.0)
    {
        return Err(SynthError::BadConfig(
            "the brain threshold must be > 0 and the envelope/dilation finite and >= 0".into(),
        ));
    }
    let (dims, spacing) = (gm.dims, gm.spacing);
    let brain: Vec<bool> = gm
        .data
        .iter()
        .zip(&wm.data)
        .map(|(&g, &w)| g + w >= rule.brain_threshold)
        .collect();
    if !brain.iter().any(|&b| b) {
        return Err(SynthError::EmptyLabels);
    }
    let closed = erode(
        &dilate(&brain, dims, spacing, rule.envelope_mm),
        dims,
        spacing,
        rule.envelope_mm,
    );
    // Closing never removes voxels in exact arithmetic; keep the brain itself regardless.
    let closed: Vec<bool> = closed.iter().zip(&brain).map(|(&c, &b)| c || b).collect();
    let intracranial = dilate(&fill_holes(&closed, dims), dims, spacing, rule.dilate_mm);
    let data = intracranial
        .iter()
        .zip(gm.data.iter().zip(&wm.data))
        .map(|(&inside, (&g, &w))| {
            if !inside {
                return BACKGROUND;
            }
            let csf = (1.0 - g - w).max(0.0);
            if w >= g && w >= csf {
                WHITE_MATTER
            } else if g >= csf {
                GREY_MATTER
            } else {
                CSF
            }
        })
        .collect();
    Ok(LabelMap {
        dims,
        spacing,
        affine: gm.affine,
        data,
    })
}
