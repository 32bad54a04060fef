//! File edges of the CLI: every error names the file.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use brainfm_core::bundle::Bundle;
use brainfm_core::volume::{read_nifti, LabelMap, NiftiImage, ReadOptions};

pub fn read_bytes(path: &Path, what: &str) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

pub fn read_scan(path: &Path, options: &ReadOptions) -> Result<NiftiImage> {
    let bytes = read_bytes(path, "scan")?;
    read_nifti(&bytes, options)
        .with_context(|| format!("{} is not a usable NIfTI scan", path.display()))
}

/// A label map (core's rule: every voxel a whole number in 0..=65535).
pub fn read_label_map(path: &Path) -> Result<LabelMap> {
    let image = read_scan(path, &ReadOptions::default())?;
    LabelMap::from_volume(&image.volume).with_context(|| path.display().to_string())
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
