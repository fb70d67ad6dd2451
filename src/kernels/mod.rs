//! The project's own CPU kernels for the layers a ResNet spends its time in: convolution
//! (forward, data gradient, weight gradient) and BatchNorm fused with the residual add and
//! the ReLU, in training and evaluation mode.
//!
//! They sit behind burn's backend-extension point ([`ops::CpuKernels`], implemented for
//! `Flex` and `Autodiff<Flex>`), so the rest of the crate keeps using `Tensor`s and burn's
//! autodiff. On other devices (the Vulkan GPU build), for other dtypes, or when turned off
//! with [`set_enabled`], the layers in [`crate::model::layers`] use burn's own operations.
//!
//! - [`conv`]: im2col + single-threaded `gemm` per group of images, rayon across groups.
//! - [`direct`]: stride-1 convolutions of few channels on maps 8 wide or more, without
//!   im2col, on the register-blocked AVX-512 loop of [`simd`] (chosen at run time).
//! - [`batch_norm`]: per-channel reductions and one fused elementwise pass each way.
//!
//! Every result is independent of the thread count (see each module's "Determinism").

pub mod batch_norm;
pub mod conv;
pub mod direct;
pub mod geometry;
pub mod ops;
pub mod profile;
pub mod simd;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::{Dispatch, DispatchDevice};
use burn::tensor::{DType, Tensor};

use ops::CpuKernels;

static ENABLED: AtomicBool = AtomicBool::new(true);

thread_local! {
    static SCOPED: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Turns the kernels on or off for the whole process (on by default). Off, every layer runs
/// burn's own operations: for comparisons (`supcon bench step --kernels burn`).
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// Runs `f` with the kernels turned on or off for the layers this thread calls, whatever
/// the process-wide setting (tests compare both paths side by side this way).
pub fn scoped<T>(enabled: bool, f: impl FnOnce() -> T) -> T {
    let before = SCOPED.with(|s| s.replace(Some(enabled)));
    struct Restore(Option<bool>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPED.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(before);
    f()
}

/// Whether the kernels are turned on for this thread (see [`set_enabled`] and [`scoped`]).
pub fn enabled() -> bool {
    SCOPED
        .with(Cell::get)
        .unwrap_or_else(|| ENABLED.load(Ordering::Relaxed))
}

/// A zeroed vector of `n` floats, its pages first touched by writes spread over the rayon
/// threads. `vec![0.0; n]` maps large buffers to the kernel's shared zero page, so that a
/// kernel that reads before it writes (`+=`) takes a copy-on-write fault per page, each
/// flushing the TLB of every core; writing first takes plain faults, in parallel.
pub(crate) fn zeros(n: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let mut v: Vec<f32> = Vec::with_capacity(n);
    v.spare_capacity_mut()
        .par_chunks_mut(1 << 16)
        .for_each(|chunk| {
            for x in chunk {
                x.write(0.0);
            }
        });
    // SAFETY: every element of the capacity was initialised just above.
    unsafe { v.set_len(n) };
    v
}

/// `n` deterministic values, uniform in `[-1, 1)` (a 32-bit LCG seeded with `seed`): test and
/// benchmark inputs that are the same on every run and every machine.
#[doc(hidden)]
pub fn seeded_values(n: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(12_345);
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

/// Whether the kernels run for this tensor: turned on, an `f32` tensor on the CPU (`Flex`)
/// device, with or without autodiff.
pub fn applies<const D: usize>(x: &Tensor<D>) -> bool {
    enabled()
        && x.dtype() == DType::F32
        && matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
}

/// Convolution without bias, dilation or groups, with symmetric zero padding.
///
/// The caller checks [`applies`] for `x` and `weight`, that `weight` is `[K, C, kh, kw]` with
/// `C` the input's channels, and that the padded input holds the kernel.
///
/// # Shapes
/// - `x`: `[N, C, H, W]`, `weight`: `[K, C, kh, kw]`
/// - returns: `[N, K, (H + 2 ph - kh) / sh + 1, (W + 2 pw - kw) / sw + 1]`
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    stride: [usize; 2],
    padding: [usize; 2],
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CpuKernels>::conv2d_nchw(
        x.into_dispatch(),
        weight.into_dispatch(),
        stride[0],
        stride[1],
        padding[0],
        padding[1],
    ))
}

/// The residual as the kernels take it: the tensor, or an empty one on `x`'s device for none.
fn residual_or_empty<const D: usize>(
    residual: Option<Tensor<D>>,
    x: &Tensor<D>,
) -> burn::backend::DispatchTensor {
    match residual {
        Some(r) => r.into_dispatch(),
        None => Tensor::<1>::zeros([0], &x.device()).into_dispatch(),
    }
}

/// Training-mode BatchNorm with the batch's statistics, then `+ residual` and the ReLU when
/// `relu` is set. Returns the output and the (detached) batch mean and biased variance.
///
/// The caller checks [`applies`] for `x`.
///
/// # Shapes
/// - `x`, `residual`: `[N, C, ...]`; `gamma`, `beta`: `[C]`
/// - returns: (`[N, C, ...]`, mean `[C]`, variance `[C]`)
pub fn batch_norm_train<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    residual: Option<Tensor<D>>,
    epsilon: f64,
    relu: bool,
) -> (Tensor<D>, Tensor<1>, Tensor<1>) {
    let residual = residual_or_empty(residual, &x);
    let out = <Dispatch as CpuKernels>::batch_norm_act(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        residual,
        epsilon,
        relu,
    );
    (
        Tensor::from_dispatch(out.output),
        Tensor::from_dispatch(out.mean),
        Tensor::from_dispatch(out.variance),
    )
}

/// Evaluation-mode BatchNorm with the given statistics, then `+ residual` and the ReLU when
/// `relu` is set.
///
/// The caller checks [`applies`] for `x`.
///
/// # Shapes
/// - `x`, `residual`: `[N, C, ...]`; `gamma`, `beta`, `mean`, `variance`: `[C]`
/// - returns: `[N, C, ...]`
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_eval<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    mean: Tensor<1>,
    variance: Tensor<1>,
    residual: Option<Tensor<D>>,
    epsilon: f64,
    relu: bool,
) -> Tensor<D> {
    let residual = residual_or_empty(residual, &x);
    Tensor::from_dispatch(<Dispatch as CpuKernels>::batch_norm_eval_act(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        mean.into_dispatch(),
        variance.into_dispatch(),
        residual,
        epsilon,
        relu,
    ))
}
