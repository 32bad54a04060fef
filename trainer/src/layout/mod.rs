//! Dataset folder layouts, in one place: BIDS (`sub-*/[ses-*/]anat/`, label maps as
//! `*_dseg` there or under `derivatives/*/`), nnU-Net raw (`dataset.json`,
//! `imagesTr/CASE_XXXX`, `labelsTr/CASE`, optionally `imagesTs`/`labelsTs`) and flat
//! folders of NIfTI files grouped by name. What reads a dataset (`discover`,
//! `LabelledDataset`, the target tables, the validation split) and what writes one
//! (`brainfm synth`) take the names from here, so they cannot drift apart.

pub mod bids;
pub mod discover;
pub mod nnunet;

use std::path::Path;

pub use discover::{discover, Scan, SubjectScans};
pub use nnunet::{LabelledCase, LabelledDataset, Split};

/// A `.nii` or `.nii.gz` file (any case).
pub fn is_nifti(p: &Path) -> bool {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    n.ends_with(".nii") || n.ends_with(".nii.gz")
}

/// The file name without `.nii` / `.nii.gz` (in any case, as [`is_nifti`] accepts).
pub fn stem(p: &Path) -> String {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let lower = n.to_lowercase();
    let cut = [".nii.gz", ".nii", ".gz"]
        .into_iter()
        .find(|ext| lower.ends_with(ext))
        .map_or(0, |ext| ext.len());
    n[..n.len() - cut].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stem_drops_the_extension_in_any_case() {
        assert_eq!(stem(Path::new("/d/sub-01_T1w.nii.gz")), "sub-01_T1w");
        assert_eq!(stem(Path::new("scan.nii")), "scan");
        assert_eq!(stem(Path::new("SCAN.NII.GZ")), "SCAN");
        assert!(is_nifti(Path::new("SCAN.NII.GZ")) && !is_nifti(Path::new("notes.txt")));
    }
}
