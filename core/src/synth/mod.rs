//! SynthSeg-style synthetic subjects: from one label map, a random smooth deformation
//! (shared by all contrasts of the subject, so they stay co-registered), then per
//! contrast a random Gaussian intensity per label, partial-volume smoothing, texture,
//! blur, a multiplicative bias field and noise. Everything is seeded.
//!
//! This gives what no shipped dataset has: several contrasts of one anatomy, with the
//! anatomy (label map) known, for the cross-contrast objectives.

mod clutter;
mod field;
mod generate;
mod neck;
mod real;
pub mod tissue;

#[cfg(test)]
mod tests;

pub use clutter::{add_head_clutter, ClutterConfig};
pub use field::{gaussian_blur, smooth_field};
pub use generate::{add_head_label, synth_subject, synth_subject_with, SynthConfig, SynthSubject};
pub use neck::{
    add_neck_and_face, cut_inferior, neck_padding, NeckTissue, MAX_NECK_MM, NECK_TISSUES,
};
pub use real::{RealIntensities, TransferCurve};
pub use tissue::{
    add_head_shells, kmeans_1d, tissue_from_intensity, tissue_from_probabilities, TissueRule,
};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SynthError {
    #[error("the label map is empty or has no labelled voxels")]
    EmptyLabels,
    #[error("invalid synthesis setting: {0}")]
    BadConfig(String),
    #[error("the head image has dims {found:?} but the label map has {expected:?}")]
    DimsMismatch {
        expected: [usize; 3],
        found: [usize; 3],
    },
}
