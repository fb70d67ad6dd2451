//! Reading and decoding one image file: the size cap, the decompression-bomb refusal
//! (from the header, before decoding), the truncation check, and the conversion to
//! square CHW `u8` pixels ("resize the shorter side, centre-crop") or to a full-size
//! original.

use std::path::Path;

use ::image::imageops::{self, FilterType};
use ::image::{DynamicImage, ImageFormat, ImageReader};

/// The largest image file an image folder may hold (256 MiB); larger files are refused
/// before being read.
pub const MAX_IMAGE_FILE_BYTES: u64 = 256 << 20;

/// The most pixels an image may declare in its header (PIL's `Image.MAX_IMAGE_PIXELS`,
/// 89 478 485, about 0.25 GiB of RGB): a larger one is refused as a decompression bomb
/// before any pixel is decoded.
pub const MAX_IMAGE_PIXELS: u64 = 89_478_485;

/// Decodes one image file to CHW `u8` pixels of `size x size` with `channels`
/// channels (1: grayscale, otherwise RGB): [`decode_image_bytes`] on the file's bytes
/// ([`read_image_file`]) with its extension as the format hint.
///
/// # Errors
/// A message (without the path) when the file cannot be read or decoded.
pub fn decode_image_file(path: &Path, size: usize, gray: bool) -> Result<Vec<u8>, String> {
    let bytes = read_image_file(path)?;
    decode_image_bytes(&bytes, ImageFormat::from_path(path).ok(), size, gray)
}

/// The bytes of one image file. Anything but a regular file (a FIFO, a device, a link to
/// `/dev/zero`) is refused before it is opened, and at most [`MAX_IMAGE_FILE_BYTES`] are
/// read: the cap holds while reading, whatever the file's size claims.
///
/// # Errors
/// A message (without the path) when the file is missing, unreadable, not a regular
/// file or too large.
pub fn read_image_file(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(format!(
            "not a regular file ({}); expected an image file",
            file_kind(&meta.file_type())
        ));
    }
    let too_big = |len: u64| {
        format!(
            "file of {len} bytes or more; expected an image file of at most \
             {MAX_IMAGE_FILE_BYTES} bytes"
        )
    };
    if meta.len() > MAX_IMAGE_FILE_BYTES {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_IMAGE_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_IMAGE_FILE_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// A reader of `bytes` with its format guessed from the magic bytes, else `hint`.
fn reader(
    bytes: &[u8],
    hint: Option<ImageFormat>,
) -> Result<ImageReader<std::io::Cursor<&[u8]>>, String> {
    if bytes.is_empty() {
        return Err("empty file (0 bytes)".to_string());
    }
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes));
    if let Some(format) = hint {
        reader.set_format(format);
    }
    reader.with_guessed_format().map_err(|e| e.to_string())
}

/// Refuses a declared size of more than [`MAX_IMAGE_PIXELS`] pixels or of zero pixels.
///
/// # Errors
/// A message with both sizes.
pub fn check_declared_size(width: u32, height: u32) -> Result<(), String> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_IMAGE_PIXELS {
        return Err(format!(
            "the header declares a {width}x{height} image ({pixels} pixels): refused as a \
             possible decompression bomb before decoding; expected at most \
             {MAX_IMAGE_PIXELS} pixels"
        ));
    }
    if pixels == 0 {
        return Err(format!("image has zero size ({width}x{height})"));
    }
    Ok(())
}

/// `(width, height)` from the image's header only (a few bytes read, nothing decoded),
/// checked by [`check_declared_size`].
///
/// # Errors
/// A message when the header is missing, unreadable or declares a refused size.
pub fn header_size(bytes: &[u8], hint: Option<ImageFormat>) -> Result<(u32, u32), String> {
    let (w, h) = reader(bytes, hint)?
        .into_dimensions()
        .map_err(|e| e.to_string())?;
    check_declared_size(w, h)?;
    Ok((w, h))
}

/// Decodes the bytes of an image file at full size: the header's size is checked first
/// ([`check_declared_size`], a decompression bomb is never decoded), and a JPEG or PNG
/// stream that stops before its end marker (a file cut short) is refused, though the
/// decoder would fill in the missing part (see `data::complete`).
///
/// # Errors
/// A message when the bytes are empty, truncated, declare a refused size or are not a
/// decodable image.
pub fn decode_original(bytes: &[u8], hint: Option<ImageFormat>) -> Result<DynamicImage, String> {
    let (w, h) = reader(bytes, hint)?
        .into_dimensions()
        .map_err(|e| e.to_string())?;
    check_declared_size(w, h)?;
    let reader = reader(bytes, hint)?;
    // Decoders fill in what a file cut short lacks: a truncated file is refused first.
    if let Some(format) = reader.format() {
        super::complete::check_complete(bytes, format)?;
    }
    reader.decode().map_err(|e| e.to_string())
}

/// Decodes the bytes of an image file to CHW `u8` pixels of `size x size` exactly as
/// the folder loader does ([`decode_original`], then [`square_resize`]). The format is
/// guessed from the content's magic bytes, else taken from `format_hint` (the file
/// extension's).
///
/// # Errors
/// A message when the bytes are empty, truncated, a decompression bomb or not a
/// decodable image.
pub fn decode_image_bytes(
    bytes: &[u8],
    format_hint: Option<ImageFormat>,
    size: usize,
    gray: bool,
) -> Result<Vec<u8>, String> {
    let img = decode_original(bytes, format_hint)?;
    square_resize(&img, size, gray)
}

/// A decoded image as CHW `u8` at its own size: grayscale (1 channel) or RGB (alpha
/// dropped). Returns `(channels, height, width, pixels)`.
pub fn original_chw(img: &DynamicImage, gray: bool) -> (usize, usize, usize, Vec<u8>) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if gray {
        (1, h, w, img.to_luma8().into_raw())
    } else {
        (3, h, w, hwc_to_chw(&img.to_rgb8().into_raw(), 3))
    }
}

/// A file type in words, for messages.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a plain file"
    }
}

/// Converts a decoded image to CHW `u8` pixels of `size x size` as the folder loader
/// does: RGB (alpha dropped) or grayscale, centre-cropped to a square of its shorter
/// side, resized (bilinear, anti-aliased when shrinking). Used for single files and
/// in-memory images at inference time, so they are preprocessed exactly as training data.
///
/// # Errors
/// A message when the image has no pixel or `size` is too large.
pub fn square_resize(img: &DynamicImage, size: usize, gray: bool) -> Result<Vec<u8>, String> {
    let side = u32::try_from(size).map_err(|_| format!("size {size} too large"))?;
    let (w, h) = (img.width(), img.height());
    let short = w.min(h);
    if short == 0 {
        return Err(format!("image has zero size ({w}x{h})"));
    }
    let (x, y) = ((w - short) / 2, (h - short) / 2);
    if gray {
        let buf = img.to_luma8();
        let sq = imageops::crop_imm(&buf, x, y, short, short).to_image();
        let out = if short == side {
            sq
        } else {
            imageops::resize(&sq, side, side, FilterType::Triangle)
        };
        Ok(out.into_raw())
    } else {
        let buf = img.to_rgb8();
        let sq = imageops::crop_imm(&buf, x, y, short, short).to_image();
        let out = if short == side {
            sq
        } else {
            imageops::resize(&sq, side, side, FilterType::Triangle)
        };
        Ok(hwc_to_chw(&out.into_raw(), 3))
    }
}

/// Reorders interleaved `HWC` bytes to planar `CHW`.
fn hwc_to_chw(hwc: &[u8], channels: usize) -> Vec<u8> {
    let plane = hwc.len() / channels.max(1);
    let mut out = vec![0u8; hwc.len()];
    for (i, px) in hwc.chunks_exact(channels).enumerate() {
        for (c, &v) in px.iter().enumerate() {
            if let Some(slot) = out.get_mut(c * plane + i) {
                *slot = v;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hwc_to_chw_reorders_planes() {
        let hwc = [1, 2, 3, 4, 5, 6];
        assert_eq!(hwc_to_chw(&hwc, 3), vec![1, 4, 2, 5, 3, 6]);
        assert_eq!(hwc_to_chw(&hwc, 1), hwc.to_vec());
    }
}
