//! A walk over a DICOM file's element headers before dicom-rs parses it, refusing any value
//! that claims more bytes than the file has left. dicom-parser 0.10.1 reserves and
//! zero-fills each value's declared length before reading it
//! (`dicom-parser-0.10.1/src/stateful/decode.rs`, `read_value_ob` and its siblings:
//! `try_reserve_exact(len)` then `resize(len, 0)`), so a 2 KB file declaring a 4 GB value made
//! it touch gigabytes (found by the `dicom` fuzz target). With every length bounded by what
//! is there, no allocation outgrows the file.
//!
//! The walk reads headers as dicom-rs does (the meta group by its group length, unknown VRs
//! as UN, any undefined length as a sequence, encapsulated pixel fragments skipped) and
//! stops quietly at a truncated header, which the parser reports itself.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

const UNDEFINED: u32 = u32::MAX;
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const IMPLICIT: &str = "1.2.840.10008.1.2";
const BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";
/// The most a deflated data set is inflated to for the check (the tab reads files of up to
/// 1 GiB; a larger data set is refused as a damaged or hostile file).
const MAX_INFLATED: u64 = 1 << 30;

/// Whether an explicit VR has the 4-byte length form (2 reserved bytes, then a u32): every
/// VR but the 21 with a 2-byte length, unknown VR bytes included, as dicom-encoding's
/// `explicit_le.rs` decodes them (an unknown VR is read as UN).
fn long_length(vr: &[u8]) -> bool {
    !matches!(
        vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SS"
            | b"ST"
            | b"TM"
            | b"UI"
            | b"UL"
            | b"US"
    )
}

fn is_sequence(tag: Tag) -> bool {
    StandardDataDictionary
        .by_tag(tag)
        .is_some_and(|e| e.vr() == VirtualVr::Exact(VR::SQ))
}

struct Reader<'a> {
    b: &'a [u8],
    big: bool,
}

impl Reader<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        let s: [u8; 2] = self.b.get(at..at + 2)?.try_into().ok()?;
        Some(if self.big {
            u16::from_be_bytes(s)
        } else {
            u16::from_le_bytes(s)
        })
    }
    fn u32(&self, at: usize) -> Option<u32> {
        let s: [u8; 4] = self.b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big {
            u32::from_be_bytes(s)
        } else {
            u32::from_le_bytes(s)
        })
    }
}

/// `Err` names the first element whose value cannot fit in the bytes after it. `dicm`
/// starts at the "DICM" magic (after the preamble).
pub fn check_lengths(dicm: &[u8]) -> Result<(), String> {
    // The file meta group: explicit VR little endian, read as dicom-object reads it
    // (`meta.rs`): (0002,0000) first, then elements until its group length is used up,
    // whatever their group. The data set starts where that ends.
    let meta = Reader {
        b: dicm,
        big: false,
    };
    // Whatever its VR says, (0002,0000) must have length 4: its header form follows the VR.
    let Some(vr) = dicm.get(8..10) else {
        return Ok(());
    };
    let (length, value_at) = match long_length(vr) {
        true => (meta.u32(12), 16),
        false => (meta.u16(10).map(u32::from), 12),
    };
    if (meta.u16(4), meta.u16(6), length) != (Some(0x0002), Some(0x0000), Some(4)) {
        return Ok(()); // not a meta group dicom-object accepts: it will say so
    }
    let Some(group_length) = meta.u32(value_at) else {
        return Ok(());
    };
    let mut pos: usize = value_at + 4;
    let end = pos.saturating_add(group_length as usize);
    let mut syntax = String::new();
    while pos < end {
        let (Some(group), Some(element), Some(vr)) =
            (meta.u16(pos), meta.u16(pos + 2), dicm.get(pos + 4..pos + 6))
        else {
            return Ok(());
        };
        let (len, header) = match long_length(vr) {
            true => (meta.u32(pos + 8), 12),
            false => (meta.u16(pos + 6).map(u32::from), 8),
        };
        let Some(len) = len.filter(|&l| l != UNDEFINED) else {
            return Ok(());
        };
        let start = pos + header;
        fits(Tag(group, element), len, dicm.len().saturating_sub(start))?;
        if (group, element) == (0x0002, 0x0010) {
            syntax = String::from_utf8_lossy(&dicm[start..start + len as usize])
                .trim_end_matches(['\0', ' '])
                .to_string();
        }
        pos = start + len as usize;
    }
    let rest = &dicm[pos.min(dicm.len())..];
    if syntax == DEFLATED {
        // The data set is a raw deflate stream of explicit VR little endian; the parser
        // inflates it as it reads but still reserves declared lengths, so walk the inflated
        // bytes (their buffer grows with what inflation produces, up to the cap).
        let mut z = flate2::read::DeflateDecoder::new(rest);
        let inflated =
            crate::volume::nifti::read_up_to(&mut z, MAX_INFLATED).map_err(|e| match e {
                crate::volume::VolumeError::Gzip { message } => {
                    format!("the deflated data set is damaged ({message})")
                }
                e => format!("the deflated data set: {e}"),
            })?;
        return walk(
            &Reader {
                b: &inflated,
                big: false,
            },
            true,
        );
    }
    walk(
        &Reader {
            b: rest,
            big: syntax == BIG_ENDIAN,
        },
        syntax != IMPLICIT,
    )
}

fn fits(tag: Tag, len: u32, left: usize) -> Result<(), String> {
    match len as usize <= left {
        true => Ok(()),
        false => Err(format!(
            "element ({:04X},{:04X}) declares {len} bytes but only {left} follow: a damaged file",
            tag.0, tag.1
        )),
    }
}

fn walk(r: &Reader, explicit: bool) -> Result<(), String> {
    let mut pos = 0;
    let mut in_pixel_fragments = false;
    while pos < r.b.len() {
        let (Some(group), Some(element)) = (r.u16(pos), r.u16(pos + 2)) else {
            return Ok(());
        };
        let tag = Tag(group, element);
        if group == 0xFFFE {
            let Some(len) = r.u32(pos + 4) else {
                return Ok(());
            };
            pos += 8;
            match element {
                0xE000 if in_pixel_fragments => {
                    fits(tag, len, r.b.len() - pos)?;
                    pos += len as usize; // a compressed fragment, not elements
                }
                0xE0DD => in_pixel_fragments = false,
                0xE000 | 0xE00D => {} // an item of a sequence (its elements follow), its end
                // Any other (FFFE,xxxx) is read by dicom-rs as a UN value of that length.
                _ if len != UNDEFINED => {
                    fits(tag, len, r.b.len() - pos)?;
                    pos += len as usize;
                }
                _ => {}
            }
            continue;
        }
        let (vr, len, header) = if explicit {
            let Some(vr) = r.b.get(pos + 4..pos + 6) else {
                return Ok(());
            };
            match long_length(vr) {
                true => (Some(vr), r.u32(pos + 8), 12),
                false => (Some(vr), r.u16(pos + 6).map(u32::from), 8),
            }
        } else {
            (None, r.u32(pos + 4), 8)
        };
        let Some(len) = len else {
            return Ok(());
        };
        pos += header;
        if len == UNDEFINED {
            // Encapsulated pixel data, or (whatever the VR) a sequence whose items follow,
            // as dicom-parser's `dataset/read.rs` takes any other undefined length.
            in_pixel_fragments |= tag == Tag(0x7FE0, 0x0010);
            continue;
        }
        fits(tag, len, r.b.len() - pos)?;
        let sequence = match vr {
            Some(vr) => vr == b"SQ",
            None => is_sequence(tag),
        };
        if !sequence {
            pos += len as usize;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explicit_file(elements: &[u8]) -> Vec<u8> {
        let syntax = b"1.2.840.10008.1.2.1\0";
        let mut f = b"DICM".to_vec();
        f.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0]);
        f.extend_from_slice(&(8 + syntax.len() as u32).to_le_bytes());
        f.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I']);
        f.extend_from_slice(&(syntax.len() as u16).to_le_bytes());
        f.extend_from_slice(syntax);
        f.extend_from_slice(elements);
        f
    }

    #[test]
    fn a_value_longer_than_the_file_is_refused() {
        // (0010,0010) PN of 6 bytes: fine; then OB claiming 4 GB.
        let mut ok = vec![0x10, 0x00, 0x10, 0x00, b'P', b'N', 6, 0];
        ok.extend_from_slice(b"A^B^C ");
        assert_eq!(check_lengths(&explicit_file(&ok)), Ok(()));
        let mut bad = ok.clone();
        bad.extend_from_slice(&[0x09, 0x00, 0x10, 0x10, b'O', b'B', 0, 0]);
        bad.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let message = check_lengths(&explicit_file(&bad)).unwrap_err();
        assert!(
            message.contains("(0009,1010) declares 4294967280 bytes"),
            "{message}"
        );
        // The same claim nested in a sequence item is found too.
        let mut nested = vec![0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0];
        nested.extend_from_slice(&UNDEFINED.to_le_bytes());
        nested.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        nested.extend_from_slice(&UNDEFINED.to_le_bytes());
        nested.extend_from_slice(&bad[14..]);
        assert!(check_lengths(&explicit_file(&nested)).is_err());
    }

    #[test]
    fn every_fixture_passes() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/volume/dicom/fixtures");
        let mut n = 0;
        for folder in [dir.clone(), dir.join("series"), dir.join("gap")] {
            for e in std::fs::read_dir(folder).unwrap() {
                let p = e.unwrap().path();
                if !p.is_file() {
                    continue;
                }
                let b = std::fs::read(&p).unwrap();
                if super::super::looks_like_dicom(&b) {
                    assert_eq!(check_lengths(&b[128..]), Ok(()), "{}", p.display());
                    n += 1;
                }
            }
        }
        assert!(n > 30, "{n} files");
    }
}
