//! Host-side data augmentation for training patches: spatial (flips, small rotations,
//! scaling) applied while a patch is cut out of a volume, then intensity (gamma, bias
//! field, noise). Pure Rust on plain slices, so the native trainer's worker threads and
//! the browser's Web Worker draw exactly the same augmentations from the same seed.

mod intensity;
mod spatial;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use intensity::intensity_augment;
pub use spatial::SpatialTransform;

/// Probabilities and ranges of each augmentation (nnU-Net's defaults, rotations kept
/// small because brains arrive roughly aligned after the RAS reorientation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AugmentConfig {
    /// Mirror each axis with probability 0.5.
    pub flip: bool,
    /// Probability of a rotation; each axis angle uniform in +-`rotation_deg`.
    pub p_rotate: f64,
    pub rotation_deg: f64,
    /// Probability of an isotropic zoom by a factor uniform in `scale`.
    pub p_scale: f64,
    pub scale: [f64; 2],
    /// Gamma, bias field and noise (see [`intensity_augment`]).
    pub intensity: bool,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            flip: true,
            p_rotate: 0.2,
            rotation_deg: 15.0,
            p_scale: 0.2,
            scale: [0.85, 1.15],
            intensity: true,
        }
    }
}

impl AugmentConfig {
    /// No augmentation at all: patches are plain crops.
    pub fn none() -> Self {
        Self {
            flip: false,
            p_rotate: 0.0,
            rotation_deg: 0.0,
            p_scale: 0.0,
            scale: [1.0, 1.0],
            intensity: false,
        }
    }
}
