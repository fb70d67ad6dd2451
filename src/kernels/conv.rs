//! 2-D convolution on NCHW `f32` slices: im2col + `gemm`, forward, data gradient and weight
//! gradient, without bias, dilation or groups (what ResNets use).
//!
//! # Method
//! Images are processed in *groups* of `g` consecutive images, `g` chosen from the shape alone so
//! that a group's output has at least [`TARGET_COLUMNS`] columns (late ResNet stages have 4x4
//! maps: one image alone would make a 16-column gemm). For a group, `col = im2col(x_g)` is
//! `[C*kh*kw, g*Ho*Wo]` and the convolution is one gemm `W [K, C*kh*kw] x col`. A 1x1 stride-1
//! unpadded convolution of one image reads the image itself as `col`.
//!
//! Each gemm runs on one thread; rayon spreads the groups (no nested parallelism).
//!
//! # Determinism
//! Nothing here depends on the number of threads: a group's result depends only on its images,
//! and the weight gradient is summed over a fixed number of *lanes* (contiguous runs of groups,
//! [`WEIGHT_GRAD_LANES`] of them at most, fixed by the shape), each lane adding its groups in
//! order, and the lanes are then added in order.

use std::ops::Range;

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

pub use super::geometry::{ConvGeometry, TARGET_COLUMNS, WEIGHT_GRAD_LANES};

/// One image's output is processed in tiles of whole output rows about this many columns
/// wide when it is wider.
pub const TILE_COLUMNS: usize = 256;

/// The output columns `ox_lo..ox_hi` whose input column `ox*sw + kx - pw` lies inside the
/// image, for kernel column `kx`.
fn inside_columns(geo: &ConvGeometry, kx: usize) -> (usize, usize) {
    let (w, wo, sw, pw) = (geo.width, geo.out_w(), geo.stride[1], geo.padding[1]);
    let lo = pw.saturating_sub(kx).div_ceil(sw).min(wo);
    let hi = if w + pw > kx {
        ((w + pw - kx - 1) / sw + 1).min(wo)
    } else {
        0
    };
    (lo, hi.max(lo))
}

/// Fills `col` (`[C*kh*kw, g*R*Wo]`, row-major) from the `g` images of `x` (`[g, C, H, W]`),
/// for the `R` output rows `rows`.
fn im2col(geo: &ConvGeometry, x: &[f32], g: usize, rows: Range<usize>, col: &mut [f32]) {
    let (oy0, ho, wo) = (rows.start, rows.len(), geo.out_w());
    let (h, w) = (geo.height, geo.width);
    let [sh, sw] = geo.stride;
    let [ph, pw] = geo.padding;
    let cols = g * ho * wo;
    let mut row = 0;
    for c in 0..geo.in_channels {
        for ky in 0..geo.kernel_h {
            for kx in 0..geo.kernel_w {
                let dst_row = &mut col[row * cols..(row + 1) * cols];
                let (ox_lo, ox_hi) = inside_columns(geo, kx);
                for i in 0..g {
                    let plane = &x[(i * geo.in_channels + c) * h * w..][..h * w];
                    for oy in 0..ho {
                        let dst = &mut dst_row[(i * ho + oy) * wo..][..wo];
                        let iy = ((oy0 + oy) * sh + ky) as isize - ph as isize;
                        if iy < 0 || iy >= h as isize {
                            dst.fill(0.0);
                            continue;
                        }
                        let src = &plane[iy as usize * w..][..w];
                        dst[..ox_lo].fill(0.0);
                        dst[ox_hi..].fill(0.0);
                        if ox_lo == ox_hi {
                            continue;
                        }
                        let ix0 = ox_lo * sw + kx - pw;
                        if sw == 1 {
                            dst[ox_lo..ox_hi].copy_from_slice(&src[ix0..ix0 + (ox_hi - ox_lo)]);
                        } else {
                            for (d, s) in dst[ox_lo..ox_hi]
                                .iter_mut()
                                .zip(src[ix0..].iter().step_by(sw))
                            {
                                *d = *s;
                            }
                        }
                    }
                }
                row += 1;
            }
        }
    }
}

/// Adds `col` (`[C*kh*kw, g*R*Wo]`) back into the `g` images of `dx` (`[g, C, H, W]`), for
/// the `R` output rows `rows`: the adjoint of [`im2col`].
fn col2im(geo: &ConvGeometry, col: &[f32], g: usize, rows: Range<usize>, dx: &mut [f32]) {
    let (oy0, ho, wo) = (rows.start, rows.len(), geo.out_w());
    let (h, w) = (geo.height, geo.width);
    let [sh, sw] = geo.stride;
    let [ph, pw] = geo.padding;
    let cols = g * ho * wo;
    let mut row = 0;
    for c in 0..geo.in_channels {
        for ky in 0..geo.kernel_h {
            for kx in 0..geo.kernel_w {
                let src_row = &col[row * cols..(row + 1) * cols];
                let (ox_lo, ox_hi) = inside_columns(geo, kx);
                for i in 0..g {
                    let plane = &mut dx[(i * geo.in_channels + c) * h * w..][..h * w];
                    for oy in 0..ho {
                        let iy = ((oy0 + oy) * sh + ky) as isize - ph as isize;
                        if iy < 0 || iy >= h as isize || ox_lo == ox_hi {
                            continue;
                        }
                        let src = &src_row[(i * ho + oy) * wo..][..wo];
                        let dst = &mut plane[iy as usize * w..][..w];
                        let ix0 = ox_lo * sw + kx - pw;
                        if sw == 1 {
                            for (d, s) in dst[ix0..ix0 + (ox_hi - ox_lo)]
                                .iter_mut()
                                .zip(&src[ox_lo..ox_hi])
                            {
                                *d += *s;
                            }
                        } else {
                            for (d, s) in dst[ix0..].iter_mut().step_by(sw).zip(&src[ox_lo..ox_hi])
                            {
                                *d += *s;
                            }
                        }
                    }
                }
                row += 1;
            }
        }
    }
}

/// Row-major matrix view for [`matmul`]: `rows x cols` with the given strides.
#[derive(Clone, Copy)]
struct Mat {
    ptr: *const f32,
    row_stride: isize,
    col_stride: isize,
}

impl Mat {
    /// `data` as a row-major matrix with row stride `stride`.
    fn rows(data: &[f32], stride: usize) -> Self {
        Self {
            ptr: data.as_ptr(),
            row_stride: stride as isize,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with row stride `stride`.
    fn transposed(data: &[f32], stride: usize) -> Self {
        Self {
            ptr: data.as_ptr(),
            row_stride: 1,
            col_stride: stride as isize,
        }
    }
}

/// `dst [m, n] = (accumulate ? dst : 0) + lhs [m, k] x rhs [k, n]` on this thread, `dst`
/// row-major with row stride `dst_stride`.
///
/// `lhs` and `rhs` must cover the `m x k` and `k x n` extents their strides describe.
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_stride: usize,
    lhs: Mat,
    rhs: Mat,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        n <= dst_stride && dst.len() >= (m - 1) * dst_stride + n,
        "matmul: destination too small"
    );
    if k == 0 {
        if !accumulate {
            for row in dst.chunks_mut(dst_stride).take(m) {
                row[..n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: `dst` holds the `m x n` extent at row stride `dst_stride` (checked above);
    // callers build `lhs` and `rhs` from slices that cover the `m x k` and `k x n` extents
    // their strides describe (every call site below derives them from the same geometry that
    // sized the slices). gemm reads `dst` only when `accumulate` is set.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_stride as isize,
            accumulate,
            lhs.ptr,
            lhs.col_stride,
            lhs.row_stride,
            rhs.ptr,
            rhs.col_stride,
            rhs.row_stride,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// Copies a group's `[K, g*P]` gemm output into NCHW images `[g, K, P]`.
fn scatter_group(tmp: &[f32], k: usize, g: usize, p: usize, out: &mut [f32]) {
    for ki in 0..k {
        for i in 0..g {
            out[(i * k + ki) * p..][..p].copy_from_slice(&tmp[ki * g * p + i * p..][..p]);
        }
    }
}

/// Copies NCHW images `[g, K, P]` into a group's `[K, g*P]` matrix.
fn gather_group(src: &[f32], k: usize, g: usize, p: usize, tmp: &mut [f32]) {
    for ki in 0..k {
        for i in 0..g {
            tmp[ki * g * p + i * p..][..p].copy_from_slice(&src[(i * k + ki) * p..][..p]);
        }
    }
}

/// Forward convolution.
///
/// # Shapes
/// - `x`: `[N, C, H, W]`, `weight`: `[K, C, kh, kw]` (both contiguous, row-major)
/// - returns: `[N, K, Ho, Wo]`
///
/// # Panics
/// If the slices do not match `geo` or `geo` is invalid (callers check both first).
pub fn conv2d_forward(geo: &ConvGeometry, x: &[f32], weight: &[f32]) -> Vec<f32> {
    if super::direct::applies(geo) {
        return super::direct::forward(geo, x, weight);
    }
    im2col_forward(geo, x, weight)
}

/// [`conv2d_forward`] by im2col + gemm, whatever the shape (benchmarks and tests compare it
/// with the direct kernel).
///
/// # Shapes
/// - `x`: `[N, C, H, W]`, `weight`: `[K, C, kh, kw]` (both contiguous, row-major)
/// - returns: `[N, K, Ho, Wo]`
pub fn im2col_forward(geo: &ConvGeometry, x: &[f32], weight: &[f32]) -> Vec<f32> {
    assert!(geo.is_valid(), "conv2d_forward: invalid geometry {geo:?}");
    assert_eq!(x.len(), geo.batch * geo.in_image(), "conv2d_forward: input");
    assert_eq!(
        weight.len(),
        geo.out_channels * geo.patch(),
        "conv2d_forward: weight"
    );
    let g = geo.group();
    let mut out = super::zeros(geo.batch * geo.out_image());
    out.par_chunks_mut(g * geo.out_image())
        .enumerate()
        .for_each_init(
            || (Vec::new(), Vec::new()),
            |(col, tmp), (gi, out_g)| {
                let n0 = gi * g;
                let gn = out_g.len() / geo.out_image();
                let x_g = &x[n0 * geo.in_image()..(n0 + gn) * geo.in_image()];
                forward_group(geo, x_g, weight, gn, col, tmp, out_g);
            },
        );
    out
}

/// Output rows per tile when one image's output is wider than [`TILE_COLUMNS`] columns.
fn tile_rows(geo: &ConvGeometry) -> usize {
    (TILE_COLUMNS / geo.out_w().max(1)).max(1)
}

/// Whether one image's columns are processed in tiles of [`tile_rows`] output rows (so that a
/// tile of `col` stays in the core's cache).
fn tiled(geo: &ConvGeometry, gn: usize) -> bool {
    gn == 1 && !geo.is_pointwise() && geo.out_pixels() > TILE_COLUMNS
}

/// The forward convolution of `gn` images `x_g` (`[gn, C, H, W]`) into `out_g`
/// (`[gn, K, Ho, Wo]`), with `col` and `tmp` as scratch.
fn forward_group(
    geo: &ConvGeometry,
    x_g: &[f32],
    weight: &[f32],
    gn: usize,
    col: &mut Vec<f32>,
    tmp: &mut Vec<f32>,
    out_g: &mut [f32],
) {
    let (k, p, patch) = (geo.out_channels, geo.out_pixels(), geo.patch());
    let (ho, wo) = (geo.out_h(), geo.out_w());
    let lhs = Mat::rows(weight, patch);
    if tiled(geo, gn) {
        let step = tile_rows(geo);
        for oy0 in (0..ho).step_by(step) {
            let rows = oy0..(oy0 + step).min(ho);
            let cols = rows.len() * wo;
            col.resize(patch * cols, 0.0);
            im2col(geo, x_g, 1, rows, col);
            let rhs = Mat::rows(col, cols);
            matmul(k, cols, patch, &mut out_g[oy0 * wo..], p, lhs, rhs, false);
        }
        return;
    }
    let rhs = if gn == 1 && geo.is_pointwise() {
        Mat::rows(x_g, p)
    } else {
        col.resize(patch * gn * p, 0.0);
        im2col(geo, x_g, gn, 0..ho, col);
        Mat::rows(col, gn * p)
    };
    if gn == 1 {
        matmul(k, p, patch, out_g, p, lhs, rhs, false);
    } else {
        tmp.resize(k * gn * p, 0.0);
        matmul(k, gn * p, patch, tmp, gn * p, lhs, rhs, false);
        scatter_group(tmp, k, gn, p, out_g);
    }
}

/// For a stride-1 convolution with `padding <= kernel - 1`, the data gradient is itself a
/// stride-1 convolution: of `dY` with the kernel flipped in space and its channel axes
/// swapped, padded by `kernel - 1 - padding`. Returns that convolution's geometry and weight
/// `[C, K, kh, kw]`, or `None` when the shortcut does not apply. A gemm with `K*kh*kw` inner
/// products replaces one with `K` and a scatter-add (col2im).
fn transposed_conv(geo: &ConvGeometry, weight: &[f32]) -> Option<(ConvGeometry, Vec<f32>)> {
    let [ph, pw] = geo.padding;
    let (kh, kw) = (geo.kernel_h, geo.kernel_w);
    if geo.stride != [1, 1] || geo.is_pointwise() || ph >= kh || pw >= kw {
        return None;
    }
    let (k, c) = (geo.out_channels, geo.in_channels);
    let mut flipped = vec![0.0f32; weight.len()];
    for ki in 0..k {
        for ci in 0..c {
            for ky in 0..kh {
                for kx in 0..kw {
                    flipped[((ci * k + ki) * kh + (kh - 1 - ky)) * kw + (kw - 1 - kx)] =
                        weight[((ki * c + ci) * kh + ky) * kw + kx];
                }
            }
        }
    }
    let back = ConvGeometry {
        batch: geo.batch,
        in_channels: k,
        height: geo.out_h(),
        width: geo.out_w(),
        out_channels: c,
        kernel_h: kh,
        kernel_w: kw,
        stride: [1, 1],
        padding: [kh - 1 - ph, kw - 1 - pw],
    };
    debug_assert_eq!((back.out_h(), back.out_w()), (geo.height, geo.width));
    Some((back, flipped))
}

/// Gradients of [`conv2d_forward`] with respect to its input and its weight.
///
/// # Shapes
/// - `x`: `[N, C, H, W]`, `weight`: `[K, C, kh, kw]`, `grad`: `[N, K, Ho, Wo]`
/// - returns: (`dx`: `[N, C, H, W]` when `need_x`, `dw`: `[K, C, kh, kw]` when `need_weight`)
///
/// # Panics
/// If the slices do not match `geo` or `geo` is invalid (callers check both first).
pub fn conv2d_backward(
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    grad: &[f32],
    need_x: bool,
    need_weight: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    if need_weight && super::direct::weight_grad_applies(geo) {
        let dw = super::direct::weight_grad(geo, x, grad);
        let (dx, _) = im2col_backward(geo, x, weight, grad, need_x, false);
        return (dx, Some(dw));
    }
    im2col_backward(geo, x, weight, grad, need_x, need_weight)
}

/// [`conv2d_backward`] with the weight gradient by im2col + gemm, whatever the shape (the
/// data gradient of a stride-1 convolution still takes the direct kernel where it applies).
///
/// # Shapes
/// As [`conv2d_backward`].
pub fn im2col_backward(
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    grad: &[f32],
    need_x: bool,
    need_weight: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    assert!(geo.is_valid(), "conv2d_backward: invalid geometry {geo:?}");
    assert_eq!(
        x.len(),
        geo.batch * geo.in_image(),
        "conv2d_backward: input"
    );
    assert_eq!(
        weight.len(),
        geo.out_channels * geo.patch(),
        "conv2d_backward: weight"
    );
    assert_eq!(
        grad.len(),
        geo.batch * geo.out_image(),
        "conv2d_backward: grad"
    );
    let (k, p, patch) = (geo.out_channels, geo.out_pixels(), geo.patch());
    let g = geo.group();
    let groups = geo.batch.div_ceil(g);
    let lanes = groups.min(WEIGHT_GRAD_LANES);
    // Lane `l` takes groups `[l*groups/lanes, (l+1)*groups/lanes)`.
    let lane_start = |l: usize| (l * groups / lanes) * g;
    let mut transposed = if need_x {
        transposed_conv(geo, weight)
    } else {
        None
    };
    // The data gradient of a stride-1 convolution by the direct kernel, apart from the lanes.
    let direct_dx = match &transposed {
        Some((back, flipped)) if super::direct::applies(back) => {
            let dx = super::direct::forward(back, grad, flipped);
            transposed = None;
            Some(dx)
        }
        _ => None,
    };
    let mut dx = (need_x && direct_dx.is_none()).then(|| super::zeros(geo.batch * geo.in_image()));
    let mut partials = if need_weight {
        super::zeros(lanes * k * patch)
    } else {
        Vec::new()
    };

    // Split dx (when wanted) into each lane's disjoint image range.
    let mut dx_parts: Vec<Option<&mut [f32]>> = Vec::with_capacity(lanes);
    match dx.as_mut() {
        Some(dx) => {
            let mut rest: &mut [f32] = dx;
            for l in 0..lanes {
                let images = lane_start(l + 1).min(geo.batch) - lane_start(l);
                let (head, tail) = rest.split_at_mut(images * geo.in_image());
                dx_parts.push(Some(head));
                rest = tail;
            }
        }
        None => dx_parts.resize_with(lanes, || None),
    }
    let dw_parts: Vec<Option<&mut [f32]>> = if need_weight {
        partials.chunks_mut(k * patch).map(Some).collect()
    } else {
        (0..lanes).map(|_| None).collect()
    };

    dx_parts.into_par_iter().zip(dw_parts).enumerate().for_each(
        |(l, (mut dx_lane, mut dw_lane))| {
            if dx_lane.is_none() && dw_lane.is_none() {
                return;
            }
            let (mut col, mut dcol, mut dy_g) = (Vec::new(), Vec::new(), Vec::new());
            let mut tmp = Vec::new();
            let (start, end) = (lane_start(l), lane_start(l + 1).min(geo.batch));
            let mut first = true;
            let mut n0 = start;
            while n0 < end {
                let gn = g.min(end - n0);
                let x_g = &x[n0 * geo.in_image()..(n0 + gn) * geo.in_image()];
                let grad_g = &grad[n0 * geo.out_image()..(n0 + gn) * geo.out_image()];
                let cols = gn * p;
                // dY of the group as a [K, g*P] matrix.
                let dy: &[f32] = if gn == 1 {
                    grad_g
                } else {
                    dy_g.resize(k * cols, 0.0);
                    gather_group(grad_g, k, gn, p, &mut dy_g);
                    &dy_g
                };
                let direct = gn == 1 && geo.is_pointwise();
                // Output rows taken at a time: all of them, or tiles (one image).
                let (ho, wo) = (geo.out_h(), geo.out_w());
                let step = if tiled(geo, gn) { tile_rows(geo) } else { ho };
                let lhs_rows = |oy0: usize| Mat::rows(&dy[oy0 * wo..], cols);
                if let Some(dw) = dw_lane.as_deref_mut() {
                    // dW += dY [K, cols] x col^T [cols, patch], tile by tile.
                    for oy0 in (0..ho).step_by(step) {
                        let rows = oy0..(oy0 + step).min(ho);
                        let tile = if step == ho { cols } else { rows.len() * wo };
                        let col_t = if direct {
                            Mat::transposed(x_g, cols)
                        } else {
                            col.resize(patch * tile, 0.0);
                            im2col(geo, x_g, gn, rows, &mut col);
                            Mat::transposed(&col, tile)
                        };
                        matmul(k, patch, tile, dw, patch, lhs_rows(oy0), col_t, !first);
                        first = false;
                    }
                }
                if let Some(dx_lane) = dx_lane.as_deref_mut() {
                    let off = (n0 - start) * geo.in_image();
                    let dx_g = &mut dx_lane[off..off + gn * geo.in_image()];
                    let w_t = Mat::transposed(weight, patch);
                    if let Some((back, flipped)) = &transposed {
                        // dX = conv(dY, flipped W^T): reads dY in NCHW, writes dX in NCHW.
                        forward_group(back, grad_g, flipped, gn, &mut dcol, &mut tmp, dx_g);
                    } else if direct {
                        // dX = W^T [patch, K] x dY [K, P].
                        matmul(patch, cols, k, dx_g, cols, w_t, Mat::rows(dy, cols), false);
                    } else {
                        for oy0 in (0..ho).step_by(step) {
                            let rows = oy0..(oy0 + step).min(ho);
                            let tile = if step == ho { cols } else { rows.len() * wo };
                            dcol.resize(patch * tile, 0.0);
                            matmul(patch, tile, k, &mut dcol, tile, w_t, lhs_rows(oy0), false);
                            col2im(geo, &dcol, gn, rows, dx_g);
                        }
                    }
                }
                n0 += gn;
            }
        },
    );

    // Lane 0 plus lanes 1, 2, ... in order, element by element (in parallel over elements:
    // each element's sum keeps that order whatever the thread count).
    let dw = need_weight.then(|| {
        let size = k * patch;
        let (first, rest) = partials.split_at_mut(size);
        first
            .par_chunks_mut(1 << 14)
            .enumerate()
            .for_each(|(chunk, dst)| {
                let at = chunk << 14;
                for lane in rest.chunks(size) {
                    for (d, s) in dst.iter_mut().zip(&lane[at..]) {
                        *d += *s;
                    }
                }
            });
        partials.truncate(size);
        partials
    });
    (direct_dx.or(dx), dw)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct 7-loop convolution in f64: the reference the gemm path is checked against.
    fn naive(geo: &ConvGeometry, x: &[f32], w: &[f32]) -> Vec<f64> {
        let (ho, wo) = (geo.out_h(), geo.out_w());
        let mut out = vec![0.0; geo.batch * geo.out_image()];
        for n in 0..geo.batch {
            for k in 0..geo.out_channels {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut s = 0.0f64;
                        for c in 0..geo.in_channels {
                            for ky in 0..geo.kernel_h {
                                for kx in 0..geo.kernel_w {
                                    let iy = (oy * geo.stride[0] + ky) as isize
                                        - geo.padding[0] as isize;
                                    let ix = (ox * geo.stride[1] + kx) as isize
                                        - geo.padding[1] as isize;
                                    if iy < 0
                                        || ix < 0
                                        || iy >= geo.height as isize
                                        || ix >= geo.width as isize
                                    {
                                        continue;
                                    }
                                    let xv = x[((n * geo.in_channels + c) * geo.height
                                        + iy as usize)
                                        * geo.width
                                        + ix as usize];
                                    let wv = w[((k * geo.in_channels + c) * geo.kernel_h + ky)
                                        * geo.kernel_w
                                        + kx];
                                    s += xv as f64 * wv as f64;
                                }
                            }
                        }
                        out[((n * geo.out_channels + k) * ho + oy) * wo + ox] = s;
                    }
                }
            }
        }
        out
    }

    use crate::kernels::seeded_values as values;

    fn geo(
        n: usize,
        c: usize,
        hw: [usize; 2],
        k: usize,
        kk: usize,
        s: usize,
        p: usize,
    ) -> ConvGeometry {
        ConvGeometry {
            batch: n,
            in_channels: c,
            height: hw[0],
            width: hw[1],
            out_channels: k,
            kernel_h: kk,
            kernel_w: kk,
            stride: [s, s],
            padding: [p, p],
        }
    }

    fn shapes() -> Vec<ConvGeometry> {
        vec![
            geo(1, 3, [7, 7], 4, 3, 1, 1),
            geo(3, 5, [9, 6], 7, 3, 2, 1),
            geo(2, 4, [5, 5], 3, 1, 1, 0),
            geo(5, 6, [4, 4], 9, 1, 2, 0),
            geo(2, 3, [11, 13], 5, 7, 2, 3),
            geo(40, 3, [2, 3], 2, 3, 1, 1),
            geo(2, 2, [3, 3], 2, 3, 1, 0),
            geo(3, 17, [6, 6], 19, 3, 1, 2),
            // Wider than TILE_COLUMNS: tiled by output rows (stride 1 and 2).
            geo(2, 3, [20, 30], 4, 3, 1, 1),
            geo(1, 2, [40, 40], 3, 3, 2, 1),
            geo(2, 3, [33, 17], 5, 5, 1, 2),
        ]
    }

    #[test]
    fn forward_matches_direct_convolution() {
        for (i, geo) in shapes().into_iter().enumerate() {
            let x = values(geo.batch * geo.in_image(), i as u32);
            let w = values(geo.out_channels * geo.patch(), 100 + i as u32);
            let got = conv2d_forward(&geo, &x, &w);
            let want = naive(&geo, &x, &w);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (*g as f64 - w).abs() < 1e-4 * (1.0 + w.abs()),
                    "{geo:?}: {g} vs {w}"
                );
            }
        }
    }

    /// The gradients are checked through the adjoint identities
    /// `<conv(x, w), dy> = <x, dx(dy)> = <w, dw(dy)>`, which hold exactly for linear maps.
    #[test]
    fn backward_is_the_adjoint_of_forward() {
        for (i, geo) in shapes().into_iter().enumerate() {
            let x = values(geo.batch * geo.in_image(), i as u32);
            let w = values(geo.out_channels * geo.patch(), 100 + i as u32);
            let dy = values(geo.batch * geo.out_image(), 200 + i as u32);
            let y = naive(&geo, &x, &w);
            let lhs: f64 = y.iter().zip(&dy).map(|(a, b)| a * *b as f64).sum();
            let (dx, dw) = conv2d_backward(&geo, &x, &w, &dy, true, true);
            let (dx, dw) = (dx.unwrap(), dw.unwrap());
            let via_x: f64 = x.iter().zip(&dx).map(|(a, b)| *a as f64 * *b as f64).sum();
            let via_w: f64 = w.iter().zip(&dw).map(|(a, b)| *a as f64 * *b as f64).sum();
            let tol = 1e-4 * (1.0 + lhs.abs());
            assert!((lhs - via_x).abs() < tol, "{geo:?}: dx {lhs} vs {via_x}");
            assert!((lhs - via_w).abs() < tol, "{geo:?}: dw {lhs} vs {via_w}");
            // Each gradient alone equals the one computed together.
            let (only_x, none_w) = conv2d_backward(&geo, &x, &w, &dy, true, false);
            let (none_x, only_w) = conv2d_backward(&geo, &x, &w, &dy, false, true);
            assert!(none_w.is_none() && none_x.is_none());
            assert_eq!(only_x.unwrap(), dx);
            assert_eq!(only_w.unwrap(), dw);
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let geo = geo(37, 8, [8, 8], 16, 3, 1, 1);
        let x = values(geo.batch * geo.in_image(), 1);
        let w = values(geo.out_channels * geo.patch(), 2);
        let dy = values(geo.batch * geo.out_image(), 3);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    (
                        conv2d_forward(&geo, &x, &w),
                        conv2d_backward(&geo, &x, &w, &dy, true, true),
                    )
                })
        };
        let one = run(1);
        for threads in [2, 3, 5] {
            let other = run(threads);
            assert_eq!(one.0, other.0, "forward, {threads} threads");
            assert_eq!(one.1.0, other.1.0, "dx, {threads} threads");
            assert_eq!(one.1.1, other.1.1, "dw, {threads} threads");
        }
    }
}
