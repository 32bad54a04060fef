//! Where each scan of a folder run comes from and where its results go, by the input's
//! layout: BIDS derivatives for a BIDS dataset, nnU-Net's `CASE.nii.gz` for an nnU-Net
//! dataset, `NAME_seg.nii.gz` + `NAME_volumes.csv` beside each other for a plain folder,
//! where every DICOM series found below it (`S003_T1_MPRAGE_seg.nii.gz`) is one scan too.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::layout::dicom::{find_series, DiskSeries, Unreadable};
use crate::layout::nnunet::parse_image_stem;
use crate::layout::{bids, discover, scans_in, stem};

/// The pipeline name in BIDS derivative file names (`desc-brainfm`).
pub const PIPELINE: &str = "brainfm";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Bids,
    NnUnet,
    Flat,
}

/// Where a scan's voxels are: one file, or the files of one DICOM series.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    File(PathBuf),
    Dicom(DiskSeries),
}

impl Source {
    /// How errors name it.
    pub fn shown(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Dicom(s) => format!(
                "DICOM series {} ({} files under {})",
                s.info.label(),
                s.files.len(),
                s.files
                    .first()
                    .and_then(|f| f.parent())
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            ),
        }
    }
}

/// One scan to segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub input: Source,
    /// The scan's path under the input folder: its name in the dataset's volumes table.
    pub name: String,
    pub labels: PathBuf,
    /// A per-scan volumes table (plain folders only; datasets get volumes.csv alone).
    pub volumes: Option<PathBuf>,
}

impl Job {
    /// Already segmented by an earlier run.
    pub fn done(&self) -> bool {
        self.labels.is_file() && self.volumes.as_ref().is_none_or(|v| v.is_file())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub layout: Layout,
    pub jobs: Vec<Job>,
    /// Scans seen and deliberately not segmented (other nnU-Net channels), for the summary.
    pub left_out: usize,
    /// DICOM files that could not be read, with the reason (no series takes them).
    pub unreadable: Unreadable,
}

fn relative(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .to_string()
}

/// The plan for segmenting everything under `input` into `output` (`embed` reads only its scans).
pub fn plan(input: &Path, output: &Path) -> Result<Plan> {
    if !input.is_dir() {
        bail!("{} is not a folder that can be listed", input.display());
    }
    let has_subjects = bids::is_bids(input);
    let images = ["imagesTs", "imagesTr"]
        .into_iter()
        .map(|d| input.join(d))
        .find(|d| d.is_dir());
    let plan = if has_subjects {
        bids_plan(input, output)?
    } else if let Some(images) = images {
        nnunet_plan(input, &images, output)?
    } else {
        flat_plan(input, output)?
    };
    if plan.jobs.is_empty() {
        bail!(
            "{} holds no scans (.nii, .nii.gz, .mgz, .mgh, or DICOM series){}",
            input.display(),
            match plan.unreadable.first() {
                Some((p, e)) => format!(
                    "; {} DICOM files could not be read, e.g. {}: {e}",
                    plan.unreadable.len(),
                    p.display()
                ),
                None => String::new(),
            }
        );
    }
    Ok(plan)
}

fn bids_plan(input: &Path, output: &Path) -> Result<Plan> {
    let mut jobs = Vec::new();
    for subject in discover(input)? {
        for scan in subject.scans {
            let folder = scan.path.parent().unwrap_or(input);
            let out_dir = output.join(folder.strip_prefix(input).unwrap_or(Path::new("")));
            let name = bids::derivative_dseg_stem(&stem(&scan.path), PIPELINE);
            jobs.push(Job {
                name: relative(input, &scan.path),
                labels: out_dir.join(format!("{name}.nii.gz")),
                input: Source::File(scan.path),
                volumes: None,
            });
        }
    }
    Ok(Plan {
        layout: Layout::Bids,
        jobs,
        left_out: 0,
        unreadable: Vec::new(),
    })
}

/// nnU-Net's own prediction layout: `OUTPUT/CASE.nii.gz` for `imagesTs/CASE_0000.nii.gz`.
/// The network takes one channel: channel 0000 is segmented, the others are counted.
fn nnunet_plan(root: &Path, images: &Path, output: &Path) -> Result<Plan> {
    let (mut jobs, mut left_out) = (Vec::new(), 0);
    for path in scans_in(images)? {
        let s = stem(&path);
        let Some((case, channel)) = parse_image_stem(&s) else {
            bail!(
                "{} does not follow nnU-Net's CASE_XXXX.nii.gz naming",
                path.display()
            );
        };
        if channel != "0000" {
            left_out += 1;
            continue;
        }
        jobs.push(Job {
            name: relative(root, &path),
            labels: output.join(format!("{case}.nii.gz")),
            input: Source::File(path),
            volumes: None,
        });
    }
    Ok(Plan {
        layout: Layout::NnUnet,
        jobs,
        left_out,
        unreadable: Vec::new(),
    })
}

fn flat_plan(input: &Path, output: &Path) -> Result<Plan> {
    let mut jobs: Vec<Job> = scans_in(input)?
        .into_iter()
        .map(|path| {
            let name = stem(&path);
            Job {
                name: relative(input, &path),
                labels: output.join(format!("{name}_seg.nii.gz")),
                volumes: Some(output.join(format!("{name}_volumes.csv"))),
                input: Source::File(path),
            }
        })
        .collect();
    let (series, unreadable) = find_series(input)?;
    for s in series {
        // Two series may share a number and description: the later ones get a suffix.
        let base = s.info.file_stem();
        let taken = |n: &str| {
            jobs.iter()
                .any(|j| j.labels == output.join(format!("{n}_seg.nii.gz")))
        };
        let name = (1..)
            .map(|k| match k {
                1 => base.clone(),
                k => format!("{base}_{k}"),
            })
            .find(|n| !taken(n))
            .expect("an unused name");
        jobs.push(Job {
            name: format!("{name} (DICOM: {})", s.info.label()),
            labels: output.join(format!("{name}_seg.nii.gz")),
            volumes: Some(output.join(format!("{name}_volumes.csv"))),
            input: Source::Dicom(s),
        });
    }
    Ok(Plan {
        layout: Layout::Flat,
        jobs,
        left_out: 0,
        unreadable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    fn outputs(plan: &Plan, out: &Path) -> Vec<String> {
        plan.jobs.iter().map(|j| relative(out, &j.labels)).collect()
    }

    #[test]
    fn each_layout_names_its_outputs() {
        let tmp = std::env::temp_dir().join(format!("brainfm-plan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let out = tmp.join("out");

        let b = tmp.join("bids");
        touch(&b.join("sub-01/anat/sub-01_T1w.nii.gz"));
        touch(&b.join("sub-01/anat/sub-01_T2w.nii.gz"));
        touch(&b.join("sub-01/anat/sub-01_dseg.nii.gz"));
        touch(&b.join("sub-02/ses-a/anat/sub-02_ses-a_T1w.mgz"));
        touch(&b.join("sub-02/ses-a/func/sub-02_ses-a_bold.nii.gz"));
        let p = plan(&b, &out).unwrap();
        assert_eq!(p.layout, Layout::Bids);
        assert_eq!(
            outputs(&p, &out),
            [
                "sub-01/anat/sub-01_desc-brainfm_dseg.nii.gz",
                "sub-01/anat/sub-01_desc-brainfmT2w_dseg.nii.gz",
                "sub-02/ses-a/anat/sub-02_ses-a_desc-brainfm_dseg.nii.gz"
            ]
        );
        assert_eq!(p.jobs[2].name, "sub-02/ses-a/anat/sub-02_ses-a_T1w.mgz");
        assert_eq!(
            p.jobs[2].input,
            Source::File(b.join("sub-02/ses-a/anat/sub-02_ses-a_T1w.mgz"))
        );

        let n = tmp.join("nn");
        touch(&n.join("imagesTr/a_0000.nii.gz"));
        touch(&n.join("imagesTs/b_0000.nii.gz"));
        touch(&n.join("imagesTs/b_0001.nii.gz"));
        touch(&n.join("imagesTs/c_0000.nii.gz"));
        let p = plan(&n, &out).unwrap();
        assert_eq!((p.layout, p.left_out), (Layout::NnUnet, 1));
        assert_eq!(outputs(&p, &out), ["b.nii.gz", "c.nii.gz"]);
        touch(&n.join("imagesTs/notes.nii.gz"));
        assert!(format!("{:#}", plan(&n, &out).unwrap_err()).contains("notes.nii.gz"));

        let f = tmp.join("flat");
        touch(&f.join("T1.MGZ"));
        touch(&f.join("a.nii"));
        touch(&f.join("readme.txt"));
        let p = plan(&f, &out).unwrap();
        assert_eq!(p.layout, Layout::Flat);
        assert_eq!(outputs(&p, &out), ["T1_seg.nii.gz", "a_seg.nii.gz"]);
        assert_eq!(p.jobs[0].volumes, Some(out.join("T1_volumes.csv")));
        assert!(!p.jobs[0].done());

        // DICOM series anywhere below a plain folder: one scan each, named by series.
        let fixtures =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src/volume/dicom/fixtures/series");
        let d = tmp.join("dicom/patient/study");
        std::fs::create_dir_all(&d).unwrap();
        for e in std::fs::read_dir(&fixtures).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
        }
        std::fs::write(d.join("S1IM9999"), b"DICM? no: too short").unwrap();
        let p = plan(&tmp.join("dicom"), &out).unwrap();
        assert_eq!(
            outputs(&p, &out),
            [
                "S001_oblique_t1_seg.nii.gz",
                "S002_sagittal_localiser_seg.nii.gz"
            ]
        );
        assert!(matches!(&p.jobs[0].input, Source::Dicom(s) if s.files.len() == 12));
        assert!(p.jobs[1]
            .name
            .contains("sagittal localiser (MR, 6 slices of 16 x 14)"));

        assert!(plan(&tmp.join("out-missing"), &out).is_err());
        std::fs::create_dir_all(tmp.join("empty")).unwrap();
        assert!(plan(&tmp.join("empty"), &out).is_err());
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
