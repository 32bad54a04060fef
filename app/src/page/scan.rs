//! Opening a scan: brainfm-core decodes the NIfTI or MGH bytes (the app parses no format itself)
//! and reorients it to RAS for display (a permutation / flip, no interpolation); this module
//! gathers the facts shown to the user.

use brainfm_core::volume::nifti::code_name;
use brainfm_core::volume::{
    orientation_code, read_first_volume, reorient_to_ras, voxel_count, Grid, LabelMap, NiftiHeader,
    NiftiImage, ReadOptions, Reorientation, ScanFormat, Volume, VolumeError,
};

use super::format;
use super::render::{self, Stats};
use crate::protocol::ScanImage;

/// What the page shows about an opened scan.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanInfo {
    pub name: String,
    pub file_bytes: usize,
    /// What the bytes were: "NIfTI, gzip-compressed", "DICOM series of 176 files", ...
    pub format: String,
    pub dims: [usize; 3],
    pub spacing: [f64; 3],
    pub datatype: &'static str,
    /// Orientation letters of the file's array axes, e.g. "LPS"; "???" if undetermined.
    pub orientation: String,
    /// The views show the scan reoriented to RAS (otherwise in the file's voxel order).
    pub shown_in_ras: bool,
    pub stats: Stats,
    /// For 4D series: (shown volume, number of volumes).
    pub volume_of: Option<(usize, usize)>,
}

/// An opened scan as the page keeps it: the volume as displayed, and how to bring the
/// worker's labels (on the input grid) into display order. The decoded image itself goes
/// to the worker.
pub struct Loaded {
    pub info: ScanInfo,
    /// The input grid's geometry (dims, spacing, affine; no data) for mapping labels back.
    pub input: Grid<u16>,
    /// The file's header, to write edited labels on its grid.
    pub header: NiftiHeader,
    /// The displayed volume: RAS when `reorientation` is Some, else the input itself.
    pub display: Volume,
    pub reorientation: Option<Reorientation>,
}

/// Largest scan the tab opens, in voxels (2^26, e.g. 406^3): the page holds the decoded
/// image, its RAS copy for display and the copy it hands to the worker, 12 bytes a voxel
/// in all, within wasm32's 4 GiB next to the file's own bytes. (1 mm heads are ~2^24.)
pub const MAX_VOXELS: usize = 1 << 26;

/// Decode `bytes` (the file `name`), the only decoding of this scan: the worker gets the
/// image. Errors are plain sentences for the page.
pub fn open(name: &str, bytes: &[u8]) -> Result<(Loaded, ScanImage), String> {
    let options = ReadOptions {
        max_voxels: MAX_VOXELS,
        ..ReadOptions::default()
    };
    let (image, volume_of) = match read_first_volume(bytes, &options) {
        // A viewer may show one volume of a series; say which.
        Ok((image, volumes)) => (image, volumes.map(|n| (0, n))),
        Err(e) => return Err(plain_error(e)),
    };
    let gzip = match bytes.starts_with(&[0x1f, 0x8b]) {
        true => ", gzip-compressed",
        false => "",
    };
    let format = match ScanFormat::of(bytes) {
        ScanFormat::Nifti => format!("NIfTI{gzip}"),
        ScanFormat::Mgh => format!("FreeSurfer MGH{gzip}"),
    };
    from_image(name, image, volume_of, bytes.len(), format)
}

/// A read error as the page says it.
pub fn plain_error(e: VolumeError) -> String {
    match e {
        VolumeError::TooManyVoxels { voxels, .. } => format!(
            "the scan has {voxels} voxels; the browser app opens scans of up to {MAX_VOXELS} \
             (about 406 x 406 x 406), so use the brainfm command line for this one"
        ),
        e => e.to_string(),
    }
}

/// An image decoded from `file_bytes` bytes of `format`, as the page keeps and shows it,
/// and the copy for the worker.
pub fn from_image(
    name: &str,
    image: NiftiImage,
    volume_of: Option<(usize, usize)>,
    file_bytes: usize,
    format: String,
) -> Result<(Loaded, ScanImage), String> {
    let NiftiImage { header, volume } = &image;
    let orientation: String = orientation_code(&volume.affine).iter().collect();
    let stats = render::intensity_stats(&volume.data)
        .ok_or("every voxel is NaN or infinite; there is nothing to show")?;
    let (display, reorientation) = match reorient_to_ras(volume) {
        Ok((ras, reo)) => (ras, Some(reo)),
        Err(_) => (volume.clone(), None),
    };
    let info = ScanInfo {
        name: name.to_string(),
        file_bytes,
        format,
        dims: volume.dims,
        spacing: volume.spacing,
        datatype: code_name(header.datatype),
        orientation,
        shown_in_ras: reorientation.is_some(),
        stats,
        volume_of,
    };
    let input = Grid {
        dims: volume.dims,
        spacing: volume.spacing,
        affine: volume.affine,
        data: Vec::new(),
    };
    Ok((
        Loaded {
            info,
            input,
            header: header.clone(),
            display,
            reorientation,
        },
        ScanImage::from_image(image),
    ))
}

impl Loaded {
    /// Labels in display order back on the input grid (the inverse of
    /// [`Loaded::labels_for_display`]), as a label map to write.
    pub fn labels_for_input(&self, labels: Vec<u16>) -> Result<LabelMap, String> {
        let display = self.display.with_data(labels).map_err(|e| e.to_string())?;
        match &self.reorientation {
            Some(reo) => reo.invert(&display).map_err(|e| e.to_string()),
            None => Ok(display),
        }
    }

    /// Labels on the input grid (x fastest) in display order.
    pub fn labels_for_display(&self, labels: Vec<u16>) -> Result<Vec<u16>, String> {
        let voxels = voxel_count(self.input.dims).unwrap_or(0);
        if labels.len() != voxels {
            return Err(format!(
                "the segmentation has {} voxels but the scan has {voxels}",
                labels.len(),
            ));
        }
        let grid = self.input.with_data(labels).map_err(|e| e.to_string())?;
        match &self.reorientation {
            Some(reo) => reo.apply(&grid).map(|g| g.data).map_err(|e| e.to_string()),
            None => Ok(grid.data),
        }
    }
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
                "File",
                format!("{}, {}", self.format, format::bytes(self.file_bytes)),
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

    /// Caption under the views.
    pub fn caption(&self) -> String {
        if self.shown_in_ras {
            "Neurological view: the patient's right on the screen's right; letters mark the \
             anatomical directions. Click a view to move the crosshair; arrow keys step through slices."
                .into()
        } else {
            "The file's orientation could not be determined, so the views show its voxel order \
             (no anatomical directions can be marked)."
                .into()
        }
    }
}
