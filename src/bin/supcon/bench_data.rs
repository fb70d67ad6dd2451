//! `supcon bench data`: the training data loader's throughput (images/s) and this
//! process's peak RSS at start-up (listing, statistics) and while streaming, one JSON
//! line. The counterpart is `scripts/bench_data_torch.py`
//! (torchvision `ImageFolder` + `DataLoader`).

use anyhow::Result;
use clap::Args;
use supcon::augment::{Augment, AugmentConfig, measure_loader};
use supcon::data::batcher::{EpochLoader, MultiViewBatcher};
use supcon::train::DataConfig;
use supcon::train::setup::streamed_augment;

#[derive(Args, Debug)]
pub struct DataBench {
    /// Dataset spec, e.g. folder:DIR?size=224&cache=none
    #[arg(long)]
    data: String,
    /// Augmentation policy (crop: RandomResizedCrop + horizontal flip)
    #[arg(long, default_value = "crop")]
    policy: Augment,
    /// Smallest area fraction of the random resized crop (torchvision's default 0.08)
    #[arg(long, default_value_t = 0.08)]
    crop_min: f32,
    /// Images per batch
    #[arg(long, value_parser = crate::args::count, default_value_t = 64)]
    batch: usize,
    /// Views per image
    #[arg(long, value_parser = crate::args::count, default_value_t = 1)]
    views: usize,
    /// Decode + augment threads (0 = one per core)
    #[arg(long, value_parser = crate::args::count, default_value_t = 0)]
    threads: usize,
    /// Epochs to read
    #[arg(long, value_parser = crate::args::count, default_value_t = 1)]
    epochs: usize,
    /// Batches to time after one warm-up batch (0: the rest of the epochs)
    #[arg(long, value_parser = crate::args::count, default_value_t = 0)]
    batches: usize,
    /// Hold each batch this many milliseconds before asking for the next, as a training
    /// step would (the prefetch queue then fills as in training: memory measurements)
    #[arg(long, value_parser = crate::args::count, default_value_t = 0)]
    step_ms: usize,
    /// Memory budget of cache=auto (e.g. 4GiB)
    #[arg(long, value_parser = supcon::data::parse_memory)]
    data_memory: Option<u64>,
}

pub fn run(b: DataBench) -> Result<()> {
    let data = DataConfig {
        spec: b.data.clone(),
        threads: b.threads,
        memory: b.data_memory,
        ..DataConfig::default()
    }
    .load(0)?;
    let augment = AugmentConfig {
        crop_scale: (b.crop_min, 1.0),
        ..AugmentConfig::new(b.policy)
    };
    let pipeline = streamed_augment(&augment, &data.train).build()?;
    let batcher = MultiViewBatcher::new(pipeline, b.views, &data.mean, &data.std, 0, b.threads)?;
    let threads = batcher.threads();
    let loader = EpochLoader::new(
        batcher,
        std::sync::Arc::new(data.train.clone()),
        b.batch,
        true,
    )?;
    // The peak of the streaming itself, apart from start-up (listing, statistics):
    // Linux resets VmHWM to the current RSS on writing 5 to clear_refs.
    let start_rss = crate::rss::peak_rss_mb();
    let rss_at_start = crate::rss::rss_mb("VmRSS:");
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rate = measure_loader(
        &loader,
        b.epochs,
        (b.batches > 0).then_some(b.batches),
        std::time::Duration::from_millis(b.step_ms as u64),
    )?;
    println!(
        "{}",
        serde_json::json!({"bench": "data", "data": b.data, "policy": b.policy.to_string(),
            "streamed": data.train.is_streamed(), "train_images": data.train.len(),
            "shape": data.shape(), "batch": b.batch, "views": b.views, "threads": threads,
            "epochs": b.epochs, "step_ms": b.step_ms, "images": rate.images, "seconds": rate.seconds,
            "imgs_per_s": rate.images_per_second,
            "startup_peak_rss_mb": start_rss, "rss_at_stream_start_mb": rss_at_start,
            "stream_peak_rss_mb": if reset { Some(crate::rss::peak_rss_mb()) } else { None }})
    );
    Ok(())
}
