//! File edges of the CLI: every error names the file.

use std::fs;
use std::path::Path;

use crate::layout::dicom::DiskSeries;

use anyhow::{bail, Context, Result};
use brainfm_core::bundle::Bundle;
use brainfm_core::volume::dicom::{
    looks_like_dicom, read_dicom, read_series, stack_frames, Pixels,
};
use brainfm_core::volume::{
    read_scan as decode_scan, write_labels, write_mgh_labels, LabelMap, NiftiHeader, NiftiImage,
    ReadOptions,
};

pub fn read_bytes(path: &Path, what: &str) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// A scan file: NIfTI, FreeSurfer MGH/MGZ, or one DICOM file that is a whole volume (an
/// Enhanced MR multi-frame file).
pub fn read_scan(path: &Path, options: &ReadOptions) -> Result<NiftiImage> {
    let bytes = read_bytes(path, "scan")?;
    if looks_like_dicom(&bytes) {
        let shown = path.display().to_string();
        let file = read_dicom(&bytes, &shown, Pixels::Read)?;
        return stack_frames(file.frames, options.max_voxels).with_context(|| {
            format!("{shown} is one DICOM file; give the folder of its series instead")
        });
    }
    decode_scan(&bytes, options).with_context(|| {
        format!(
            "{} is not a usable scan (NIfTI .nii/.nii.gz, FreeSurfer .mgz/.mgh, or DICOM)",
            path.display()
        )
    })
}

/// A DICOM series from its files on disk.
pub fn read_dicom_series(series: &DiskSeries, max_voxels: usize) -> Result<NiftiImage> {
    let files = series
        .files
        .iter()
        .map(|p| Ok((p.display().to_string(), read_bytes(p, "DICOM file")?)))
        .collect::<Result<Vec<_>>>()?;
    let files = files
        .iter()
        .map(|(name, bytes)| (name.as_str(), &bytes[..]));
    Ok(read_series(files, max_voxels)?)
}

/// A label map (core's rule: every voxel a whole number in 0..=65535).
pub fn read_label_map(path: &Path) -> Result<LabelMap> {
    let image = read_scan(path, &ReadOptions::default())?;
    LabelMap::from_volume(&image.volume).with_context(|| path.display().to_string())
}

/// The label-map formats `brainfm predict` writes, chosen by the output's ending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelFormat {
    NiftiGz,
    Nifti,
    Mgz,
    Mgh,
}

impl LabelFormat {
    /// The format a file name's ending asks for (any case), or an error naming the endings.
    pub fn of(path: &Path) -> Result<Self> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        Ok(match () {
            _ if name.ends_with(".nii.gz") => Self::NiftiGz,
            _ if name.ends_with(".nii") => Self::Nifti,
            _ if name.ends_with(".mgz") => Self::Mgz,
            _ if name.ends_with(".mgh") => Self::Mgh,
            _ => bail!(
                "{} must end in .nii.gz, .nii, .mgz or .mgh: the ending chooses the format",
                path.display()
            ),
        })
    }
}

/// A label map file in the format of `path`'s ending; NIfTI keeps the scan's header
/// (`header`), MGH its world grid.
pub fn encode_labels(path: &Path, header: &NiftiHeader, labels: &LabelMap) -> Result<Vec<u8>> {
    let nifti = || write_labels(header, labels).context("cannot encode the label map");
    let mgh = |gzip| write_mgh_labels(labels, gzip).context("cannot encode the label map");
    match LabelFormat::of(path)? {
        LabelFormat::NiftiGz => nifti(),
        LabelFormat::Nifti => gunzip(&nifti()?),
        LabelFormat::Mgz => mgh(true),
        LabelFormat::Mgh => mgh(false),
    }
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

pub fn read_bundle(path: &Path) -> Result<Bundle> {
    let bytes = read_bytes(path, "model bundle")?;
    Bundle::from_bytes(&bytes)
        .with_context(|| format!("{} is not a usable brainfm model", path.display()))
}

/// Write through a temporary file and rename, so an interrupted run never leaves a
/// half-written output where a good one may have been.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_keeping(path, bytes, None)
}

/// [`write_atomic`], and the file `path` held until now becomes `previous` (when given).
/// A failed write (a full disk) removes its temporary file and leaves both untouched.
pub fn write_atomic_keeping(path: &Path, bytes: &[u8], previous: Option<&Path>) -> Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.exists() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create folder {}", parent.display()))?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if let Err(e) = fs::write(&tmp, bytes) {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| {
            format!(
                "cannot write {} ({} bytes); {} is left as it was",
                tmp.display(),
                bytes.len(),
                path.display()
            )
        });
    }
    if let Some(previous) = previous.filter(|_| path.exists()) {
        fs::rename(path, previous)
            .with_context(|| format!("cannot move {} to {}", path.display(), previous.display()))?;
    }
    fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}
