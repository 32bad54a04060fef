//! Hostile input, one test per kind: each malformed file is refused with the error that
//! names what is wrong, and a gzip stream is read no further than the image needs.

use std::io::Write;

use super::*;

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

/// A stream with no size hint, like a gzip decoder: it hands out at most 4 KiB a call.
struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len()).min(4096);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn a_whole_volume_lands_in_a_buffer_of_its_own_size() {
    use super::super::read::read_up_to;
    // Doubling to the next power of two held 2x the voxel bytes at the size limit.
    let bytes = vec![7u8; 1_000_003];
    let out = read_up_to(&mut Trickle(&bytes), bytes.len() as u64).unwrap();
    assert_eq!(out.len(), bytes.len());
    assert!(out.capacity() <= bytes.len(), "capacity {}", out.capacity());
    // A stream shorter than the limit stops where it ends, and a longer one at the limit.
    assert_eq!(
        read_up_to(&mut Trickle(&bytes[..10]), 1 << 30)
            .unwrap()
            .len(),
        10
    );
    assert_eq!(read_up_to(&mut Trickle(&bytes), 5).unwrap(), vec![7u8; 5]);
}
