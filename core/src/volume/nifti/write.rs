//! Encoding label maps and float volumes as .nii.gz bytes on a given grid.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::geometry::affine_to_quatern;
use super::header::{encode_header, NiftiHeader};
use crate::volume::error::VolumeError;
use crate::volume::grid::{Grid, LabelMap, Volume};

/// NIFTI_INTENT_LABEL: voxel values are label indices, so viewers show them as a lookup
/// table rather than intensities.
pub const NIFTI_INTENT_LABEL: i32 = 1002;
/// sform/qform code "aligned to another file".
pub const XFORM_ALIGNED: i32 = 2;

fn f32_exact(v: f64) -> bool {
    v.is_nan() || (v as f32) as f64 == v
}

/// NIfTI-1 holds dims as i16 and floats as f32: use it only when nothing is lost, else
/// NIfTI-2 (i64 dims, f64 floats), so the output grid is the input grid bit for bit.
fn choose_version(h: &NiftiHeader) -> u8 {
    let dims_fit = h
        .dim
        .iter()
        .all(|&d| (i16::MIN as i64..=i16::MAX as i64).contains(&d));
    let floats = h
        .pixdim
        .iter()
        .chain(&h.srow_x)
        .chain(&h.srow_y)
        .chain(&h.srow_z)
        .chain(&[
            h.quatern_b,
            h.quatern_c,
            h.quatern_d,
            h.qoffset_x,
            h.qoffset_y,
            h.qoffset_z,
            h.scl_slope,
            h.scl_inter,
            h.cal_min,
            h.cal_max,
        ])
        .all(|&v| f32_exact(v));
    let ints_fit = [h.qform_code, h.sform_code, h.intent_code, h.datatype]
        .iter()
        .all(|&v| (i16::MIN as i32..=i16::MAX as i32).contains(&v))
        && (0..=255).contains(&h.xyzt_units);
    if dims_fit && floats && ints_fit {
        1
    } else {
        2
    }
}

/// The header of an output image: the input geometry, 3D, with our datatype and no scaling.
fn output_header<T>(
    src: &NiftiHeader,
    grid: &Grid<T>,
    datatype: i32,
    bitpix: i32,
) -> Result<NiftiHeader, VolumeError> {
    let sd = src.spatial_dims();
    let gd = grid.dims;
    if (0..3).any(|i| sd[i] < 0 || sd[i] as u64 != gd[i] as u64) {
        return Err(VolumeError::DimsMismatch {
            header: sd.to_vec(),
            labels: gd,
        });
    }
    let n: usize = gd.iter().product();
    if grid.data.len() != n {
        return Err(VolumeError::DataLength {
            dims: gd,
            expected: n,
            actual: grid.data.len(),
        });
    }
    let mut h = src.clone();
    h.dim = [3, sd[0], sd[1], sd[2], 1, 1, 1, 1];
    h.datatype = datatype;
    h.bitpix = bitpix;
    h.scl_slope = 1.0;
    h.scl_inter = 0.0;
    h.version = choose_version(&h);
    h.vox_offset = (h.header_size() + 4) as f64;
    Ok(h)
}

/// Streams header + voxels through the compressor in small chunks, so writing never holds
/// an uncompressed copy of the image (it matters in a browser tab).
fn gzip<T: Copy>(header: &NiftiHeader, data: &[T], encode: impl Fn(T, &mut Vec<u8>)) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    let mut buf = encode_header(header);
    // writes into a Vec cannot fail; errors are impossible here
    for chunk in data.chunks(1 << 16) {
        for &v in chunk {
            encode(v, &mut buf);
        }
        let _ = enc.write_all(&buf);
        buf.clear();
    }
    let _ = enc.write_all(&buf);
    enc.finish().unwrap_or_default()
}

/// Writes a segmentation as .nii.gz on the grid of `header` (the header of the image it
/// was computed from), so it overlays that image in any viewer.
pub fn write_labels(header: &NiftiHeader, labels: &LabelMap) -> Result<Vec<u8>, VolumeError> {
    let max = labels.data.iter().copied().max().unwrap_or(0);
    let min = labels.data.iter().copied().min().unwrap_or(0);
    let small = max < 256;
    let (dt, bits) = if small { (2, 8) } else { (512, 16) };
    let mut h = output_header(header, labels, dt, bits)?;
    h.intent_code = NIFTI_INTENT_LABEL;
    h.intent_name = "labels".into();
    h.intent_p1 = 0.0;
    h.intent_p2 = 0.0;
    h.intent_p3 = 0.0;
    h.cal_min = min as f64;
    h.cal_max = max as f64;
    h.descrip = "brainfm segmentation".into();
    h.version = choose_version(&h);
    h.vox_offset = (h.header_size() + 4) as f64;
    Ok(if small {
        gzip(&h, &labels.data, |v, out| out.push(v as u8))
    } else {
        gzip(&h, &labels.data, |v, out| {
            out.extend_from_slice(&v.to_le_bytes())
        })
    })
}

/// A header describing `volume`'s grid on its own: sform from the affine ("aligned"), and
/// a qform too when the affine is a rotation times the spacing (else qform_code 0).
pub fn header_from_grid<T>(grid: &Grid<T>) -> NiftiHeader {
    let a = grid.affine;
    let s = grid.spacing;
    let mut h = NiftiHeader {
        dim: [
            3,
            grid.dims[0] as i64,
            grid.dims[1] as i64,
            grid.dims[2] as i64,
            1,
            1,
            1,
            1,
        ],
        pixdim: [1.0, s[0], s[1], s[2], 0.0, 0.0, 0.0, 0.0],
        sform_code: XFORM_ALIGNED,
        srow_x: a[0],
        srow_y: a[1],
        srow_z: a[2],
        ..Default::default()
    };
    if let Some(q) = affine_to_quatern(&a, s) {
        h.qform_code = XFORM_ALIGNED;
        h.quatern_b = q.b;
        h.quatern_c = q.c;
        h.quatern_d = q.d;
        h.pixdim[0] = q.qfac;
        h.qoffset_x = a[0][3];
        h.qoffset_y = a[1][3];
        h.qoffset_z = a[2][3];
    }
    h
}

/// Writes a float32 .nii.gz. With a header, the output keeps that header's grid (dims must
/// match); without, the header is built from the volume's own affine and spacing.
pub fn write_volume(header: Option<&NiftiHeader>, volume: &Volume) -> Result<Vec<u8>, VolumeError> {
    let own;
    let src = match header {
        Some(h) => h,
        None => {
            own = header_from_grid(volume);
            &own
        }
    };
    let mut h = output_header(src, volume, 16, 32)?;
    let finite = volume.data.iter().filter(|v| v.is_finite());
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for &v in finite {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo <= hi {
        h.cal_min = lo as f64;
        h.cal_max = hi as f64;
    }
    if header.is_none() {
        h.descrip = "brainfm".into();
    }
    h.version = choose_version(&h);
    h.vox_offset = (h.header_size() + 4) as f64;
    Ok(gzip(&h, &volume.data, |v, out| {
        out.extend_from_slice(&v.to_le_bytes())
    }))
}
