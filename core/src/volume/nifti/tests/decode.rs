//! Reading valid files: sform/qform geometry, every datatype with scaling, big-endian
//! NIfTI-1 and NIfTI-2, 4D volume choice, and a real template when one is installed.

use super::*;
use crate::volume::read_first_volume;

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
        // What a viewer opens: the first volume, and how many there are.
        let (first, volumes) = read_first_volume(&bytes, &ReadOptions::default()).unwrap();
        assert_eq!(
            (first.volume.data, volumes),
            (vec![0.0, 1.0, 2.0, 3.0], Some(3))
        );
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
