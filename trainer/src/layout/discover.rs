//! Dataset discovery. A "subject" here is what must be co-registered: one subject and
//! session in BIDS, one case in nnU-Net raw (its channels), one name stem in a flat folder.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::nnunet::parse_image_stem;
use super::{is_scan, stem};

#[derive(Clone, Debug, PartialEq)]
pub struct Scan {
    pub path: PathBuf,
    /// Contrast name (BIDS suffix, nnU-Net channel `0000`, or the flat file's last tag).
    pub contrast: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SubjectScans {
    pub id: String,
    pub scans: Vec<Scan>,
    /// The subject's anatomical label map, where the dataset has one (BIDS `*_dseg` in
    /// its anat folder or under derivatives/*/, nnU-Net `labelsTr/CASE`, flat `ID_dseg`).
    pub labels: Option<PathBuf>,
}

/// Everything in `dir` (not below it), sorted by name.
pub fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("cannot list folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

/// The scan files in `dir` (not below it), sorted by name.
pub fn scans_in(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(list(dir)?
        .into_iter()
        .filter(|p| p.is_file() && is_scan(p))
        .collect())
}

fn dir_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// The first `*_dseg` scan in `dir` (sorted), if any.
fn dseg_in(dir: &Path) -> Option<PathBuf> {
    list(dir)
        .ok()?
        .into_iter()
        .find(|p| is_scan(p) && stem(p).ends_with("_dseg"))
}

/// A BIDS group's label map: its own anat folder first, then every derivative pipeline
/// (`derivatives/*/<same relative path>/anat`).
fn bids_labels(root: &Path, group: &Path) -> Option<PathBuf> {
    dseg_in(&group.join("anat")).or_else(|| {
        let rel = group.strip_prefix(root).ok()?;
        list(&root.join("derivatives"))
            .ok()?
            .into_iter()
            .filter(|p| p.is_dir())
            .find_map(|pipeline| dseg_in(&pipeline.join(rel).join("anat")))
    })
}

/// Label maps, masks and other derived images are not training scans.
fn is_derived(contrast: &str) -> bool {
    matches!(
        contrast,
        "dseg" | "mask" | "probseg" | "seg" | "label" | "labels"
    )
}

fn bids(root: &Path) -> Result<Vec<SubjectScans>> {
    let mut out = Vec::new();
    for sub in list(root)?
        .into_iter()
        .filter(|p| p.is_dir() && dir_name(p).starts_with("sub-"))
    {
        let sessions: Vec<PathBuf> = list(&sub)?
            .into_iter()
            .filter(|p| p.is_dir() && dir_name(p).starts_with("ses-"))
            .collect();
        let groups = if sessions.is_empty() {
            vec![sub.clone()]
        } else {
            sessions
        };
        for g in groups {
            let anat = g.join("anat");
            if !anat.is_dir() {
                continue;
            }
            let scans: Vec<Scan> = list(&anat)?
                .into_iter()
                .filter(|p| is_scan(p))
                .map(|p| {
                    let s = stem(&p);
                    let contrast = s.rsplit('_').next().unwrap_or(&s).to_string();
                    Scan { path: p, contrast }
                })
                .filter(|s| !is_derived(&s.contrast))
                .collect();
            if !scans.is_empty() {
                let id = g
                    .strip_prefix(root)
                    .unwrap_or(&g)
                    .to_string_lossy()
                    .replace('/', "_");
                let labels = bids_labels(root, &g);
                out.push(SubjectScans { id, scans, labels });
            }
        }
    }
    Ok(out)
}

fn nnunet(images: &Path, labels: &Path) -> Result<Vec<SubjectScans>> {
    let mut cases: BTreeMap<String, Vec<Scan>> = BTreeMap::new();
    for p in list(images)?.into_iter().filter(|p| is_scan(p)) {
        let s = stem(&p);
        match parse_image_stem(&s) {
            Some((case, ch)) => cases.entry(case.to_string()).or_default().push(Scan {
                path: p,
                contrast: ch.to_string(),
            }),
            _ => bail!(
                "{} does not follow nnU-Net's CASE_XXXX.nii.gz naming",
                p.display()
            ),
        }
    }
    Ok(cases
        .into_iter()
        .map(|(id, scans)| {
            let label = ["nii.gz", "nii"]
                .iter()
                .map(|e| labels.join(format!("{id}.{e}")))
                .find(|p| p.is_file());
            SubjectScans {
                id,
                scans,
                labels: label,
            }
        })
        .collect())
}

fn flat(dir: &Path) -> Result<Vec<SubjectScans>> {
    let mut groups: BTreeMap<String, Vec<Scan>> = BTreeMap::new();
    let mut labels: BTreeMap<String, PathBuf> = BTreeMap::new();
    for p in list(dir)?.into_iter().filter(|p| is_scan(p)) {
        let s = stem(&p);
        // `subj01_T1w.nii.gz` and `subj01_T2w.nii.gz` are two contrasts of `subj01`.
        let (id, contrast) = s
            .rsplit_once('_')
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .unwrap_or((s.clone(), "scan".into()));
        if contrast == "dseg" {
            labels.entry(id).or_insert(p);
        } else if !is_derived(&contrast) {
            groups
                .entry(id)
                .or_default()
                .push(Scan { path: p, contrast });
        }
    }
    Ok(groups
        .into_iter()
        .map(|(id, scans)| {
            let labels = labels.remove(&id);
            SubjectScans { id, scans, labels }
        })
        .collect())
}

/// Find the subjects under `root`: BIDS if it has `sub-*` folders, nnU-Net raw if it has
/// `imagesTr`, else a flat folder of NIfTI files grouped by the name before the last `_`.
pub fn discover(root: &Path) -> Result<Vec<SubjectScans>> {
    if !root.is_dir() {
        bail!(
            "data folder {} does not exist or is not a folder",
            root.display()
        );
    }
    let has_sub = super::bids::is_bids(root);
    let subjects = if has_sub {
        bids(root)?
    } else if root.join("imagesTr").is_dir() {
        nnunet(&root.join("imagesTr"), &root.join("labelsTr"))?
    } else {
        flat(root)?
    };
    if subjects.is_empty() {
        bail!("no scans found in {} (expected BIDS sub-*/anat/, nnU-Net imagesTr/ or .nii/.nii.gz/.mgz/.mgh files)", root.display());
    }
    Ok(subjects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"x").unwrap();
    }

    #[test]
    fn finds_bids_sessions_nnunet_cases_and_flat_groups() {
        let tmp = std::env::temp_dir().join(format!("brainfm-discover-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        let b = tmp.join("bids");
        touch(&b.join("sub-01/anat/sub-01_T1w.nii.gz"));
        touch(&b.join("sub-01/anat/sub-01_FLAIR.nii.gz"));
        touch(&b.join("sub-01/anat/sub-01_dseg.nii.gz"));
        touch(&b.join("sub-02/ses-a/anat/sub-02_ses-a_T2w.nii"));
        touch(&b.join("derivatives/synth/sub-01/anat/sub-01_dseg.nii.gz"));
        touch(&b.join("derivatives/synth/sub-02/ses-a/anat/sub-02_ses-a_dseg.nii.gz"));
        let s = discover(&b).unwrap();
        assert_eq!(s.len(), 2);
        // The subject's own dseg wins over a derivative's; sessions find theirs.
        assert_eq!(s[0].labels, Some(b.join("sub-01/anat/sub-01_dseg.nii.gz")));
        assert_eq!(
            s[1].labels,
            Some(b.join("derivatives/synth/sub-02/ses-a/anat/sub-02_ses-a_dseg.nii.gz"))
        );
        assert_eq!(s[0].id, "sub-01");
        let contrasts: Vec<&str> = s[0].scans.iter().map(|x| x.contrast.as_str()).collect();
        assert_eq!(contrasts, vec!["FLAIR", "T1w"]);
        assert_eq!(s[1].id, "sub-02_ses-a");

        let n = tmp.join("nn");
        touch(&n.join("imagesTr/case_001_0000.nii.gz"));
        touch(&n.join("imagesTr/case_001_0001.nii.gz"));
        touch(&n.join("imagesTr/case_002_0000.nii.gz"));
        touch(&n.join("labelsTr/case_002.nii.gz"));
        let s = discover(&n).unwrap();
        assert_eq!(
            (s.len(), s[0].id.as_str(), s[0].scans.len()),
            (2, "case_001", 2)
        );
        assert_eq!(
            (s[0].labels.clone(), s[1].labels.clone()),
            (None, Some(n.join("labelsTr/case_002.nii.gz")))
        );

        let f = tmp.join("flat");
        touch(&f.join("a_T1w.nii.gz"));
        touch(&f.join("a_T2w.nii.gz"));
        touch(&f.join("b.nii"));
        touch(&f.join("a_dseg.nii.gz"));
        let s = discover(&f).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels, Some(f.join("a_dseg.nii.gz")));
        assert_eq!(s[0].scans.len(), 2);
        assert!(discover(&tmp.join("missing")).is_err());
        let _ = fs::remove_dir_all(&tmp);
    }
}
