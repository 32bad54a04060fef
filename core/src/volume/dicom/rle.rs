//! DICOM RLE Lossless (PS3.5 Annex G): per frame a 64-byte header (segment count and 15
//! offsets), then one PackBits-coded segment per byte plane, most significant first.
//! Decoded into little-endian words, as the rest of the reader takes them.

/// The frame's pixels, `pixels` values of `bytes_per` bytes each, little-endian.
pub fn decode_rle_frame(
    fragment: &[u8],
    pixels: usize,
    bytes_per: usize,
) -> Result<Vec<u8>, String> {
    if fragment.len() < 64 {
        return Err(format!(
            "a {}-byte fragment has no RLE header",
            fragment.len()
        ));
    }
    let word = |i: usize| {
        u32::from_le_bytes([
            fragment[4 * i],
            fragment[4 * i + 1],
            fragment[4 * i + 2],
            fragment[4 * i + 3],
        ]) as usize
    };
    let segments = word(0);
    if segments != bytes_per {
        return Err(format!("{segments} segments for {bytes_per}-byte pixels"));
    }
    let mut bounds = Vec::with_capacity(segments);
    for s in 0..segments {
        let start = word(1 + s);
        let end = if s + 1 < segments {
            word(2 + s)
        } else {
            fragment.len()
        };
        if start < 64 || start > end || end > fragment.len() {
            return Err(format!(
                "segment {s} lies outside the fragment ({start}..{end})"
            ));
        }
        // PackBits turns 2 bytes into at most 128: a segment this short cannot hold the
        // frame, so nothing is allocated for what the header merely claims.
        if pixels > (end - start).saturating_mul(64) {
            return Err(format!(
                "segment {s} has {} bytes, too few for {pixels} pixels",
                end - start
            ));
        }
        bounds.push((start, end));
    }
    let mut out = vec![0u8; pixels * bytes_per];
    for (s, &(start, end)) in bounds.iter().enumerate() {
        let plane = packbits(&fragment[start..end], pixels)?;
        // Segment 0 holds the most significant byte: byte `bytes_per - 1 - s` of each LE word.
        let at = bytes_per - 1 - s;
        for (i, b) in plane.into_iter().enumerate() {
            out[i * bytes_per + at] = b;
        }
    }
    Ok(out)
}

/// PackBits to exactly `len` bytes (a segment may carry one byte of padding).
fn packbits(mut data: &[u8], len: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let Some((&n, rest)) = data.split_first() else {
            return Err(format!("a segment ends after {} of {len} bytes", out.len()));
        };
        data = rest;
        let n = n as i8;
        if n >= 0 {
            let count = n as usize + 1;
            if data.len() < count {
                return Err("a literal run past the end of its segment".into());
            }
            out.extend_from_slice(&data[..count]);
            data = &data[count..];
        } else if n != -128 {
            let Some((&b, rest)) = data.split_first() else {
                return Err("a repeat run past the end of its segment".into());
            };
            data = rest;
            out.extend(std::iter::repeat_n(b, (1 - n as i32) as usize));
        }
    }
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(segments: &[Vec<u8>]) -> Vec<u8> {
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
        let mut offset = 64u32;
        let mut body = Vec::new();
        for (i, s) in segments.iter().enumerate() {
            header[4 + 4 * i..8 + 4 * i].copy_from_slice(&offset.to_le_bytes());
            offset += s.len() as u32;
            body.extend_from_slice(s);
        }
        [header, body].concat()
    }

    #[test]
    fn literal_and_repeat_runs_in_byte_planes() {
        // Pixels 0x0102, 0x0103, 0x0104, 0x0105: high plane 1,1,1,1 (a repeat), low 2,3,4,5.
        let bytes = frame(&[vec![(-3i8) as u8, 1], vec![3, 2, 3, 4, 5]]);
        let out = decode_rle_frame(&bytes, 4, 2).unwrap();
        assert_eq!(out, [2, 1, 3, 1, 4, 1, 5, 1]);
    }

    #[test]
    fn a_header_claiming_more_pixels_than_the_data_can_hold_is_refused() {
        // 4 bytes of segment cannot decode to 10^9 pixels: refused before allocating.
        let bytes = frame(&[vec![(-3i8) as u8, 1], vec![3, 2, 3, 4, 5]]);
        let message = decode_rle_frame(&bytes, 1_000_000_000, 2).unwrap_err();
        assert!(message.contains("too few"), "{message}");
    }

    #[test]
    fn broken_frames_are_errors() {
        assert!(decode_rle_frame(&[0; 10], 4, 2).is_err());
        assert!(
            decode_rle_frame(&frame(&[vec![0, 9]]), 4, 2).is_err(),
            "one segment for 2 bytes"
        );
        assert!(
            decode_rle_frame(&frame(&[vec![5, 1], vec![0, 1]]), 4, 2).is_err(),
            "short literal"
        );
        let mut bad = frame(&[vec![(-3i8) as u8, 1], vec![3, 2, 3, 4, 5]]);
        bad[8..12].copy_from_slice(&9999u32.to_le_bytes());
        assert!(decode_rle_frame(&bad, 4, 2).is_err(), "offset past the end");
    }
}
