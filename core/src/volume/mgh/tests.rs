//! MGH/MGZ: the files nibabel wrote or ships read to nibabel's shape, affine and voxels
//! (fixtures/, made by scripts/fixtures/mgh.py); our writer's files read back to the same
//! world grid; hostile headers give errors, never panics or huge allocations.

use std::io::Write;

use super::*;
use crate::volume::affine::apply;
use crate::volume::{read_first_volume, read_scan, LabelMap};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/src/volume/mgh/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn expected() -> serde_json::Value {
    serde_json::from_slice(&fixture("expected.json")).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn files_read_as_nibabel_reads_them() {
    let all = expected();
    let files = all["files"].as_object().unwrap();
    assert_eq!(files.len(), 3);
    for (name, want) in files {
        let (image, frames) = read_first_volume(&fixture(name), &ReadOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let shape = floats(&want["shape"]);
        let v = &image.volume;
        let dims: Vec<f64> = v.dims.iter().map(|&d| d as f64).collect();
        assert_eq!(dims, shape[..3], "{name}");
        assert_eq!(frames, shape.get(3).map(|&f| f as usize), "{name}");
        assert_eq!(v.spacing.to_vec(), floats(&want["zooms"]), "{name}");
        let affine: Vec<Vec<f64>> = want["affine"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect();
        for r in 0..4 {
            for c in 0..4 {
                let (ours, theirs) = (v.affine[r][c], affine[r][c]);
                assert!(
                    (ours - theirs).abs() < 1e-5,
                    "{name} [{r}][{c}] {ours} vs {theirs}"
                );
            }
        }
        let voxels = floats(&want["frame0"]);
        assert_eq!(voxels.len(), v.data.len(), "{name}");
        for (i, (&ours, theirs)) in v.data.iter().zip(voxels).enumerate() {
            assert_eq!(ours, theirs as f32, "{name} voxel {i}");
        }
        // The synthesised NIfTI header carries the same grid.
        let (a, _) = crate::volume::nifti::header_geometry(&image.header).unwrap();
        for r in 0..3 {
            for c in 0..4 {
                assert!((a[r][c] - v.affine[r][c]).abs() < 1e-4, "{name} header");
            }
        }
    }
}

#[test]
fn frames_are_chosen_like_nifti_volumes() {
    let bytes = fixture("nibabel_test.mgz");
    let opts = |volume| ReadOptions {
        volume,
        ..ReadOptions::default()
    };
    assert_eq!(
        read_scan(&bytes, &opts(None)).unwrap_err(),
        VolumeError::FourDimensional { volumes: 2 }
    );
    let first = read_scan(&bytes, &opts(Some(0))).unwrap();
    let second = read_scan(&bytes, &opts(Some(1))).unwrap();
    assert_eq!(first.volume.affine, second.volume.affine);
    assert_ne!(first.volume.data, second.volume.data);
    assert!(matches!(
        read_scan(&bytes, &opts(Some(2))),
        Err(VolumeError::VolumeIndexOutOfRange {
            index: 2,
            volumes: 2
        })
    ));
}

fn oblique_labels(max: u16) -> LabelMap {
    let t = 0.3f64;
    let affine = [
        [-0.9, 0.0, 0.0, 40.0],
        [0.0, 1.1 * t.cos(), -3.0 * t.sin(), -60.0],
        [0.0, 1.1 * t.sin(), 3.0 * t.cos(), -15.5],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let dims = [5, 4, 3];
    let data = (0..60u32)
        .map(|i| (i * 97 % (max as u32 + 1)) as u16)
        .collect();
    LabelMap::new(dims, [0.9, 1.1, 3.0], affine, data).unwrap()
}

#[test]
fn written_labels_read_back_on_the_same_world_grid() {
    for (max, gzip) in [(3, true), (40000, false)] {
        let labels = oblique_labels(max);
        let bytes = write_mgh_labels(&labels, gzip).unwrap();
        assert_eq!(bytes.starts_with(&[0x1f, 0x8b]), gzip);
        let back = read_scan(&bytes, &ReadOptions::default()).unwrap().volume;
        assert_eq!(back.dims, labels.dims);
        assert_eq!(
            back.spacing.map(|s| s as f32),
            labels.spacing.map(|s| s as f32)
        );
        let values: Vec<u16> = back.data.iter().map(|&v| v as u16).collect();
        assert_eq!(values, labels.data, "labels up to {max}");
        for corner in [[0.0, 0.0, 0.0], [4.0, 3.0, 2.0], [2.0, 1.0, 0.5]] {
            let (a, b) = (apply(&labels.affine, corner), apply(&back.affine, corner));
            for k in 0..3 {
                assert!((a[k] - b[k]).abs() < 1e-4, "{corner:?}: {a:?} vs {b:?}");
            }
        }
    }
}

/// A plain MGH with the given header fields and `data` after the 284 header bytes.
fn mgh(dims: [i32; 4], type_code: i32, good_ras: i16, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&1i32.to_be_bytes());
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(&type_code.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.extend_from_slice(&good_ras.to_be_bytes());
    for v in [
        2.0f32, 2.0, 2.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 5.0, 6.0, 7.0,
    ] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.resize(MGH_HEADER_SIZE, 0);
    b.extend_from_slice(data);
    b
}

#[test]
fn without_good_ras_the_coronal_default_applies() {
    // nibabel's `_set_affine_default` (stored Mdc rows [-1,0,0], [0,0,1], [0,-1,0]).
    let image = read_mgh(&mgh([2, 2, 2, 1], 0, 0, &[0; 8]), &ReadOptions::default()).unwrap();
    assert_eq!(image.volume.spacing, [1.0; 3]);
    assert_eq!(
        image.volume.affine,
        [
            [-1.0, 0.0, 0.0, 1.0],
            [0.0, 0.0, -1.0, 1.0],
            [0.0, 1.0, 0.0, -1.0],
            [0.0, 0.0, 0.0, 1.0]
        ]
    );
}

#[test]
fn hostile_headers_give_errors() {
    let opts = ReadOptions::default();
    let err = |bytes: &[u8]| read_scan(bytes, &opts).unwrap_err();
    assert!(matches!(
        err(&mgh([2, 2, 2, 1], 3, 1, &[0; 31])),
        VolumeError::Truncated {
            needed: 32,
            available: 31,
            ..
        }
    ));
    assert!(matches!(
        err(&mgh([2, 0, 2, 1], 0, 1, &[])),
        VolumeError::BadDim { axis: 2, value: 0 }
    ));
    assert!(matches!(
        err(&mgh([2, 2, 2, 0], 0, 1, &[0; 8])),
        VolumeError::BadDim { axis: 4, value: 0 }
    ));
    // 2^31-1 cubed voxels declared in a tiny file: refused before any allocation.
    assert!(matches!(
        err(&mgh([i32::MAX; 4], 0, 1, &[])),
        VolumeError::TooManyVoxels { .. }
    ));
    assert_eq!(
        err(&mgh([2, 2, 2, 1], 2, 1, &[0; 64])),
        VolumeError::UnsupportedMghType { code: 2 }
    );
    let mut nan = mgh([2, 2, 2, 1], 0, 1, &[0; 8]);
    nan[30..34].copy_from_slice(&f32::NAN.to_be_bytes());
    assert!(matches!(err(&nan), VolumeError::NonFiniteField { .. }));
    let mut zero = mgh([2, 2, 2, 1], 0, 1, &[0; 8]);
    zero[34..38].copy_from_slice(&0f32.to_be_bytes());
    assert!(matches!(err(&zero), VolumeError::InvalidSpacing { .. }));
    // A header cut short, plain and compressed.
    let short = &mgh([2, 2, 2, 1], 0, 1, &[])[..60];
    assert!(matches!(err(short), VolumeError::FileTooShort { .. }));
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&mgh([2, 2, 2, 1], 0, 1, &[0; 8])).unwrap();
    let mut gz = z.finish().unwrap();
    let n = gz.len();
    gz[n - 6] ^= 0xff; // the CRC
    assert!(matches!(err(&gz), VolumeError::Gzip { .. }));
}
