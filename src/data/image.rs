//! One decoded image as `f32` in `[0, 1]`, channel-major (CHW): the form every transform
//! in `crate::augment` takes and returns. A whole split is an
//! [`ImageDataset`](super::ImageDataset) (`dataset.rs`), kept as `u8` pixels.

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
