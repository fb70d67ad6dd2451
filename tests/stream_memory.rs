//! Peak memory of a streamed folder does not grow with the dataset: `supcon bench data`
//! reading the same number of images (10 epochs of 2 000 generated images, 1 epoch of
//! 20 000) peaks within 10% while streaming (the pixels are never all in memory). Start-up (the file
//! list with each image's path, label and size) grows with the dataset by a bounded
//! number of bytes per image.

mod common;

use std::path::Path;

use common::{ok, s};

/// `root/class<c>/<i>.jpg`: `n` 8x8 JPEGs over 4 classes, each a little different.
fn write_tiny_folder(root: &Path, n: usize) {
    let mut encoded = Vec::new();
    for i in 0..n {
        let dir = root.join(format!("class{}", i % 4));
        if i < 4 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        let img = image::RgbImage::from_fn(8, 8, |x, y| {
            image::Rgb([(x * 30 + i as u32) as u8, (y * 30) as u8, (i / 7) as u8])
        });
        encoded.clear();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut encoded, 90)
            .encode_image(&img)
            .unwrap();
        std::fs::write(dir.join(format!("{i:06}.jpg")), &encoded).unwrap();
    }
}

/// Peak RSS in MiB while streaming `epochs` epochs over `n` images (batches of 64
/// 224x224 crops, 2 threads, each batch held 60 ms (longer than making one takes) as a training step would, so the
/// prefetch queue is full as in training), at start-up, and the images read.
fn streamed_peak_mb(n: usize, epochs: &str) -> (f64, f64, u64) {
    let t = tempfile::tempdir().unwrap();
    write_tiny_folder(t.path(), n);
    let spec = format!("folder:{}?size=224&cache=none", s(t.path()));
    let out = ok(&[
        "bench",
        "data",
        "--data",
        &spec,
        "--batch",
        "64",
        "--threads",
        "2",
        "--policy",
        "crop",
        "--epochs",
        epochs,
        "--step-ms",
        "60",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["streamed"], true, "{v}");
    (
        v["stream_peak_rss_mb"].as_f64().unwrap(),
        v["startup_peak_rss_mb"].as_f64().unwrap(),
        v["images"].as_u64().unwrap(),
    )
}

#[test]
fn peak_memory_of_a_streamed_folder_does_not_grow_with_its_size() {
    let (small, small_start, small_images) = streamed_peak_mb(2_000, "10");
    let (large, large_start, large_images) = streamed_peak_mb(20_000, "1");
    // Whole epochs were read: all training images but the warm-up batch and the last
    // partial ones (split 0.2 per class: 1600 and 16000 training images).
    assert_eq!(small_images, (10 * (1600 / 64) - 1) * 64);
    assert_eq!(large_images, (16000 / 64 - 1) * 64);
    assert!(small > 0.0, "no peak RSS reported");
    let growth = (large - small) / small;
    eprintln!(
        "peak RSS streaming: {small:.1} MiB (2k images), {large:.1} MiB (20k images); \
         start-up: {small_start:.1} MiB, {large_start:.1} MiB"
    );
    let per_image = (large_start - small_start) * 1048576.0 / 18_000.0;
    assert!(
        per_image < 512.0,
        "start-up grows by {per_image:.0} bytes per image"
    );
    assert!(
        growth.abs() < 0.10,
        "peak RSS {small:.1} MiB for 2k images and {large:.1} MiB for 20k: {:.1}% apart",
        growth * 100.0
    );
}
