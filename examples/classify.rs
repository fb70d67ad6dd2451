//! Classify an image with an exported model (or any run with a classifier).
//!
//! ```text
//! supcon export --model runs/run-X --out model          # once
//! cargo run --release --example classify -- model shoe.png
//! cargo run --release --example classify -- model shoe.png --top-k 3
//! cargo run --release --example classify -- model shoe.png --bench 2048   # images/s
//! ```
//!
//! `--bench N` times `Classifier::predict_batch` on N copies of the image (after one
//! warm-up batch; preprocessing included, decoding excluded) and prints images per second.

use std::time::Instant;

use supcon::infer::Classifier;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let (mut top_k, mut bench, mut batch) = (5usize, None::<usize>, 256usize);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> Result<usize, Box<dyn std::error::Error>> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            Ok(v.parse()?)
        };
        match arg.as_str() {
            "--top-k" => top_k = value("--top-k")?,
            "--bench" => bench = Some(value("--bench")?),
            "--batch-size" => batch = value("--batch-size")?,
            _ => positional.push(arg.clone()),
        }
    }
    let [dir, image] = positional.as_slice() else {
        return Err(
            "usage: classify MODEL_DIR IMAGE [--top-k K] [--bench N] [--batch-size B]".into(),
        );
    };

    let classifier = Classifier::load(dir)?
        .with_top_k(top_k)
        .with_batch_size(batch)?;
    let spec = classifier.spec();
    println!(
        "model: {} ({}), encoder {}, input {:?}, {} classes",
        classifier.dir().display(),
        classifier.kind(),
        spec.encoder.name,
        spec.input_shape,
        spec.num_classes
    );
    let prediction = classifier.predict_file(image)?;
    println!(
        "{image}: {} ({:.1}%)",
        prediction.name,
        100.0 * prediction.probability
    );
    for (rank, score) in prediction.top_k.iter().enumerate() {
        println!(
            "  {}. {:<20} {:6.2}%",
            rank + 1,
            score.name,
            100.0 * score.probability
        );
    }

    if let Some(n) = bench {
        let decoded = classifier.input_spec().load_file(image.as_ref())?;
        let images = vec![decoded; n.max(1)];
        classifier.predict_batch(&images[..batch.min(images.len())])?; // warm-up
        let started = Instant::now();
        let predictions = classifier.predict_batch(&images)?;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "bench: {} images in {seconds:.3} s = {:.1} images/s (batch {batch}, {} threads)",
            predictions.len(),
            predictions.len() as f64 / seconds,
            rayon::current_num_threads()
        );
    }
    Ok(())
}
