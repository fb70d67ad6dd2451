//! Throughput of augmentation + multi-view batching, for `supcon bench augment`.

use std::time::Instant;

use super::policy::AugmentConfig;
use crate::data::ImageDataset;
use crate::data::batcher::{BatcherError, MultiViewBatcher};

/// Builds `cfg`'s pipeline and a [`MultiViewBatcher`] with `views` views on
/// `threads` threads (0: one per core), then times `batches` consecutive batches
/// of `batch_size` indices (cycling through `ds`, after one untimed warm-up batch)
/// and returns the rate in augmented views per second (`views * batch_size *
/// batches / seconds`). Normalisation uses mean 0.5 / std 0.25 per channel.
///
/// # Errors
/// [`BatcherError::Augment`] for an invalid `cfg`; [`BatcherError::EmptyDataset`]
/// for an empty `ds`; [`BatcherError::ZeroBatches`] when `batches` is 0; and the
/// batcher's own errors (`views` or `batch_size` of 0, thread pool failure).
pub fn measure_throughput(
    ds: &ImageDataset,
    cfg: &AugmentConfig,
    views: usize,
    batch_size: usize,
    threads: usize,
    batches: usize,
) -> Result<f64, BatcherError> {
    if ds.is_empty() {
        return Err(BatcherError::EmptyDataset);
    }
    if batch_size == 0 {
        return Err(BatcherError::ZeroBatchSize);
    }
    if batches == 0 {
        return Err(BatcherError::ZeroBatches);
    }
    let pipeline = cfg
        .build()
        .map_err(|e| BatcherError::Augment(e.to_string()))?;
    let mean = vec![0.5; ds.channels];
    let std = vec![0.25; ds.channels];
    let batcher = MultiViewBatcher::new(pipeline, views, &mean, &std, 0, threads)?;
    let indices = |k: usize| -> Vec<usize> {
        (0..batch_size)
            .map(|i| (k * batch_size + i) % ds.len())
            .collect()
    };
    batcher.batch(ds, &indices(0), 0)?;
    let start = Instant::now();
    for k in 0..batches {
        let b = batcher.batch(ds, &indices(k + 1), 0)?;
        std::hint::black_box(&b.images);
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    Ok((views * batch_size * batches) as f64 / secs)
}

/// What [`measure_loader`] measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoaderRate {
    /// Images (samples) in the timed batches.
    pub images: usize,
    /// Timed batches.
    pub batches: usize,
    /// Seconds they took.
    pub seconds: f64,
    /// `images / seconds`.
    pub images_per_second: f64,
}

/// Times epochs `0..epochs` of `loader` as training consumes them (batches produced on
/// its workers behind the bounded prefetch queue): the clock starts when the first batch
/// arrives (a warm-up, as the worker start-up of other loaders is left out too), and
/// stops after `batches` more (`None`: the rest of the epochs). Each batch is held for
/// `hold` before the next is asked for, as a training step would hold it (zero: none),
/// so that the prefetch queue fills as in training.
///
/// # Errors
/// [`BatcherError::ZeroBatches`] when there is no batch after the first; the loader's
/// errors (an unreadable image of a streamed split, named).
pub fn measure_loader(
    loader: &crate::data::EpochLoader,
    epochs: usize,
    batches: Option<usize>,
    hold: std::time::Duration,
) -> Result<LoaderRate, BatcherError> {
    let mut iter = (0..epochs.max(1) as u64).flat_map(|e| loader.iter(e));
    iter.next().ok_or(BatcherError::ZeroBatches)??;
    let start = Instant::now();
    let (mut images, mut count) = (0, 0);
    for batch in iter.take(batches.unwrap_or(usize::MAX)) {
        let batch = batch?;
        images += batch.batch_size;
        count += 1;
        std::hint::black_box(&batch.images);
        if !hold.is_zero() {
            std::thread::sleep(hold);
        }
    }
    if count == 0 {
        return Err(BatcherError::ZeroBatches);
    }
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    Ok(LoaderRate {
        images,
        batches: count,
        seconds,
        images_per_second: images as f64 / seconds,
    })
}
