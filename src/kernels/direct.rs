//! Direct stride-1 convolution for small channel counts and small maps, without im2col: the
//! images of a group are stacked into one zero-padded *flat* buffer per channel, and every
//! output position `j` of the stack is `sum_c sum_(ky,kx) w[k,c,ky,kx] * buf[c][j + ky*S + kx]`
//! (`S` the padded row length), a register-blocked loop over contiguous positions
//! ([`super::simd`]). The columns and rows of the stack that fall on padding are computed
//! and thrown away.
//!
//! # Layout of a group of `G` images
//! Rows of `S = W + 2 pw` values; image `i`'s `H` rows start at row `ph + i (H + ph)`; the
//! `ph` zero rows between two images serve as the bottom padding of one and the top padding
//! of the next. Output row `oy` of image `i` is the stack's position row `i (H + ph) + oy`.
//!
//! # Determinism
//! Each output value is computed by one thread, in a fixed order (channels, then taps).

use rayon::prelude::*;

use super::geometry::{ConvGeometry, WEIGHT_GRAD_LANES};
use super::simd::{BLOCK, GK, GQ, KB, direct_blocks, fast_path, weight_grad_blocks};

/// A group holds about this many stacked positions (so that its buffers stay in L2).
const GROUP_POSITIONS: usize = 2048;

/// Whether [`forward`] computes this convolution, and is chosen for it: stride 1, padding
/// below the kernel, not 1x1, on a CPU with the fast path, and a map at least 4 wide with
/// at most 64 input channels (measured against im2col + gemm, one thread:
/// `cargo bench --bench kernels -- direct`; wider layers and 2x2 maps run faster as
/// im2col + gemm).
pub fn applies(geo: &ConvGeometry) -> bool {
    supported(geo) && geo.width >= 4 && geo.in_channels <= 64
}

/// Whether [`weight_grad`] is chosen for this convolution: as [`applies`], for maps at
/// least 8 wide and at most 16 input channels (measured as for [`applies`], on 2 threads:
/// at 32 channels on 8x8 maps im2col + gemm was ahead).
pub fn weight_grad_applies(geo: &ConvGeometry) -> bool {
    supported(geo) && geo.width >= 8 && geo.in_channels <= 16
}

/// The geometries the kernels compute, on a CPU with the fast path.
fn supported(geo: &ConvGeometry) -> bool {
    geo.is_valid()
        && geo.stride == [1, 1]
        && geo.padding[0] < geo.kernel_h
        && geo.padding[1] < geo.kernel_w
        && geo.kernel_h * geo.kernel_w > 1
        && fast_path()
}

/// The stacked layout of a group (see the module documentation).
struct Stack {
    /// Padded row length `S`.
    row: usize,
    /// Rows per image `H + ph`.
    period: usize,
    /// Positions computed, rounded up to [`BLOCK`].
    positions: usize,
    /// Floats per channel in the input buffer.
    channel: usize,
    /// Tap offsets `ky * S + kx`.
    offs: Vec<usize>,
}

impl Stack {
    fn new(geo: &ConvGeometry, images: usize) -> Self {
        let row = geo.width + 2 * geo.padding[1];
        let period = geo.height + geo.padding[0];
        let positions = (images * period * row).div_ceil(BLOCK) * BLOCK;
        let offs = (0..geo.kernel_h)
            .flat_map(|ky| (0..geo.kernel_w).map(move |kx| ky * row + kx))
            .collect::<Vec<_>>();
        let reach = offs.last().copied().unwrap_or(0);
        Self {
            row,
            period,
            positions,
            channel: (positions + reach).div_ceil(16) * 16,
            offs,
        }
    }
}

/// Images per group: about [`GROUP_POSITIONS`] stacked positions, at least one.
fn group(geo: &ConvGeometry) -> usize {
    let per_image = (geo.height + geo.padding[0]) * (geo.width + 2 * geo.padding[1]);
    (GROUP_POSITIONS / per_image.max(1)).clamp(1, geo.batch)
}

/// `weight` `[K, C, kh, kw]` as blocks of [`KB`] output channels, `[K/KB][C][T][KB]`, the
/// channels past `K` zero.
fn pack_weights(geo: &ConvGeometry, weight: &[f32]) -> Vec<f32> {
    let (k, c, t) = (
        geo.out_channels,
        geo.in_channels,
        geo.kernel_h * geo.kernel_w,
    );
    let kblocks = k.div_ceil(KB);
    let mut wp = vec![0.0f32; kblocks * c * t * KB];
    for ki in 0..k {
        let (blk, kb) = (ki / KB, ki % KB);
        for ci in 0..c {
            for ti in 0..t {
                wp[((blk * c + ci) * t + ti) * KB + kb] = weight[(ki * c + ci) * t + ti];
            }
        }
    }
    wp
}

/// Stride-1 convolution by the direct kernel. The caller checks [`applies`].
///
/// # Shapes
/// - `x`: `[N, C, H, W]`, `weight`: `[K, C, kh, kw]`
/// - returns: `[N, K, Ho, Wo]`
///
/// # Panics
/// If the slices do not match `geo`, or `geo` is not one [`applies`] accepts (bar the
/// machine and shape preference).
pub fn forward(geo: &ConvGeometry, x: &[f32], weight: &[f32]) -> Vec<f32> {
    assert!(
        geo.is_valid()
            && geo.stride == [1, 1]
            && geo.padding[0] < geo.kernel_h
            && geo.padding[1] < geo.kernel_w,
        "direct::forward: unsupported geometry {geo:?}"
    );
    assert_eq!(
        x.len(),
        geo.batch * geo.in_image(),
        "direct::forward: input"
    );
    assert_eq!(
        weight.len(),
        geo.out_channels * geo.patch(),
        "direct::forward: weight"
    );
    let g = group(geo);
    let wp = pack_weights(geo, weight);
    let mut out = super::zeros(geo.batch * geo.out_image());
    out.par_chunks_mut(g * geo.out_image())
        .enumerate()
        .for_each_init(
            || (Vec::new(), Vec::new()),
            |(buf, tmp), (gi, out_g)| {
                let gn = out_g.len() / geo.out_image();
                let x_g = &x[gi * g * geo.in_image()..][..gn * geo.in_image()];
                forward_group(geo, x_g, &wp, gn, buf, tmp, out_g);
            },
        );
    out
}

/// The convolution of the `gn` images `x_g` into `out_g`, with `buf` and `tmp` as scratch.
fn forward_group(
    geo: &ConvGeometry,
    x_g: &[f32],
    wp: &[f32],
    gn: usize,
    buf: &mut Vec<f32>,
    tmp: &mut Vec<f32>,
    out_g: &mut [f32],
) {
    let st = Stack::new(geo, gn);
    let c = geo.in_channels;
    stack_input(geo, &st, x_g, gn, buf);
    let kblocks = geo.out_channels.div_ceil(KB);
    tmp.resize(kblocks * KB * st.positions, 0.0);
    direct_blocks(
        buf,
        st.channel,
        c,
        &st.offs,
        wp,
        kblocks,
        tmp,
        st.positions,
        st.positions,
    );
    let (ho, wo) = (geo.out_h(), geo.out_w());
    for i in 0..gn {
        for ki in 0..geo.out_channels {
            let dst = &mut out_g[(i * geo.out_channels + ki) * ho * wo..][..ho * wo];
            let src = &tmp[ki * st.positions..];
            for (oy, d) in dst.chunks_exact_mut(wo).enumerate() {
                d.copy_from_slice(&src[(i * st.period + oy) * st.row..][..wo]);
            }
        }
    }
}

/// Fills `buf` with the `gn` images `x_g` (`[gn, C, H, W]`) stacked and zero-padded, one
/// [`Stack::channel`]-long run per channel.
fn stack_input(geo: &ConvGeometry, st: &Stack, x_g: &[f32], gn: usize, buf: &mut Vec<f32>) {
    let (c, h, w) = (geo.in_channels, geo.height, geo.width);
    let [ph, pw] = geo.padding;
    buf.clear();
    buf.resize(c * st.channel, 0.0);
    for i in 0..gn {
        for ci in 0..c {
            let plane = &x_g[(i * c + ci) * h * w..][..h * w];
            let dst = &mut buf[ci * st.channel..][..st.channel];
            for (y, src) in plane.chunks_exact(w).enumerate() {
                let at = (ph + i * st.period + y) * st.row + pw;
                dst[at..at + w].copy_from_slice(src);
            }
        }
    }
}

/// Fills `buf` (`[K', positions]`, `K'` the channels rounded up to [`GK`]) with the `gn`
/// output gradients `dy_g` (`[gn, K, Ho, Wo]`) at their stacked positions, zero elsewhere
/// (so the positions that fall on padding add nothing).
fn stack_output(geo: &ConvGeometry, st: &Stack, dy_g: &[f32], gn: usize, buf: &mut Vec<f32>) {
    let (k, ho, wo) = (geo.out_channels, geo.out_h(), geo.out_w());
    buf.clear();
    buf.resize(k.div_ceil(GK) * GK * st.positions, 0.0);
    for i in 0..gn {
        for ki in 0..k {
            let plane = &dy_g[(i * k + ki) * ho * wo..][..ho * wo];
            let dst = &mut buf[ki * st.positions..][..st.positions];
            for (oy, src) in plane.chunks_exact(wo).enumerate() {
                let at = (i * st.period + oy) * st.row;
                dst[at..at + wo].copy_from_slice(src);
            }
        }
    }
}

/// The weight gradient of [`forward`]: `dW[k,c,ky,kx] = sum dy[k, j] * x[c, j + ky*S + kx]`
/// over the stacked positions `j` of every group. The caller checks [`weight_grad_applies`].
///
/// # Determinism
/// The groups are split into at most [`WEIGHT_GRAD_LANES`] lanes, a number fixed by the
/// shape; each lane adds its groups in order, and the lanes are added in order.
///
/// # Shapes
/// - `x`: `[N, C, H, W]`, `grad`: `[N, K, Ho, Wo]`
/// - returns: `[K, C, kh, kw]`
///
/// # Panics
/// As [`forward`].
pub fn weight_grad(geo: &ConvGeometry, x: &[f32], grad: &[f32]) -> Vec<f32> {
    assert!(
        geo.is_valid()
            && geo.stride == [1, 1]
            && geo.padding[0] < geo.kernel_h
            && geo.padding[1] < geo.kernel_w,
        "direct::weight_grad: unsupported geometry {geo:?}"
    );
    assert_eq!(
        x.len(),
        geo.batch * geo.in_image(),
        "direct::weight_grad: input"
    );
    assert_eq!(
        grad.len(),
        geo.batch * geo.out_image(),
        "direct::weight_grad: grad"
    );
    let g = group(geo);
    let groups = geo.batch.div_ceil(g);
    let lanes = groups.min(WEIGHT_GRAD_LANES);
    let lane_start = |l: usize| (l * groups / lanes) * g;
    let (k, c, t) = (
        geo.out_channels,
        geo.in_channels,
        geo.kernel_h * geo.kernel_w,
    );
    let kblocks = k.div_ceil(GK);
    let npairs = (c * t).div_ceil(GQ) * GQ;
    let size = kblocks * GK * npairs;
    let mut partials = vec![0.0f32; lanes * size];
    partials
        .par_chunks_mut(size)
        .enumerate()
        .for_each(|(l, part)| {
            let (mut xb, mut db, mut tmp) = (Vec::new(), Vec::new(), vec![0.0f32; size]);
            let (start, end) = (lane_start(l), lane_start(l + 1).min(geo.batch));
            let mut n0 = start;
            while n0 < end {
                let gn = g.min(end - n0);
                let st = Stack::new(geo, gn);
                stack_input(
                    geo,
                    &st,
                    &x[n0 * geo.in_image()..][..gn * geo.in_image()],
                    gn,
                    &mut xb,
                );
                stack_output(
                    geo,
                    &st,
                    &grad[n0 * geo.out_image()..][..gn * geo.out_image()],
                    gn,
                    &mut db,
                );
                let pairs: Vec<usize> = (0..npairs)
                    .map(|q| {
                        if q < c * t {
                            (q / t) * st.channel + st.offs[q % t]
                        } else {
                            0
                        }
                    })
                    .collect();
                weight_grad_blocks(
                    &db,
                    st.positions,
                    kblocks,
                    &xb,
                    &pairs,
                    st.positions,
                    &mut tmp,
                    npairs,
                );
                for (p, v) in part.iter_mut().zip(&tmp) {
                    *p += *v;
                }
                n0 += gn;
            }
        });
    let (first, rest) = partials.split_at_mut(size);
    for lane in rest.chunks(size) {
        for (d, s) in first.iter_mut().zip(lane) {
            *d += *s;
        }
    }
    (0..k)
        .flat_map(|ki| first[ki * npairs..][..c * t].iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv::im2col_forward;
    use crate::kernels::seeded_values as values;

    fn geo(n: usize, c: usize, hw: [usize; 2], k: usize, kk: usize, p: usize) -> ConvGeometry {
        ConvGeometry {
            batch: n,
            in_channels: c,
            height: hw[0],
            width: hw[1],
            out_channels: k,
            kernel_h: kk,
            kernel_w: kk,
            stride: [1, 1],
            padding: [p, p],
        }
    }

    /// Against the im2col + gemm path (itself tested against a float64 direct loop), on odd
    /// shapes: batch 1, channels not a multiple of the block, padding 0, 1 and 2, 5x5.
    #[test]
    fn matches_the_gemm_path() {
        for (i, geo) in [
            geo(1, 3, [7, 7], 4, 3, 1),
            geo(3, 5, [9, 6], 9, 3, 0),
            geo(2, 17, [16, 16], 16, 3, 1),
            geo(40, 3, [2, 3], 2, 3, 1),
            geo(3, 7, [8, 8], 13, 5, 2),
            geo(5, 16, [4, 4], 17, 3, 1),
        ]
        .into_iter()
        .enumerate()
        {
            let x = values(geo.batch * geo.in_image(), i as u32);
            let w = values(geo.out_channels * geo.patch(), 50 + i as u32);
            let got = forward(&geo, &x, &w);
            let want = im2col_forward(&geo, &x, &w);
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                    "{geo:?}: {a} vs {b}"
                );
            }
        }
    }

    /// The weight gradient against the gemm path's, on the same odd shapes.
    #[test]
    fn weight_gradient_matches_the_gemm_path() {
        use crate::kernels::conv::im2col_backward;
        for (i, geo) in [
            geo(1, 3, [7, 7], 4, 3, 1),
            geo(3, 5, [9, 6], 9, 3, 0),
            geo(21, 17, [16, 16], 16, 3, 1),
            geo(40, 3, [2, 3], 2, 3, 1),
            geo(3, 7, [8, 8], 13, 5, 2),
        ]
        .into_iter()
        .enumerate()
        {
            let x = values(geo.batch * geo.in_image(), i as u32);
            let dy = values(geo.batch * geo.out_image(), 70 + i as u32);
            let w = values(geo.out_channels * geo.patch(), 50 + i as u32);
            let got = weight_grad(&geo, &x, &dy);
            let want = im2col_backward(&geo, &x, &w, &dy, false, true).1.unwrap();
            assert_eq!(got.len(), want.len());
            let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5 * (1.0 + scale), "{geo:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let geo = geo(23, 16, [16, 16], 16, 3, 1);
        let x = values(geo.batch * geo.in_image(), 1);
        let w = values(geo.out_channels * geo.patch(), 2);
        let x2 = values(geo.batch * geo.out_image(), 3);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| (forward(&geo, &x, &w), weight_grad(&geo, &x, &x2)))
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    }
}
