//! In-memory image types shared by the data loaders, the augmentations and the
//! batcher.
//!
//! Two representations, on purpose:
//! - [`ImageDataset`] keeps a whole split as `u8` pixels (1 byte per value), so the
//!   50 000 CIFAR-10 training images take 150 MB, not 600 MB.
//! - [`Image`] is one decoded image as `f32` in `[0, 1]`, channel-major (CHW): the
//!   form every transform in `crate::augment` takes and returns.

use std::borrow::Cow;
use std::sync::Arc;

use super::error::DataError;
use super::streamed::StreamedImages;

/// One image, channel-major (`data[c * height * width + y * width + x]`), values in `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Number of channels (1 for grayscale, 3 for RGB).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// `channels * height * width` values, CHW order.
    pub data: Vec<f32>,
}

impl Image {
    /// A black image of the given shape.
    pub fn zeros(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            height,
            width,
            data: vec![0.0; channels * height * width],
        }
    }

    /// Builds an image from CHW `u8` pixels, scaling to `[0, 1]`.
    ///
    /// # Panics
    /// Never for consistent input; `pixels.len()` must equal `channels * height * width`
    /// (checked with a debug assertion: callers slice it from an [`ImageDataset`]).
    pub fn from_u8_chw(channels: usize, height: usize, width: usize, pixels: &[u8]) -> Self {
        debug_assert_eq!(pixels.len(), channels * height * width);
        Self {
            channels,
            height,
            width,
            data: pixels.iter().map(|&p| f32::from(p) / 255.0).collect(),
        }
    }

    /// Converts back to CHW `u8` (rounded, clamped to `[0, 255]`).
    pub fn to_u8_chw(&self) -> Vec<u8> {
        self.data
            .iter()
            .map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
            .collect()
    }

    /// Value at channel `c`, row `y`, column `x`.
    #[inline]
    pub fn get(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.height + y) * self.width + x]
    }

    /// Mutable value at channel `c`, row `y`, column `x`.
    #[inline]
    pub fn get_mut(&mut self, c: usize, y: usize, x: usize) -> &mut f32 {
        &mut self.data[(c * self.height + y) * self.width + x]
    }

    /// Number of values (`channels * height * width`).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the image holds no pixel.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// One split of an image dataset, every image of the same shape, stored as `u8` CHW in
/// memory, or (`stream` set) listed and decoded on demand from files or tar shards.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageDataset {
    /// Channels per image.
    pub channels: usize,
    /// Height of every image.
    pub height: usize,
    /// Width of every image.
    pub width: usize,
    /// `len() * channels * height * width` bytes; image `i` is the `i`-th block, CHW.
    /// Empty for a streamed split.
    pub pixels: Vec<u8>,
    /// One label per image, each `< class_names.len()`.
    pub labels: Vec<usize>,
    /// Human-readable class names, indexed by label.
    pub class_names: Vec<String>,
    /// Where a streamed split's images are read from (image `i` is entry `i`); `None`
    /// for an in-memory split. Its images, as [`Self::try_image`] gives them, are
    /// `channels x height x width` (shorter side resized, centre-cropped).
    pub stream: Option<Arc<StreamedImages>>,
}

impl ImageDataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the split holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image (`channels * height * width`).
    pub fn image_size(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The raw CHW bytes of image `i` of an in-memory split (empty for a streamed one:
    /// use [`Self::try_pixels`]).
    pub fn pixels_of(&self, i: usize) -> &[u8] {
        let n = self.image_size();
        self.pixels.get(i * n..(i + 1) * n).unwrap_or(&[])
    }

    /// Image `i` decoded to `f32` in `[0, 1]`, from memory. For a streamed split use
    /// [`Self::try_image`], which reads the file and can fail.
    pub fn image(&self, i: usize) -> Image {
        Image::from_u8_chw(self.channels, self.height, self.width, self.pixels_of(i))
    }

    /// True when the images are read from disk on demand.
    pub fn is_streamed(&self) -> bool {
        self.stream.is_some()
    }

    /// The CHW bytes of image `i`: borrowed from memory, or read, decoded, resized
    /// (shorter side) and centre-cropped from its file for a streamed split.
    ///
    /// # Errors
    /// [`DataError::Format`] naming the file (or the tar shard and member) when it
    /// cannot be read or decoded.
    pub fn try_pixels(&self, i: usize) -> Result<Cow<'_, [u8]>, DataError> {
        match &self.stream {
            Some(s) => s.eval_pixels(i).map(Cow::Owned).map_err(DataError::from),
            None => Ok(Cow::Borrowed(self.pixels_of(i))),
        }
    }

    /// Image `i` as [`Self::image`], reading it from disk when the split is streamed.
    ///
    /// # Errors
    /// As [`Self::try_pixels`].
    pub fn try_image(&self, i: usize) -> Result<Image, DataError> {
        let px = self.try_pixels(i)?;
        Ok(Image::from_u8_chw(
            self.channels,
            self.height,
            self.width,
            &px,
        ))
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }
}
