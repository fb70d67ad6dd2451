//! Image bytes decoded exactly as the image-folder loader decodes a file
//! (`decode_image_file` = `decode_image_bytes` with the extension as the format hint):
//! pixels of the requested size, or an error message, never a panic. The first byte picks
//! the extension hint, the output size and grayscale.

#![no_main]

use image::ImageFormat;
use libfuzzer_sys::fuzz_target;
use supcon::data::decode_image_bytes;

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, bytes)) = data.split_first() else {
        return;
    };
    let hint = match knobs % 3 {
        0 => None,
        1 => Some(ImageFormat::Png),
        _ => Some(ImageFormat::Jpeg),
    };
    let size = usize::from(knobs / 6 % 40) + 1;
    let gray = knobs & 0x80 != 0;
    if let Ok(px) = decode_image_bytes(bytes, hint, size, gray) {
        assert_eq!(px.len(), size * size * if gray { 1 } else { 3 });
    }
});
