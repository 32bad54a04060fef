//! BIDS names: subjects (`sub-XX`), their anatomical scans and derivative label maps, and
//! the ids other layouts borrow from them (`sub-01_T1w`, an nnU-Net case of subject 01).

use std::path::{Path, PathBuf};

/// The `index`-th subject's folder and id (`sub-01`, ...).
pub fn subject(index: usize) -> String {
    format!("sub-{index:02}")
}

/// `ROOT/sub-XX/anat/sub-XX_SUFFIX.nii.gz` (a contrast: `T1w`, `T2w`, ...).
pub fn anat_file(root: &Path, sub: &str, suffix: &str) -> PathBuf {
    root.join(format!("{sub}/anat/{sub}_{suffix}.nii.gz"))
}

/// `ROOT/derivatives/PIPELINE/sub-XX/anat/sub-XX_dseg.nii.gz`: a label map that the
/// discovery finds for that subject.
pub fn derivative_labels(root: &Path, pipeline: &str, sub: &str) -> PathBuf {
    root.join(format!(
        "derivatives/{pipeline}/{sub}/anat/{sub}_dseg.nii.gz"
    ))
}

/// The BIDS-derivatives name of a segmentation of the scan `source` (a file stem such as
/// `sub-01_ses-a_T1w`): the source's entities, `desc-PIPELINE` (plus the source's suffix
/// when it is not `T1w`, so a subject's T1w and T2w results cannot collide; an existing
/// `desc` entity is replaced), and the `dseg` suffix: `sub-01_ses-a_desc-brainfm_dseg`.
pub fn derivative_dseg_stem(source: &str, pipeline: &str) -> String {
    let (entities, suffix) = source.rsplit_once('_').unwrap_or(("", source));
    let suffix: String = suffix
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let desc = match suffix.as_str() {
        "T1w" => pipeline.to_string(),
        _ => format!("{pipeline}{suffix}"),
    };
    let mut parts: Vec<&str> = entities
        .split('_')
        .filter(|e| !e.is_empty() && !e.starts_with("desc-"))
        .collect();
    let desc = format!("desc-{desc}");
    parts.push(&desc);
    parts.push("dseg");
    parts.join("_")
}

/// Whether `root` is a BIDS dataset: it has `sub-*` folders.
pub fn is_bids(root: &Path) -> bool {
    std::fs::read_dir(root).is_ok_and(|entries| {
        entries
            .filter_map(|e| e.ok())
            .any(|e| e.path().is_dir() && e.file_name().to_string_lossy().starts_with("sub-"))
    })
}

/// `ROOT/dataset_description.json`, and the one of a derivative pipeline.
pub fn description(root: &Path, pipeline: Option<&str>) -> PathBuf {
    match pipeline {
        Some(p) => root.join(format!("derivatives/{p}/dataset_description.json")),
        None => root.join("dataset_description.json"),
    }
}

/// The subject an id belongs to: `sub-01` for `sub-01_T1w` (BIDS-style case ids, such as
/// the contrasts `brainfm synth --format nnunet` writes); any other id is a subject of
/// its own.
pub fn subject_of(id: &str) -> &str {
    match id.split_once('_') {
        Some((s, _)) if s.starts_with("sub-") => s,
        _ => id,
    }
}

/// An id without its `sub-` prefix, as participant tables may write it.
pub fn bare(id: &str) -> &str {
    id.strip_prefix("sub-").unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_bids() {
        let root = Path::new("/d");
        assert_eq!(subject(3), "sub-03");
        assert_eq!(
            anat_file(root, "sub-03", "T1w"),
            Path::new("/d/sub-03/anat/sub-03_T1w.nii.gz")
        );
        assert_eq!(
            derivative_labels(root, "synth", "sub-03"),
            Path::new("/d/derivatives/synth/sub-03/anat/sub-03_dseg.nii.gz")
        );
        assert_eq!(
            derivative_dseg_stem("sub-01_ses-a_T1w", "brainfm"),
            "sub-01_ses-a_desc-brainfm_dseg"
        );
        assert_eq!(
            derivative_dseg_stem("sub-01_acq-fast_run-2_T2w", "brainfm"),
            "sub-01_acq-fast_run-2_desc-brainfmT2w_dseg"
        );
        assert_eq!(
            derivative_dseg_stem("sub-01_desc-preproc_T1w", "brainfm"),
            "sub-01_desc-brainfm_dseg"
        );
        assert_eq!(
            derivative_dseg_stem("scan", "brainfm"),
            "desc-brainfmscan_dseg"
        );
        assert_eq!(subject_of("sub-01_T2w"), "sub-01");
        assert_eq!(subject_of("sub-01"), "sub-01");
        assert_eq!(subject_of("icbm152_x"), "icbm152_x");
        assert_eq!(bare("sub-07"), "07");
        assert_eq!(bare("07"), "07");
        assert_eq!(
            description(root, None),
            Path::new("/d/dataset_description.json")
        );
        assert_eq!(
            description(root, Some("synth")),
            Path::new("/d/derivatives/synth/dataset_description.json")
        );
    }
}
