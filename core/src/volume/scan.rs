//! Which scan formats brainfm reads, by file name and by content, and the one entry point
//! the CLI and the app decode a scan through.

use super::error::VolumeError;
use super::mgh::{looks_like_mgh, read_mgh};
use super::nifti::{read_nifti, read_up_to, NiftiImage, ReadOptions};

/// File endings of the scans brainfm opens, longest first (lower case).
pub const SCAN_ENDINGS: [&str; 4] = [".nii.gz", ".nii", ".mgz", ".mgh"];

/// Whether a file name is a scan brainfm opens (any case).
pub fn is_scan_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    SCAN_ENDINGS.iter().any(|e| lower.ends_with(e))
}

/// The file name without its scan ending (any case); other names come back whole.
pub fn scan_stem(name: &str) -> &str {
    let lower = name.to_lowercase();
    match SCAN_ENDINGS.iter().find(|e| lower.ends_with(*e)) {
        Some(e) => &name[..name.len() - e.len()],
        None => name,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanFormat {
    Nifti,
    /// FreeSurfer MGH, or MGZ when gzip-compressed.
    Mgh,
}

impl ScanFormat {
    /// The format of a file from its first bytes (gzip is looked through), whatever its
    /// name says. Anything that is not MGH is handed to the NIfTI reader, whose errors say
    /// what is wrong.
    pub fn of(bytes: &[u8]) -> Self {
        let gzip_head;
        let head = match bytes.starts_with(&[0x1f, 0x8b]) {
            // A broken stream gives no head: the NIfTI reader then says what is wrong.
            true => {
                gzip_head = read_up_to(&mut flate2::read::MultiGzDecoder::new(bytes), 4)
                    .unwrap_or_default();
                &gzip_head[..]
            }
            false => &bytes[..bytes.len().min(4)],
        };
        match looks_like_mgh(head) {
            true => Self::Mgh,
            false => Self::Nifti,
        }
    }
}

/// Decode a NIfTI-1/2 (.nii, .nii.gz) or FreeSurfer (.mgh, .mgz) scan held in memory.
pub fn read_scan(bytes: &[u8], opts: &ReadOptions) -> Result<NiftiImage, VolumeError> {
    match ScanFormat::of(bytes) {
        ScanFormat::Nifti => read_nifti(bytes, opts),
        ScanFormat::Mgh => read_mgh(bytes, opts),
    }
}

/// What a viewer opens: a 3-D image, or the first volume of a 4-D series together with the
/// series' length (`opts.volume` is ignored). The browser's page and worker both use it.
pub fn read_first_volume(
    bytes: &[u8],
    opts: &ReadOptions,
) -> Result<(NiftiImage, Option<usize>), VolumeError> {
    let three_d = ReadOptions {
        volume: None,
        ..opts.clone()
    };
    match read_scan(bytes, &three_d) {
        Err(VolumeError::FourDimensional { volumes }) => {
            let first = ReadOptions {
                volume: Some(0),
                ..three_d
            };
            Ok((read_scan(bytes, &first)?, Some(volumes)))
        }
        other => other.map(|image| (image, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_stems_follow_the_endings_in_any_case() {
        for (name, stem) in [
            ("sub-01_T1w.nii.gz", "sub-01_T1w"),
            ("T1.MGZ", "T1"),
            ("orig.mgh", "orig"),
            ("scan.nii", "scan"),
        ] {
            assert!(is_scan_name(name), "{name}");
            assert_eq!(scan_stem(name), stem);
        }
        assert!(!is_scan_name("notes.txt") && !is_scan_name("model.bfm"));
        assert_eq!(scan_stem("notes.txt"), "notes.txt");
    }

    #[test]
    fn the_format_comes_from_the_content() {
        let mut mgh = vec![0u8; 300];
        mgh[3] = 1;
        assert_eq!(ScanFormat::of(&mgh), ScanFormat::Mgh);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &mgh).unwrap();
        assert_eq!(ScanFormat::of(&gz.finish().unwrap()), ScanFormat::Mgh);
        let mut nifti = vec![0u8; 352];
        nifti[..4].copy_from_slice(&348i32.to_le_bytes());
        assert_eq!(ScanFormat::of(&nifti), ScanFormat::Nifti);
        assert_eq!(ScanFormat::of(&[]), ScanFormat::Nifti);
        assert_eq!(ScanFormat::of(&[0x1f, 0x8b, 0]), ScanFormat::Nifti);
    }
}
