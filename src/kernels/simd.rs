//! The one place with `unsafe` SIMD: the register-blocked inner loop of the direct
//! convolution ([`super::direct`]), behind a safe, bounds-checked API and chosen at run time
//! (AVX-512 where the CPU has it, a portable loop elsewhere).
//!
//! # What it computes
//! For a *flat* input (`C` channels, channel `c` at `x[c * cs..]`) and `T` tap offsets
//! `offs`, the output block of `KB` channels and positions `j0..j0 + BLOCK`:
//!
//! `out[kb * ostride + j] = sum_c sum_t wp[(c * T + t) * KB + kb] * x[c * cs + j + offs[t]]`
//!
//! adding over `c` then `t` in that order for every position and every path (one `f32`
//! fused multiply-add per term), so the result depends neither on the thread count nor on
//! which path ran.

/// Output channels per register block.
pub const KB: usize = 8;

/// Vectors of 16 positions per register block.
const V: usize = 3;

/// Positions per register block.
pub const BLOCK: usize = 16 * V;

/// Whether the AVX-512 path runs on this CPU (checked once).
pub fn fast_path() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The blocks `(kblk, j0)` for `kblocks` blocks of [`KB`] channels and positions
/// `0..positions` (a multiple of [`BLOCK`]): computes
/// `out[(kblk * KB + kb) * ostride + j]` for every one, as in the module documentation,
/// with `wp` holding block `kblk`'s weights at `wp[kblk * C * T * KB..]`.
///
/// # Panics
/// If `positions` is not a multiple of [`BLOCK`], or a read or write would fall outside
/// `x`, `wp` or `out`.
#[allow(clippy::too_many_arguments)]
pub fn direct_blocks(
    x: &[f32],
    cs: usize,
    channels: usize,
    offs: &[usize],
    wp: &[f32],
    kblocks: usize,
    out: &mut [f32],
    ostride: usize,
    positions: usize,
) {
    assert!(positions.is_multiple_of(BLOCK), "direct_blocks: positions");
    let taps = offs.len();
    let max_off = offs.iter().copied().max().unwrap_or(0);
    if channels == 0 || kblocks == 0 || positions == 0 {
        return;
    }
    assert!(
        (channels - 1) * cs + positions + max_off <= x.len(),
        "direct_blocks: input too short"
    );
    assert!(
        wp.len() >= kblocks * channels * taps * KB,
        "direct_blocks: weights too short"
    );
    assert!(
        positions <= ostride && (kblocks * KB - 1) * ostride + positions <= out.len(),
        "direct_blocks: output too short"
    );
    let wlen = channels * taps * KB;
    for j0 in (0..positions).step_by(BLOCK) {
        for kblk in 0..kblocks {
            let w = &wp[kblk * wlen..][..wlen];
            let o = kblk * KB * ostride + j0;
            #[cfg(target_arch = "x86_64")]
            if fast_path() {
                // SAFETY: the CPU has AVX-512F (checked); the asserts above bound every read
                // (`x[c * cs + j0 + off + 0..BLOCK]` with `j0 + BLOCK <= positions`), every
                // weight read (`w` holds `C * T * KB`) and every write
                // (`out[o + kb * ostride + 0..BLOCK]`).
                unsafe {
                    block_avx512(
                        x.as_ptr().add(j0),
                        cs,
                        channels,
                        offs,
                        w.as_ptr(),
                        out.as_mut_ptr().add(o),
                        ostride,
                    )
                };
                continue;
            }
            block_portable(&x[j0..], cs, channels, offs, w, &mut out[o..], ostride);
        }
    }
}

/// The portable block: same terms, same order as [`block_avx512`].
fn block_portable(
    x: &[f32],
    cs: usize,
    channels: usize,
    offs: &[usize],
    w: &[f32],
    out: &mut [f32],
    ostride: usize,
) {
    let mut acc = [[0.0f32; BLOCK]; KB];
    for c in 0..channels {
        for (t, &off) in offs.iter().enumerate() {
            let xs = &x[c * cs + off..][..BLOCK];
            let ws = &w[(c * offs.len() + t) * KB..][..KB];
            for (a, &wv) in acc.iter_mut().zip(ws) {
                for (a, &xv) in a.iter_mut().zip(xs) {
                    *a = wv.mul_add(xv, *a);
                }
            }
        }
    }
    for (kb, a) in acc.iter().enumerate() {
        out[kb * ostride..][..BLOCK].copy_from_slice(a);
    }
}

/// One register block on AVX-512: `KB x V` accumulators of 16 lanes.
///
/// # Safety
/// The CPU has AVX-512F; `x` is readable at `c * cs + off + 0..BLOCK` for every channel and
/// offset, `w` at `0..C * T * KB`, and `out` writable at `kb * ostride + 0..BLOCK`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_avx512(
    x: *const f32,
    cs: usize,
    channels: usize,
    offs: &[usize],
    w: *const f32,
    out: *mut f32,
    ostride: usize,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); V]; KB];
    let mut wp = w;
    for c in 0..channels {
        // SAFETY (all pointer arithmetic below): within the extents the caller guarantees.
        let xc = unsafe { x.add(c * cs) };
        for &off in offs {
            let xp = unsafe { xc.add(off) };
            let mut xv = [_mm512_setzero_ps(); V];
            for (v, xv) in xv.iter_mut().enumerate() {
                *xv = unsafe { _mm512_loadu_ps(xp.add(16 * v)) };
            }
            for (kb, acc) in acc.iter_mut().enumerate() {
                let wv = _mm512_set1_ps(unsafe { *wp.add(kb) });
                for (a, xv) in acc.iter_mut().zip(&xv) {
                    *a = _mm512_fmadd_ps(wv, *xv, *a);
                }
            }
            wp = unsafe { wp.add(KB) };
        }
    }
    for (kb, acc) in acc.iter().enumerate() {
        for (v, a) in acc.iter().enumerate() {
            unsafe { _mm512_storeu_ps(out.add(kb * ostride + 16 * v), *a) };
        }
    }
}

/// Output channels per register block of the weight gradient.
pub const GK: usize = 4;

/// `(channel, tap)` pairs per register block of the weight gradient.
pub const GQ: usize = 6;

/// `sum(a)` over 16 lanes in a fixed pairwise order (the same on every path).
#[inline(always)]
fn tree_sum(mut a: [f32; 16]) -> f32 {
    for step in [8, 4, 2, 1] {
        for i in 0..step {
            a[i] += a[i + step];
        }
    }
    a[0]
}

/// Weight-gradient sums of a stacked group: for `k in 0..kblocks * GK` and the pairs
/// `q in 0..pairs.len()`,
/// `out[k * ostride + q] = sum_j dy[k * dys + j] * x[pairs[q] + j]` over `j in 0..positions`,
/// each sum in 16 lanes (lane `j mod 16`, fused multiply-adds in order of `j`) added in a
/// fixed pairwise order. `pairs.len()` is a multiple of [`GQ`]; `positions` of 16.
///
/// # Panics
/// If a read or write would fall outside `dy`, `x` or `out`, or the counts are not
/// multiples as stated.
#[allow(clippy::too_many_arguments)]
pub fn weight_grad_blocks(
    dy: &[f32],
    dys: usize,
    kblocks: usize,
    x: &[f32],
    pairs: &[usize],
    positions: usize,
    out: &mut [f32],
    ostride: usize,
) {
    assert!(
        pairs.len().is_multiple_of(GQ) && positions.is_multiple_of(16),
        "weight_grad_blocks: counts"
    );
    if kblocks == 0 || pairs.is_empty() || positions == 0 {
        return;
    }
    let max_pair = pairs.iter().copied().max().unwrap_or(0);
    assert!(max_pair + positions <= x.len(), "weight_grad_blocks: input");
    assert!(
        positions <= dys && (kblocks * GK - 1) * dys + positions <= dy.len(),
        "weight_grad_blocks: dy"
    );
    assert!(
        pairs.len() <= ostride && (kblocks * GK - 1) * ostride + pairs.len() <= out.len(),
        "weight_grad_blocks: output"
    );
    // Chunks of positions, so that a chunk's rows stay in the L1 cache across blocks; each
    // block's 16-lane sums carry over from chunk to chunk in `lanes`.
    let nq = pairs.len() / GQ;
    let mut lanes = vec![0.0f32; kblocks * nq * GK * GQ * 16];
    for j0 in (0..positions).step_by(GRAD_CHUNK) {
        let len = GRAD_CHUNK.min(positions - j0);
        for kblk in 0..kblocks {
            for (qb, q) in pairs.chunks_exact(GQ).enumerate() {
                let q: [usize; GQ] = std::array::from_fn(|i| q[i] + j0);
                let d = &dy[kblk * GK * dys + j0..];
                let acc = &mut lanes[(kblk * nq + qb) * GK * GQ * 16..][..GK * GQ * 16];
                #[cfg(target_arch = "x86_64")]
                if fast_path() {
                    // SAFETY: AVX-512F is present (checked); the asserts above bound the reads
                    // `d[kb * dys + 0..len]` and `x[q + 0..len]`; `acc` holds GK*GQ*16.
                    unsafe { grad_block_avx512(d.as_ptr(), dys, x.as_ptr(), &q, len, acc) };
                    continue;
                }
                grad_block_portable(d, dys, x, &q, len, acc);
            }
        }
    }
    for kblk in 0..kblocks {
        for qb in 0..nq {
            let acc = &lanes[(kblk * nq + qb) * GK * GQ * 16..][..GK * GQ * 16];
            for kb in 0..GK {
                for qi in 0..GQ {
                    let v: [f32; 16] = acc[(kb * GQ + qi) * 16..][..16].try_into().expect("16");
                    out[(kblk * GK + kb) * ostride + qb * GQ + qi] = tree_sum(v);
                }
            }
        }
    }
}

/// Positions per chunk of the weight gradient (a multiple of 16).
const GRAD_CHUNK: usize = 256;

/// The portable weight-gradient block: same terms and order as [`grad_block_avx512`].
/// `acc` holds the `GK x GQ` sums of 16 lanes, `[kb][q][lane]`.
fn grad_block_portable(
    dy: &[f32],
    dys: usize,
    x: &[f32],
    q: &[usize; GQ],
    len: usize,
    acc: &mut [f32],
) {
    for j0 in (0..len).step_by(16) {
        for kb in 0..GK {
            let d = &dy[kb * dys + j0..][..16];
            for (qi, &qo) in q.iter().enumerate() {
                let xs = &x[qo + j0..][..16];
                let a = &mut acc[(kb * GQ + qi) * 16..][..16];
                for l in 0..16 {
                    a[l] = d[l].mul_add(xs[l], a[l]);
                }
            }
        }
    }
}

/// One weight-gradient block on AVX-512: `GK x GQ` accumulators of 16 lanes, loaded from
/// and stored back to `acc` (`[kb][q][lane]`).
///
/// # Safety
/// The CPU has AVX-512F; `dy` is readable at `kb * dys + 0..len` for `kb < GK`, `x` at
/// `q + 0..len` for every `q`; `acc` holds `GK * GQ * 16` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn grad_block_avx512(
    dy: *const f32,
    dys: usize,
    x: *const f32,
    q: &[usize; GQ],
    len: usize,
    acc: &mut [f32],
) {
    use std::arch::x86_64::*;
    assert!(acc.len() >= GK * GQ * 16);
    let ap = acc.as_mut_ptr();
    let mut a = [[_mm512_setzero_ps(); GQ]; GK];
    for (kb, row) in a.iter_mut().enumerate() {
        for (qi, v) in row.iter_mut().enumerate() {
            // SAFETY: `acc` holds GK*GQ*16 floats (asserted).
            *v = unsafe { _mm512_loadu_ps(ap.add((kb * GQ + qi) * 16)) };
        }
    }
    for j0 in (0..len).step_by(16) {
        let mut xv = [_mm512_setzero_ps(); GQ];
        for (v, &qo) in xv.iter_mut().zip(q) {
            // SAFETY: within the extent the caller guarantees.
            *v = unsafe { _mm512_loadu_ps(x.add(qo + j0)) };
        }
        for (kb, row) in a.iter_mut().enumerate() {
            // SAFETY: within the extent the caller guarantees.
            let d = unsafe { _mm512_loadu_ps(dy.add(kb * dys + j0)) };
            for (v, xv) in row.iter_mut().zip(&xv) {
                *v = _mm512_fmadd_ps(d, *xv, *v);
            }
        }
    }
    for (kb, row) in a.iter().enumerate() {
        for (qi, v) in row.iter().enumerate() {
            // SAFETY: as above.
            unsafe { _mm512_storeu_ps(ap.add((kb * GQ + qi) * 16), *v) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::seeded_values as values;

    /// The fast path and the portable one give the same bits (same terms, same order, fused
    /// multiply-adds on both).
    #[test]
    fn paths_agree_bit_for_bit_and_match_the_definition() {
        let (channels, cs, kblocks) = (5, 2 * BLOCK + 40, 2);
        let offs = [0, 1, 2, 19, 20, 21, 38, 39, 40];
        let x = values((channels - 1) * cs + 2 * BLOCK + 40, 1);
        let wp = values(kblocks * channels * offs.len() * KB, 2);
        let ostride = 2 * BLOCK + 3;
        let mut fast = vec![0.0; kblocks * KB * ostride];
        direct_blocks(
            &x,
            cs,
            channels,
            &offs,
            &wp,
            kblocks,
            &mut fast,
            ostride,
            2 * BLOCK,
        );
        let mut slow = vec![0.0; fast.len()];
        for j0 in (0..2 * BLOCK).step_by(BLOCK) {
            for kblk in 0..kblocks {
                let wlen = channels * offs.len() * KB;
                block_portable(
                    &x[j0..],
                    cs,
                    channels,
                    &offs,
                    &wp[kblk * wlen..][..wlen],
                    &mut slow[kblk * KB * ostride + j0..],
                    ostride,
                );
            }
        }
        assert_eq!(fast, slow);
        for k in 0..kblocks * KB {
            for j in 0..2 * BLOCK {
                let (kblk, kb) = (k / KB, k % KB);
                let mut want = 0.0f64;
                for c in 0..channels {
                    for (t, off) in offs.iter().enumerate() {
                        let w =
                            wp[kblk * channels * offs.len() * KB + (c * offs.len() + t) * KB + kb];
                        want += w as f64 * x[c * cs + j + off] as f64;
                    }
                }
                let got = fast[k * ostride + j] as f64;
                assert!((got - want).abs() < 1e-4 * (1.0 + want.abs()), "{k} {j}");
            }
        }
    }

    #[test]
    fn weight_grad_paths_agree_bit_for_bit() {
        let (positions, dys, kblocks) = (64, 70, 2);
        let dy = values((kblocks * GK - 1) * dys + positions, 3);
        let x = values(500, 4);
        let pairs: Vec<usize> = (0..2 * GQ).map(|i| i * 31 % 400).collect();
        let mut out = vec![0.0; kblocks * GK * 13];
        weight_grad_blocks(&dy, dys, kblocks, &x, &pairs, positions, &mut out, 13);
        for k in 0..kblocks * GK {
            for (qi, &q) in pairs.iter().enumerate() {
                let want: f64 = (0..positions)
                    .map(|j| dy[k * dys + j] as f64 * x[q + j] as f64)
                    .sum();
                let got = out[k * 13 + qi] as f64;
                assert!((got - want).abs() < 1e-4 * (1.0 + want.abs()), "{k} {qi}");
            }
            for qb in 0..2 {
                let q: &[usize; GQ] = pairs[qb * GQ..][..GQ].try_into().unwrap();
                // One chunk: the whole sum is one block's.
                let mut acc = vec![0.0f32; GK * GQ * 16];
                grad_block_portable(&dy[(k / GK) * GK * dys..], dys, &x, q, positions, &mut acc);
                for qi in 0..GQ {
                    let lanes: [f32; 16] =
                        acc[((k % GK) * GQ + qi) * 16..][..16].try_into().unwrap();
                    assert_eq!(out[k * 13 + qb * GQ + qi], tree_sum(lanes));
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "input too short")]
    fn a_short_input_is_refused() {
        let mut out = vec![0.0; KB * BLOCK];
        direct_blocks(
            &[0.0; BLOCK],
            BLOCK,
            1,
            &[1],
            &[0.0; KB],
            1,
            &mut out,
            BLOCK,
            BLOCK,
        );
    }
}
