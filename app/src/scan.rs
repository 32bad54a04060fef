//! Opening a scan: brainfm-core decodes the NIfTI bytes (the app never parses NIfTI itself);
//! this module gathers the facts shown to the user and renders the middle axial slice.

use brainfm_core::volume::nifti::code_name;
use brainfm_core::volume::{
    orientation_code, read_nifti, reorient_to_ras, NiftiImage, ReadOptions, Volume, VolumeError,
};

use crate::format;
use crate::render::{self, Rgba, Stats};

/// What the page shows about an opened scan.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanInfo {
    pub name: String,
    pub file_bytes: usize,
    pub gzipped: bool,
    pub dims: [usize; 3],
    pub spacing: [f64; 3],
    pub datatype: &'static str,
    /// Orientation letters of the file's array axes, e.g. "LPS"; "???" if undetermined.
    pub orientation: String,
    /// The slice was drawn after reorienting to RAS (otherwise in the file's voxel order).
    pub shown_in_ras: bool,
    pub stats: Stats,
    /// Index of the rendered axial slice, and the number of axial slices.
    pub slice: usize,
    pub slices: usize,
    /// For 4D series: (shown volume, number of volumes).
    pub volume_of: Option<(usize, usize)>,
}

/// Decode `bytes` (the file `name`) and render its middle axial slice.
/// Errors are plain sentences for the page.
pub fn open(name: &str, bytes: &[u8]) -> Result<(ScanInfo, Rgba), String> {
    let (image, volume_of) = match read_nifti(bytes, &ReadOptions::default()) {
        Ok(image) => (image, None),
        // A viewer may show one volume of a series; say which.
        Err(VolumeError::FourDimensional { volumes }) => {
            let opts = ReadOptions {
                volume: Some(0),
                ..ReadOptions::default()
            };
            (
                read_nifti(bytes, &opts).map_err(|e| e.to_string())?,
                Some((0, volumes)),
            )
        }
        Err(e) => return Err(e.to_string()),
    };
    let NiftiImage { header, volume } = image;
    let orientation: String = orientation_code(&volume.affine).iter().collect();
    let stats = render::intensity_stats(&volume.data)
        .ok_or("every voxel is NaN or infinite; there is nothing to show")?;
    // Reorient (permute/flip, no interpolation) so the middle slice is truly axial.
    let ras;
    let (shown, shown_in_ras) = match reorient_to_ras(&volume) {
        Ok((reoriented, _)) => {
            ras = reoriented;
            (&ras, true)
        }
        Err(_) => (&volume, false),
    };
    let Volume {
        dims,
        spacing,
        data,
        ..
    } = shown;
    let slice = dims[2] / 2;
    let rgba = render::axial_slice_rgba(data, *dims, *spacing, slice, stats.p01, stats.p99);
    let info = ScanInfo {
        name: name.to_string(),
        file_bytes: bytes.len(),
        gzipped: bytes.starts_with(&[0x1f, 0x8b]),
        dims: volume.dims,
        spacing: volume.spacing,
        datatype: code_name(header.datatype),
        orientation,
        shown_in_ras,
        stats,
        slice,
        slices: dims[2],
        volume_of,
    };
    Ok((info, rgba))
}

impl ScanInfo {
    /// Label / value pairs for the facts list.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let s = &self.stats;
        let mut facts = vec![
            (
                "Dimensions",
                format!("{} voxels", format::triple(self.dims.map(|d| d as f64))),
            ),
            (
                "Voxel spacing",
                format!("{} mm", format::triple(self.spacing)),
            ),
            (
                "Orientation",
                format!(
                    "{} (direction each array axis runs toward)",
                    self.orientation
                ),
            ),
            ("Data type", self.datatype.to_string()),
            (
                "Intensity range",
                format!(
                    "{} to {}",
                    format::number(s.min.into()),
                    format::number(s.max.into())
                ),
            ),
            (
                "Display window",
                format!(
                    "{} to {} (1st to 99th percentile)",
                    format::number(s.p01.into()),
                    format::number(s.p99.into())
                ),
            ),
            (
                "File",
                format!(
                    "{}{}",
                    format::bytes(self.file_bytes),
                    if self.gzipped {
                        ", gzip-compressed"
                    } else {
                        ""
                    }
                ),
            ),
        ];
        if s.non_finite > 0 {
            facts.push((
                "Ignored voxels",
                format!("{} NaN or infinite", s.non_finite),
            ));
        }
        if let Some((shown, volumes)) = self.volume_of {
            facts.push((
                "4D series",
                format!("{volumes} volumes; showing volume {}", shown + 1),
            ));
        }
        facts
    }

    /// Caption under the slice.
    pub fn caption(&self) -> String {
        let view = if self.shown_in_ras {
            "patient's right on the right (neurological view), anterior at the top"
        } else {
            "orientation undetermined, so shown in voxel order (first array axis to the right, second up)"
        };
        format!(
            "Axial slice {} of {} (the middle one); {view}.",
            self.slice + 1,
            self.slices
        )
    }
}
