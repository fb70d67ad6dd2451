//! Input preprocessing at inference time, identical to training: channel conversion,
//! centre crop + resize (the image-folder loader's code), `[0, 1]` scaling, per-channel
//! normalisation.

use std::borrow::Cow;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::InferError;
use crate::data::conform_pixels;
use crate::data::decode::decode_image_file;
use crate::data::{DataSummary, Image, ImageDataset};

/// What a model's input looks like: the trained image shape and the normalisation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// `[channels, height, width]` of the training images.
    pub shape: [usize; 3],
    /// Per-channel mean in `[0, 1]` units.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation in `[0, 1]` units.
    pub std: Vec<f32>,
}

impl InputSpec {
    /// The input of a model trained on the data `summary` describes.
    pub fn from_summary(summary: &DataSummary) -> Self {
        Self {
            shape: summary.shape,
            mean: summary.mean.clone(),
            std: summary.std.clone(),
        }
    }

    /// Checks the shape (1 or 3 channels, non-empty, square: every loader makes square
    /// images) and the statistics (one per channel, finite, std > 0).
    ///
    /// # Errors
    /// [`InferError::Invalid`] saying what is wrong.
    pub fn validate(&self) -> Result<(), InferError> {
        let [c, h, w] = self.shape;
        if !matches!(c, 1 | 3) || h == 0 || w == 0 {
            return Err(InferError::Invalid(format!(
                "input shape {:?} (C, H, W): expected 1 or 3 channels and a non-empty image",
                self.shape
            )));
        }
        if self.mean.len() != c || self.std.len() != c {
            return Err(InferError::Invalid(format!(
                "input normalisation has {} mean and {} std values for {c} channels",
                self.mean.len(),
                self.std.len()
            )));
        }
        for (ch, (&m, &s)) in self.mean.iter().zip(&self.std).enumerate() {
            if !(m.is_finite() && s.is_finite() && s > 0.0) {
                return Err(InferError::Invalid(format!(
                    "input normalisation of channel {ch} is invalid (mean {m}, std {s})"
                )));
            }
        }
        Ok(())
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.shape[0]
    }

    /// Values per prepared image (`C * H * W`).
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether `(channels, height, width)` is the trained shape.
    pub fn matches(&self, channels: usize, height: usize, width: usize) -> bool {
        self.shape == [channels, height, width]
    }

    /// CHW `u8` pixels of any shape converted to the trained shape (a copy when they
    /// already have it).
    ///
    /// # Errors
    /// A message when the channel count is not 1 to 4, the image is empty, or it must
    /// be resized to a trained shape that is not square.
    pub fn conform_u8(
        &self,
        channels: usize,
        height: usize,
        width: usize,
        pixels: &[u8],
    ) -> Result<Vec<u8>, String> {
        conform_pixels(channels, height, width, pixels, self.shape)
    }

    /// An image converted to the trained shape (borrowed when it already has it;
    /// otherwise through 8-bit pixels, as image files are).
    ///
    /// # Errors
    /// [`InferError::Invalid`] when the image is inconsistent, holds a NaN or infinite
    /// value, or cannot be converted.
    pub fn conform<'a>(&self, image: &'a Image) -> Result<Cow<'a, Image>, InferError> {
        if image.data.iter().any(|v| !v.is_finite()) {
            return Err(InferError::Invalid(
                "image holds NaN or infinite values; expected pixel values in [0, 1]".into(),
            ));
        }
        if image.data.len() != image.channels * image.height * image.width {
            return Err(InferError::Invalid(format!(
                "image of shape {}x{}x{} holds {} values",
                image.channels,
                image.height,
                image.width,
                image.data.len()
            )));
        }
        if self.matches(image.channels, image.height, image.width) {
            return Ok(Cow::Borrowed(image));
        }
        let pixels = self
            .conform_u8(
                image.channels,
                image.height,
                image.width,
                &image.to_u8_chw(),
            )
            .map_err(|reason| {
                InferError::Invalid(format!(
                    "cannot convert a {}x{}x{} image to the model's input {:?}: {reason}",
                    image.channels, image.height, image.width, self.shape
                ))
            })?;
        let [c, h, w] = self.shape;
        Ok(Cow::Owned(Image::from_u8_chw(c, h, w, &pixels)))
    }

    /// Writes `(x - mean) / std` of an image of the trained shape into `out`
    /// (`C * H * W` values), as the training batcher does.
    ///
    /// # Panics
    /// When `image` or `out` does not have the trained size (call [`conform`](Self::conform) first).
    pub fn normalize_into(&self, image: &Image, out: &mut [f32]) {
        assert_eq!(
            image.data.len(),
            self.image_len(),
            "image of the wrong size"
        );
        assert_eq!(out.len(), self.image_len(), "output of the wrong size");
        let plane = self.shape[1] * self.shape[2];
        for (ch, (dst, src)) in out
            .chunks_exact_mut(plane)
            .zip(image.data.chunks_exact(plane))
            .enumerate()
        {
            let (m, s) = (self.mean[ch], self.std[ch]);
            for (d, &x) in dst.iter_mut().zip(src) {
                *d = (x - m) / s;
            }
        }
    }

    /// Conforms and normalises `images` into one `[n, C, H, W]` buffer.
    ///
    /// # Errors
    /// An invalid specification ([`validate`](Self::validate)), or as
    /// [`conform`](Self::conform).
    pub fn batch(&self, images: &[Image]) -> Result<Vec<f32>, InferError> {
        self.validate()?;
        let len = self.image_len();
        let mut values = vec![0.0f32; images.len() * len];
        for (image, out) in images.iter().zip(values.chunks_exact_mut(len)) {
            let image = self.conform(image)?;
            self.normalize_into(&image, out);
        }
        Ok(values)
    }

    /// Decodes an image file (PNG or JPEG) to the trained shape, exactly as the
    /// image-folder loader decodes training images.
    ///
    /// # Errors
    /// [`InferError::Image`] naming the file when it is missing, unreadable or not a
    /// decodable image; [`InferError::Invalid`] for a non-square trained shape.
    pub fn load_file(&self, path: &Path) -> Result<Image, InferError> {
        let [c, h, w] = self.shape;
        if h != w {
            return Err(InferError::Invalid(format!(
                "the model takes {h}x{w} images, which is not square; image files are \
                 centre-cropped to squares"
            )));
        }
        if !path.exists() {
            return Err(InferError::Image {
                path: path.to_path_buf(),
                reason: "no such file".into(),
            });
        }
        let pixels = decode_image_file(path, h, c == 1).map_err(|reason| InferError::Image {
            path: path.to_path_buf(),
            reason: format!("cannot decode image: {reason}"),
        })?;
        Ok(Image::from_u8_chw(c, h, w, &pixels))
    }

    /// A dataset split converted to the trained shape (borrowed when it already has it).
    ///
    /// # Errors
    /// [`InferError::Invalid`] when its images cannot be converted.
    pub fn conform_split<'a>(
        &self,
        split: &'a ImageDataset,
    ) -> Result<Cow<'a, ImageDataset>, InferError> {
        if self.matches(split.channels, split.height, split.width) {
            return Ok(Cow::Borrowed(split));
        }
        convert_split(split, self.shape).map(Cow::Owned)
    }
}

/// Converts every image of a split to `shape` `[C, H, W]` (see
/// [`crate::data::convert::convert_split`]).
///
/// # Errors
/// [`InferError::Invalid`] when an image cannot be converted.
pub fn convert_split(split: &ImageDataset, shape: [usize; 3]) -> Result<ImageDataset, InferError> {
    crate::data::convert::convert_split(split, shape).map_err(InferError::Invalid)
}

/// Converts both splits of a dataset to `shape` (see
/// [`crate::data::convert::convert_dataset`]). Returns whether anything was converted.
///
/// # Errors
/// [`InferError::Invalid`] when an image cannot be converted.
pub fn convert_dataset(
    data: &mut crate::data::LoadedDataset,
    shape: [usize; 3],
) -> Result<bool, InferError> {
    crate::data::convert::convert_dataset(data, shape).map_err(InferError::Invalid)
}

/// A forward-pass batch size: `n`, which must be at least 1.
///
/// # Errors
/// [`InferError::Invalid`] for 0.
pub(crate) fn batch_size(n: usize) -> Result<usize, InferError> {
    if n == 0 {
        return Err(InferError::Invalid(
            "batch size 0: expected at least 1 image per forward pass".to_string(),
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(shape: [usize; 3]) -> InputSpec {
        InputSpec {
            shape,
            mean: vec![0.5; shape[0]],
            std: vec![0.25; shape[0]],
        }
    }

    #[test]
    fn matching_images_are_only_normalised() {
        let s = spec([1, 2, 2]);
        let img = Image {
            channels: 1,
            height: 2,
            width: 2,
            data: vec![0.0, 0.25, 0.5, 1.0],
        };
        assert!(matches!(s.conform(&img).unwrap(), Cow::Borrowed(_)));
        assert_eq!(s.batch(&[img]).unwrap(), vec![-2.0, -1.0, 0.0, 2.0]);
    }

    #[test]
    fn channels_and_size_are_converted() {
        // Gray 4x4 -> RGB 2x2: replicated channels, resized.
        let s = spec([3, 2, 2]);
        let gray = Image::from_u8_chw(1, 4, 4, &[100; 16]);
        let out = s.conform(&gray).unwrap();
        assert_eq!((out.channels, out.height, out.width), (3, 2, 2));
        assert!(out.to_u8_chw().iter().all(|&v| v == 100));
        // RGB -> gray with BT.709 weights: pure green is 0.7152 * 255 = 182.
        let s = spec([1, 1, 1]);
        let green = Image::from_u8_chw(3, 1, 1, &[0, 255, 0]);
        let out = s.conform(&green).unwrap();
        assert_eq!(out.to_u8_chw(), vec![182]);
        // Non-square inputs are centre-cropped: the middle column of a 1x3 strip.
        let strip = Image::from_u8_chw(1, 1, 3, &[0, 200, 0]);
        assert_eq!(s.conform(&strip).unwrap().to_u8_chw(), vec![200]);
        // 5 channels cannot be converted.
        let odd = Image::zeros(5, 1, 1);
        let err = s.conform(&odd).unwrap_err().to_string();
        assert!(err.contains("5 channels"), "{err}");
    }

    #[test]
    fn validate_rejects_bad_specs() {
        assert!(spec([3, 32, 32]).validate().is_ok());
        assert!(spec([2, 32, 32]).validate().is_err());
        let mut s = spec([1, 28, 28]);
        s.std[0] = 0.0;
        assert!(s.validate().is_err());
        s.std = vec![1.0, 1.0];
        assert!(s.validate().is_err());
    }
}
