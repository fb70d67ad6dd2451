//! The CPU kernels on ResNet-18's layer shapes (CIFAR stem, 32x32 input, batch 256 = 128
//! images x 2 views): convolution forward, data gradient, weight gradient, and the fused
//! BatchNorm forward and backward.
//!
//! The `direct` group sets the direct stride-1 kernel (`src/kernels/direct.rs`) against
//! im2col + gemm on `resnet-tiny`'s stride-1 shapes (batch 256 x 2 views) and two of
//! ResNet-18's: the shapes where [`direct::applies`] picks it come from these figures.
//!
//! `cargo bench --bench kernels` (add `-- conv`, `-- direct` or `-- norm` to filter). Criterion's
//! throughput for a convolution is in floating-point operations per second ("Gelem/s" reads
//! as GFLOP/s); the machine's single-threaded-gemm peak over all threads is printed first, so
//! each figure can be read as a fraction of it. `supcon bench step --profile` gives the same
//! breakdown inside a whole training step.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use supcon::kernels::batch_norm::{
    NormShape, affine_act, batch_norm_backward, channel_stats, scales,
};
use supcon::kernels::conv::{
    ConvGeometry, conv2d_backward, conv2d_forward, im2col_backward, im2col_forward,
};
use supcon::kernels::direct;
use supcon::kernels::profile::sgemm_peak_gflops;
use supcon::kernels::seeded_values as values;

const BATCH: usize = 256;

/// (in channels, side, out channels, kernel, stride) of ResNet-18's distinct convolutions.
const CONVS: [(usize, usize, usize, usize, usize); 9] = [
    (3, 32, 64, 3, 1),
    (64, 32, 64, 3, 1),
    (64, 32, 128, 3, 2),
    (64, 32, 128, 1, 2),
    (128, 16, 128, 3, 1),
    (128, 16, 256, 3, 2),
    (256, 8, 256, 3, 1),
    (256, 8, 512, 3, 2),
    (512, 4, 512, 3, 1),
];

fn conv(c: &mut Criterion) {
    eprintln!(
        "gemm peak of this machine ({} threads): {:.0} GFLOP/s",
        rayon::current_num_threads(),
        sgemm_peak_gflops()
    );
    let mut group = c.benchmark_group("conv");
    group.sample_size(10);
    for (cin, side, cout, kernel, stride) in CONVS {
        let geo = ConvGeometry {
            batch: BATCH,
            in_channels: cin,
            height: side,
            width: side,
            out_channels: cout,
            kernel_h: kernel,
            kernel_w: kernel,
            stride: [stride, stride],
            padding: [kernel / 2, kernel / 2],
        };
        let x = values(BATCH * geo.in_image(), 1);
        let w = values(cout * geo.patch(), 2);
        let dy = values(BATCH * geo.out_image(), 3);
        let name = format!("{cout}<-{cin} {kernel}x{kernel}/{stride} {side}x{side}");
        group.throughput(Throughput::Elements((2.0 * geo.macs()) as u64));
        group.bench_function(BenchmarkId::new("forward", &name), |b| {
            b.iter(|| conv2d_forward(&geo, &x, &w))
        });
        group.bench_function(BenchmarkId::new("data-grad", &name), |b| {
            b.iter(|| conv2d_backward(&geo, &x, &w, &dy, true, false))
        });
        group.bench_function(BenchmarkId::new("weight-grad", &name), |b| {
            b.iter(|| conv2d_backward(&geo, &x, &w, &dy, false, true))
        });
    }
    group.finish();
}

/// (in channels, side, out channels, batch) of the stride-1 3x3 convolutions of
/// `resnet-tiny` at batch 256 x 2 views, and ResNet-18's first two stages at 128 x 2.
const DIRECT: [(usize, usize, usize, usize); 6] = [
    (16, 16, 16, 512),
    (32, 8, 32, 512),
    (64, 4, 64, 512),
    (128, 2, 128, 512),
    (64, 32, 64, 256),
    (128, 16, 128, 256),
];

fn direct_vs_gemm(c: &mut Criterion) {
    eprintln!(
        "gemm peak of this machine ({} threads): {:.0} GFLOP/s",
        rayon::current_num_threads(),
        sgemm_peak_gflops()
    );
    let mut group = c.benchmark_group("direct");
    group.sample_size(10);
    for (cin, side, cout, batch) in DIRECT {
        let geo = ConvGeometry {
            batch,
            in_channels: cin,
            height: side,
            width: side,
            out_channels: cout,
            kernel_h: 3,
            kernel_w: 3,
            stride: [1, 1],
            padding: [1, 1],
        };
        let x = values(batch * geo.in_image(), 1);
        let w = values(cout * geo.patch(), 2);
        let dy = values(batch * geo.out_image(), 3);
        let name = format!("{cout}<-{cin} 3x3/1 {side}x{side} n{batch}");
        group.throughput(Throughput::Elements((2.0 * geo.macs()) as u64));
        group.bench_function(BenchmarkId::new("forward im2col", &name), |b| {
            b.iter(|| im2col_forward(&geo, &x, &w))
        });
        group.bench_function(BenchmarkId::new("forward direct", &name), |b| {
            b.iter(|| direct::forward(&geo, &x, &w))
        });
        group.bench_function(BenchmarkId::new("weight-grad im2col", &name), |b| {
            b.iter(|| im2col_backward(&geo, &x, &w, &dy, false, true))
        });
        group.bench_function(BenchmarkId::new("weight-grad direct", &name), |b| {
            b.iter(|| direct::weight_grad(&geo, &x, &dy))
        });
    }
    group.finish();
}

fn norm(c: &mut Criterion) {
    let mut group = c.benchmark_group("norm");
    group.sample_size(10);
    for (channels, side) in [(64, 32), (128, 16), (256, 8), (512, 4)] {
        let shape = NormShape {
            batch: BATCH,
            channels,
            plane: side * side,
        };
        let x = values(shape.len(), 4);
        let res = values(shape.len(), 5);
        let dy = values(shape.len(), 6);
        let gamma = vec![1.0f32; channels];
        let beta = vec![0.0f32; channels];
        let name = format!("{channels}x{side}x{side}");
        // Bytes a pass must at least move: read x (+ residual), write y.
        group.throughput(Throughput::Bytes((shape.len() * 4 * 3) as u64));
        group.bench_function(BenchmarkId::new("forward+add+relu", &name), |b| {
            b.iter(|| {
                let (mean, var) = channel_stats(shape, &x);
                let scale = scales(&gamma, &var, 1e-5);
                affine_act(shape, &x, &mean, &scale, &beta, Some(&res), true)
            })
        });
        let (mean, var) = channel_stats(shape, &x);
        let scale = scales(&gamma, &var, 1e-5);
        let y = affine_act(shape, &x, &mean, &scale, &beta, Some(&res), true);
        group.bench_function(BenchmarkId::new("backward", &name), |b| {
            b.iter(|| {
                batch_norm_backward(shape, &x, Some(&y), &dy, &gamma, &mean, &var, 1e-5, true)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, conv, direct_vs_gemm, norm);
criterion_main!(benches);
