//! Dataset folder layouts, in one place: BIDS (`sub-*/[ses-*/]anat/`, label maps as
//! `*_dseg` there or under `derivatives/*/`), nnU-Net raw (`dataset.json`,
//! `imagesTr/CASE_XXXX`, `labelsTr/CASE`, optionally `imagesTs`/`labelsTs`) and flat
//! folders of scans grouped by name. What reads a dataset (`discover`,
//! `LabelledDataset`, the target tables, the validation split) and what writes one
//! (`brainfm synth`) take the names from here, so they cannot drift apart. DICOM folders
//! (any tree of DICOM files, grouped into series) are found in `dicom.rs`.

pub mod bids;
pub mod dicom;
pub mod discover;
pub mod nnunet;

use std::path::Path;

use brainfm_core::volume::{is_scan_name, scan_stem};

pub use discover::{discover, list, scans_in, Scan, SubjectScans};
pub use nnunet::{LabelledCase, LabelledDataset, Split};

/// A scan file brainfm reads (`.nii`, `.nii.gz`, `.mgz`, `.mgh`, any case; core's rule).
pub fn is_scan(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| is_scan_name(&n.to_string_lossy()))
}

/// The file name without its scan ending (in any case, as [`is_scan`] accepts).
pub fn stem(p: &Path) -> String {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    scan_stem(&n).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stem_drops_the_extension_in_any_case() {
        assert_eq!(stem(Path::new("/d/sub-01_T1w.nii.gz")), "sub-01_T1w");
        assert_eq!(stem(Path::new("scan.nii")), "scan");
        assert_eq!(stem(Path::new("SCAN.NII.GZ")), "SCAN");
        assert_eq!(stem(Path::new("/subjects/bert/mri/T1.mgz")), "T1");
        assert!(is_scan(Path::new("SCAN.NII.GZ")) && !is_scan(Path::new("notes.txt")));
    }
}
