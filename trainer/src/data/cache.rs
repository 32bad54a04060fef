//! The preprocessing cache: every scan goes through core's preprocessing once (RAS,
//! crop to non-zero, resampling, z-score) and is stored as little-endian f16 in
//! `<cache>/<key>.f16`, then memory-mapped, so a large dataset costs page cache, not heap,
//! and a second run starts at once. Label maps (for `swap+anat`) follow their subject's
//! first scan onto its grid and are stored as u16. Keys hash the file's path, size, mtime and the
//! preprocessing settings, so a changed scan or setting is never served stale.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{bail, Context, Result};
use brainfm_core::bundle::sha256_hex;
use brainfm_core::volume::{
    preprocess, resample_to_dims, voxel_count, PreprocessConfig, ReadOptions,
};
use burn::tensor::f16;
use memmap2::Mmap;
use rayon::prelude::*;

use crate::io::{read_label_map, read_scan, write_atomic};
use crate::layout::SubjectScans;

/// One subject's co-registered, preprocessed scans (all on one grid, x fastest).
pub struct CachedSubject {
    pub dims: [usize; 3],
    pub contrasts: Vec<String>,
    volumes: Vec<Mmap>,
    /// The label map on the same grid (little-endian u16), when asked for and present.
    labels: Option<Mmap>,
}

impl CachedSubject {
    pub fn voxel(&self, scan: usize, index: usize) -> f32 {
        let b = &self.volumes[scan][2 * index..2 * index + 2];
        f16::from_le_bytes([b[0], b[1]]).to_f32()
    }

    pub fn scans(&self) -> usize {
        self.volumes.len()
    }

    pub fn has_labels(&self) -> bool {
        self.labels.is_some()
    }

    pub fn label(&self, index: usize) -> u16 {
        self.labels
            .as_ref()
            .map_or(0, |m| u16::from_le_bytes([m[2 * index], m[2 * index + 1]]))
    }

    /// Largest label value (0 without labels).
    pub fn max_label(&self) -> u16 {
        self.labels.as_ref().map_or(0, |m| {
            m.chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .max()
                .unwrap_or(0)
        })
    }
}

fn key(path: &Path, cfg: &PreprocessConfig) -> Result<String> {
    let meta =
        fs::metadata(path).with_context(|| format!("cannot read scan {}", path.display()))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let cfg = serde_json::to_string(cfg)?;
    let abs = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    Ok(
        sha256_hex(format!("{}|{}|{mtime}|{cfg}|v1", abs.display(), meta.len()).as_bytes())[..20]
            .to_string(),
    )
}

fn header_path(cache: &Path, key: &str) -> PathBuf {
    cache.join(format!("{key}.json"))
}

/// Preprocess (or reuse) one scan; `target` forces the grid of the subject's first scan.
fn cached_scan(
    path: &Path,
    cfg: &PreprocessConfig,
    cache: &Path,
    target: Option<[usize; 3]>,
) -> Result<([usize; 3], Mmap)> {
    let k = format!(
        "{}{}",
        key(path, cfg)?,
        target.map_or(String::new(), |d| format!("-{}x{}x{}", d[0], d[1], d[2]))
    );
    let data_path = cache.join(format!("{k}.f16"));
    let dims_path = header_path(cache, &k);
    if !(data_path.exists() && dims_path.exists()) {
        let img = read_scan(path, &ReadOptions::default())?;
        let pre = preprocess(&img.volume, cfg)
            .with_context(|| format!("cannot preprocess {}", path.display()))?;
        let mut vol = pre.volume;
        if let Some(d) = target.filter(|d| *d != vol.dims) {
            vol = resample_to_dims(&vol, d).with_context(|| {
                format!("cannot bring {} onto its subject's grid", path.display())
            })?;
        }
        let bytes: Vec<u8> = vol
            .data
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect();
        write_atomic(&data_path, &bytes)?;
        write_atomic(&dims_path, serde_json::to_string(&vol.dims)?.as_bytes())?;
    }
    let dims = entry_dims(
        &fs::read(&dims_path).with_context(|| format!("cannot read {}", dims_path.display()))?,
    )
    .with_context(|| format!("cache entry {} is corrupt; delete it", dims_path.display()))?;
    Ok((dims, map_entry(&data_path, dims)?))
}

/// The grid of a cache entry from its `.json` file: three positive sizes whose voxel count
/// fits in memory (a damaged or hand-edited file must not overflow the size check).
pub fn entry_dims(json: &[u8]) -> Result<[usize; 3]> {
    let dims: [usize; 3] = serde_json::from_slice(json)?;
    match voxel_count(dims).and_then(|n| n.checked_mul(2)) {
        Some(bytes) if bytes > 0 && bytes <= isize::MAX as usize => Ok(dims),
        _ => bail!("impossible grid {dims:?}"),
    }
}

/// Memory-maps a cache entry of 2-byte voxels (f16 scans, u16 labels) on a `dims` grid.
fn map_entry(data_path: &Path, dims: [usize; 3]) -> Result<Mmap> {
    let file = fs::File::open(data_path)
        .with_context(|| format!("cannot open {}", data_path.display()))?;
    // SAFETY: cache files are written once through temp + rename and never modified in place.
    let map = unsafe { Mmap::map(&file) }
        .with_context(|| format!("cannot memory-map {}", data_path.display()))?;
    if Some(map.len()) != voxel_count(dims).and_then(|n| n.checked_mul(2)) {
        bail!(
            "cache entry {} has the wrong size; delete it",
            data_path.display()
        );
    }
    Ok(map)
}

/// A subject's label map carried onto its first scan's preprocessed grid (the transform
/// preprocessing gave that scan, nearest neighbour), cached as u16.
fn cached_labels(
    labels: &Path,
    first_scan: &Path,
    cfg: &PreprocessConfig,
    cache: &Path,
    dims: [usize; 3],
) -> Result<Mmap> {
    let k = format!("{}-labels-{}", key(labels, cfg)?, key(first_scan, cfg)?);
    let data_path = cache.join(format!("{k}.u16"));
    if !data_path.exists() {
        let img = read_scan(first_scan, &ReadOptions::default())?;
        let map = read_label_map(labels)?;
        let pre = preprocess(&img.volume, cfg)
            .with_context(|| format!("cannot preprocess {}", first_scan.display()))?;
        let lab = pre.transform.labels_from_input(&map).with_context(|| {
            format!(
                "label map {} does not fit scan {}",
                labels.display(),
                first_scan.display()
            )
        })?;
        let bytes: Vec<u8> = lab.iter().flat_map(|v| v.to_le_bytes()).collect();
        write_atomic(&data_path, &bytes)?;
    }
    map_entry(&data_path, dims)
}

/// Preprocess every subject (in parallel) into `cache` and map the results; with
/// `labels`, also the label maps of the subjects that have one.
pub fn build_cache(
    subjects: &[SubjectScans],
    cfg: &PreprocessConfig,
    cache: &Path,
    labels: bool,
) -> Result<Vec<CachedSubject>> {
    fs::create_dir_all(cache)
        .with_context(|| format!("cannot create cache folder {}", cache.display()))?;
    subjects
        .par_iter()
        .map(|s| {
            let (dims, first) = cached_scan(&s.scans[0].path, cfg, cache, None)?;
            let mut volumes = vec![first];
            for scan in &s.scans[1..] {
                volumes.push(cached_scan(&scan.path, cfg, cache, Some(dims))?.1);
            }
            let labels = match (&s.labels, labels) {
                (Some(l), true) => Some(cached_labels(l, &s.scans[0].path, cfg, cache, dims)?),
                _ => None,
            };
            Ok(CachedSubject {
                dims,
                contrasts: s.scans.iter().map(|x| x.contrast.clone()).collect(),
                volumes,
                labels,
            })
        })
        .collect()
}
