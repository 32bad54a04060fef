//! One DICOM file as brainfm needs it: the series it belongs to, and its frames (one for a
//! classic image, many for an Enhanced MR multi-frame file), each with its geometry and,
//! when asked, its pixels as real values (rescale slope and intercept applied). dicom-rs
//! parses the data set; the pixel bytes are decoded here (native encodings and RLE
//! Lossless; other compressed syntaxes are refused by name).

use std::borrow::Cow;

use dicom_core::value::{PrimitiveValue, Value};
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::mem::InMemDicomObject;
use dicom_object::{OpenFileOptions, Tag};

use super::bounds::check_lengths;
use super::rle::decode_rle_frame;
use crate::volume::error::VolumeError;

/// Whether `bytes` look like a DICOM Part 10 file ("DICM" after the 128-byte preamble).
pub fn looks_like_dicom(bytes: &[u8]) -> bool {
    bytes.len() >= 132 && &bytes[128..132] == b"DICM"
}

/// One 2-D image of a series, with where it lies (DICOM patient coordinates, LPS mm).
#[derive(Clone, Debug, PartialEq)]
pub struct DicomFrame {
    /// Where it came from (file name, and frame number in a multi-frame file).
    pub source: String,
    /// ImagePositionPatient: the centre of the first pixel.
    pub position: [f64; 3],
    /// ImageOrientationPatient: the direction of a row (increasing column), then of a
    /// column (increasing row).
    pub orientation: [f64; 6],
    /// PixelSpacing: between rows, then between columns (mm).
    pub pixel_spacing: [f64; 2],
    pub rows: usize,
    pub columns: usize,
    /// Real values (rescale applied), row after row; empty when pixels were not read.
    pub pixels: Vec<f32>,
}

/// A DICOM file: its series and its frames.
#[derive(Clone, Debug, PartialEq)]
pub struct DicomFile {
    pub series_uid: String,
    pub series_number: Option<i64>,
    pub series_description: String,
    pub modality: String,
    pub frames: Vec<DicomFrame>,
}

/// Whether to decode pixel data (grouping files into series needs only the headers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pixels {
    Skip,
    Read,
}

fn err(source: &str, reason: impl std::fmt::Display) -> VolumeError {
    VolumeError::Dicom {
        reason: format!("{source}: {reason}"),
    }
}

/// The name of a transfer syntax brainfm cannot decode, for the refusal.
fn compressed_name(uid: &str) -> &'static str {
    match uid {
        "1.2.840.10008.1.2.4.50" => "JPEG Baseline",
        "1.2.840.10008.1.2.4.51" => "JPEG Extended",
        "1.2.840.10008.1.2.4.57" | "1.2.840.10008.1.2.4.70" => "JPEG Lossless",
        "1.2.840.10008.1.2.4.80" => "JPEG-LS Lossless",
        "1.2.840.10008.1.2.4.81" => "JPEG-LS Near-Lossless",
        "1.2.840.10008.1.2.4.90" => "JPEG 2000 Lossless",
        "1.2.840.10008.1.2.4.91" => "JPEG 2000",
        "1.2.840.10008.1.2.4.201" | "1.2.840.10008.1.2.4.202" | "1.2.840.10008.1.2.4.203" => {
            "High-Throughput JPEG 2000"
        }
        "1.2.840.10008.1.2.4.100" | "1.2.840.10008.1.2.4.101" | "1.2.840.10008.1.2.4.102" => {
            "MPEG video"
        }
        _ => "a compressed transfer syntax",
    }
}

const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";
const BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

type Object = InMemDicomObject;

fn text(o: &Object, tag: Tag) -> String {
    o.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok().map(|s| s.trim().to_string()))
        .unwrap_or_default()
}

fn floats(o: &Object, tag: Tag) -> Option<Vec<f64>> {
    o.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_multi_float64().ok())
}

fn int(o: &Object, tag: Tag) -> Option<i64> {
    o.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_int::<i64>().ok())
}

/// The first item of sequence `tag` in `o`, if any.
fn item(o: &Object, tag: Tag) -> Option<&Object> {
    o.element_opt(tag).ok().flatten()?.items()?.first()
}

/// Attribute `tag` inside functional group `group`, looked up in the frame's own groups
/// first and then in the shared ones (Enhanced MR), or at the top level (classic images).
fn grouped<'a, T>(
    frame: Option<&'a Object>,
    shared: Option<&'a Object>,
    top: &'a Object,
    group: Tag,
    read: impl Fn(&'a Object) -> Option<T>,
) -> Option<T> {
    [frame, shared]
        .into_iter()
        .flatten()
        .filter_map(|g| item(g, group))
        .find_map(&read)
        .or_else(|| read(top))
}

fn fixed<const N: usize>(values: Option<Vec<f64>>) -> Option<[f64; N]> {
    let v = values?;
    (v.len() >= N && v.iter().take(N).all(|x| x.is_finite())).then(|| std::array::from_fn(|i| v[i]))
}

/// Reads one DICOM file. `source` names it in errors.
pub fn read_dicom(bytes: &[u8], source: &str, pixels: Pixels) -> Result<DicomFile, VolumeError> {
    if !looks_like_dicom(bytes) {
        return Err(err(
            source,
            "not a DICOM file (no \"DICM\" after the 128-byte preamble)",
        ));
    }
    check_lengths(&bytes[128..]).map_err(|e| err(source, e))?;
    // The preamble is gone: dicom-object must read the meta group from "DICM" on, as the
    // length walk did. Left to guess, it takes a second "DICM" 128 bytes further for the
    // magic and skips a preamble again, parsing bytes the walk never checked (a 340-byte
    // file so made it reserve 2 GB).
    let mut options = OpenFileOptions::new().read_preamble(ReadPreamble::Never);
    if pixels == Pixels::Skip {
        options = options.read_until(tags::PIXEL_DATA);
    }
    let object = options
        .from_reader(&bytes[128..])
        .map_err(|e| err(source, format!("cannot parse the DICOM data set ({e})")))?;
    let syntax = object.meta().transfer_syntax().to_string();
    let top: &Object = &object;
    let photometric = text(top, tags::PHOTOMETRIC_INTERPRETATION);
    if !photometric.is_empty() && !photometric.starts_with("MONOCHROME") {
        return Err(err(
            source,
            format!("a {photometric} (colour) image, not a greyscale MR slice"),
        ));
    }
    if text(top, tags::IMAGE_TYPE)
        .split('\\')
        .any(|t| t.trim() == "MOSAIC")
    {
        return Err(err(
            source,
            "a Siemens mosaic (many slices tiled in one image, as fMRI and diffusion runs are \
             stored), which brainfm does not untile; convert it with dcm2niix",
        ));
    }
    let samples = int(top, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    if samples != 1 {
        return Err(err(
            source,
            format!("{samples} samples per pixel; greyscale images have 1"),
        ));
    }
    let rows = int(top, tags::ROWS).unwrap_or(0);
    let columns = int(top, tags::COLUMNS).unwrap_or(0);
    if !(1..=65535).contains(&rows) || !(1..=65535).contains(&columns) {
        return Err(err(source, format!("{rows} x {columns} pixels: no image")));
    }
    let (rows, columns) = (rows as usize, columns as usize);
    let frame_count = int(top, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as usize;
    let per_frame = top
        .element_opt(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .ok()
        .flatten()
        .and_then(|e| e.items());
    let shared = item(top, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    if frame_count > 1 && per_frame.is_none_or(|p| p.len() < frame_count) {
        return Err(err(
            source,
            format!(
                "{frame_count} frames without per-frame positions (not an Enhanced MR file): \
                 cannot place its slices"
            ),
        ));
    }
    let values = match pixels {
        Pixels::Skip => Vec::new(),
        Pixels::Read => pixel_values(top, &syntax, source, rows * columns, frame_count)?,
    };
    let mut frames = Vec::with_capacity(frame_count);
    for f in 0..frame_count {
        let own = per_frame.and_then(|p| p.get(f));
        let name = match frame_count {
            1 => source.to_string(),
            _ => format!("{source} frame {}", f + 1),
        };
        let position = grouped(own, shared, top, tags::PLANE_POSITION_SEQUENCE, |o| {
            fixed::<3>(floats(o, tags::IMAGE_POSITION_PATIENT))
        })
        .ok_or_else(|| {
            err(&name, "no ImagePositionPatient: not a slice of a volume (a localiser, a report or a screen capture?)")
        })?;
        let orientation = grouped(own, shared, top, tags::PLANE_ORIENTATION_SEQUENCE, |o| {
            fixed::<6>(floats(o, tags::IMAGE_ORIENTATION_PATIENT))
        })
        .ok_or_else(|| err(&name, "no ImageOrientationPatient"))?;
        let pixel_spacing = grouped(own, shared, top, tags::PIXEL_MEASURES_SEQUENCE, |o| {
            fixed::<2>(floats(o, tags::PIXEL_SPACING))
        })
        .filter(|s| s.iter().all(|&v| v > 0.0))
        .ok_or_else(|| err(&name, "no valid PixelSpacing"))?;
        let (slope, intercept) = grouped(
            own,
            shared,
            top,
            tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
            |o| {
                let slope = floats(o, tags::RESCALE_SLOPE)?.first().copied()?;
                let intercept = floats(o, tags::RESCALE_INTERCEPT)
                    .and_then(|v| v.first().copied())
                    .unwrap_or(0.0);
                Some((slope, intercept))
            },
        )
        .filter(|(s, i)| s.is_finite() && *s != 0.0 && i.is_finite())
        .unwrap_or((1.0, 0.0));
        let n = rows * columns;
        let frame_pixels = match values.is_empty() {
            true => Vec::new(),
            false => values[f * n..(f + 1) * n]
                .iter()
                .map(|&v| (v * slope + intercept) as f32)
                .collect(),
        };
        frames.push(DicomFrame {
            source: name,
            position,
            orientation,
            pixel_spacing,
            rows,
            columns,
            pixels: frame_pixels,
        });
    }
    Ok(DicomFile {
        series_uid: text(top, tags::SERIES_INSTANCE_UID),
        series_number: int(top, tags::SERIES_NUMBER),
        series_description: text(top, tags::SERIES_DESCRIPTION),
        modality: text(top, tags::MODALITY),
        frames,
    })
}

/// The stored values of every frame (before rescale), frame after frame.
fn pixel_values(
    o: &Object,
    syntax: &str,
    source: &str,
    per_frame: usize,
    frames: usize,
) -> Result<Vec<f64>, VolumeError> {
    let bits = int(o, tags::BITS_ALLOCATED).unwrap_or(0);
    let stored = int(o, tags::BITS_STORED)
        .unwrap_or(bits)
        .clamp(1, bits.max(1));
    let signed = int(o, tags::PIXEL_REPRESENTATION).unwrap_or(0) == 1;
    if ![8, 16, 32].contains(&bits) {
        return Err(err(
            source,
            format!("{bits} bits allocated per pixel; brainfm reads 8, 16 or 32"),
        ));
    }
    let bytes_per = bits as usize / 8;
    // Checked: on wasm32 two frames of 65535 x 65535 overflow the tab's usize.
    let needed = per_frame
        .checked_mul(frames)
        .filter(|n| n.checked_mul(bytes_per).is_some())
        .ok_or_else(|| {
            err(
                source,
                format!("{frames} frame(s) of {per_frame} pixels: more than can be addressed"),
            )
        })?;
    let element = o
        .element_opt(tags::PIXEL_DATA)
        .ok()
        .flatten()
        .ok_or_else(|| err(source, "no pixel data"))?;
    // RLE segments and OW words that dicom-rs decoded are little-endian; OB bytes follow
    // the transfer syntax.
    let (raw, big): (Cow<[u8]>, bool) = match element.value() {
        Value::PixelSequence(seq) if syntax == RLE_LOSSLESS => {
            let fragments = seq.fragments();
            if fragments.len() < frames {
                return Err(err(
                    source,
                    format!("{} RLE fragments for {frames} frames", fragments.len()),
                ));
            }
            // Grown frame by frame: each is bounded by its fragment (rle.rs), not by the
            // header's rows x columns x frames.
            let mut out = Vec::new();
            for fragment in fragments.iter().take(frames) {
                let frame = decode_rle_frame(fragment, per_frame, bytes_per)
                    .map_err(|e| err(source, format!("RLE pixel data: {e}")))?;
                out.extend_from_slice(&frame);
            }
            (Cow::Owned(out), false)
        }
        Value::PixelSequence(_) => {
            return Err(err(
                source,
                format!(
                    "pixel data compressed with {} ({syntax}), which brainfm cannot decode; \
                     convert the series first (dcm2niix, or gdcmconv --raw)",
                    compressed_name(syntax)
                ),
            ))
        }
        Value::Primitive(PrimitiveValue::U8(b)) => (Cow::Borrowed(&b[..]), syntax == BIG_ENDIAN),
        Value::Primitive(PrimitiveValue::U16(v)) => (
            Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            false,
        ),
        Value::Primitive(PrimitiveValue::I16(v)) => (
            Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            false,
        ),
        _ => return Err(err(source, "pixel data of an unexpected kind")),
    };
    if raw.len() < needed * bytes_per {
        return Err(err(
            source,
            format!(
                "pixel data has {} bytes; {frames} frame(s) of {per_frame} pixels need {}",
                raw.len(),
                needed * bytes_per,
            ),
        ));
    }
    let mask = if stored >= 32 {
        u32::MAX
    } else {
        (1u32 << stored) - 1
    };
    let value = |word: u32| -> f64 {
        let v = word & mask;
        if signed && (v >> (stored - 1)) & 1 == 1 {
            v as f64 - (1u64 << stored) as f64
        } else {
            v as f64
        }
    };
    Ok(raw[..needed * bytes_per]
        .chunks_exact(bytes_per)
        .map(|c| {
            let word = match (bytes_per, big) {
                (1, _) => c[0] as u32,
                (2, false) => u16::from_le_bytes([c[0], c[1]]) as u32,
                (2, true) => u16::from_be_bytes([c[0], c[1]]) as u32,
                (_, false) => u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                (_, true) => u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
            };
            value(word)
        })
        .collect())
}
