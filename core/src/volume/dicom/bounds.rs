//! A walk over a DICOM file's element headers before dicom-rs parses it, refusing any value
//! that claims more bytes than the file has left. dicom-parser 0.10.1 reserves (and mostly
//! zero-fills) each value's declared length before reading it
//! (`dicom-parser-0.10.1/src/stateful/decode.rs`, `read_value_ob` and its siblings:
//! `try_reserve_exact(len)` then `resize(len, 0)`; pixel fragments and their offset table in
//! `dataset/read.rs`), so a 2 KB file declaring a 4 GB value made it touch gigabytes (found
//! by the `dicom` fuzz target). With every length bounded by what is there, no allocation
//! outgrows the file.
//!
//! Where dicom-rs reads a header depends on the state of its reader, so the walk replays
//! that state machine (`dataset/read.rs`, `DataSetReader::next`) instead of reading
//! headers from the bytes alone: whether an item header or an element header comes next,
//! the stack of open sequences and items (defined lengths close them by the reader's byte
//! count), encapsulated pixel data, and that count itself, which runs ahead of the bytes
//! consumed when a numeric value's length is not a multiple of its width (a US value of
//! length 3 reads 2 bytes and counts 3). An item header where an element is expected is a
//! value of its length to dicom-rs, not an item: the sixth fuzz finding was a 2 GB one. The
//! meta group is read as dicom-object reads it (`meta.rs`), and the walk stops quietly
//! wherever dicom-rs stops with an error of its own. It also refuses sequences nested
//! deeper than dicom-object's recursion can take (`MAX_DEPTH`).

use std::cmp::Ordering;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

const UNDEFINED: u32 = u32::MAX;
/// The transfer syntaxes whose data set dicom-transfer-syntax-registry inflates as it reads
/// (its `FlateAdapter`, with the "deflate" feature): Deflated Explicit VR Little Endian, and
/// JPIP Referenced Deflate and JPIP HTJ2K Referenced Deflate.
const DEFLATED: [&str; 3] = [
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.95",
    "1.2.840.10008.1.2.4.205",
];
const IMPLICIT: &str = "1.2.840.10008.1.2";
const BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";
/// The most a deflated data set is inflated to for the check (the tab reads files of up to
/// 1 GiB; a larger data set is refused as a damaged or hostile file).
const MAX_INFLATED: u64 = 1 << 30;

const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_END: Tag = Tag(0xFFFE, 0xE00D);
const SEQUENCE_END: Tag = Tag(0xFFFE, 0xE0DD);
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);
const PIXEL_REPRESENTATION: Tag = Tag(0x0028, 0x0103);
/// The deepest nesting of sequences accepted. dicom-object builds each sequence and item
/// by a recursive call (`mem.rs`, `build_sequence` and `build_object`), so 50 000 nested
/// sequences in a 1 MB file overflowed the stack and aborted the process; real files nest a
/// few deep (Enhanced MR's functional groups: 2; structured reports: tens at most).
const MAX_DEPTH: usize = 128;

/// The 21 explicit VRs with a 2-byte length; every other one, UN for unknown VR bytes
/// included, has 2 reserved bytes and a 4-byte length (dicom-encoding's `explicit_le.rs`).
fn short_length(vr: VR) -> bool {
    use VR::*;
    matches!(
        vr,
        AE | AS
            | AT
            | CS
            | DA
            | DS
            | DT
            | FL
            | FD
            | IS
            | LO
            | LT
            | PN
            | SH
            | SL
            | SS
            | ST
            | TM
            | UI
            | UL
            | US
    )
}

/// The bytes of one number of a value of this VR: dicom-parser reads `len / width` numbers
/// (`len / width * width` bytes) and counts `len` (`read_value_us`, `read_value_tag`, ...).
fn width(vr: VR) -> usize {
    use VR::*;
    match vr {
        US | OW | SS => 2,
        AT | UL | OL | SL | FL | OF => 4,
        FD | OD | SV | UV | OV => 8,
        _ => 1,
    }
}

/// An element header as dicom-encoding decodes it: `size` bytes of tag, VR and length.
#[derive(Clone, Copy)]
struct Header {
    tag: Tag,
    vr: VR,
    len: u32,
    size: usize,
}

struct Reader<'a> {
    b: &'a [u8],
    big: bool,
}

impl Reader<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        let s: [u8; 2] = self.b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big {
            u16::from_be_bytes(s)
        } else {
            u16::from_le_bytes(s)
        })
    }
    fn u32(&self, at: usize) -> Option<u32> {
        let s: [u8; 4] = self.b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big {
            u32::from_be_bytes(s)
        } else {
            u32::from_le_bytes(s)
        })
    }
    fn tag(&self, at: usize) -> Option<Tag> {
        Some(Tag(self.u16(at)?, self.u16(at + 2)?))
    }

    /// The element header at `at` as dicom-encoding's decoders read it: with explicit VRs
    /// (`explicit_le.rs`, `explicit_be.rs`) group FFFE has no VR (UN, a 4-byte length) and
    /// unknown VR bytes are UN; without (`implicit_le.rs`) the dictionary gives the VR, OW
    /// for pixel and overlay data. `None` where the bytes end first.
    fn header(&self, at: usize, explicit: bool) -> Option<Header> {
        let tag = self.tag(at)?;
        if !explicit {
            let vr = if tag == PIXEL_DATA || (tag.0 >> 8 == 0x60 && tag.1 == 0x3000) {
                VR::OW
            } else {
                StandardDataDictionary
                    .by_tag(tag)
                    .map(|e| e.vr().relaxed())
                    .unwrap_or(VR::UN)
            };
            let len = self.u32(at + 4)?;
            return Some(Header {
                tag,
                vr,
                len,
                size: 8,
            });
        }
        if tag.0 == 0xFFFE {
            let len = self.u32(at + 4)?;
            return Some(Header {
                tag,
                vr: VR::UN,
                len,
                size: 8,
            });
        }
        let vr: [u8; 2] = self.b.get(at + 4..at + 6)?.try_into().ok()?;
        let vr = VR::from_binary(vr).unwrap_or(VR::UN);
        Some(match short_length(vr) {
            true => Header {
                tag,
                vr,
                len: self.u16(at + 6)?.into(),
                size: 8,
            },
            false => Header {
                tag,
                vr,
                len: self.u32(at + 8)?,
                size: 12,
            },
        })
    }
}

fn too_long(tag: Tag, len: u32, left: usize) -> String {
    format!(
        "element ({:04X},{:04X}) declares {len} bytes but only {left} follow: a damaged file",
        tag.0, tag.1
    )
}

fn fits(tag: Tag, len: u32, left: usize) -> Result<(), String> {
    match len as usize <= left {
        true => Ok(()),
        false => Err(too_long(tag, len, left)),
    }
}

/// `Err` names the first element whose value cannot fit in the bytes after it. `dicm`
/// starts at the "DICM" magic (after the preamble).
pub fn check_lengths(dicm: &[u8]) -> Result<(), String> {
    // The file meta group: explicit VR little endian, read as dicom-object reads it
    // (`meta.rs`): (0002,0000) first, whatever its VR as long as its length is 4, then
    // elements until their byte count reaches its value, whatever their group. The data
    // set starts where that ends.
    let meta = Reader {
        b: dicm,
        big: false,
    };
    let Some(first) = meta.header(4, true) else {
        return Ok(());
    };
    if (first.tag, first.len) != (Tag(0x0002, 0x0000), 4) {
        return Ok(()); // not a meta group dicom-object accepts: it will say so
    }
    let Some(group_length) = meta.u32(4 + first.size) else {
        return Ok(());
    };
    let mut pos = 4 + first.size + 4;
    let mut counted: u32 = 0;
    let mut syntax = String::new();
    while counted < group_length {
        let Some(h) = meta.header(pos, true) else {
            return Ok(());
        };
        if h.len == UNDEFINED {
            return Ok(());
        }
        let start = pos + h.size;
        fits(h.tag, h.len, dicm.len() - start)?;
        if h.tag == Tag(0x0002, 0x0010) {
            syntax = String::from_utf8_lossy(&dicm[start..start + h.len as usize]).to_string();
        }
        pos = start + h.len as usize;
        counted = counted.saturating_add(h.size as u32).saturating_add(h.len);
    }
    // As `FileMetaTable::transfer_syntax` and the registry's lookup trim it.
    let syntax = syntax.trim_end_matches(|c: char| c.is_whitespace() || c == '\0');
    let rest = &dicm[pos..];
    if DEFLATED.contains(&syntax) {
        // The data set is a raw deflate stream of explicit VR little endian; the parser
        // inflates it as it reads but still reserves declared lengths, so walk the inflated
        // bytes (their buffer grows with what inflation produces, up to the cap).
        let mut z = flate2::read::DeflateDecoder::new(rest);
        let inflated =
            crate::volume::nifti::read_up_to(&mut z, MAX_INFLATED + 1).map_err(|e| match e {
                crate::volume::VolumeError::Gzip { message } => {
                    format!("the deflated data set is damaged ({message})")
                }
                e => format!("the deflated data set: {e}"),
            })?;
        // Past the cap the walk would not see what dicom-rs reads, so a larger one is refused.
        if inflated.len() as u64 > MAX_INFLATED {
            return Err(format!(
                "the deflated data set inflates to more than {} MiB",
                MAX_INFLATED >> 20
            ));
        }
        return walk(
            Reader {
                b: &inflated,
                big: false,
            },
            true,
        );
    }
    walk(
        Reader {
            b: rest,
            big: syntax == BIG_ENDIAN,
        },
        syntax != IMPLICIT,
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sequence,
    Item,
}

/// A sequence or item not closed yet (dicom-parser's `SeqToken`).
#[derive(Clone, Copy)]
struct Open {
    kind: Kind,
    len: u32,
    pixel_data: bool,
    /// The reader's byte count where its value began.
    base: u64,
}

/// dicom-parser's `DataSetReader` state, field for field, with values skipped, not read.
struct Walk<'a> {
    r: Reader<'a>,
    explicit: bool,
    /// Bytes of the data set consumed.
    at: usize,
    /// The reader's own count (`StatefulDecoder::position`), by which defined lengths end:
    /// ahead of `at` after a numeric value whose length is not a multiple of its width.
    position: u64,
    in_sequence: bool,
    offset_table_next: bool,
    delimiter_check_pending: bool,
    open: Vec<Open>,
    last_header: Option<Header>,
    /// Pixel Representation as last read (`StatefulDecoder::signed_pixeldata`): when it is
    /// signed, the dictionary's US-or-SS elements are read as SS, whatever their VR says.
    signed: Option<bool>,
}

fn walk(r: Reader, explicit: bool) -> Result<(), String> {
    let mut w = Walk {
        r,
        explicit,
        at: 0,
        position: 0,
        in_sequence: false,
        offset_table_next: false,
        delimiter_check_pending: false,
        open: Vec::new(),
        last_header: None,
        signed: None,
    };
    while w.next()? {}
    Ok(())
}

impl Walk<'_> {
    fn left(&self) -> usize {
        self.r.b.len() - self.at
    }

    fn push(&mut self, kind: Kind, len: u32, pixel_data: bool) -> Result<(), String> {
        if self.open.len() >= 2 * MAX_DEPTH {
            return Err(format!(
                "sequences nested more than {MAX_DEPTH} deep: a damaged or hostile file"
            ));
        }
        self.open.push(Open {
            kind,
            len,
            pixel_data,
            base: self.position,
        });
        Ok(())
    }

    /// `update_seq_delimiters`: closes the innermost sequences and items whose defined
    /// length the count has reached; `false` where it went past one (dicom-rs errs).
    fn close_ended(&mut self) -> bool {
        while let Some(open) = self.open.last().copied() {
            if open.len == UNDEFINED {
                break;
            }
            match (open.base + u64::from(open.len)).cmp(&self.position) {
                Ordering::Equal => {
                    self.in_sequence = open.kind == Kind::Item;
                    self.open.pop();
                }
                Ordering::Less => return false,
                Ordering::Greater => break,
            }
        }
        self.delimiter_check_pending = false;
        true
    }

    /// `decode_item_header`: 8 bytes of tag and length; `None` where they end, or are not
    /// an item, an item end of length 0 or a sequence end (`SequenceItemHeader::new` errs).
    fn item_header(&mut self) -> Option<(Tag, u32)> {
        let (tag, len) = (self.r.tag(self.at)?, self.r.u32(self.at + 4)?);
        if !(tag == ITEM || tag == SEQUENCE_END || (tag == ITEM_END && len == 0)) {
            return None;
        }
        self.at += 8;
        self.position += 8;
        Some((tag, len))
    }

    /// `decode_header`, with the VR of US-or-SS elements turned SS after a signed Pixel
    /// Representation (`determine_vr_based_on_pixel_representation`).
    fn element_header(&mut self) -> Option<Header> {
        let mut h = self.r.header(self.at, self.explicit)?;
        self.at += h.size;
        self.position += h.size as u64;
        if self.signed == Some(true)
            && StandardDataDictionary
                .by_tag(h.tag)
                .is_some_and(|e| e.vr() == VirtualVr::Xs)
        {
            h.vr = VR::SS;
        }
        Some(h)
    }

    /// A value (`read_value_preserved`): a buffer of `len` bytes, or of `len / width`
    /// numbers, reserved and filled before it is read; refused unless the bytes are there.
    fn value(&mut self, h: Header) -> Result<(), String> {
        self.delimiter_check_pending = true;
        if h.len == 0 {
            return Ok(()); // empty, nothing read
        }
        let w = width(h.vr);
        let read = h.len as usize / w * w;
        if read > self.left() {
            return Err(too_long(h.tag, h.len, self.left()));
        }
        if h.tag == PIXEL_REPRESENTATION && matches!(h.vr, VR::US | VR::OW) {
            self.signed = (read >= 2).then(|| self.r.u16(self.at) != Some(0));
        }
        self.at += read;
        self.position += u64::from(h.len);
        Ok(())
    }

    /// One call of `DataSetReader::next`: `Ok(false)` where dicom-rs stops (the end of the
    /// data set, or an error of its own), `Err` where it would allocate more than is left.
    fn next(&mut self) -> Result<bool, String> {
        if self.delimiter_check_pending && !self.close_ended() {
            return Ok(false);
        }
        if self.in_sequence {
            // An item header is expected.
            let Some((tag, len)) = self.item_header() else {
                return Ok(false);
            };
            if tag == ITEM {
                let Some(&Open { pixel_data, .. }) = self.open.last() else {
                    return Ok(false);
                };
                self.in_sequence = false;
                self.push(Kind::Item, len, pixel_data)?;
                if len == 0 {
                    self.delimiter_check_pending = true;
                }
            } else {
                self.open.pop();
                self.in_sequence = tag == ITEM_END;
                self.delimiter_check_pending = true;
            }
            return Ok(true);
        }
        if let Some(&Open {
            kind: Kind::Item,
            pixel_data: true,
            len,
            ..
        }) = self.open.last()
        {
            // An item of encapsulated pixel data: the offset table (`len` u32s reserved,
            // `len / 4` read) or a fragment (`len` bytes reserved, as many read).
            if len == UNDEFINED {
                return Ok(false);
            }
            fits(ITEM, len, self.left())?;
            let read = match self.offset_table_next {
                true => len / 4 * 4,
                false => len,
            };
            self.at += read as usize;
            self.position += u64::from(read);
            self.offset_table_next = false;
            self.delimiter_check_pending = true;
            return Ok(true);
        }
        if let Some(h) = self.last_header.take() {
            if h.tag == PIXEL_DATA && h.len == UNDEFINED {
                // Encapsulated pixel data: its first item (the offset table) or its end.
                self.push(Kind::Sequence, UNDEFINED, true)?;
                match self.item_header() {
                    Some((ITEM, len)) => {
                        self.in_sequence = false;
                        self.push(Kind::Item, len, true)?;
                        match len {
                            0 => self.delimiter_check_pending = true,
                            _ => self.offset_table_next = true,
                        }
                    }
                    Some((SEQUENCE_END, _)) => {
                        self.open.pop();
                        self.in_sequence = false;
                    }
                    _ => return Ok(false),
                }
                return Ok(true);
            }
            self.value(h)?;
            return Ok(true);
        }
        // An element header is expected. Whatever its tag, it is a value of its length
        // unless it is a sequence, an item end, pixel fragments or of undefined length: an
        // item header here, (FFFE,E000) with a length, is read as a value.
        let Some(h) = self.element_header() else {
            return Ok(false); // the end of the data set, or a header cut short
        };
        if h.vr == VR::SQ {
            self.in_sequence = true;
            self.push(Kind::Sequence, h.len, false)?;
            if h.len == 0 {
                self.delimiter_check_pending = true;
            }
        } else if h.tag == ITEM_END {
            // Outside any sequence it is skipped; inside, it ends whatever is open.
            if self.open.pop().is_some() {
                self.in_sequence = true;
                self.delimiter_check_pending = true;
            }
        } else if h.len == UNDEFINED && h.tag != PIXEL_DATA {
            // Any other undefined length opens a sequence, whatever the VR.
            self.in_sequence = true;
            self.push(Kind::Sequence, UNDEFINED, false)?;
        } else {
            self.last_header = Some(h); // its value (or pixel fragments) next
        }
        Ok(true)
    }
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

    /// An explicit VR little endian element with a 4-byte length (or an item header).
    fn long(group: u16, element: u16, vr: &[u8; 2], len: u32) -> Vec<u8> {
        let mut e = [group.to_le_bytes(), element.to_le_bytes()].concat();
        if group != 0xFFFE {
            e.extend_from_slice(&[vr[0], vr[1], 0, 0]);
        }
        e.extend_from_slice(&len.to_le_bytes());
        e
    }

    #[test]
    fn an_item_header_where_an_element_is_expected_is_a_value_of_its_length() {
        // In a sequence, an item of defined length holds elements: fine.
        let mut seq = long(0x0008, 0x1115, b"SQ", UNDEFINED);
        seq.extend(long(0xFFFE, 0xE000, b"  ", 14));
        seq.extend_from_slice(&[0x10, 0x00, 0x10, 0x00, b'P', b'N', 6, 0]);
        seq.extend_from_slice(b"A^B^C ");
        seq.extend(long(0xFFFE, 0xE0DD, b"  ", 0));
        assert_eq!(check_lengths(&explicit_file(&seq)), Ok(()));
        // The same item outside any sequence is one value to dicom-parser's reader, and a
        // length of 2 GB there made it reserve and zero-fill 2 GB (the sixth fuzz finding).
        let mut top = seq.clone();
        top.extend(long(0xFFFE, 0xE000, b"  ", 0x8000_0072));
        top.extend_from_slice(&seq[12..]); // elements behind it that a walk into it would see
        let message = check_lengths(&explicit_file(&top)).unwrap_err();
        assert!(
            message.contains("(FFFE,E000) declares 2147483762 bytes"),
            "{message}"
        );
        // A defined-length sequence ends by its length, after which an item is a value too.
        let mut defined = long(0x0008, 0x1115, b"SQ", 8 + 14);
        defined.extend_from_slice(&seq[12..12 + 8 + 14]);
        assert_eq!(check_lengths(&explicit_file(&defined)), Ok(()));
        defined.extend(long(0xFFFE, 0xE000, b"  ", 0x8000_0072));
        assert!(check_lengths(&explicit_file(&defined)).is_err());
    }

    #[test]
    fn the_next_header_is_where_dicom_rs_reads_it_after_a_short_numeric_value() {
        // (0028,0010) US of length 3: dicom-parser reads one u16 (2 bytes) and counts 3, so
        // the next header starts 1 byte before where the length says.
        let mut e = vec![0x28, 0x00, 0x10, 0x00, b'U', b'S', 3, 0, 64, 0];
        e.extend(long(0x0009, 0x1010, b"OB", 0xFFFF_FFF0));
        let message = check_lengths(&explicit_file(&e)).unwrap_err();
        assert!(message.contains("(0009,1010) declares"), "{message}");
    }

    #[test]
    fn sequences_nested_past_the_limit_are_refused() {
        let level = [
            long(0x0008, 0x1115, b"SQ", UNDEFINED),
            long(0xFFFE, 0xE000, b"  ", UNDEFINED),
        ]
        .concat();
        assert_eq!(
            check_lengths(&explicit_file(&level.repeat(MAX_DEPTH))),
            Ok(())
        );
        let message = check_lengths(&explicit_file(&level.repeat(MAX_DEPTH + 1))).unwrap_err();
        assert!(message.contains("nested more than 128 deep"), "{message}");
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
