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

/// Heap bytes that the calling thread allocated and has not freed, and their peak: what
/// reading a hostile file cost, measured in-process (tests run on threads of their own).
mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static LIVE: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    fn count(bytes: isize) {
        let _ = LIVE.try_with(|live| {
            let now = live.get() + bytes;
            live.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
    }

    struct Counting;

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count(layout.size() as isize);
            System.alloc(layout)
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count(layout.size() as isize);
            System.alloc_zeroed(layout)
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            count(-(layout.size() as isize));
            System.dealloc(ptr, layout)
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
            count(size as isize - layout.size() as isize);
            System.realloc(ptr, layout, size)
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    /// What `f` returns, and the most heap it held at once beyond what was held before.
    pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let before = LIVE.with(Cell::get);
        PEAK.with(|peak| peak.set(before));
        let out = f();
        (out, (PEAK.with(Cell::get) - before).max(0) as usize)
    }
}

#[test]
fn fuzzer_findings_are_errors_without_large_allocations() {
    // Every file the `dicom` fuzz target found taking gigabytes (fuzz/regressions/dicom):
    // mutated lengths that dicom-rs reserved and zero-filled up front, refused by the length
    // walk (bounds.rs) before dicom-rs sees them; the heap they cost is measured here.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/dicom");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let (read, peak) = heap::peak_during(|| read_dicom(&bytes, "found", Pixels::Read));
        let message = read.unwrap_err().to_string();
        assert!(
            message.contains("declares") || message.contains("deflated data set"),
            "{}: {message}",
            path.display()
        );
        eprintln!("{}: {peak} bytes at most", path.display());
        assert!(
            peak < 16 << 20,
            "{}: {peak} bytes allocated to refuse it",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 6, "{n} files");
}

#[test]
fn a_second_dicm_magic_is_not_taken_for_the_end_of_a_preamble() {
    // A file whose first value hides a whole second file, with its own "DICM" 128 bytes
    // after the first one and a 2 GB value: dicom-object, left to detect the preamble, took
    // that second "DICM" for the magic and parsed the hidden file, which the walk never saw.
    fn meta() -> Vec<u8> {
        let syntax = b"1.2.840.10008.1.2.1\0";
        let mut group = vec![0x02, 0x00, 0x10, 0x00, b'U', b'I', syntax.len() as u8, 0];
        group.extend_from_slice(syntax);
        let mut m = b"DICM\x02\x00\x00\x00UL\x04\x00".to_vec();
        m.extend_from_slice(&(group.len() as u32).to_le_bytes());
        m.extend(group);
        m
    }
    let mut hidden = meta();
    hidden.extend_from_slice(&[0x09, 0x00, 0x10, 0x10, b'O', b'B', 0, 0]);
    hidden.extend_from_slice(&0x7FFF_FFF0u32.to_le_bytes());
    hidden.extend_from_slice(&[0; 64]);
    let outer = meta();
    let mut value = vec![0; 128 - outer.len() - 12];
    value.extend(hidden);
    let mut file = vec![0; 128];
    file.extend(outer);
    file.extend_from_slice(&[0x09, 0x00, 0x10, 0x00, b'O', b'B', 0, 0]);
    file.extend_from_slice(&(value.len() as u32).to_le_bytes());
    file.extend(value);
    assert_eq!(&file[256..260], b"DICM");
    let (read, peak) = heap::peak_during(|| read_dicom(&file, "hidden", Pixels::Read));
    let message = read.unwrap_err().to_string();
    assert!(message.contains("no image"), "{message}");
    assert!(peak < 16 << 20, "{peak} bytes");
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
