//! Time spent in each kernel, by operation and shape, for `supcon bench step --profile`.
//!
//! Off by default (one relaxed atomic load per kernel call); [`start`] turns it on and
//! [`take`] returns and clears what was recorded.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

static ON: AtomicBool = AtomicBool::new(false);
static RECORDS: Mutex<BTreeMap<(KernelOp, String), KernelTime>> = Mutex::new(BTreeMap::new());

/// A kernel operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KernelOp {
    /// Convolution forward.
    ConvForward,
    /// Convolution backward (data and weight gradients together).
    ConvBackward,
    /// Training BatchNorm (+ add + ReLU) forward.
    NormForward,
    /// Training BatchNorm (+ add + ReLU) backward.
    NormBackward,
    /// Evaluation BatchNorm (+ add + ReLU).
    NormEval,
}

impl KernelOp {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::ConvForward => "conv fwd",
            Self::ConvBackward => "conv bwd (dx+dw)",
            Self::NormForward => "bn+act fwd",
            Self::NormBackward => "bn+act bwd",
            Self::NormEval => "bn+act eval",
        }
    }
}

/// What one operation on one shape took, summed over its calls.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KernelTime {
    /// Number of calls.
    pub calls: usize,
    /// Wall seconds.
    pub seconds: f64,
    /// Floating-point operations (2 per multiply-add; 0 where not counted).
    pub flops: f64,
}

/// Starts recording (and clears earlier records).
pub fn start() {
    RECORDS.lock().unwrap_or_else(|e| e.into_inner()).clear();
    ON.store(true, Ordering::Relaxed);
}

/// Stops recording and returns the records, sorted by operation then shape.
pub fn take() -> Vec<(KernelOp, String, KernelTime)> {
    ON.store(false, Ordering::Relaxed);
    let mut records = RECORDS.lock().unwrap_or_else(|e| e.into_inner());
    std::mem::take(&mut *records)
        .into_iter()
        .map(|((op, shape), t)| (op, shape, t))
        .collect()
}

/// Runs `f`, adding its wall time under `(op, shape())` while recording is on.
pub(crate) fn timed<T>(
    op: KernelOp,
    shape: impl FnOnce() -> String,
    flops: f64,
    f: impl FnOnce() -> T,
) -> T {
    if !ON.load(Ordering::Relaxed) {
        return f();
    }
    let t = Instant::now();
    let out = f();
    let seconds = t.elapsed().as_secs_f64();
    let mut records = RECORDS.lock().unwrap_or_else(|e| e.into_inner());
    let entry = records.entry((op, shape())).or_default();
    entry.calls += 1;
    entry.seconds += seconds;
    entry.flops += flops;
    out
}

/// The machine's `f32` matrix-multiply throughput in GFLOP/s: every rayon thread multiplies
/// its own 512 x 512 matrices with single-threaded `gemm` (the way the kernels call it), and
/// the best of a few rounds is kept. The yardstick for the kernels' "fraction of peak".
pub fn sgemm_peak_gflops() -> f64 {
    const N: usize = 512;
    let threads = rayon::current_num_threads();
    let a = vec![1.0f32 / N as f32; N * N];
    let mut best = 0.0f64;
    for _ in 0..4 {
        let t = Instant::now();
        (0..threads).into_par_iter().for_each(|_| {
            let mut c = vec![0.0f32; N * N];
            for _ in 0..4 {
                // SAFETY: `a` and `c` are N x N row-major matrices, the extents given.
                unsafe {
                    gemm(
                        N,
                        N,
                        N,
                        c.as_mut_ptr(),
                        1,
                        N as isize,
                        false,
                        a.as_ptr(),
                        1,
                        N as isize,
                        a.as_ptr(),
                        1,
                        N as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        Parallelism::None,
                    );
                }
            }
            std::hint::black_box(&c);
        });
        let flops = (threads * 4) as f64 * 2.0 * (N * N * N) as f64;
        best = best.max(flops / t.elapsed().as_secs_f64() / 1e9);
    }
    best
}
