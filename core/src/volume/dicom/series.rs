//! From DICOM frames to a volume: files grouped by series, slices sorted by their position
//! along the slice normal (never by instance number or file name), the slice step taken
//! from the positions (not SliceThickness), and the voxel-to-world affine built from
//! ImagePositionPatient / ImageOrientationPatient / PixelSpacing, LPS turned into RAS.
//! What cannot be one volume (one slice, mixed orientations or sizes, repeated positions,
//! uneven gaps) is refused with the reason.

use super::file::{DicomFile, DicomFrame};
use crate::volume::error::VolumeError;
use crate::volume::grid::Volume;
use crate::volume::nifti::{header_from_grid, NiftiImage};

/// One series of a set of files: what the user picks from, and which files it takes.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesInfo {
    pub uid: String,
    pub number: Option<i64>,
    pub description: String,
    pub modality: String,
    /// Indices into the files given to [`group_series`], in their order.
    pub files: Vec<usize>,
    pub frames: usize,
    pub rows: usize,
    pub columns: usize,
}

impl SeriesInfo {
    /// "3 T1 MPRAGE (MR, 176 slices of 256 x 256)".
    pub fn label(&self) -> String {
        let number = self.number.map(|n| format!("{n} ")).unwrap_or_default();
        let description = match self.description.is_empty() {
            true => "(no description)",
            false => &self.description,
        };
        format!(
            "{number}{description} ({}, {} slices of {} x {})",
            if self.modality.is_empty() {
                "?"
            } else {
                &self.modality
            },
            self.frames,
            self.columns,
            self.rows
        )
    }

    /// The (name, bytes) of this series' files among `files`, the list it was grouped from.
    pub fn files_in<'a>(
        &'a self,
        files: &'a [(String, Vec<u8>)],
    ) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.files
            .iter()
            .filter_map(|&i| files.get(i))
            .map(|(name, bytes)| (name.as_str(), &bytes[..]))
    }

    /// A file-name-safe name: `S003_T1_MPRAGE`.
    pub fn file_stem(&self) -> String {
        let description: String = self
            .description
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let description = description.trim_matches('_');
        let number = self.number.map_or("S".to_string(), |n| format!("S{n:03}"));
        match description.is_empty() {
            true => number,
            false => format!("{number}_{description}"),
        }
    }
}

/// The series among `files`, ordered by series number, then UID.
pub fn group_series(files: &[DicomFile]) -> Vec<SeriesInfo> {
    let mut series: Vec<SeriesInfo> = Vec::new();
    for (index, f) in files.iter().enumerate() {
        let first = f.frames.first();
        match series.iter_mut().find(|s| s.uid == f.series_uid) {
            Some(s) => {
                s.files.push(index);
                s.frames += f.frames.len();
            }
            None => series.push(SeriesInfo {
                uid: f.series_uid.clone(),
                number: f.series_number,
                description: f.series_description.clone(),
                modality: f.modality.clone(),
                files: vec![index],
                frames: f.frames.len(),
                rows: first.map_or(0, |fr| fr.rows),
                columns: first.map_or(0, |fr| fr.columns),
            }),
        }
    }
    series.sort_by(|a, b| (a.number, &a.uid).cmp(&(b.number, &b.uid)));
    series
}

fn refuse(reason: String) -> VolumeError {
    VolumeError::Dicom { reason }
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// The frames of one series stacked into a volume on its world (RAS) grid, with a NIfTI
/// header for writing results on that grid. `max_voxels` is checked before any copy.
pub fn stack_frames(
    mut frames: Vec<DicomFrame>,
    max_voxels: usize,
) -> Result<NiftiImage, VolumeError> {
    let Some(first) = frames.first().cloned() else {
        return Err(refuse("the series has no images".into()));
    };
    if frames.len() < 2 {
        return Err(refuse(format!(
            "{}: the series has a single slice, which is not a 3-D volume",
            first.source
        )));
    }
    for f in &frames {
        if (f.rows, f.columns) != (first.rows, first.columns) {
            return Err(refuse(format!(
                "the series mixes image sizes: {} is {} x {}, {} is {} x {}",
                first.source, first.columns, first.rows, f.source, f.columns, f.rows
            )));
        }
        if f.orientation
            .iter()
            .zip(first.orientation)
            .any(|(a, b)| (a - b).abs() > 1e-3)
        {
            return Err(refuse(format!(
                "the series mixes slice orientations ({} and {}): several stacks or a localiser, not one volume",
                first.source, f.source
            )));
        }
        if f.pixel_spacing
            .iter()
            .zip(first.pixel_spacing)
            .any(|(a, b)| (a - b).abs() > 1e-4 * b.max(1.0))
        {
            return Err(refuse(format!(
                "the series mixes pixel spacings ({} and {})",
                first.source, f.source
            )));
        }
    }
    let o = first.orientation;
    let row = [o[0], o[1], o[2]];
    let column = [o[3], o[4], o[5]];
    let normal = cross(row, column);
    let norm = dot(normal, normal).sqrt();
    if !(0.9..1.1).contains(&norm) || dot(row, column).abs() > 1e-2 {
        return Err(refuse(format!(
            "{}: ImageOrientationPatient {o:?} is not two perpendicular unit vectors",
            first.source
        )));
    }
    let normal = normal.map(|v| v / norm);
    frames.sort_by(|a, b| dot(a.position, normal).total_cmp(&dot(b.position, normal)));
    let n = frames.len();
    let along: Vec<f64> = frames.iter().map(|f| dot(f.position, normal)).collect();
    for k in 1..n {
        if along[k] - along[k - 1] < 1e-3 {
            return Err(refuse(format!(
                "{} and {} lie at the same position: the series holds several volumes (echoes, time points, b-values); split it first",
                frames[k - 1].source, frames[k].source
            )));
        }
    }
    let p0 = frames[0].position;
    let last = frames[n - 1].position;
    let step: [f64; 3] = std::array::from_fn(|a| (last[a] - p0[a]) / (n - 1) as f64);
    let step_mm = dot(step, step).sqrt();
    // Every slice where an even step puts it, within 1% of the step (and 0.01 mm).
    let tolerance = (0.01 * step_mm).max(0.01);
    for (k, f) in frames.iter().enumerate() {
        let expected: [f64; 3] = std::array::from_fn(|a| p0[a] + k as f64 * step[a]);
        let off: f64 = (0..3)
            .map(|a| (f.position[a] - expected[a]).powi(2))
            .sum::<f64>()
            .sqrt();
        if off > tolerance {
            let gaps: Vec<String> = along
                .windows(2)
                .map(|w| format!("{:.2}", w[1] - w[0]))
                .collect();
            return Err(refuse(format!(
                "slice positions are not evenly spaced (a missing slice?): {} is {off:.2} mm from where an even {step_mm:.3} mm step puts it; gaps between slices: {} mm",
                f.source,
                gaps.join(", ")
            )));
        }
    }
    let (rows, columns) = (first.rows, first.columns);
    let voxels = (rows as u128) * (columns as u128) * (n as u128);
    if voxels > max_voxels as u128 {
        return Err(VolumeError::TooManyVoxels {
            dims: vec![columns as i64, rows as i64, n as i64],
            voxels,
            max: max_voxels,
        });
    }
    let [row_spacing, column_spacing] = first.pixel_spacing;
    // LPS (DICOM) to RAS (NIfTI): negate x and y.
    let lps_to_ras = [-1.0, -1.0, 1.0];
    let mut affine = [[0.0; 4]; 4];
    affine[3][3] = 1.0;
    for r in 0..3 {
        affine[r][0] = lps_to_ras[r] * row[r] * column_spacing;
        affine[r][1] = lps_to_ras[r] * column[r] * row_spacing;
        affine[r][2] = lps_to_ras[r] * step[r];
        affine[r][3] = lps_to_ras[r] * p0[r];
    }
    let mut data = Vec::with_capacity(voxels as usize);
    for f in &frames {
        if f.pixels.len() != rows * columns {
            return Err(refuse(format!("{}: its pixels were not read", f.source)));
        }
        data.extend_from_slice(&f.pixels);
    }
    let volume = Volume::new(
        [columns, rows, n],
        [column_spacing, row_spacing, step_mm],
        affine,
        data,
    )?;
    Ok(NiftiImage {
        header: header_from_grid(&volume),
        volume,
    })
}
