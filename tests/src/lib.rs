//! Shared helpers of brainfm's end-to-end tests: where the real scans shipped by Debian's
//! `mricron-data` live, and how a shipped atlas becomes a label map. (Measurements such
//! as Dice are core's, `brainfm_core::metrics`.)

use std::path::Path;

use brainfm_core::volume::{read_nifti, LabelMap, NiftiImage, ReadOptions};

pub const CH2: &str = "/usr/share/mricron/templates/ch2.nii.gz";
pub const CH2_BET: &str = "/usr/share/mricron/templates/ch2bet.nii.gz";
pub const AAL: &str = "/usr/share/mricron/templates/aal.nii.gz";

/// Read a shipped scan, or `None` (with a notice) where the package is missing.
pub fn shipped(path: &str) -> Option<NiftiImage> {
    if !Path::new(path).exists() {
        eprintln!("skipped: {path} missing (apt-get install mricron-data)");
        return None;
    }
    let bytes = std::fs::read(path).expect("readable");
    Some(read_nifti(&bytes, &ReadOptions::default()).expect("shipped scans parse"))
}

/// A label map from an image whose voxels hold label values (core's rule: a shipped
/// atlas that breaks it is a failure, not something to round away).
pub fn as_labels(image: &NiftiImage) -> LabelMap {
    LabelMap::from_volume(&image.volume).unwrap_or_else(|e| panic!("a shipped label map: {e}"))
}
