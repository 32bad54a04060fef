//! Label maps (and float volumes) as FreeSurfer MGH / MGZ, for `brainfm predict --output
//! labels.mgz`: the same world grid as the scan (the affine is stored as voxel sizes,
//! direction cosines and the centre's RAS, in f32 as the format has it).

use std::io::Write;

use super::MGH_HEADER_SIZE;
use crate::volume::error::VolumeError;
use crate::volume::grid::{Grid, LabelMap, Volume};

/// Voxel type codes written: uchar when every label fits, else int (as FreeSurfer's own
/// aseg files are), which every FreeSurfer version and nibabel read.
const UCHAR: i32 = 0;
const INT: i32 = 1;
const FLOAT: i32 = 3;

fn header<T>(grid: &Grid<T>, type_code: i32) -> Result<Vec<u8>, VolumeError> {
    let mut h = Vec::with_capacity(MGH_HEADER_SIZE);
    h.extend_from_slice(&1i32.to_be_bytes());
    for d in grid.dims.iter().copied().chain([1]) {
        let d = i32::try_from(d).map_err(|_| VolumeError::InvalidGridDims { dims: grid.dims })?;
        h.extend_from_slice(&d.to_be_bytes());
    }
    h.extend_from_slice(&type_code.to_be_bytes());
    h.extend_from_slice(&0i32.to_be_bytes()); // dof
    h.extend_from_slice(&1i16.to_be_bytes()); // goodRASFlag
    let a = grid.affine;
    let delta = grid.spacing;
    for d in delta {
        h.extend_from_slice(&(d as f32).to_be_bytes());
    }
    for (axis, d) in delta.iter().enumerate() {
        for row in a.iter().take(3) {
            h.extend_from_slice(&((row[axis] / d) as f32).to_be_bytes());
        }
    }
    for row in a.iter().take(3) {
        let centre = row[3]
            + (0..3)
                .map(|axis| row[axis] * grid.dims[axis] as f64 / 2.0)
                .sum::<f64>();
        h.extend_from_slice(&(centre as f32).to_be_bytes());
    }
    h.resize(MGH_HEADER_SIZE, 0);
    Ok(h)
}

/// The label map as MGH bytes, gzip-compressed (.mgz) when `gzip`.
pub fn write_mgh_labels(labels: &LabelMap, gzip: bool) -> Result<Vec<u8>, VolumeError> {
    let small = labels.data.iter().all(|&l| l <= u8::MAX as u16);
    let mut bytes = header(labels, if small { UCHAR } else { INT })?;
    bytes.reserve(labels.data.len() * if small { 1 } else { 4 });
    for &l in &labels.data {
        match small {
            true => bytes.push(l as u8),
            false => bytes.extend_from_slice(&(l as i32).to_be_bytes()),
        }
    }
    finish(bytes, gzip)
}

/// A float volume as MGH bytes (type float), gzip-compressed (.mgz) when `gzip`.
pub fn write_mgh_volume(volume: &Volume, gzip: bool) -> Result<Vec<u8>, VolumeError> {
    let mut bytes = header(volume, FLOAT)?;
    bytes.reserve(volume.data.len() * 4);
    for v in &volume.data {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    finish(bytes, gzip)
}

fn finish(bytes: Vec<u8>, gzip: bool) -> Result<Vec<u8>, VolumeError> {
    if !gzip {
        return Ok(bytes);
    }
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&bytes)
        .and_then(|_| z.finish())
        .map_err(|e| VolumeError::Gzip {
            message: e.to_string(),
        })
}
