//! NIfTI decode/encode tests: round trips, byte order, datatypes, and one test per kind of
//! hostile input.

use std::io::Write;

use super::header::{encode_header, NiftiHeader};
use super::*;
use crate::volume::affine::IDENTITY;
use crate::volume::{Grid, LabelMap, Volume, VolumeError};

fn header(dims: [i64; 3], datatype: i32, bitpix: i32) -> NiftiHeader {
    NiftiHeader {
        dim: [3, dims[0], dims[1], dims[2], 1, 1, 1, 1],
        datatype,
        bitpix,
        pixdim: [1.0, 1.5, 2.0, 2.5, 0.0, 0.0, 0.0, 0.0],
        sform_code: 1,
        srow_x: [0.0, 0.0, -2.5, 10.0],
        srow_y: [-1.5, 0.0, 0.0, 20.0],
        srow_z: [0.0, 2.0, 0.0, -30.0],
        ..Default::default()
    }
}

fn file(h: &NiftiHeader, data: &[u8]) -> Vec<u8> {
    let mut b = encode_header(h);
    b.extend_from_slice(data);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn read(bytes: &[u8]) -> Result<NiftiImage, VolumeError> {
    read_nifti(bytes, &ReadOptions::default())
}

fn ok_file() -> (NiftiHeader, Vec<u8>) {
    let h = header([2, 3, 4], 2, 8);
    let data: Vec<u8> = (0..24).collect();
    let f = file(&h, &data);
    (h, f)
}

#[test]
fn reads_plain_and_gzip_with_sform() {
    let (h, f) = ok_file();
    for bytes in [f.clone(), gz(&f)] {
        let img = read(&bytes).unwrap();
        assert_eq!(img.volume.dims, [2, 3, 4]);
        assert_eq!(img.volume.spacing, [1.5, 2.0, 2.5]);
        assert_eq!(
            img.volume.affine,
            [h.srow_x, h.srow_y, h.srow_z, [0.0, 0.0, 0.0, 1.0]]
        );
        assert_eq!(
            img.volume.data,
            (0..24).map(|v| v as f32).collect::<Vec<_>>()
        );
        assert_eq!(img.header.version, 1);
    }
}

#[test]
fn every_datatype_with_scaling() {
    let vals: [f64; 4] = [0.0, 1.0, 7.0, 100.0];
    type Encode = Box<dyn Fn(f64) -> Vec<u8>>;
    let cases: Vec<(i32, i32, Encode)> = vec![
        (2, 8, Box::new(|v: f64| vec![v as u8])),
        (
            256,
            8,
            Box::new(|v: f64| (-(v as i8)).to_le_bytes().to_vec()),
        ),
        (
            4,
            16,
            Box::new(|v: f64| (-(v as i16)).to_le_bytes().to_vec()),
        ),
        (
            512,
            16,
            Box::new(|v: f64| ((v as u16) * 300).to_le_bytes().to_vec()),
        ),
        (
            8,
            32,
            Box::new(|v: f64| (-(v as i32) * 70000).to_le_bytes().to_vec()),
        ),
        (
            768,
            32,
            Box::new(|v: f64| ((v as u32) * 70000).to_le_bytes().to_vec()),
        ),
        (
            1024,
            64,
            Box::new(|v: f64| (-(v as i64) * 70000).to_le_bytes().to_vec()),
        ),
        (
            1280,
            64,
            Box::new(|v: f64| ((v as u64) * 70000).to_le_bytes().to_vec()),
        ),
        (
            16,
            32,
            Box::new(|v: f64| ((v as f32) * 0.25).to_le_bytes().to_vec()),
        ),
        (
            64,
            64,
            Box::new(|v: f64| (v * 0.125).to_le_bytes().to_vec()),
        ),
    ];
    let raw_value = |code: i32, v: f64| -> f64 {
        match code {
            2 => v,
            256 | 4 => -v,
            512 => v * 300.0,
            8 | 1024 => -v * 70000.0,
            768 | 1280 => v * 70000.0,
            16 => v * 0.25,
            _ => v * 0.125,
        }
    };
    for (code, bits, enc) in &cases {
        let mut h = header([4, 1, 1], *code, *bits);
        h.scl_slope = 0.5;
        h.scl_inter = -3.0;
        let data: Vec<u8> = vals.iter().flat_map(|&v| enc(v)).collect();
        let img = read(&file(&h, &data)).unwrap_or_else(|e| panic!("datatype {code}: {e}"));
        let want: Vec<f32> = vals
            .iter()
            .map(|&v| (raw_value(*code, v) * 0.5 - 3.0) as f32)
            .collect();
        assert_eq!(img.volume.data, want, "datatype {code}");
        // slope 0 means unscaled
        h.scl_slope = 0.0;
        let img = read(&file(&h, &data)).unwrap();
        let want: Vec<f32> = vals.iter().map(|&v| raw_value(*code, v) as f32).collect();
        assert_eq!(img.volume.data, want, "datatype {code} unscaled");
    }
}

/// Byte-swaps the numeric fields of a little-endian header (offset, width) in place.
fn swap_fields(b: &mut [u8], fields: &[(usize, usize, usize)]) {
    for &(start, width, count) in fields {
        for n in 0..count {
            let o = start + n * width;
            b[o..o + width].reverse();
        }
    }
}

const V1_FIELDS: &[(usize, usize, usize)] = &[
    (0, 4, 1),
    (32, 4, 1),
    (36, 2, 1),
    (40, 2, 8),
    (56, 4, 3),
    (68, 2, 4),
    (76, 4, 11),
    (120, 2, 1),
    (124, 4, 4),
    (140, 4, 2),
    (252, 2, 2),
    (256, 4, 18),
];
const V2_FIELDS: &[(usize, usize, usize)] = &[
    (0, 4, 1),
    (12, 2, 2),
    (16, 8, 8),
    (80, 8, 11),
    (168, 8, 1),
    (176, 8, 6),
    (224, 8, 2),
    (344, 4, 2),
    (352, 8, 18),
    (496, 4, 3),
];

#[test]
fn big_endian_nifti1_and_nifti2() {
    for version in [1u8, 2] {
        let mut h = header([3, 2, 2], 4, 16);
        h.version = version;
        h.vox_offset = (h.header_size() + 4) as f64;
        h.scl_slope = 2.0;
        h.scl_inter = 1.0;
        let mut b = encode_header(&h);
        swap_fields(&mut b, if version == 1 { V1_FIELDS } else { V2_FIELDS });
        let vals: Vec<i16> = vec![-300, -1, 0, 1, 2, 3, 255, 256, 1000, -1000, 7, 32767];
        for v in &vals {
            b.extend_from_slice(&v.to_be_bytes());
        }
        let img = read(&b).unwrap_or_else(|e| panic!("v{version}: {e}"));
        assert_eq!(img.header.version, version);
        assert_eq!(img.volume.dims, [3, 2, 2]);
        assert_eq!(img.volume.affine[1][0], -1.5);
        assert_eq!(img.volume.affine[2][3], -30.0);
        let want: Vec<f32> = vals.iter().map(|&v| v as f32 * 2.0 + 1.0).collect();
        assert_eq!(img.volume.data, want);
    }
}

fn ras_volume(dims: [usize; 3], affine: [[f64; 4]; 4], spacing: [f64; 3]) -> Volume {
    let n = dims[0] * dims[1] * dims[2];
    let data = (0..n).map(|i| (i as f32) * 0.37 - 5.0).collect();
    Grid::new(dims, spacing, affine, data).unwrap()
}

#[test]
fn volume_round_trip_without_header_is_exact() {
    // 1.3 is not an f32: the writer must pick NIfTI-2 to keep the affine exact
    let affine = [
        [0.0, 0.0, -2.0, 90.1],
        [-1.0, 0.0, 0.0, 126.3],
        [0.0, 1.3, 0.0, -72.7],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let v = ras_volume([5, 6, 7], affine, [1.0, 1.3, 2.0]);
    let bytes = write_volume(None, &v).unwrap();
    let back = read(&bytes).unwrap();
    assert_eq!(back.header.version, 2);
    assert_eq!(back.volume, v);
    assert_eq!(back.header.sform_code, 2);
    assert_eq!(back.header.qform_code, 2);
    // the qform alone gives the same grid
    let mut q = back.header.clone();
    q.sform_code = 0;
    let (qa, _) = header_geometry(&q).unwrap();
    for r in 0..3 {
        for c in 0..4 {
            assert!((qa[r][c] - affine[r][c]).abs() < 1e-9, "{qa:?}");
        }
    }
    // f32-representable geometry stays NIfTI-1
    let v1 = ras_volume([4, 4, 4], IDENTITY, [1.0; 3]);
    let back = read(&write_volume(None, &v1).unwrap()).unwrap();
    assert_eq!(back.header.version, 1);
    assert_eq!(back.volume, v1);
}

#[test]
fn labels_round_trip_on_the_input_grid() {
    let (h, f) = ok_file();
    let img = read(&f).unwrap();
    for max in [200u16, 3000] {
        let data: Vec<u16> = (0..24).map(|i| (i * 13 % 7) as u16 * (max / 6)).collect();
        let labels: LabelMap = img.volume.with_data(data.clone()).unwrap();
        let bytes = write_labels(&img.header, &labels).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
        let back = read(&bytes).unwrap();
        assert_eq!(back.volume.dims, img.volume.dims);
        assert_eq!(back.volume.affine, img.volume.affine);
        assert_eq!(back.volume.spacing, img.volume.spacing);
        let got: Vec<u16> = back.volume.data.iter().map(|&v| v as u16).collect();
        assert_eq!(got, data);
        let bh = &back.header;
        assert_eq!(bh.datatype, if max < 256 { 2 } else { 512 });
        assert_eq!(bh.intent_code, NIFTI_INTENT_LABEL);
        assert_eq!((bh.scl_slope, bh.scl_inter), (1.0, 0.0));
        assert_eq!(bh.vox_offset, 352.0);
        assert_eq!(bh.cal_max, *data.iter().max().unwrap() as f64);
        assert_eq!(bh.descrip, "brainfm segmentation");
        assert_eq!(
            (bh.srow_x, bh.srow_y, bh.srow_z),
            (h.srow_x, h.srow_y, h.srow_z)
        );
        assert_eq!(
            (bh.qform_code, bh.sform_code, bh.xyzt_units),
            (h.qform_code, h.sform_code, h.xyzt_units)
        );
        assert_eq!(bh.pixdim[..4], h.pixdim[..4]);
    }
    // wrong grid
    let wrong: LabelMap = Grid::new([2, 3, 5], [1.0; 3], IDENTITY, vec![0u16; 30]).unwrap();
    assert!(matches!(
        write_labels(&img.header, &wrong),
        Err(VolumeError::DimsMismatch { .. })
    ));
}

#[test]
fn volume_written_on_a_given_header_keeps_its_grid() {
    let (h, f) = ok_file();
    let img = read(&f).unwrap();
    let mut v = img.volume.clone();
    v.data.iter_mut().for_each(|x| *x = *x * 0.5 - 1.0);
    let back = read(&write_volume(Some(&h), &v).unwrap()).unwrap();
    assert_eq!(back.volume, v);
    assert_eq!(back.header.datatype, 16);
    let wrong: Volume = Grid::new([4, 3, 2], [1.0; 3], IDENTITY, vec![0f32; 24]).unwrap();
    assert!(matches!(
        write_volume(Some(&h), &wrong),
        Err(VolumeError::DimsMismatch { .. })
    ));
}

#[test]
fn big_dims_are_written_as_nifti2() {
    let v: LabelMap = Grid::new([40000, 1, 1], [1.0; 3], IDENTITY, vec![1u16; 40000]).unwrap();
    let h = header_from_grid(&v);
    let back = read(&write_labels(&h, &v).unwrap()).unwrap();
    assert_eq!(back.header.version, 2);
    assert_eq!(back.header.vox_offset, 544.0);
    assert_eq!(back.volume.dims, [40000, 1, 1]);
}

#[test]
fn four_d_needs_a_volume_choice() {
    let mut h = header([2, 2, 1], 2, 8);
    h.dim = [4, 2, 2, 1, 3, 1, 1, 1];
    let data: Vec<u8> = (0..12).collect();
    let f = file(&h, &data);
    assert_eq!(
        read(&f).unwrap_err(),
        VolumeError::FourDimensional { volumes: 3 }
    );
    for bytes in [f.clone(), gz(&f)] {
        let img = read_nifti(
            &bytes,
            &ReadOptions {
                volume: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(img.volume.data, vec![8.0, 9.0, 10.0, 11.0]);
    }
    assert!(matches!(
        read_nifti(
            &f,
            &ReadOptions {
                volume: Some(3),
                ..Default::default()
            }
        ),
        Err(VolumeError::VolumeIndexOutOfRange {
            index: 3,
            volumes: 3
        })
    ));
    // dim4 == 1 is 3D
    h.dim = [4, 2, 2, 3, 1, 1, 1, 1];
    assert_eq!(read(&file(&h, &data)).unwrap().volume.dims, [2, 2, 3]);
    // anything beyond the 4th dimension is refused
    h.dim = [5, 2, 2, 1, 1, 2, 1, 1];
    assert!(matches!(
        read(&file(&h, &data)),
        Err(VolumeError::HigherDimensions { .. })
    ));
}

#[test]
fn qform_used_when_no_sform() {
    let mut h = header([2, 2, 2], 2, 8);
    h.sform_code = 0;
    h.srow_x = [f64::NAN; 4]; // ignored: sform not used
    h.qform_code = 1;
    // 180 degrees about z: b=c=0, d=1 -> diag(-1,-1,1)
    h.quatern_d = 1.0;
    h.qoffset_x = 5.0;
    h.pixdim[0] = -1.0; // qfac flips z
    let img = read(&file(&h, &[0; 8])).unwrap();
    let a = img.volume.affine;
    assert_eq!(
        [a[0][0], a[1][1], a[2][2], a[0][3]],
        [-1.5, -2.0, -2.5, 5.0]
    );
    // no transform at all: method 1
    h.qform_code = 0;
    let a = read(&file(&h, &[0; 8])).unwrap().volume.affine;
    assert_eq!([a[0][0], a[1][1], a[2][2], a[0][3]], [1.5, 2.0, 2.5, 0.0]);
}

// ---- hostile input: one test each ----

#[test]
fn refuses_file_shorter_than_header() {
    assert_eq!(
        read(&[0u8; 100]).unwrap_err(),
        VolumeError::FileTooShort {
            len: 100,
            needed: 348
        }
    );
    assert!(matches!(
        read(&gz(&[0u8; 100])),
        Err(VolumeError::FileTooShort { len: 100, .. })
    ));
}

#[test]
fn refuses_bad_sizeof_hdr() {
    let (_, mut f) = ok_file();
    f[..4].copy_from_slice(&1234i32.to_le_bytes());
    assert!(matches!(
        read(&f),
        Err(VolumeError::BadHeaderSize {
            little_endian: 1234,
            ..
        })
    ));
}

#[test]
fn refuses_bad_magic_and_pair_files() {
    let (_, mut f) = ok_file();
    f[344..348].copy_from_slice(b"xyz\0");
    assert!(matches!(
        read(&f),
        Err(VolumeError::BadMagic { version: 1, .. })
    ));
    f[344..348].copy_from_slice(b"ni1\0");
    assert!(matches!(read(&f), Err(VolumeError::PairFile { .. })));
}

#[test]
fn refuses_bad_dims() {
    let (h, _) = ok_file();
    let mut bad = h.clone();
    bad.dim[2] = 0;
    assert_eq!(
        read(&file(&bad, &[0; 24])).unwrap_err(),
        VolumeError::BadDim { axis: 2, value: 0 }
    );
    bad.dim[2] = -5;
    assert_eq!(
        read(&file(&bad, &[0; 24])).unwrap_err(),
        VolumeError::BadDim { axis: 2, value: -5 }
    );
    let mut bad = h.clone();
    bad.dim[0] = 8;
    assert_eq!(
        read(&file(&bad, &[0; 24])).unwrap_err(),
        VolumeError::BadDimCount { ndim: 8 }
    );
    bad.dim[0] = 0;
    assert_eq!(
        read(&file(&bad, &[0; 24])).unwrap_err(),
        VolumeError::BadDimCount { ndim: 0 }
    );
}

#[test]
fn refuses_too_many_voxels_before_allocating() {
    // 32767^3 voxels claimed by a 400-byte file
    let h = header([32767, 32767, 32767], 64, 64);
    let f = file(&h, &[0; 48]);
    assert!(matches!(
        read(&f),
        Err(VolumeError::TooManyVoxels { max: 134217728, .. })
    ));
    let small = ReadOptions {
        max_voxels: 23,
        volume: None,
    };
    assert!(matches!(
        read_nifti(&ok_file().1, &small),
        Err(VolumeError::TooManyVoxels { voxels: 24, .. })
    ));
    // NIfTI-2 with i64 dims whose product overflows
    let mut h2 = header([1, 1, 1], 2, 8);
    h2.version = 2;
    h2.dim = [3, i64::MAX, i64::MAX, i64::MAX, 1, 1, 1, 1];
    h2.vox_offset = 544.0;
    assert!(matches!(
        read(&file(&h2, &[0; 8])),
        Err(VolumeError::TooManyVoxels { .. })
    ));
}

#[test]
fn refuses_bad_vox_offset() {
    let (h, _) = ok_file();
    let mut bad = h.clone();
    bad.vox_offset = 100.0;
    assert!(matches!(
        read(&file(&bad, &[0; 24])),
        Err(VolumeError::BadVoxOffset { .. })
    ));
    bad.vox_offset = 1e9;
    let f = file(&bad, &[0; 24]);
    assert!(matches!(read(&f), Err(VolumeError::BadVoxOffset { .. })));
    assert!(matches!(
        read(&gz(&f)),
        Err(VolumeError::BadVoxOffset { .. })
    ));
    bad.vox_offset = 352.5;
    assert!(matches!(
        read(&file(&bad, &[0; 24])),
        Err(VolumeError::BadVoxOffset { .. })
    ));
}

#[test]
fn refuses_truncated_data() {
    let (_, f) = ok_file();
    let short = &f[..f.len() - 1];
    let want = VolumeError::Truncated {
        offset: 352,
        needed: 24,
        available: 23,
    };
    assert_eq!(read(short).unwrap_err(), want);
    assert_eq!(read(&gz(short)).unwrap_err(), want);
}

#[test]
fn refuses_non_finite_geometry() {
    let (h, _) = ok_file();
    let mut bad = h.clone();
    bad.pixdim[2] = f64::NAN;
    assert!(matches!(
        read(&file(&bad, &[0; 24])),
        Err(VolumeError::NonFiniteField {
            field: "pixdim[1..4]",
            ..
        })
    ));
    let mut bad = h.clone();
    bad.srow_y[3] = f64::INFINITY;
    assert!(matches!(
        read(&file(&bad, &[0; 24])),
        Err(VolumeError::NonFiniteField {
            field: "srow_y",
            ..
        })
    ));
    let mut bad = h.clone();
    bad.sform_code = 0;
    bad.qform_code = 1;
    bad.quatern_c = f64::NAN;
    assert!(matches!(
        read(&file(&bad, &[0; 24])),
        Err(VolumeError::NonFiniteField {
            field: "quatern_b/c/d",
            ..
        })
    ));
    bad.quatern_c = 0.0;
    bad.qoffset_z = f64::NEG_INFINITY;
    assert!(matches!(
        read(&file(&bad, &[0; 24])),
        Err(VolumeError::NonFiniteField {
            field: "qoffset_x/y/z",
            ..
        })
    ));
}

#[test]
fn refuses_unsupported_datatypes() {
    for (code, bits, name) in [
        (128, 24, "rgb24"),
        (32, 64, "complex64"),
        (1, 1, "binary"),
        (0, 0, "unknown"),
    ] {
        let h = header([2, 3, 4], code, bits);
        assert_eq!(
            read(&file(&h, &[0; 200])).unwrap_err(),
            VolumeError::UnsupportedDatatype { code, name }
        );
    }
}

#[test]
fn refuses_bitpix_mismatch() {
    let h = header([2, 3, 4], 4, 8);
    assert!(matches!(
        read(&file(&h, &[0; 48])),
        Err(VolumeError::BitpixMismatch {
            datatype: 4,
            bitpix: 8,
            expected: 16,
            ..
        })
    ));
}

#[test]
fn refuses_corrupt_gzip() {
    let (_, f) = ok_file();
    let mut z = gz(&f);
    let mid = z.len() / 2;
    for b in &mut z[mid..mid + 8] {
        *b ^= 0xa5;
    }
    let e = read(&z).unwrap_err();
    assert!(
        matches!(e, VolumeError::Gzip { .. } | VolumeError::Truncated { .. }),
        "{e}"
    );
    // a gzip header followed by garbage
    let e = read(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff]).unwrap_err();
    assert!(matches!(e, VolumeError::Gzip { .. }), "{e}");
}

#[test]
fn gzip_with_trailing_data_reads_only_what_is_needed() {
    // 64 MiB of zeros after a tiny image: the reader stops after the voxels it needs
    // (plus the bounded look-ahead for the CRC)
    let (_, f) = ok_file();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&f).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap();
    }
    let z = e.finish().unwrap();
    let img = read(&z).unwrap();
    assert_eq!(img.volume.data.len(), 24);
}

#[test]
fn reads_mricron_ch2_template_if_installed() {
    let path = "/usr/share/mricron/templates/ch2.nii.gz";
    let Ok(bytes) = std::fs::read(path) else {
        eprintln!("skipping: {path} not found (Debian package mricron-data)");
        return;
    };
    let img = read(&bytes).unwrap();
    assert_eq!(img.volume.dims, [181, 217, 181]);
    assert_eq!(img.header.datatype, 2);
    assert_eq!(img.volume.spacing, [1.0, 1.0, 1.0]);
    let a = img.volume.affine;
    // 1 mm RAS grid (MNI space): diagonal, positive
    for r in 0..3 {
        for c in 0..3 {
            if r == c {
                assert!((a[r][c] - 1.0).abs() < 1e-6, "{a:?}");
            } else {
                assert!(a[r][c].abs() < 1e-6, "{a:?}");
            }
        }
    }
    let max = img.volume.data.iter().cloned().fold(f32::MIN, f32::max);
    assert!(max > 100.0 && max <= 255.0);
}
