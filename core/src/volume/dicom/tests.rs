//! DICOM against its peers on the same files (fixtures/, made by scripts/fixtures/dicom.py):
//! pydicom's pixels of MR_small in every uncompressed syntax and RLE; a classic series and
//! an Enhanced MR file written from a known volume, read voxel for voxel and affine for
//! affine as that volume and as dcm2niix's NIfTI of the same files; and every way a set of
//! files can fail to be a volume, each refused with its reason.

use super::*;
use crate::volume::{read_nifti, reorient_to_ras, ReadOptions, Volume};

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/volume/dicom/fixtures")
}

fn files_in(folder: &str) -> Vec<(String, Vec<u8>)> {
    let mut paths: Vec<_> = std::fs::read_dir(dir().join(folder))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn one(name: &str) -> Result<DicomFile, crate::volume::VolumeError> {
    read_dicom(
        &std::fs::read(dir().join(name)).unwrap(),
        name,
        Pixels::Read,
    )
}

fn headers(files: &[(String, Vec<u8>)]) -> Vec<DicomFile> {
    files
        .iter()
        .map(|(n, b)| read_dicom(b, n, Pixels::Skip).unwrap())
        .collect()
}

fn nifti(name: &str) -> Volume {
    let bytes = std::fs::read(dir().join(name)).unwrap();
    read_nifti(&bytes, &ReadOptions::default()).unwrap().volume
}

/// Same world grid and voxels once both are in RAS order.
fn assert_same_scan(ours: &Volume, theirs: &Volume, what: &str) {
    let (a, _) = reorient_to_ras(ours).unwrap();
    let (b, _) = reorient_to_ras(theirs).unwrap();
    assert_eq!(a.dims, b.dims, "{what}: dims");
    for r in 0..3 {
        for c in 0..4 {
            let (x, y) = (a.affine[r][c], b.affine[r][c]);
            assert!((x - y).abs() < 1e-4, "{what}: affine[{r}][{c}] {x} vs {y}");
        }
    }
    for (i, (x, y)) in a.data.iter().zip(&b.data).enumerate() {
        assert_eq!(x, y, "{what}: voxel {i}");
    }
}

#[test]
fn mr_small_reads_as_pydicom_in_every_syntax_it_can_decode() {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir().join("mr_small.json")).unwrap()).unwrap();
    let pixels: Vec<f32> = expected["pixels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    for syntax in ["explicit", "implicit", "bigendian", "rle"] {
        let file =
            one(&format!("mr_small_{syntax}.dcm")).unwrap_or_else(|e| panic!("{syntax}: {e}"));
        assert_eq!(file.frames.len(), 1);
        let f = &file.frames[0];
        assert_eq!((f.rows, f.columns), (64, 64), "{syntax}");
        assert_eq!(f.pixel_spacing, [0.3125, 0.3125], "{syntax}");
        assert_eq!(f.pixels, pixels, "{syntax}: pixels differ from pydicom's");
        assert_eq!(file.modality, "MR");
    }
    let refused = one("mr_small_jpeg2000.dcm").unwrap_err().to_string();
    assert!(
        refused.contains("JPEG 2000 Lossless") && refused.contains("dcm2niix"),
        "{refused}"
    );
    // Deflated data sets parse (this one is a capture without a position, so no slice).
    let deflated = one("deflated_ot.dcm").unwrap_err().to_string();
    assert!(deflated.contains("no ImagePositionPatient"), "{deflated}");
    let mosaic = one("mosaic.dcm").unwrap_err().to_string();
    assert!(
        mosaic.contains("Siemens mosaic") && mosaic.contains("dcm2niix"),
        "{mosaic}"
    );
    let single = stack_frames(one("mr_small_explicit.dcm").unwrap().frames, 1 << 20);
    assert!(single.unwrap_err().to_string().contains("single slice"));
}

#[test]
fn a_classic_series_reads_as_written_and_as_dcm2niix_reads_it() {
    let files = files_in("series");
    let series = group_series(&headers(&files));
    assert_eq!(series.len(), 2, "two series in one folder");
    assert_eq!((series[0].number, series[0].frames), (Some(1), 12));
    assert_eq!((series[1].number, series[1].frames), (Some(2), 6));
    assert_eq!(series[0].label(), "1 oblique t1 (MR, 12 slices of 24 x 20)");
    assert_eq!(series[1].file_stem(), "S002_sagittal_localiser");
    let image = read_series(series[0].files_in(&files), 1 << 20).unwrap();
    assert_eq!(image.volume.dims, [24, 20, 12]);
    assert_same_scan(
        &image.volume,
        &nifti("truth.nii.gz"),
        "series vs the volume written",
    );
    assert_same_scan(
        &image.volume,
        &nifti("dcm2niix_series.nii.gz"),
        "series vs dcm2niix",
    );
    // The header written for results carries the same grid.
    let (a, _) = crate::volume::nifti::header_geometry(&image.header).unwrap();
    assert!((a[1][2] - image.volume.affine[1][2]).abs() < 1e-9);
    // The sagittal series: slices along x, 1.5 mm apart.
    let sag = read_series(series[1].files_in(&files), 1 << 20).unwrap();
    assert_eq!(sag.volume.dims, [16, 14, 6]);
    assert!((sag.volume.spacing[2] - 1.5).abs() < 1e-9);
    assert_eq!(
        crate::volume::orientation_code(&sag.volume.affine),
        ['A', 'S', 'R']
    );
    // Too large for the caller's limit: refused before stacking.
    assert!(matches!(
        read_series(series[0].files_in(&files), 1000),
        Err(crate::volume::VolumeError::TooManyVoxels { .. })
    ));
}

#[test]
fn an_enhanced_multiframe_file_reads_like_the_series() {
    let file = one("enhanced.dcm").unwrap();
    assert_eq!(file.frames.len(), 12);
    assert!(file.frames[3].source.ends_with("frame 4"));
    let image = stack_frames(file.frames, 1 << 20).unwrap();
    assert_same_scan(
        &image.volume,
        &nifti("truth.nii.gz"),
        "enhanced vs the volume written",
    );
    assert_same_scan(
        &image.volume,
        &nifti("dcm2niix_enhanced.nii.gz"),
        "enhanced vs dcm2niix",
    );
}

#[test]
fn what_is_not_one_volume_is_refused_with_its_reason() {
    let gap = files_in("gap");
    let series = group_series(&headers(&gap));
    let message = read_series(series[0].files_in(&gap), 1 << 20)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("not evenly spaced") && message.contains("5.00"),
        "{message}"
    );

    let files = files_in("series");
    let all: Vec<DicomFrame> = files
        .iter()
        .flat_map(|(n, b)| read_dicom(b, n, Pixels::Read).unwrap().frames)
        .collect();
    let mixed = stack_frames(all, 1 << 20).unwrap_err().to_string();
    assert!(mixed.contains("mixes"), "{mixed}");

    let mut twice = read_dicom(&files[0].1, "a", Pixels::Read).unwrap().frames;
    twice.extend(read_dicom(&files[0].1, "b", Pixels::Read).unwrap().frames);
    let same = stack_frames(twice, 1 << 20).unwrap_err().to_string();
    assert!(same.contains("same position"), "{same}");

    let headers_only = read_dicom(&files[0].1, "h", Pixels::Skip).unwrap().frames;
    let mut two = headers_only.clone();
    two.extend(read_dicom(&files[1].1, "h2", Pixels::Skip).unwrap().frames);
    assert!(stack_frames(two, 1 << 20).is_err(), "pixels not read");
}

#[test]
fn fuzzer_findings_are_errors_without_large_allocations() {
    // Files whose mutated lengths made dicom-rs reserve and zero-fill gigabytes
    // (fuzz/regressions/dicom): a 2.6 KB one (805 MB) and a deflated 8.6 KB one (2.7 GB,
    // whose meta group length moved the data set's start): refused by the walk first.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/dicom");
    for e in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        let message = read_dicom(&bytes, "found", Pixels::Read)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("declares") || message.contains("deflated data set"),
            "{message}"
        );
    }
}

#[test]
fn hostile_files_give_errors() {
    let (_, good) = &files_in("series")[0];
    assert!(!looks_like_dicom(b"DICM") && looks_like_dicom(good));
    assert!(read_dicom(b"not dicom", "x", Pixels::Read).is_err());
    // Cut anywhere: an error, never a panic.
    for cut in [132, 200, 400, good.len() / 2, good.len() - 1] {
        assert!(
            read_dicom(&good[..cut], "cut", Pixels::Read).is_err(),
            "cut at {cut}"
        );
    }
    // Flipped bytes all over: errors or a file, never a panic.
    for at in (132..good.len()).step_by(37) {
        let mut bad = good.clone();
        bad[at] ^= 0xA5;
        let _ = read_dicom(&bad, "flipped", Pixels::Read);
    }
}
