//! FreeSurfer MGH / MGZ (gzip-compressed MGH) decoding, from bytes. The format is a
//! 284-byte big-endian header (dims, voxel type, voxel sizes, direction cosines and the RAS
//! of the volume's centre) followed by the voxels, x fastest, frames last. The world affine
//! follows FreeSurfer and nibabel (`MGHHeader.get_affine`): columns `Mdc_i * delta_i`, and
//! the centre voxel `dims / 2` (not `(dims - 1) / 2`) sits at `Pxyz_c`.
//!
//! A decoded MGH comes back as a [`NiftiImage`] whose header is synthesised from its grid,
//! so labels are written as NIfTI on exactly the scan's world grid, or as MGH (`write.rs`).

mod write;

pub use write::{write_mgh_labels, write_mgh_volume};

use std::io::Read;

use super::error::VolumeError;
use super::grid::Volume;
use super::nifti::{header_from_grid, skip, DataType, NiftiImage, ReadOptions, CRC_CHECK_LIMIT};

/// Bytes before the voxels.
pub const MGH_HEADER_SIZE: usize = 284;
/// Bytes of the header that carry meaning (the rest is reserved).
const USED: usize = 90;

/// The parsed header fields brainfm uses.
#[derive(Clone, Debug, PartialEq)]
pub struct MghHeader {
    /// width, height, depth, frames
    pub dims: [i32; 4],
    pub type_code: i32,
    /// Whether `mdc` and `centre` are valid; FreeSurfer and nibabel use a coronal default
    /// otherwise.
    pub good_ras: bool,
    pub delta: [f32; 3],
    /// Row `i`: the RAS direction of array axis `i`.
    pub mdc: [[f32; 3]; 3],
    pub centre: [f32; 3],
}

/// Whether `head` (at least 4 decompressed bytes) starts like an MGH file: version 1,
/// big-endian. NIfTI starts with 348 or 540, so the two cannot be confused.
pub fn looks_like_mgh(head: &[u8]) -> bool {
    head.len() >= 4 && i32::from_be_bytes([head[0], head[1], head[2], head[3]]) == 1
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_f32(b: &[u8], at: usize) -> f32 {
    f32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// FreeSurfer's type codes that FreeSurfer's own MATLAB loader and nibabel read.
fn data_type(code: i32) -> Result<DataType, VolumeError> {
    Ok(match code {
        0 => DataType::U8,
        1 => DataType::I32,
        3 => DataType::F32,
        4 => DataType::I16,
        10 => DataType::U16,
        _ => return Err(VolumeError::UnsupportedMghType { code }),
    })
}

pub fn parse_mgh_header(b: &[u8]) -> Result<MghHeader, VolumeError> {
    if b.len() < USED {
        return Err(VolumeError::FileTooShort {
            len: b.len(),
            needed: MGH_HEADER_SIZE,
        });
    }
    if !looks_like_mgh(b) {
        return Err(VolumeError::BadMghVersion {
            version: be_i32(b, 0),
        });
    }
    let f3 = |at: usize| [be_f32(b, at), be_f32(b, at + 4), be_f32(b, at + 8)];
    Ok(MghHeader {
        dims: [be_i32(b, 4), be_i32(b, 8), be_i32(b, 12), be_i32(b, 16)],
        type_code: be_i32(b, 20),
        good_ras: i16::from_be_bytes([b[28], b[29]]) != 0,
        delta: f3(30),
        mdc: [f3(42), f3(54), f3(66)],
        centre: f3(78),
    })
}

impl MghHeader {
    /// Voxel sizes (mm) and the voxel-to-world affine, as nibabel computes them.
    pub fn geometry(&self) -> Result<([f64; 3], [[f64; 4]; 4]), VolumeError> {
        let (delta, mdc, centre) = if self.good_ras {
            (self.delta, self.mdc, self.centre)
        } else {
            // FreeSurfer's default: coronal slices, 1 mm, centred at the origin.
            (
                [1.0; 3],
                [[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]],
                [0.0; 3],
            )
        };
        let values: Vec<f64> = delta
            .iter()
            .chain(mdc.iter().flatten())
            .chain(centre.iter())
            .map(|&v| v as f64)
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(VolumeError::NonFiniteField {
                field: "MGH delta/Mdc/Pxyz_c",
                values,
            });
        }
        let spacing = delta.map(|d| (d as f64).abs());
        if !spacing.iter().all(|&s| s > 0.0) {
            return Err(VolumeError::InvalidSpacing { spacing });
        }
        let mut a = [[0.0; 4]; 4];
        a[3][3] = 1.0;
        for row in 0..3 {
            let mut shift = 0.0;
            for axis in 0..3 {
                let column = mdc[axis][row] as f64 * delta[axis] as f64;
                a[row][axis] = column;
                shift += column * self.dims[axis] as f64 / 2.0;
            }
            a[row][3] = centre[row] as f64 - shift;
        }
        VolumeError::check_affine(&a)?;
        Ok((spacing, a))
    }
}

/// Reads an MGH image, or an MGZ (gzip) one, one frame of it as `opts` says (the same rule
/// as NIfTI: a multi-frame file needs `opts.volume`).
pub fn read_mgh(bytes: &[u8], opts: &ReadOptions) -> Result<NiftiImage, VolumeError> {
    let gz = bytes.starts_with(&[0x1f, 0x8b]);
    let mut plain: &[u8] = bytes;
    let mut z = flate2::read::MultiGzDecoder::new(bytes);
    let mut r: &mut dyn Read = if gz { &mut z } else { &mut plain };
    let head = super::nifti::read_up_to(&mut r, MGH_HEADER_SIZE as u64)?;
    let h = parse_mgh_header(&head)?;
    for (axis, &d) in h.dims.iter().enumerate() {
        if d < 1 {
            return Err(VolumeError::BadDim {
                axis: axis + 1,
                value: d as i64,
            });
        }
    }
    let dims_i64: Vec<i64> = h.dims.iter().map(|&d| d as i64).collect();
    let voxels: u128 = h.dims[..3].iter().map(|&d| d as u128).product();
    if voxels > opts.max_voxels as u128 {
        return Err(VolumeError::TooManyVoxels {
            dims: dims_i64,
            voxels,
            max: opts.max_voxels,
        });
    }
    let index = opts.volume_index(h.dims[3] as usize)?;
    let datatype = data_type(h.type_code)?;
    let (spacing, affine) = h.geometry()?;
    if head.len() < MGH_HEADER_SIZE {
        return Err(VolumeError::Truncated {
            offset: 0,
            needed: MGH_HEADER_SIZE as u64,
            available: head.len() as u64,
        });
    }
    let volume_bytes = (voxels as u64) * datatype.bytes() as u64;
    let before = index as u64 * volume_bytes;
    let skipped = skip(&mut r, before)?;
    let raw = if skipped < before {
        Vec::new()
    } else {
        super::nifti::read_up_to(&mut r, volume_bytes)?
    };
    if (raw.len() as u64) < volume_bytes {
        return Err(VolumeError::Truncated {
            offset: MGH_HEADER_SIZE as u64 + before,
            needed: volume_bytes,
            available: raw.len() as u64,
        });
    }
    // Read on (bounded) to the gzip trailer so a corrupted .mgz fails on its CRC rather than
    // yielding wrong voxels; the optional footer (TR, flip angle, tags) is not used.
    skip(&mut r, CRC_CHECK_LIMIT)?;
    let data = super::nifti::decode(datatype, &raw, true, None);
    let dims = [h.dims[0] as usize, h.dims[1] as usize, h.dims[2] as usize];
    let volume = Volume::new(dims, spacing, affine, data)?;
    Ok(NiftiImage {
        header: header_from_grid(&volume),
        volume,
    })
}

#[cfg(test)]
mod tests;
