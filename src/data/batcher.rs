//! Multi-view batching: every sample of a batch is augmented `views` times (the
//! positives of the SupCon loss), normalised and laid out view-major; plus an
//! epoch loader that shuffles per epoch and prefetches batches on a background
//! thread.
//!
//! Randomness is derived per `(seed, epoch, dataset index, view)`, so a batch is
//! bit-identical whatever the number of threads or the batch composition.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rayon::prelude::*;

use super::dataset::ImageDataset;
use super::image::Image;
use super::streamed::{SampleError, StreamedImages};
use super::transform::Transform;

pub use super::seeded::{shuffled_order, view_rng};

/// The most data-loading threads a batcher starts (results never depend on the count).
pub const MAX_THREADS: usize = 1024;

/// Invalid batcher/loader configuration or input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatcherError {
    /// `views` was 0.
    #[error("the number of views must be at least 1")]
    ZeroViews,
    /// `batch_size` was 0.
    #[error("the batch size must be at least 1")]
    ZeroBatchSize,
    /// More data-loading threads than [`MAX_THREADS`].
    #[error("threads = {0}: expected 0 (one per core) to {max}", max = MAX_THREADS)]
    TooManyThreads(usize),
    /// A throughput measurement was asked for 0 batches.
    #[error("the number of batches to time must be at least 1")]
    ZeroBatches,
    /// The normalisation mean and std have different lengths, or are empty.
    #[error(
        "normalisation mean has {mean} values and std has {std}; both need one per channel (at least 1)"
    )]
    NormalisationLength {
        /// Length of the mean.
        mean: usize,
        /// Length of the std.
        std: usize,
    },
    /// A std entry is zero, negative or not finite, or a mean entry is not finite.
    #[error(
        "normalisation for channel {channel} is invalid (mean {mean}, std {std}): std must be finite and > 0, mean finite"
    )]
    InvalidNormalisation {
        /// Channel index.
        channel: usize,
        /// Its mean.
        mean: f32,
        /// Its std.
        std: f32,
    },
    /// The dataset's channel count differs from the normalisation's.
    #[error("the normalisation has {expected} channels but the dataset's images have {found}")]
    ChannelMismatch {
        /// Channels of the normalisation.
        expected: usize,
        /// Channels of the dataset.
        found: usize,
    },
    /// A batch index is not in the dataset.
    #[error("index {index} is out of range for a dataset of {len} images")]
    IndexOutOfRange {
        /// The offending index.
        index: usize,
        /// The dataset size.
        len: usize,
    },
    /// The transform returned an image of another shape than it announced.
    #[error("the transform returned a {found:?} (C, H, W) image, expected {expected:?}")]
    TransformShape {
        /// Shape announced by `Transform::output_size`.
        expected: (usize, usize, usize),
        /// Shape returned.
        found: (usize, usize, usize),
    },
    /// The dataset holds no image.
    #[error("the dataset is empty")]
    EmptyDataset,
    /// The rayon thread pool or the loader thread could not be started.
    #[error("could not start worker threads: {0}")]
    Threads(String),
    /// An image of a streamed split could not be read or decoded mid-epoch.
    #[error(
        "cannot read image {what}: {reason} (set the spec option skip_bad=true to skip \
         unreadable images)"
    )]
    Sample {
        /// The file, or the tar shard and member.
        what: String,
        /// What went wrong.
        reason: String,
    },
    /// Invalid augmentation configuration: the message of the augmentation's own error
    /// (`crate::augment::AugmentError`).
    #[error("{0}")]
    Augment(String),
}

/// One multi-view batch, normalised with `(x - mean) / std` per channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// `[views * batch_size, channels, height, width]`, flattened, view-major:
    /// row `v * batch_size + i` is view `v` of sample `i`.
    pub images: Vec<f32>,
    /// Label of each sample, `[batch_size]`.
    pub labels: Vec<usize>,
    /// Dataset index of each sample, `[batch_size]`.
    pub indices: Vec<usize>,
    /// Views per sample.
    pub views: usize,
    /// Samples in the batch.
    pub batch_size: usize,
    /// Channels per image.
    pub channels: usize,
    /// Height of every view.
    pub height: usize,
    /// Width of every view.
    pub width: usize,
}

impl Batch {
    /// `[views * batch_size, channels, height, width]`.
    pub fn shape(&self) -> [usize; 4] {
        [
            self.views * self.batch_size,
            self.channels,
            self.height,
            self.width,
        ]
    }

    /// Values per view (`channels * height * width`).
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// View `view` of sample `i` (CHW, normalised), or `None` when out of range.
    pub fn view(&self, view: usize, i: usize) -> Option<&[f32]> {
        if view >= self.views || i >= self.batch_size {
            return None;
        }
        let n = self.image_len();
        let start = (view * self.batch_size + i) * n;
        self.images.get(start..start + n)
    }
}

/// Part `part` of `len` items split into `parts` contiguous shards whose sizes differ by
/// at most one, larger shards first (shards are empty when `len < parts`). The shards of
/// a global batch over data-parallel devices and MPI ranks.
pub fn shard_range(len: usize, parts: usize, part: usize) -> std::ops::Range<usize> {
    let parts = parts.max(1);
    let (base, extra) = (len / parts, len % parts);
    let start = part * base + part.min(extra);
    start..start + base + usize::from(part < extra)
}

/// Augments samples into multi-view, normalised, view-major [`Batch`]es on its
/// own rayon thread pool.
pub struct MultiViewBatcher {
    transform: Arc<dyn Transform>,
    views: usize,
    mean: Vec<f32>,
    std: Vec<f32>,
    seed: u64,
    threads: usize,
    pool: rayon::ThreadPool,
}

impl std::fmt::Debug for MultiViewBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiViewBatcher")
            .field("views", &self.views)
            .field("mean", &self.mean)
            .field("std", &self.std)
            .field("seed", &self.seed)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl MultiViewBatcher {
    /// A batcher producing `views` augmented views per sample with `transform`,
    /// normalised per channel by `mean` / `std`, with randomness derived from
    /// `seed`, on a pool of `threads` threads (0: one per available core).
    ///
    /// # Errors
    /// [`BatcherError::ZeroViews`], [`BatcherError::NormalisationLength`] (lengths
    /// differ or are 0), [`BatcherError::InvalidNormalisation`] (std not finite and
    /// positive, or mean not finite), [`BatcherError::TooManyThreads`] above
    /// [`MAX_THREADS`], [`BatcherError::Threads`] if the pool cannot start.
    pub fn new(
        transform: impl Transform + 'static,
        views: usize,
        mean: &[f32],
        std: &[f32],
        seed: u64,
        threads: usize,
    ) -> Result<Self, BatcherError> {
        if views == 0 {
            return Err(BatcherError::ZeroViews);
        }
        if mean.len() != std.len() || mean.is_empty() {
            return Err(BatcherError::NormalisationLength {
                mean: mean.len(),
                std: std.len(),
            });
        }
        for (channel, (&m, &s)) in mean.iter().zip(std).enumerate() {
            if !(m.is_finite() && s.is_finite() && s > 0.0) {
                return Err(BatcherError::InvalidNormalisation {
                    channel,
                    mean: m,
                    std: s,
                });
            }
        }
        if threads > MAX_THREADS {
            return Err(BatcherError::TooManyThreads(threads));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("supcon-augment-{i}"))
            .build()
            .map_err(|e| BatcherError::Threads(e.to_string()))?;
        Ok(Self {
            transform: Arc::new(transform),
            views,
            mean: mean.to_vec(),
            std: std.to_vec(),
            seed,
            threads: pool.current_num_threads(),
            pool,
        })
    }

    /// Views per sample.
    pub fn views(&self) -> usize {
        self.views
    }

    /// The base seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Worker threads in the pool.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Per-channel normalisation mean.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// Per-channel normalisation std.
    pub fn std(&self) -> &[f32] {
        &self.std
    }

    /// `(channels, height, width)` of the views made from `ds`.
    pub fn output_shape(&self, ds: &ImageDataset) -> (usize, usize, usize) {
        let (h, w) = self.transform.output_size(ds.height, ds.width);
        (ds.channels, h, w)
    }

    fn check_dataset(&self, ds: &ImageDataset) -> Result<(), BatcherError> {
        if ds.channels != self.mean.len() {
            return Err(BatcherError::ChannelMismatch {
                expected: self.mean.len(),
                found: ds.channels,
            });
        }
        Ok(())
    }

    /// Builds the batch of dataset images `indices` (duplicates allowed; an empty
    /// slice gives an empty batch) for epoch `epoch`. View `v` of image `i` is
    /// `transform(image_i)` with [`view_rng`]`(seed, epoch, i, v)`, normalised.
    ///
    /// # Errors
    /// [`BatcherError::ChannelMismatch`] if the dataset's channels differ from the
    /// normalisation's, [`BatcherError::IndexOutOfRange`] for a bad index,
    /// [`BatcherError::TransformShape`] if the transform breaks its
    /// `output_size` promise.
    pub fn batch(
        &self,
        ds: &ImageDataset,
        indices: &[usize],
        epoch: u64,
    ) -> Result<Batch, BatcherError> {
        self.check_dataset(ds)?;
        if let Some(&index) = indices.iter().find(|&&i| i >= ds.len()) {
            return Err(BatcherError::IndexOutOfRange {
                index,
                len: ds.len(),
            });
        }
        if let Some(stream) = &ds.stream {
            return self.batch_streamed(ds, stream, indices, epoch);
        }
        let (c, h, w) = self.output_shape(ds);
        let b = indices.len();
        let len = c * h * w;
        let mut images = vec![0.0f32; self.views * b * len];
        if len > 0 && b > 0 {
            self.pool.install(|| {
                images
                    .par_chunks_mut(len)
                    .enumerate()
                    .try_for_each(|(row, out)| {
                        let (v, i) = (row / b, row % b);
                        self.fill_view(ds, indices[i], v, epoch, (c, h, w), out)
                    })
            })?;
        }
        Ok(Batch {
            images,
            labels: indices.iter().map(|&i| ds.labels[i]).collect(),
            indices: indices.to_vec(),
            views: self.views,
            batch_size: b,
            channels: c,
            height: h,
            width: w,
        })
    }

    /// [`Self::batch`] of a streamed split: each sample is read and decoded once (on the
    /// pool, one sample per task, so at most one decoded original per thread is alive)
    /// and all its views are made from it. With a transform that crops from the
    /// original ([`Transform::crops_original`]) it gets the decoded original, otherwise
    /// the split's square image. An unreadable image fails the batch naming it, or with
    /// `skip_bad` is replaced by the next readable image of the split (counted by
    /// [`StreamedImages::skipped`]), whose index and label the batch then reports.
    fn batch_streamed(
        &self,
        ds: &ImageDataset,
        stream: &StreamedImages,
        indices: &[usize],
        epoch: u64,
    ) -> Result<Batch, BatcherError> {
        let shape = self.output_shape(ds);
        let (c, h, w) = shape;
        let b = indices.len();
        let len = c * h * w;
        let mut images = vec![0.0f32; self.views * b * len];
        let original = self.transform.crops_original();
        let mut rows: Vec<Vec<&mut [f32]>> =
            (0..b).map(|_| Vec::with_capacity(self.views)).collect();
        if len > 0 {
            for (row, out) in images.chunks_mut(len).enumerate() {
                rows[row % b].push(out);
            }
        }
        let actual: Vec<usize> = self.pool.install(|| {
            rows.into_par_iter()
                .zip(indices.par_iter())
                .map(|(outs, &index)| {
                    let (actual, img) = read_sample(ds, stream, index, original)?;
                    let last = outs.len().saturating_sub(1);
                    let mut img = Some(img);
                    for (v, out) in outs.into_iter().enumerate() {
                        let mut rng = view_rng(self.seed, epoch, actual as u64, v as u64);
                        let view = match (v == last, &img) {
                            (true, _) => {
                                img.take().map(|i| self.transform.apply_owned(i, &mut rng))
                            }
                            (false, Some(i)) => Some(self.transform.apply(i, &mut rng)),
                            (false, None) => None,
                        };
                        if let Some(view) = view {
                            self.write_normalised(&view, shape, out)?;
                        }
                    }
                    Ok(actual)
                })
                .collect::<Result<Vec<usize>, BatcherError>>()
        })?;
        Ok(Batch {
            images,
            labels: actual.iter().map(|&i| ds.labels[i]).collect(),
            indices: actual,
            views: self.views,
            batch_size: b,
            channels: c,
            height: h,
            width: w,
        })
    }

    /// Augments view `view` of image `index` and writes it, normalised, to `out`.
    fn fill_view(
        &self,
        ds: &ImageDataset,
        index: usize,
        view: usize,
        epoch: u64,
        shape: (usize, usize, usize),
        out: &mut [f32],
    ) -> Result<(), BatcherError> {
        let mut rng = view_rng(self.seed, epoch, index as u64, view as u64);
        let img = self.transform.apply_owned(ds.image(index), &mut rng);
        self.write_normalised(&img, shape, out)
    }

    /// Writes `img` (which must have `shape`), normalised per channel, to `out`.
    fn write_normalised(
        &self,
        img: &Image,
        shape: (usize, usize, usize),
        out: &mut [f32],
    ) -> Result<(), BatcherError> {
        let found = (img.channels, img.height, img.width);
        if found != shape || img.data.len() != out.len() {
            return Err(BatcherError::TransformShape {
                expected: shape,
                found,
            });
        }
        let plane = shape.1 * shape.2;
        for (ch, (dst, src)) in out
            .chunks_exact_mut(plane)
            .zip(img.data.chunks_exact(plane))
            .enumerate()
        {
            let (m, s) = (self.mean[ch], self.std[ch]);
            for (d, &x) in dst.iter_mut().zip(src) {
                *d = (x - m) / s;
            }
        }
        Ok(())
    }
}

/// Image `index` of a streamed split (its original, or its square eval form) with the
/// index it was read from: `index` itself, or with `skip_bad` the next readable one
/// (wrapping around) when it cannot be read.
///
/// # Errors
/// [`BatcherError::Sample`] naming the image (without `skip_bad`, or when none can be
/// read).
fn read_sample(
    ds: &ImageDataset,
    stream: &StreamedImages,
    index: usize,
    original: bool,
) -> Result<(usize, Image), BatcherError> {
    let n = stream.len().max(1);
    let mut first = None;
    for k in 0..n {
        let i = (index + k) % n;
        let got = if original {
            stream.original(i)
        } else {
            stream
                .eval_pixels(i)
                .map(|px| Image::from_u8_chw(ds.channels, ds.height, ds.width, &px))
        };
        match got {
            Ok(img) => return Ok((i, img)),
            Err(e) if stream.skip_bad() => {
                stream.note_skipped(&e);
                first.get_or_insert(e);
            }
            Err(e) => {
                return Err(BatcherError::Sample {
                    what: e.what,
                    reason: e.reason,
                });
            }
        }
    }
    let e = first.unwrap_or_else(|| SampleError {
        what: "the split".to_string(),
        reason: "it holds no image".to_string(),
    });
    Err(BatcherError::Sample {
        what: e.what,
        reason: format!("{} (and no other image of the split is readable)", e.reason),
    })
}

/// Iterates over a dataset in shuffled batches, one epoch at a time, producing
/// batches on a background thread.
#[derive(Debug, Clone)]
pub struct EpochLoader {
    batcher: Arc<MultiViewBatcher>,
    dataset: Arc<ImageDataset>,
    batch_size: usize,
    drop_last: bool,
    shuffle: bool,
    prefetch: usize,
    /// `(part, parts)`: yield only this contiguous shard of every batch.
    shard: Option<(usize, usize)>,
}

impl EpochLoader {
    /// Batches queued ahead of the consumer by default.
    pub const DEFAULT_PREFETCH: usize = 2;

    /// A shuffling loader over `dataset` with `batch_size` samples per batch;
    /// `drop_last` drops a final incomplete batch. Prefetch depth is
    /// [`Self::DEFAULT_PREFETCH`].
    ///
    /// # Errors
    /// [`BatcherError::ZeroBatchSize`]; [`BatcherError::ChannelMismatch`] if the
    /// dataset's channels differ from the batcher's normalisation.
    pub fn new(
        batcher: impl Into<Arc<MultiViewBatcher>>,
        dataset: Arc<ImageDataset>,
        batch_size: usize,
        drop_last: bool,
    ) -> Result<Self, BatcherError> {
        if batch_size == 0 {
            return Err(BatcherError::ZeroBatchSize);
        }
        let batcher = batcher.into();
        batcher.check_dataset(&dataset)?;
        Ok(Self {
            batcher,
            dataset,
            batch_size,
            drop_last,
            shuffle: true,
            prefetch: Self::DEFAULT_PREFETCH,
            shard: None,
        })
    }

    /// Turns per-epoch shuffling on (default) or off (dataset order, for evaluation).
    pub fn with_shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Sets how many finished batches may wait for the consumer (bounded channel
    /// capacity; at least 1). At most `prefetch + 1` batches are alive beyond the
    /// one the consumer holds.
    pub fn with_prefetch(mut self, prefetch: usize) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// Yields only shard `part` of `parts` ([`shard_range`]) of every batch: an MPI rank's
    /// share of the global batch. Epochs, batch counts and the shuffle stay those of the
    /// whole batch, and the shard's images are bit for bit those of the whole batch's
    /// rows (views are seeded per dataset image).
    pub fn with_shard(mut self, part: usize, parts: usize) -> Self {
        self.shard = Some((part, parts));
        self
    }

    /// The batcher.
    pub fn batcher(&self) -> &MultiViewBatcher {
        &self.batcher
    }

    /// The dataset.
    pub fn dataset(&self) -> &Arc<ImageDataset> {
        &self.dataset
    }

    /// Samples per batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Batches per epoch.
    pub fn num_batches(&self) -> usize {
        let n = self.dataset.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The order in which epoch `epoch` visits the dataset (a seeded permutation
    /// of `(batcher seed, epoch)` when shuffling, or for tar shards the seeded shard
    /// order through a shuffle buffer; `0..len` otherwise).
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        if self.shuffle {
            match &self.dataset.stream {
                Some(stream) => stream.epoch_order(self.batcher.seed, epoch),
                None => shuffled_order(self.dataset.len(), self.batcher.seed, epoch),
            }
        } else {
            (0..self.dataset.len()).collect()
        }
    }

    /// The batches of epoch `epoch`, produced on a background thread at most
    /// `prefetch` batches ahead. Dropping the iterator early stops the thread.
    pub fn iter(&self, epoch: u64) -> EpochIter {
        self.iter_from(epoch, 0)
    }

    /// The batches of epoch `epoch` from batch index `start` on (a resumed epoch): the
    /// same batches [`Self::iter`] yields after its first `start`, without producing the
    /// skipped ones.
    pub fn iter_from(&self, epoch: u64, start: usize) -> EpochIter {
        let order = self.order(epoch);
        let chunks: Vec<Vec<usize>> = order
            .chunks(self.batch_size)
            .filter(|c| !self.drop_last || c.len() == self.batch_size)
            .skip(start)
            .map(|c| match self.shard {
                Some((part, parts)) => c[shard_range(c.len(), parts, part)].to_vec(),
                None => c.to_vec(),
            })
            .collect();
        let remaining = chunks.len();
        let (tx, rx) = sync_channel(self.prefetch);
        let batcher = Arc::clone(&self.batcher);
        let dataset = Arc::clone(&self.dataset);
        let spawned = std::thread::Builder::new()
            .name("supcon-loader".into())
            .spawn(move || produce(&batcher, &dataset, chunks, epoch, &tx));
        match spawned {
            Ok(handle) => EpochIter {
                rx: Some(rx),
                handle: Some(handle),
                failed: None,
                remaining,
            },
            Err(e) => EpochIter {
                rx: None,
                handle: None,
                failed: Some(BatcherError::Threads(e.to_string())),
                remaining: 1,
            },
        }
    }
}

/// The loader thread: sends each batch, stopping on the first error or when the
/// receiver is gone.
fn produce(
    batcher: &MultiViewBatcher,
    dataset: &ImageDataset,
    chunks: Vec<Vec<usize>>,
    epoch: u64,
    tx: &SyncSender<Result<Batch, BatcherError>>,
) {
    for chunk in chunks {
        let result = batcher.batch(dataset, &chunk, epoch);
        let stop = result.is_err();
        if tx.send(result).is_err() || stop {
            return;
        }
    }
}

/// The batches of one epoch (see [`EpochLoader::iter`]). Yields `Err` once and
/// stops if a batch fails.
#[derive(Debug)]
pub struct EpochIter {
    rx: Option<Receiver<Result<Batch, BatcherError>>>,
    handle: Option<JoinHandle<()>>,
    failed: Option<BatcherError>,
    remaining: usize,
}

impl Iterator for EpochIter {
    type Item = Result<Batch, BatcherError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.failed.take() {
            self.remaining = 0;
            return Some(Err(e));
        }
        let item = self.rx.as_ref()?.recv().ok();
        match &item {
            Some(Ok(_)) => self.remaining = self.remaining.saturating_sub(1),
            _ => {
                self.remaining = 0;
                self.rx = None;
            }
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}

impl Drop for EpochIter {
    fn drop(&mut self) {
        // Closing the channel first unblocks a producer waiting to send.
        self.rx = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_rngs_differ_per_coordinate() {
        use rand::Rng;
        let first = |s, e, i, v| view_rng(s, e, i, v).random::<u64>();
        let base = first(1, 2, 3, 4);
        assert_eq!(base, first(1, 2, 3, 4));
        for other in [
            first(0, 2, 3, 4),
            first(1, 3, 3, 4),
            first(1, 2, 4, 4),
            first(1, 2, 3, 5),
        ] {
            assert_ne!(base, other);
        }
        // Swapping coordinates must not collide.
        assert_ne!(first(1, 2, 3, 4), first(1, 2, 4, 3));
    }

    #[test]
    fn shard_ranges_cover_in_order_larger_first() {
        let sizes: Vec<usize> = (0..3).map(|r| shard_range(8, 3, r).len()).collect();
        assert_eq!(sizes, vec![3, 3, 2]);
        assert_eq!(shard_range(8, 3, 2), 6..8);
        assert_eq!(shard_range(2, 3, 2), 2..2);
        assert_eq!(shard_range(12, 1, 0), 0..12);
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let a = shuffled_order(100, 7, 0);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(a, shuffled_order(100, 7, 0));
        assert_ne!(a, shuffled_order(100, 7, 1));
        assert_ne!(a, shuffled_order(100, 8, 0));
    }

    #[test]
    fn batch_view_accessor() {
        let b = Batch {
            images: (0..12).map(|x| x as f32).collect(),
            labels: vec![0, 1, 0],
            indices: vec![0, 1, 2],
            views: 2,
            batch_size: 3,
            channels: 1,
            height: 1,
            width: 2,
        };
        assert_eq!(b.shape(), [6, 1, 1, 2]);
        assert_eq!(b.view(1, 0), Some(&[6.0, 7.0][..]));
        assert_eq!(b.view(2, 0), None);
    }
}
