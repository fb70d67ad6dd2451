//! One split of an image dataset, shared by the data loaders, the augmentations and the
//! batcher. It keeps a whole split as `u8` pixels (1 byte per value), so the 50 000
//! CIFAR-10 training images take 150 MB, not 600 MB, or lists a streamed split's files
//! (`streamed.rs`) and decodes them on demand; [`Image`] is one decoded image as `f32`.

use std::borrow::Cow;
use std::sync::Arc;

use super::error::DataError;
use super::image::Image;
use super::streamed::StreamedImages;

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
