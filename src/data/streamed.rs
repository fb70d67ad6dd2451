//! Streamed splits: images listed at start-up (a file or a tar-shard member each, with
//! the size its header declares) and read and decoded only when a batch needs them, so
//! memory does not grow with the dataset.
//!
//! Two forms of an image come out:
//! - [`StreamedImages::eval_pixels`]: "resize the shorter side, centre-crop" to the
//!   split's square size, exactly as the in-memory folder loader stores it;
//! - [`StreamedImages::original`]: the decoded original, for training augmentations that
//!   crop from it (RandomResizedCrop) before resizing to the training size, as
//!   torchvision does.
//!
//! A file that vanishes, turns unreadable or fails to decode is a [`SampleError`] naming
//! it; with `skip_bad` the batcher takes the next readable image instead and
//! [`StreamedImages::skipped`] counts it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ::image::ImageFormat;

use super::decode::{decode_original, original_chw, read_image_file, square_resize};
use super::image::Image;
use super::seeded::{derive_rng, shuffled_order};

/// How many skipped images are named in warnings before the rest are only counted.
const MAX_WARNINGS: usize = 10;

/// Where one image's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A file of its own.
    File(PathBuf),
    /// A member of a tar shard.
    Member {
        /// Index into [`StreamedImages::shards`].
        shard: u32,
        /// Byte offset of the member's data in the shard.
        offset: u64,
        /// Length of the member's data.
        len: u64,
        /// The member's name, for messages.
        name: Box<str>,
    },
}

/// One listed image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Where its bytes are.
    pub location: Location,
    /// Width its header declares.
    pub width: u32,
    /// Height its header declares.
    pub height: u32,
}

/// The order an epoch visits a streamed split in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamOrder {
    /// A seeded permutation of all images (files: any image is as cheap as another).
    Permutation,
    /// Tar shards: a seeded order of the shards, read through a seeded shuffle buffer of
    /// this many images, so reads stay (nearly) sequential within a shard.
    ShardBuffer(usize),
}

/// An image that could not be read or decoded while streaming.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot read image {what}: {reason}")]
pub struct SampleError {
    /// The file, or `shard SHARD member NAME`.
    pub what: String,
    /// What went wrong.
    pub reason: String,
}

impl From<SampleError> for super::DataError {
    fn from(e: SampleError) -> Self {
        Self::Format {
            path: PathBuf::from(e.what),
            reason: format!("cannot read image: {}", e.reason),
        }
    }
}

/// The images of one streamed split (labels and class names stay in the
/// [`ImageDataset`](super::ImageDataset) that holds it).
pub struct StreamedImages {
    entries: Vec<Entry>,
    shards: Vec<PathBuf>,
    size: usize,
    gray: bool,
    skip_bad: bool,
    order: StreamOrder,
    skipped: AtomicUsize,
}

impl fmt::Debug for StreamedImages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamedImages")
            .field("images", &self.entries.len())
            .field("shards", &self.shards.len())
            .field("size", &self.size)
            .field("gray", &self.gray)
            .field("skip_bad", &self.skip_bad)
            .field("order", &self.order)
            .finish_non_exhaustive()
    }
}

impl PartialEq for StreamedImages {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
            && self.shards == other.shards
            && self.size == other.size
            && self.gray == other.gray
            && self.skip_bad == other.skip_bad
            && self.order == other.order
    }
}

impl StreamedImages {
    /// Images `entries` (read from `shards` when they are tar members), served as
    /// `size x size` squares, grayscale with `gray`.
    pub fn new(
        entries: Vec<Entry>,
        shards: Vec<PathBuf>,
        size: usize,
        gray: bool,
        skip_bad: bool,
        order: StreamOrder,
    ) -> Self {
        Self {
            entries,
            shards,
            size,
            gray,
            skip_bad,
            order,
            skipped: AtomicUsize::new(0),
        }
    }

    /// A split of entries `indices` (in that order) of this one, with the same settings.
    pub fn select(&self, indices: &[usize]) -> Self {
        let entries = indices
            .iter()
            .filter_map(|&i| self.entries.get(i).cloned())
            .collect();
        Self::new(
            entries,
            self.shards.clone(),
            self.size,
            self.gray,
            self.skip_bad,
            self.order,
        )
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The listed images.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The tar shards the members are read from (empty for files).
    pub fn shards(&self) -> &[PathBuf] {
        &self.shards
    }

    /// Whether unreadable images are skipped (the batcher takes the next one).
    pub fn skip_bad(&self) -> bool {
        self.skip_bad
    }

    /// Images skipped so far because they could not be read (with `skip_bad`).
    pub fn skipped(&self) -> usize {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Counts a skipped image, warning (for the first few) with the reason.
    pub fn note_skipped(&self, e: &SampleError) {
        let n = self.skipped.fetch_add(1, Ordering::Relaxed);
        if n < MAX_WARNINGS {
            eprintln!("warning: skipping {e} (skip_bad=true)");
        }
    }

    /// The order in which epoch `epoch` visits the images.
    pub fn epoch_order(&self, seed: u64, epoch: u64) -> Vec<usize> {
        match self.order {
            StreamOrder::Permutation => shuffled_order(self.len(), seed, epoch),
            StreamOrder::ShardBuffer(buffer) => self.shard_buffer_order(seed, epoch, buffer),
        }
    }

    /// Shards in a seeded order, their members in file order through a seeded shuffle
    /// buffer of `buffer` images (WebDataset's `shuffle(buffer)`): once the buffer is
    /// full, each arriving image replaces a uniformly drawn one, which is emitted; at the
    /// end the rest leaves in a drawn order.
    fn shard_buffer_order(&self, seed: u64, epoch: u64, buffer: usize) -> Vec<usize> {
        use rand::Rng;
        const DOMAIN: u64 = 0x7368_7264; // "shrd"
        let shard_of = |e: &Entry| match e.location {
            Location::Member { shard, .. } => shard as usize,
            Location::File(_) => 0,
        };
        let shards = self.shards.len().max(1);
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); shards];
        for (i, e) in self.entries.iter().enumerate() {
            if let Some(m) = members.get_mut(shard_of(e)) {
                m.push(i);
            }
        }
        let shard_order = shuffled_order(shards, seed ^ DOMAIN, epoch);
        let mut rng = derive_rng(&[DOMAIN, seed, epoch]);
        let buffer = buffer.max(1);
        let mut pool: Vec<usize> = Vec::with_capacity(buffer);
        let mut out = Vec::with_capacity(self.len());
        for &s in &shard_order {
            for &i in &members[s] {
                if pool.len() < buffer {
                    pool.push(i);
                } else {
                    let j = rng.random_range(0..pool.len());
                    out.push(std::mem::replace(&mut pool[j], i));
                }
            }
        }
        while !pool.is_empty() {
            let j = rng.random_range(0..pool.len());
            out.push(pool.swap_remove(j));
        }
        out
    }

    /// What to call entry `i` in messages: its path, or its shard and member.
    pub fn describe(&self, i: usize) -> String {
        match self.entries.get(i).map(|e| &e.location) {
            Some(Location::File(p)) => p.display().to_string(),
            Some(Location::Member { shard, name, .. }) => format!(
                "{} member {name}",
                self.shards
                    .get(*shard as usize)
                    .map_or_else(String::new, |p| p.display().to_string())
            ),
            None => format!("#{i} (out of range)"),
        }
    }

    /// The bytes of entry `i` and the format its name suggests.
    fn bytes(&self, i: usize) -> Result<(Vec<u8>, Option<ImageFormat>), String> {
        match self.entries.get(i).map(|e| &e.location) {
            Some(Location::File(p)) => Ok((read_image_file(p)?, ImageFormat::from_path(p).ok())),
            Some(Location::Member {
                shard,
                offset,
                len,
                name,
            }) => {
                let path = self
                    .shards
                    .get(*shard as usize)
                    .ok_or_else(|| format!("shard #{shard} is not listed"))?;
                let bytes = read_at(path, *offset, *len)?;
                Ok((bytes, ImageFormat::from_path(Path::new(&**name)).ok()))
            }
            None => Err(format!("index {i} is out of range ({} images)", self.len())),
        }
    }

    /// The undecoded bytes of entry `i` and its lower-case file extension (`jpg`, `png`,
    /// ...), as `supcon data --to-shards` copies them.
    ///
    /// # Errors
    /// A [`SampleError`] naming the file when it cannot be read.
    pub fn raw_bytes(&self, i: usize) -> Result<(Vec<u8>, String), SampleError> {
        let (bytes, _) = self.bytes(i).map_err(|reason| SampleError {
            what: self.describe(i),
            reason,
        })?;
        let name = match self.entries.get(i).map(|e| &e.location) {
            Some(Location::File(p)) => p.to_string_lossy().into_owned(),
            Some(Location::Member { name, .. }) => name.to_string(),
            None => String::new(),
        };
        let ext = Path::new(&name).extension().map_or_else(
            || "jpg".to_string(),
            |e| e.to_string_lossy().to_ascii_lowercase(),
        );
        Ok((bytes, ext))
    }

    /// Reads and decodes entry `i` at full size.
    fn decode(&self, i: usize) -> Result<::image::DynamicImage, SampleError> {
        let err = |reason: String| SampleError {
            what: self.describe(i),
            reason,
        };
        let (bytes, hint) = self.bytes(i).map_err(err)?;
        decode_original(&bytes, hint).map_err(err)
    }

    /// Image `i` as CHW `u8` of `size x size`: shorter side resized, centre-cropped.
    ///
    /// # Errors
    /// A [`SampleError`] naming the file when it cannot be read or decoded.
    pub fn eval_pixels(&self, i: usize) -> Result<Vec<u8>, SampleError> {
        let img = self.decode(i)?;
        square_resize(&img, self.size, self.gray).map_err(|reason| SampleError {
            what: self.describe(i),
            reason,
        })
    }

    /// Image `i` decoded at its own size, values in `[0, 1]`.
    ///
    /// # Errors
    /// A [`SampleError`] naming the file when it cannot be read or decoded.
    pub fn original(&self, i: usize) -> Result<Image, SampleError> {
        let img = self.decode(i)?;
        let (c, h, w, px) = original_chw(&img, self.gray);
        Ok(Image::from_u8_chw(c, h, w, &px))
    }

    /// Bytes the decoded originals of all images would take (from their headers).
    pub fn original_bytes(&self) -> u64 {
        let c = if self.gray { 1 } else { 3 };
        self.entries
            .iter()
            .map(|e| u64::from(e.width) * u64::from(e.height) * c)
            .sum()
    }
}

/// `len` bytes of `path` from `offset` on.
fn read_at(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let len = usize::try_from(len).map_err(|_| format!("member of {len} bytes is too large"))?;
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)
        .map_err(|e| format!("reading {len} bytes at offset {offset}: {e}"))?;
    Ok(buf)
}
