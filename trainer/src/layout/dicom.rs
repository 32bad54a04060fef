//! DICOM folders: every DICOM file below a folder (any depth, any name: scanners write
//! `IM0001`, `1.2.840...dcm` or DICOMDIR trees), grouped into series by core.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Result;
use brainfm_core::volume::dicom::{group_series, looks_like_dicom, read_dicom, Pixels, SeriesInfo};

use super::list;

/// How deep below the folder DICOM files are looked for.
const MAX_DEPTH: usize = 8;

/// A series found on disk: what it is, and its files.
#[derive(Clone, Debug, PartialEq)]
pub struct DiskSeries {
    pub info: SeriesInfo,
    pub files: Vec<PathBuf>,
}

fn starts_like_dicom(path: &Path) -> bool {
    let mut head = [0u8; 132];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|_| looks_like_dicom(&head))
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<()> {
    for p in list(dir)? {
        if p.is_dir() && depth < MAX_DEPTH {
            walk(&p, depth + 1, out)?;
        } else if p.is_file() && starts_like_dicom(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// DICOM files that could not be read, each with the reason.
pub type Unreadable = Vec<(PathBuf, String)>;

/// The DICOM series under `root`, and the DICOM files that could not be read (they are
/// left out of every series).
pub fn find_series(root: &Path) -> Result<(Vec<DiskSeries>, Unreadable)> {
    let mut paths = Vec::new();
    walk(root, 0, &mut paths)?;
    let (mut files, mut kept, mut bad) = (Vec::new(), Vec::new(), Vec::new());
    for p in paths {
        let read = std::fs::read(&p).map_err(|e| e.to_string()).and_then(|b| {
            read_dicom(&b, &p.display().to_string(), Pixels::Skip).map_err(|e| e.to_string())
        });
        match read {
            Ok(f) => {
                files.push(f);
                kept.push(p);
            }
            Err(e) => bad.push((p, e)),
        }
    }
    let series = group_series(&files)
        .into_iter()
        .map(|info| DiskSeries {
            files: info.files.iter().map(|&i| kept[i].clone()).collect(),
            info,
        })
        .collect();
    Ok((series, bad))
}
