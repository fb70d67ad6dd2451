//! Whether an image file holds its whole stream. Decoders are lenient: the `image` crate
//! decodes a JPEG cut short (a download or a copy that stopped half-way) into an image
//! whose missing part is grey, with no error. A truncated file is corrupt data, so the
//! structure of JPEG and PNG files is walked to their end marker first:
//!
//! - JPEG: the marker segments from SOI, each skipped by its length (so a thumbnail
//!   embedded in an APP1 segment, with an end marker of its own, is not mistaken for the
//!   end), and the entropy-coded data after each SOS up to the next marker, until EOI.
//! - PNG: the chunks from the signature, each by its length (data and CRC), until IEND.
//!
//! Bytes after the end marker (some cameras and editors append data) are allowed.

/// Checks that `bytes`, an image of format `format`, runs to its end marker. Formats
/// other than JPEG and PNG pass.
///
/// # Errors
/// A message saying where the stream stops and what was expected.
pub fn check_complete(bytes: &[u8], format: ::image::ImageFormat) -> Result<(), String> {
    match format {
        ::image::ImageFormat::Jpeg => jpeg(bytes),
        ::image::ImageFormat::Png => png(bytes),
        _ => Ok(()),
    }
}

/// The message for a stream that stops before its end.
fn truncated(format: &str, len: usize, end: &str) -> String {
    format!(
        "truncated {format} file: its data stops after {len} bytes, before the {end}; \
         expected a complete file (was it cut short by a download or a copy?)"
    )
}

/// Walks a JPEG stream from SOI (`FF D8`) to EOI (`FF D9`).
fn jpeg(b: &[u8]) -> Result<(), String> {
    let cut = || truncated("JPEG", b.len(), "end-of-image marker (FF D9)");
    let mut i = 2; // after SOI
    loop {
        // The next marker: any bytes before it are tolerated (as lenient decoders do),
        // and so are fill bytes (FF FF ...).
        i += b
            .get(i..)
            .and_then(|r| r.iter().position(|&x| x == 0xFF))
            .ok_or_else(cut)?;
        while b.get(i) == Some(&0xFF) {
            i += 1;
        }
        let marker = *b.get(i).ok_or_else(cut)?;
        i += 1;
        match marker {
            0xD9 => return Ok(()),
            // Markers without a length: SOI, TEM, restart markers.
            0xD8 | 0x01 | 0xD0..=0xD7 => {}
            _ => {
                let len = match b.get(i..i + 2) {
                    Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
                    _ => return Err(cut()),
                };
                if len < 2 {
                    return Err(format!(
                        "corrupt JPEG file: the segment of marker FF {marker:02X} at byte {} \
                         has length {len}; expected at least 2",
                        i - 2
                    ));
                }
                i += len;
                if i > b.len() {
                    return Err(cut());
                }
                if marker == 0xDA {
                    i = entropy_coded_end(b, i).ok_or_else(cut)?;
                }
            }
        }
    }
}

/// The offset of the marker that ends the entropy-coded data starting at `start`: the
/// first `FF` followed by anything but a stuffed `00`, a restart marker or a fill `FF`.
/// `None` when the data runs to the end of the file.
fn entropy_coded_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    loop {
        i += b.get(i..)?.iter().position(|&x| x == 0xFF)?;
        match *b.get(i + 1)? {
            0x00 | 0xD0..=0xD7 => i += 2,
            0xFF => i += 1,
            _ => return Some(i),
        }
    }
}

/// Walks a PNG stream's chunks from the signature to IEND.
fn png(b: &[u8]) -> Result<(), String> {
    let cut = || truncated("PNG", b.len(), "IEND chunk that ends a PNG");
    let mut i = 8; // after the signature
    loop {
        let (len, kind) = match b.get(i..i + 8) {
            Some(h) => (
                u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize,
                [h[4], h[5], h[6], h[7]],
            ),
            None => return Err(cut()),
        };
        // Length, type, data, CRC.
        i = i
            .checked_add(12)
            .and_then(|x| x.checked_add(len))
            .ok_or_else(cut)?;
        if i > b.len() {
            return Err(cut());
        }
        if &kind == b"IEND" {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::image::ImageFormat;

    /// A textured 160x120 image: most of an encoded JPEG is entropy-coded data.
    fn encoded(format: ImageFormat) -> Vec<u8> {
        let img = ::image::RgbImage::from_fn(160, 120, |x, y| {
            let v = (x * 7919 + y * 104_729) ^ (x * y);
            ::image::Rgb([(v % 251) as u8, (x + y) as u8, ((v >> 3) % 241) as u8])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn whole_files_pass_and_every_cut_is_found() {
        for format in [ImageFormat::Jpeg, ImageFormat::Png] {
            let bytes = encoded(format);
            check_complete(&bytes, format).unwrap();
            // Bytes after the end marker are allowed.
            let mut padded = bytes.clone();
            padded.extend_from_slice(&[0, 0, 0x12]);
            check_complete(&padded, format).unwrap();
            let step = (bytes.len() / 300).max(1);
            for len in (3..bytes.len()).step_by(step).chain([bytes.len() - 1]) {
                let err = check_complete(&bytes[..len], format).unwrap_err();
                assert!(
                    err.contains("truncated") && err.contains(&format!("after {len} bytes")),
                    "{format:?} cut at {len}: {err}"
                );
            }
        }
    }

    #[test]
    fn an_embedded_thumbnail_is_not_taken_for_the_end_of_a_jpeg() {
        let main = encoded(ImageFormat::Jpeg);
        let thumb = encoded(ImageFormat::Jpeg);
        // SOI, an APP1 segment holding a whole JPEG (with its own EOI), the rest.
        let mut bytes = main[..2].to_vec();
        bytes.extend_from_slice(&[0xFF, 0xE1]);
        bytes.extend_from_slice(&u16::try_from(thumb.len() + 2).unwrap().to_be_bytes());
        bytes.extend_from_slice(&thumb);
        bytes.extend_from_slice(&main[2..]);
        check_complete(&bytes, ImageFormat::Jpeg).unwrap();
        let half = &bytes[..2 + 4 + thumb.len() + (main.len() - 2) / 2];
        assert!(check_complete(half, ImageFormat::Jpeg).is_err());
        // The image crate decodes it without a word: what this check is for.
        assert!(::image::load_from_memory_with_format(half, ImageFormat::Jpeg).is_ok());
    }
}
