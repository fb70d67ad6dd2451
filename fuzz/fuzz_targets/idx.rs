//! The IDX reader (raw or gzip, detected by magic bytes) on an arbitrary image file and
//! label file: `Ok` (then a consistent split) or an error naming one of the files, never
//! a panic, and decompression never past what the headers declare. The input is split in
//! two at a position given by its first two bytes.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use supcon::data::idx::{idx_split, parse_idx_images, parse_idx_labels};
use supcon::data::validate;

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let cut = usize::from(u16::from_le_bytes(*head)).min(rest.len());
    let (images, labels) = rest.split_at(cut);
    let (ip, lp) = (Path::new("fuzz-images-idx3"), Path::new("fuzz-labels-idx1"));
    let _ = parse_idx_images(images, ip);
    let _ = parse_idx_labels(labels, lp);
    let names: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    match idx_split((images.to_vec(), ip), (labels.to_vec(), lp), &names) {
        Ok(ds) => assert!(validate(&ds).is_ok()),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("fuzz-images-idx3") || msg.contains("fuzz-labels-idx1"),
                "{msg}"
            );
        }
    }
});
