//! DICOM in: what clinicians have. Files are read with dicom-rs (`file.rs`), grouped into
//! series and stacked into volumes on their world grid (`series.rs`); pixel data in the
//! native encodings and RLE Lossless is decoded here (`rle.rs`), other compressed syntaxes
//! are refused by name. From bytes only, so the browser and the CLI share it. Before
//! dicom-rs sees a file, `bounds.rs` checks that no value claims more bytes than the file
//! has (dicom-rs reserves a value's declared length up front).
//!
//! ```ignore
//! let headers: Vec<DicomFile> = files.iter().map(|(name, b)| read_dicom(b, name, Pixels::Skip)).collect::<Result<_, _>>()?;
//! let series = group_series(&headers);
//! let image = read_series(series[0].files_in(&files), max_voxels)?; // on the scan's grid
//! ```

mod bounds;
mod file;
mod rle;
mod series;

#[cfg(test)]
mod tests;

pub use file::{looks_like_dicom, read_dicom, DicomFile, DicomFrame, Pixels};
pub use series::{group_series, stack_frames, SeriesInfo};

use super::error::VolumeError;
use super::nifti::NiftiImage;

/// One series' files (name, bytes), read with their pixels and stacked into a volume.
pub fn read_series<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    max_voxels: usize,
) -> Result<NiftiImage, VolumeError> {
    let mut frames = Vec::new();
    for (name, bytes) in files {
        frames.extend(read_dicom(bytes, name, Pixels::Read)?.frames);
    }
    stack_frames(frames, max_voxels)
}
