//! The NIfTI-1 / NIfTI-2 header: parsing from bytes (either byte order) and encoding
//! (always little-endian). One struct for both versions, with NIfTI-2 widths (i64/f64),
//! so a file read as NIfTI-1 can be written back on the identical grid.

use serde::{Deserialize, Serialize};

use crate::volume::error::VolumeError;

pub const NIFTI1_HEADER_SIZE: usize = 348;
pub const NIFTI2_HEADER_SIZE: usize = 540;
pub const NIFTI1_MAGIC: &[u8; 4] = b"n+1\0";
pub const NIFTI2_MAGIC: &[u8; 8] = b"n+2\0\r\n\x1a\n";

/// Every header field needed to reproduce the grid (and a few descriptive ones).
/// Serde: the browser app hands a decoded scan to its worker (app/src/protocol.rs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NiftiHeader {
    /// 1 or 2.
    pub version: u8,
    pub dim_info: u8,
    pub dim: [i64; 8],
    pub intent_p1: f64,
    pub intent_p2: f64,
    pub intent_p3: f64,
    pub intent_code: i32,
    pub intent_name: String,
    pub datatype: i32,
    pub bitpix: i32,
    pub pixdim: [f64; 8],
    pub vox_offset: f64,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub cal_max: f64,
    pub cal_min: f64,
    pub slice_code: i32,
    pub slice_start: i64,
    pub slice_end: i64,
    pub slice_duration: f64,
    pub toffset: f64,
    pub xyzt_units: i32,
    pub descrip: String,
    pub aux_file: String,
    pub qform_code: i32,
    pub sform_code: i32,
    pub quatern_b: f64,
    pub quatern_c: f64,
    pub quatern_d: f64,
    pub qoffset_x: f64,
    pub qoffset_y: f64,
    pub qoffset_z: f64,
    pub srow_x: [f64; 4],
    pub srow_y: [f64; 4],
    pub srow_z: [f64; 4],
}

impl Default for NiftiHeader {
    fn default() -> Self {
        Self {
            version: 1,
            dim_info: 0,
            dim: [3, 1, 1, 1, 1, 1, 1, 1],
            intent_p1: 0.0,
            intent_p2: 0.0,
            intent_p3: 0.0,
            intent_code: 0,
            intent_name: String::new(),
            datatype: 16,
            bitpix: 32,
            pixdim: [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
            vox_offset: 352.0,
            scl_slope: 1.0,
            scl_inter: 0.0,
            cal_max: 0.0,
            cal_min: 0.0,
            slice_code: 0,
            slice_start: 0,
            slice_end: 0,
            slice_duration: 0.0,
            toffset: 0.0,
            xyzt_units: 2 | 8, // mm, seconds
            descrip: String::new(),
            aux_file: String::new(),
            qform_code: 0,
            sform_code: 0,
            quatern_b: 0.0,
            quatern_c: 0.0,
            quatern_d: 0.0,
            qoffset_x: 0.0,
            qoffset_y: 0.0,
            qoffset_z: 0.0,
            srow_x: [1.0, 0.0, 0.0, 0.0],
            srow_y: [0.0, 1.0, 0.0, 0.0],
            srow_z: [0.0, 0.0, 1.0, 0.0],
        }
    }
}

impl NiftiHeader {
    /// The three spatial extents (dims past `dim[0]` count as 1). Not validated.
    pub fn spatial_dims(&self) -> [i64; 3] {
        let n = self.dim[0];
        let d = |a: i64| if a <= n { self.dim[a as usize] } else { 1 };
        [d(1), d(2), d(3)]
    }

    pub fn header_size(&self) -> usize {
        if self.version == 2 {
            NIFTI2_HEADER_SIZE
        } else {
            NIFTI1_HEADER_SIZE
        }
    }
}

/// Fixed-offset field access in either byte order.
struct Fields<'a> {
    b: &'a [u8],
    be: bool,
}

impl Fields<'_> {
    fn arr<const N: usize>(&self, off: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.b[off..off + N]);
        a
    }
    fn i16(&self, off: usize) -> i16 {
        let a = self.arr::<2>(off);
        if self.be {
            i16::from_be_bytes(a)
        } else {
            i16::from_le_bytes(a)
        }
    }
    fn i32(&self, off: usize) -> i32 {
        let a = self.arr::<4>(off);
        if self.be {
            i32::from_be_bytes(a)
        } else {
            i32::from_le_bytes(a)
        }
    }
    fn i64(&self, off: usize) -> i64 {
        let a = self.arr::<8>(off);
        if self.be {
            i64::from_be_bytes(a)
        } else {
            i64::from_le_bytes(a)
        }
    }
    fn f32(&self, off: usize) -> f64 {
        let a = self.arr::<4>(off);
        (if self.be {
            f32::from_be_bytes(a)
        } else {
            f32::from_le_bytes(a)
        }) as f64
    }
    fn f64(&self, off: usize) -> f64 {
        let a = self.arr::<8>(off);
        if self.be {
            f64::from_be_bytes(a)
        } else {
            f64::from_le_bytes(a)
        }
    }
    fn text(&self, off: usize, len: usize) -> String {
        let s = &self.b[off..off + len];
        let end = s.iter().position(|&c| c == 0).unwrap_or(len);
        String::from_utf8_lossy(&s[..end]).into_owned()
    }
}

/// Parsed header plus the byte order of the file's voxel data.
pub(crate) struct Parsed {
    pub header: NiftiHeader,
    pub big_endian: bool,
}

fn escaped(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Parses the header at the start of `b` (which may be longer than the header).
pub(crate) fn parse_header(b: &[u8]) -> Result<Parsed, VolumeError> {
    if b.len() < NIFTI1_HEADER_SIZE {
        return Err(VolumeError::FileTooShort {
            len: b.len(),
            needed: NIFTI1_HEADER_SIZE,
        });
    }
    let first = [b[0], b[1], b[2], b[3]];
    let le = i32::from_le_bytes(first);
    let be = i32::from_be_bytes(first);
    let (version, big_endian) = match (le, be) {
        (348, _) => (1u8, false),
        (540, _) => (2u8, false),
        (_, 348) => (1u8, true),
        (_, 540) => (2u8, true),
        _ => {
            return Err(VolumeError::BadHeaderSize {
                little_endian: le,
                big_endian: be,
            })
        }
    };
    let f = Fields { b, be: big_endian };
    let header = if version == 1 {
        parse_v1(&f)?
    } else {
        parse_v2(&f)?
    };
    Ok(Parsed { header, big_endian })
}

fn parse_v1(f: &Fields) -> Result<NiftiHeader, VolumeError> {
    let magic = &f.b[344..348];
    if magic != NIFTI1_MAGIC {
        if magic == b"ni1\0" {
            return Err(VolumeError::PairFile {
                magic: escaped(magic),
            });
        }
        return Err(VolumeError::BadMagic {
            version: 1,
            found: escaped(magic),
            expected: escaped(NIFTI1_MAGIC),
        });
    }
    let mut dim = [0i64; 8];
    let mut pixdim = [0f64; 8];
    for i in 0..8 {
        dim[i] = f.i16(40 + 2 * i) as i64;
        pixdim[i] = f.f32(76 + 4 * i);
    }
    let row = |off: usize| [f.f32(off), f.f32(off + 4), f.f32(off + 8), f.f32(off + 12)];
    Ok(NiftiHeader {
        version: 1,
        dim_info: f.b[39],
        dim,
        intent_p1: f.f32(56),
        intent_p2: f.f32(60),
        intent_p3: f.f32(64),
        intent_code: f.i16(68) as i32,
        datatype: f.i16(70) as i32,
        bitpix: f.i16(72) as i32,
        slice_start: f.i16(74) as i64,
        pixdim,
        vox_offset: f.f32(108),
        scl_slope: f.f32(112),
        scl_inter: f.f32(116),
        slice_end: f.i16(120) as i64,
        slice_code: f.b[122] as i32,
        xyzt_units: f.b[123] as i32,
        cal_max: f.f32(124),
        cal_min: f.f32(128),
        slice_duration: f.f32(132),
        toffset: f.f32(136),
        descrip: f.text(148, 80),
        aux_file: f.text(228, 24),
        qform_code: f.i16(252) as i32,
        sform_code: f.i16(254) as i32,
        quatern_b: f.f32(256),
        quatern_c: f.f32(260),
        quatern_d: f.f32(264),
        qoffset_x: f.f32(268),
        qoffset_y: f.f32(272),
        qoffset_z: f.f32(276),
        srow_x: row(280),
        srow_y: row(296),
        srow_z: row(312),
        intent_name: f.text(328, 16),
    })
}

fn parse_v2(f: &Fields) -> Result<NiftiHeader, VolumeError> {
    if f.b.len() < NIFTI2_HEADER_SIZE {
        return Err(VolumeError::FileTooShort {
            len: f.b.len(),
            needed: NIFTI2_HEADER_SIZE,
        });
    }
    let magic = &f.b[4..12];
    if magic != NIFTI2_MAGIC {
        if &magic[..4] == b"ni2\0" {
            return Err(VolumeError::PairFile {
                magic: escaped(magic),
            });
        }
        return Err(VolumeError::BadMagic {
            version: 2,
            found: escaped(magic),
            expected: escaped(NIFTI2_MAGIC),
        });
    }
    let mut dim = [0i64; 8];
    let mut pixdim = [0f64; 8];
    for i in 0..8 {
        dim[i] = f.i64(16 + 8 * i);
        pixdim[i] = f.f64(104 + 8 * i);
    }
    let row = |off: usize| [f.f64(off), f.f64(off + 8), f.f64(off + 16), f.f64(off + 24)];
    Ok(NiftiHeader {
        version: 2,
        datatype: f.i16(12) as i32,
        bitpix: f.i16(14) as i32,
        dim,
        intent_p1: f.f64(80),
        intent_p2: f.f64(88),
        intent_p3: f.f64(96),
        pixdim,
        // i64 offsets beyond 2^53 lose precision here, but any such offset is past the
        // end of every real file and is refused later anyway.
        vox_offset: f.i64(168) as f64,
        scl_slope: f.f64(176),
        scl_inter: f.f64(184),
        cal_max: f.f64(192),
        cal_min: f.f64(200),
        slice_duration: f.f64(208),
        toffset: f.f64(216),
        slice_start: f.i64(224),
        slice_end: f.i64(232),
        descrip: f.text(240, 80),
        aux_file: f.text(320, 24),
        qform_code: f.i32(344),
        sform_code: f.i32(348),
        quatern_b: f.f64(352),
        quatern_c: f.f64(360),
        quatern_d: f.f64(368),
        qoffset_x: f.f64(376),
        qoffset_y: f.f64(384),
        qoffset_z: f.f64(392),
        srow_x: row(400),
        srow_y: row(432),
        srow_z: row(464),
        slice_code: f.i32(496),
        xyzt_units: f.i32(500),
        intent_code: f.i32(504),
        intent_name: f.text(508, 16),
        dim_info: f.b[524],
    })
}

/// Little-endian field writer over a zeroed buffer.
struct Out(Vec<u8>);

impl Out {
    fn put(&mut self, off: usize, bytes: &[u8]) {
        self.0[off..off + bytes.len()].copy_from_slice(bytes);
    }
    fn text(&mut self, off: usize, len: usize, s: &str) {
        // keep a terminating NUL and never cut a UTF-8 sequence in half
        let mut end = s.len().min(len - 1);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.put(off, &s.as_bytes()[..end]);
    }
}

/// Encodes `h` as a little-endian header of `h.version`, followed by the 4-byte
/// "no extensions" flag. Integer fields must already fit the version's widths (the writer
/// chooses the version so they do).
pub(crate) fn encode_header(h: &NiftiHeader) -> Vec<u8> {
    if h.version == 2 {
        encode_v2(h)
    } else {
        encode_v1(h)
    }
}

fn encode_v1(h: &NiftiHeader) -> Vec<u8> {
    let mut o = Out(vec![0u8; NIFTI1_HEADER_SIZE + 4]);
    let f = |v: f64| (v as f32).to_le_bytes();
    let s16 = |v: i64| (v.clamp(i16::MIN as i64, i16::MAX as i64) as i16).to_le_bytes();
    o.put(0, &(NIFTI1_HEADER_SIZE as i32).to_le_bytes());
    o.put(38, b"r");
    o.put(39, &[h.dim_info]);
    for i in 0..8 {
        o.put(40 + 2 * i, &s16(h.dim[i]));
        o.put(76 + 4 * i, &f(h.pixdim[i]));
    }
    o.put(56, &f(h.intent_p1));
    o.put(60, &f(h.intent_p2));
    o.put(64, &f(h.intent_p3));
    o.put(68, &s16(h.intent_code as i64));
    o.put(70, &s16(h.datatype as i64));
    o.put(72, &s16(h.bitpix as i64));
    o.put(74, &s16(h.slice_start));
    o.put(108, &f(h.vox_offset));
    o.put(112, &f(h.scl_slope));
    o.put(116, &f(h.scl_inter));
    o.put(120, &s16(h.slice_end));
    o.put(122, &[h.slice_code.clamp(0, 255) as u8]);
    o.put(123, &[h.xyzt_units.clamp(0, 255) as u8]);
    o.put(124, &f(h.cal_max));
    o.put(128, &f(h.cal_min));
    o.put(132, &f(h.slice_duration));
    o.put(136, &f(h.toffset));
    o.text(148, 80, &h.descrip);
    o.text(228, 24, &h.aux_file);
    o.put(252, &s16(h.qform_code as i64));
    o.put(254, &s16(h.sform_code as i64));
    o.put(256, &f(h.quatern_b));
    o.put(260, &f(h.quatern_c));
    o.put(264, &f(h.quatern_d));
    o.put(268, &f(h.qoffset_x));
    o.put(272, &f(h.qoffset_y));
    o.put(276, &f(h.qoffset_z));
    for (r, row) in [h.srow_x, h.srow_y, h.srow_z].iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            o.put(280 + 16 * r + 4 * c, &f(*v));
        }
    }
    o.text(328, 16, &h.intent_name);
    o.put(344, NIFTI1_MAGIC);
    o.0
}

fn encode_v2(h: &NiftiHeader) -> Vec<u8> {
    let mut o = Out(vec![0u8; NIFTI2_HEADER_SIZE + 4]);
    let f = |v: f64| v.to_le_bytes();
    let s16 = |v: i32| (v.clamp(i16::MIN as i32, i16::MAX as i32) as i16).to_le_bytes();
    o.put(0, &(NIFTI2_HEADER_SIZE as i32).to_le_bytes());
    o.put(4, NIFTI2_MAGIC);
    o.put(12, &s16(h.datatype));
    o.put(14, &s16(h.bitpix));
    for i in 0..8 {
        o.put(16 + 8 * i, &h.dim[i].to_le_bytes());
        o.put(104 + 8 * i, &f(h.pixdim[i]));
    }
    o.put(80, &f(h.intent_p1));
    o.put(88, &f(h.intent_p2));
    o.put(96, &f(h.intent_p3));
    o.put(168, &(h.vox_offset as i64).to_le_bytes());
    o.put(176, &f(h.scl_slope));
    o.put(184, &f(h.scl_inter));
    o.put(192, &f(h.cal_max));
    o.put(200, &f(h.cal_min));
    o.put(208, &f(h.slice_duration));
    o.put(216, &f(h.toffset));
    o.put(224, &h.slice_start.to_le_bytes());
    o.put(232, &h.slice_end.to_le_bytes());
    o.text(240, 80, &h.descrip);
    o.text(320, 24, &h.aux_file);
    o.put(344, &h.qform_code.to_le_bytes());
    o.put(348, &h.sform_code.to_le_bytes());
    o.put(352, &f(h.quatern_b));
    o.put(360, &f(h.quatern_c));
    o.put(368, &f(h.quatern_d));
    o.put(376, &f(h.qoffset_x));
    o.put(384, &f(h.qoffset_y));
    o.put(392, &f(h.qoffset_z));
    for (r, row) in [h.srow_x, h.srow_y, h.srow_z].iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            o.put(400 + 32 * r + 8 * c, &f(*v));
        }
    }
    o.put(496, &h.slice_code.to_le_bytes());
    o.put(500, &h.xyzt_units.to_le_bytes());
    o.put(504, &h.intent_code.to_le_bytes());
    o.text(508, 16, &h.intent_name);
    o.put(524, &[h.dim_info]);
    o.0
}
