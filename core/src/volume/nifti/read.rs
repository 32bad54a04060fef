//! Decoding a .nii / .nii.gz held in memory. Every size that drives an allocation is derived
//! from the header and checked against `ReadOptions::max_voxels` first; gzip input is read
//! through bounded `take` readers so a decompression bomb cannot grow buffers past that.

use std::io::Read;

use super::datatype::{self, DataType};
use super::geometry::header_geometry;
use super::header::{parse_header, NiftiHeader, NIFTI2_HEADER_SIZE};
use crate::volume::error::VolumeError;
use crate::volume::grid::Volume;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Refuse images with more voxels than this per 3D volume.
    pub max_voxels: usize,
    /// Which volume of a 4D image to read. `None` reads 3D images (or 4D with one volume)
    /// and refuses real 4D series with `FourDimensional`, so nobody segments volume 0 of
    /// an fMRI run by accident.
    pub volume: Option<usize>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            max_voxels: 512 * 512 * 512,
            volume: None,
        }
    }
}

impl ReadOptions {
    /// Which of `volumes` 3-D volumes to read (NIfTI's 4th dimension, MGH's frames).
    pub(crate) fn volume_index(&self, volumes: usize) -> Result<usize, VolumeError> {
        match self.volume {
            None if volumes > 1 => Err(VolumeError::FourDimensional { volumes }),
            None => Ok(0),
            Some(i) if i >= volumes => {
                Err(VolumeError::VolumeIndexOutOfRange { index: i, volumes })
            }
            Some(i) => Ok(i),
        }
    }
}

/// A decoded image: the header (to write results on the same grid) and the volume in mm.
#[derive(Clone, Debug, PartialEq)]
pub struct NiftiImage {
    pub header: NiftiHeader,
    pub volume: Volume,
}

/// The validated layout of the voxel data: what to read and where.
struct Layout {
    dims: [usize; 3],
    volumes: usize,
    index: usize,
    datatype: DataType,
    /// bytes per 3D volume
    volume_bytes: u64,
    vox_offset: u64,
}

fn layout(h: &NiftiHeader, opts: &ReadOptions) -> Result<Layout, VolumeError> {
    let ndim = h.dim[0];
    if !(1..=7).contains(&ndim) {
        return Err(VolumeError::BadDimCount { ndim });
    }
    let ndim = ndim as usize;
    for axis in 1..=ndim {
        if h.dim[axis] < 1 {
            return Err(VolumeError::BadDim {
                axis,
                value: h.dim[axis],
            });
        }
    }
    let extra: Vec<i64> = (5..=ndim).map(|a| h.dim[a]).collect();
    if extra.iter().any(|&d| d > 1) {
        return Err(VolumeError::HigherDimensions {
            dims: h.dim[1..=ndim].to_vec(),
            extra_dims: extra,
        });
    }
    let sd = h.spatial_dims();
    let volumes = if ndim >= 4 { h.dim[4] } else { 1 };
    let voxels128 = sd
        .iter()
        .try_fold(1u128, |acc, &d| acc.checked_mul(d as u128))
        .unwrap_or(u128::MAX);
    if voxels128 > opts.max_voxels as u128 {
        return Err(VolumeError::TooManyVoxels {
            dims: h.dim[1..=ndim].to_vec(),
            voxels: voxels128,
            max: opts.max_voxels,
        });
    }
    // every factor is now known small enough for usize (checked against max_voxels)
    let dims = [sd[0] as usize, sd[1] as usize, sd[2] as usize];
    let voxels = voxels128 as usize;
    let volumes = usize::try_from(volumes).unwrap_or(usize::MAX);
    let index = opts.volume_index(volumes)?;

    let datatype = DataType::from_code(h.datatype)?;
    let expected_bits = datatype.bytes() as i32 * 8;
    if h.bitpix != expected_bits {
        return Err(VolumeError::BitpixMismatch {
            datatype: h.datatype,
            name: datatype.name(),
            bitpix: h.bitpix,
            expected: expected_bits,
        });
    }
    let header_size = h.header_size() as f64;
    let off = h.vox_offset;
    let bad = |reason: String| {
        Err(VolumeError::BadVoxOffset {
            vox_offset: off,
            reason,
        })
    };
    if !off.is_finite() || off.fract() != 0.0 {
        return bad("not a whole number of bytes".into());
    }
    if off < header_size {
        return bad(format!("less than the header size ({header_size} bytes)"));
    }
    if off > u64::MAX as f64 / 2.0 {
        return bad("absurdly large".into());
    }
    Ok(Layout {
        dims,
        volumes,
        index,
        datatype,
        volume_bytes: (voxels as u64).saturating_mul(datatype.bytes() as u64),
        vox_offset: off as u64,
    })
}

/// Reads a NIfTI-1 or NIfTI-2 single-file image, optionally gzip-compressed.
pub fn read_nifti(bytes: &[u8], opts: &ReadOptions) -> Result<NiftiImage, VolumeError> {
    if bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b {
        read_gzip(bytes, opts)
    } else {
        read_plain(bytes, opts)
    }
}

fn read_plain(bytes: &[u8], opts: &ReadOptions) -> Result<NiftiImage, VolumeError> {
    let parsed = parse_header(bytes)?;
    let l = layout(&parsed.header, opts)?;
    let len = bytes.len() as u64;
    if l.vox_offset > len {
        return Err(VolumeError::BadVoxOffset {
            vox_offset: parsed.header.vox_offset,
            reason: format!("past the end of the file ({len} bytes)"),
        });
    }
    let start = l
        .vox_offset
        .saturating_add((l.index as u64).saturating_mul(l.volume_bytes));
    let end = start.saturating_add(l.volume_bytes);
    if end > len {
        return Err(VolumeError::Truncated {
            offset: start,
            needed: l.volume_bytes,
            available: len.saturating_sub(start),
        });
    }
    let raw = &bytes[start as usize..end as usize];
    finish(parsed.header, parsed.big_endian, &l, raw)
}

fn gz_err(e: std::io::Error) -> VolumeError {
    VolumeError::Gzip {
        message: e.to_string(),
    }
}

/// Reads up to `limit` bytes; growth follows the bytes actually produced, so a header that
/// lies about the size cannot make us reserve memory the stream never fills. Growth doubles
/// but stops at `limit`, so a whole volume ends in a buffer of its own size rather than the
/// next power of two (`read_to_end` alone left up to 2x: 1 GiB for a 512 MiB volume).
pub(crate) fn read_up_to(r: &mut impl Read, limit: u64) -> Result<Vec<u8>, VolumeError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    while out.len() < limit {
        let room = out.len().max(1 << 16).min(limit - out.len());
        out.reserve_exact(room);
        let got = r
            .by_ref()
            .take(room as u64)
            .read_to_end(&mut out)
            .map_err(gz_err)?;
        if got < room {
            break;
        }
    }
    Ok(out)
}

pub(crate) fn skip(r: &mut impl Read, n: u64) -> Result<u64, VolumeError> {
    std::io::copy(&mut r.take(n), &mut std::io::sink()).map_err(gz_err)
}

fn read_gzip(bytes: &[u8], opts: &ReadOptions) -> Result<NiftiImage, VolumeError> {
    // MultiGzDecoder: some tools write .nii.gz as several concatenated gzip members.
    let mut z = flate2::read::MultiGzDecoder::new(bytes);
    let head = read_up_to(&mut z, NIFTI2_HEADER_SIZE as u64)?;
    let parsed = parse_header(&head)?;
    let l = layout(&parsed.header, opts)?;
    let consumed = head.len() as u64;
    let prefix: &[u8] = if l.vox_offset <= consumed {
        &head[l.vox_offset as usize..]
    } else {
        &[]
    };
    if l.vox_offset > consumed {
        let want = l.vox_offset - consumed;
        let got = skip(&mut z, want)?;
        if got < want {
            return Err(VolumeError::BadVoxOffset {
                vox_offset: parsed.header.vox_offset,
                reason: format!(
                    "past the end of the decompressed data ({} bytes)",
                    consumed + got
                ),
            });
        }
    }
    let mut data = prefix.chain(z);
    let before = (l.index as u64).saturating_mul(l.volume_bytes);
    let start = l.vox_offset.saturating_add(before);
    let skipped = skip(&mut data, before)?;
    let raw = if skipped < before {
        Vec::new()
    } else {
        read_up_to(&mut data, l.volume_bytes)?
    };
    if (raw.len() as u64) < l.volume_bytes {
        return Err(VolumeError::Truncated {
            offset: start,
            needed: l.volume_bytes,
            available: raw.len() as u64,
        });
    }
    // The gzip CRC sits at the end of the stream: read on (bounded) to check it, so a
    // corrupted file fails loudly instead of yielding silently wrong voxels. Streams with
    // much more after the data (other 4D volumes, junk) are left unchecked.
    skip(&mut data, CRC_CHECK_LIMIT)?;
    finish(parsed.header, parsed.big_endian, &l, &raw)
}

/// How far past the needed data we decompress to reach the gzip trailer.
pub(crate) const CRC_CHECK_LIMIT: u64 = 16 << 20;

fn finish(
    header: NiftiHeader,
    big_endian: bool,
    l: &Layout,
    raw: &[u8],
) -> Result<NiftiImage, VolumeError> {
    let (affine, spacing) = header_geometry(&header)?;
    // Per the standard, slope 0 means "unscaled"; NaN/Inf slopes occur in the wild and mean
    // the same to nibabel, so do likewise; a non-finite intercept with a valid slope is 0.
    let s = header.scl_slope;
    let scale = if s != 0.0 && s.is_finite() {
        let i = if header.scl_inter.is_finite() {
            header.scl_inter
        } else {
            0.0
        };
        if s == 1.0 && i == 0.0 {
            None
        } else {
            Some((s, i))
        }
    } else {
        None
    };
    // Volume::new checks the decoded length against the dimensions.
    let data = datatype::decode(l.datatype, raw, big_endian, scale);
    let _ = l.volumes;
    let volume = Volume::new(l.dims, spacing, affine, data)?;
    Ok(NiftiImage { header, volume })
}
