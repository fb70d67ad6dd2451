//! Augmentation + multi-view batching throughput (criterion).
//!
//! `cargo bench --bench augment`: SimAugment, two views of 32x32x3 (CIFAR-size)
//! images, batch 256, on 1 thread and on every core; plus the other policies on
//! every core for comparison. Throughput is reported in views per second.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use supcon::augment::{Augment, AugmentConfig};
use supcon::data::ImageDataset;
use supcon::data::batcher::MultiViewBatcher;

const BATCH: usize = 256;
const VIEWS: usize = 2;

fn cifar_like(n: usize) -> ImageDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    ImageDataset {
        channels: 3,
        height: 32,
        width: 32,
        pixels: (0..n * 3 * 32 * 32).map(|_| rng.random()).collect(),
        labels: (0..n).map(|i| i % 10).collect(),
        class_names: (0..10).map(|i| i.to_string()).collect(),
        stream: None,
    }
}

fn bench_policies(c: &mut Criterion) {
    let ds = cifar_like(1024);
    let mean = [0.4914, 0.4822, 0.4465];
    let std = [0.2470, 0.2435, 0.2616];
    let mut group = c.benchmark_group("augment");
    group.throughput(Throughput::Elements((VIEWS * BATCH) as u64));
    let cases = [
        (Augment::Sim, 1),
        (Augment::Sim, 0),
        (Augment::AutoAugmentCifar10, 0),
        (Augment::RandAugment, 0),
        (Augment::StackedRandAugment, 0),
    ];
    for (policy, threads) in cases {
        let pipeline = AugmentConfig::new(policy).build().expect("valid config");
        let batcher =
            MultiViewBatcher::new(pipeline, VIEWS, &mean, &std, 0, threads).expect("batcher");
        let id = BenchmarkId::new(policy.name(), format!("{}threads", batcher.threads()));
        let mut epoch = 0u64;
        group.bench_function(id, |b| {
            b.iter(|| {
                epoch += 1;
                let start = (epoch as usize * BATCH) % ds.len();
                let idx: Vec<usize> = (start..start + BATCH).map(|i| i % ds.len()).collect();
                batcher.batch(&ds, &idx, epoch).expect("batch")
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench_policies
}
criterion_main!(benches);
