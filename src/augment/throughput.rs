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
