//! The geometry of one convolution (shapes, strides, padding and the sizes derived from
//! them), shared by the im2col + gemm path (`conv.rs`) and the direct kernel (`direct.rs`).

/// A group of images is made at least this many output columns wide (when the batch allows).
pub const TARGET_COLUMNS: usize = 256;

/// The weight gradient is accumulated in at most this many partial sums, fixed by the shape
/// (never by the thread count), then added in order.
pub const WEIGHT_GRAD_LANES: usize = 8;

/// The geometry of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Batch size `N`.
    pub batch: usize,
    /// Input channels `C`.
    pub in_channels: usize,
    /// Input height `H`.
    pub height: usize,
    /// Input width `W`.
    pub width: usize,
    /// Output channels `K`.
    pub out_channels: usize,
    /// Kernel height `kh`.
    pub kernel_h: usize,
    /// Kernel width `kw`.
    pub kernel_w: usize,
    /// Strides `(sh, sw)`.
    pub stride: [usize; 2],
    /// Zero padding on each side `(ph, pw)`.
    pub padding: [usize; 2],
}

impl ConvGeometry {
    /// Output height `Ho = (H + 2 ph - kh) / sh + 1`.
    pub fn out_h(&self) -> usize {
        (self.height + 2 * self.padding[0] - self.kernel_h) / self.stride[0] + 1
    }

    /// Output width `Wo = (W + 2 pw - kw) / sw + 1`.
    pub fn out_w(&self) -> usize {
        (self.width + 2 * self.padding[1] - self.kernel_w) / self.stride[1] + 1
    }

    /// Whether the geometry is one this module computes (non-empty, kernel within the padded
    /// input, positive strides).
    pub fn is_valid(&self) -> bool {
        self.batch > 0
            && self.in_channels > 0
            && self.out_channels > 0
            && self.kernel_h > 0
            && self.kernel_w > 0
            && self.stride[0] > 0
            && self.stride[1] > 0
            && self.height + 2 * self.padding[0] >= self.kernel_h
            && self.width + 2 * self.padding[1] >= self.kernel_w
    }

    /// Rows of `col`: `C * kh * kw`.
    pub fn patch(&self) -> usize {
        self.in_channels * self.kernel_h * self.kernel_w
    }

    /// Output pixels per image: `Ho * Wo`.
    pub fn out_pixels(&self) -> usize {
        self.out_h() * self.out_w()
    }

    /// Input elements per image: `C * H * W`.
    pub fn in_image(&self) -> usize {
        self.in_channels * self.height * self.width
    }

    /// Output elements per image: `K * Ho * Wo`.
    pub fn out_image(&self) -> usize {
        self.out_channels * self.out_pixels()
    }

    /// A 1x1, stride-1, unpadded convolution: `col` of one image is the image itself.
    pub(crate) fn is_pointwise(&self) -> bool {
        self.kernel_h == 1 && self.kernel_w == 1 && self.stride == [1, 1] && self.padding == [0, 0]
    }

    /// Images per group (see the module documentation); depends on the shape only.
    pub fn group(&self) -> usize {
        TARGET_COLUMNS
            .div_ceil(self.out_pixels().max(1))
            .clamp(1, self.batch)
    }

    /// Multiply-adds of the forward pass (each gradient costs the same again).
    pub fn macs(&self) -> f64 {
        self.batch as f64 * self.out_image() as f64 * self.patch() as f64
    }
}
