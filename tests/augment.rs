//! Integration tests of `supcon::augment` (ops, policies) and
//! `supcon::data::batcher` (multi-view batches, epoch loader).

use std::sync::Arc;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use supcon::augment::ops::{self, CropBox, Interpolation};
use supcon::augment::stages::{
    ColorJitter, RandomGaussianBlur, RandomGrayscale, RandomHorizontalFlip, RandomResizedCrop,
    Resize,
};
use supcon::augment::{
    AugOp, Augment, AugmentConfig, AutoAugment, AutoAugmentPolicy, RandAugment, Transform,
    measure_throughput,
};
use supcon::data::batcher::{BatcherError, EpochLoader, MultiViewBatcher, view_rng};
use supcon::data::{Image, ImageDataset};

const SHAPES: [(usize, usize); 4] = [(1, 28), (3, 28), (1, 32), (3, 32)];

fn random_image(c: usize, h: usize, w: usize, seed: u64) -> Image {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Image {
        channels: c,
        height: h,
        width: w,
        data: (0..c * h * w).map(|_| rng.random::<f32>()).collect(),
    }
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn assert_valid(out: &Image, c: usize, h: usize, w: usize, what: &str) {
    assert_eq!(
        (out.channels, out.height, out.width, out.data.len()),
        (c, h, w, c * h * w),
        "{what}: shape"
    );
    assert!(
        out.data.iter().all(|v| (0.0..=1.0).contains(v)),
        "{what}: value outside [0, 1]"
    );
}

fn dataset(n: usize, c: usize, h: usize, w: usize, seed: u64) -> ImageDataset {
    let mut rng = rng(seed);
    ImageDataset {
        channels: c,
        height: h,
        width: w,
        pixels: (0..n * c * h * w).map(|_| rng.random::<u8>()).collect(),
        labels: (0..n).map(|i| i % 10).collect(),
        class_names: (0..10).map(|i| format!("class{i}")).collect(),
        stream: None,
    }
}

// ---------------------------------------------------------------- primitive ops

#[test]
fn every_primitive_op_keeps_shape_and_range() {
    type Op = Box<dyn Fn(&Image) -> Image>;
    let primitives: Vec<(&str, Op)> = vec![
        (
            "resize-same",
            Box::new(|i| ops::resize(i, i.height, i.width)),
        ),
        (
            "resized_crop",
            Box::new(|i| {
                ops::resized_crop(
                    i,
                    CropBox {
                        top: 3,
                        left: 5,
                        height: 10,
                        width: 17,
                    },
                    i.height,
                    i.width,
                )
            }),
        ),
        (
            "random_resized_crop",
            Box::new(|i| {
                ops::random_resized_crop(
                    i,
                    i.height,
                    i.width,
                    (0.2, 1.0),
                    (0.75, 4.0 / 3.0),
                    &mut rng(5),
                )
            }),
        ),
        ("hflip", Box::new(ops::hflip)),
        ("grayscale", Box::new(ops::grayscale)),
        ("brightness", Box::new(|i| ops::adjust_brightness(i, 1.7))),
        ("contrast", Box::new(|i| ops::adjust_contrast(i, 1.9))),
        ("saturation", Box::new(|i| ops::adjust_saturation(i, 1.9))),
        ("hue", Box::new(|i| ops::adjust_hue(i, -0.37))),
        ("invert", Box::new(ops::invert)),
        ("solarize", Box::new(|i| ops::solarize(i, 0.4))),
        ("posterize", Box::new(|i| ops::posterize(i, 3))),
        ("autocontrast", Box::new(ops::autocontrast)),
        ("equalize", Box::new(ops::equalize)),
        ("sharpness", Box::new(|i| ops::adjust_sharpness(i, 1.9))),
        ("blur", Box::new(|i| ops::gaussian_blur(i, 5, 1.3))),
        (
            "shear_x",
            Box::new(|i| ops::shear_x(i, -0.3, Interpolation::Bilinear, 0.0)),
        ),
        (
            "shear_y",
            Box::new(|i| ops::shear_y(i, 0.3, Interpolation::Nearest, 0.5)),
        ),
        (
            "translate",
            Box::new(|i| ops::translate(i, 5.0, -3.0, Interpolation::Nearest, 0.0)),
        ),
        (
            "rotate",
            Box::new(|i| ops::rotate(i, 23.0, Interpolation::Bilinear, 0.0)),
        ),
        ("cutout", Box::new(|i| ops::cutout(i, 8, 4, 30, 0.5))),
    ];
    for (c, s) in SHAPES {
        let img = random_image(c, s, s, 42);
        for (name, op) in &primitives {
            assert_valid(&op(&img), c, s, s, &format!("{name} on {c}x{s}x{s}"));
        }
        assert_valid(&ops::resize(&img, 40, 24), c, 40, 24, "resize up/down");
        assert_valid(&ops::resize(&img, 7, 9), c, 7, 9, "resize down");
    }
}

#[test]
fn every_augop_at_every_bin_and_sign_keeps_shape_and_range() {
    for (c, s) in SHAPES {
        let img = random_image(c, s, s, 7);
        for op in AugOp::ALL {
            for bin in [0, 5, 9, 30] {
                for sign in [1.0f32, -1.0] {
                    let m = sign * op.magnitude(bin, 31, s, s);
                    for interp in Interpolation::ALL {
                        let out = op.apply(&img, m, interp, 0.0, &mut rng(bin as u64));
                        assert_valid(&out, c, s, s, &format!("{op} m={m} {interp}"));
                    }
                }
            }
        }
    }
}

#[test]
fn hflip_of_a_known_image() {
    let img = Image {
        channels: 1,
        height: 2,
        width: 3,
        data: vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    };
    assert_eq!(ops::hflip(&img).data, vec![0.3, 0.2, 0.1, 0.6, 0.5, 0.4]);
    assert_eq!(ops::hflip(&ops::hflip(&img)), img);
}

#[test]
fn grayscale_of_pure_red_is_0_299_in_every_channel() {
    let red = Image {
        channels: 3,
        height: 1,
        width: 1,
        data: vec![1.0, 0.0, 0.0],
    };
    let g = ops::grayscale(&red);
    assert_eq!(g.channels, 3);
    for v in &g.data {
        assert!((v - 0.299).abs() < 1e-6, "{v}");
    }
    let one = random_image(1, 4, 4, 1);
    assert_eq!(
        ops::grayscale(&one),
        one,
        "1-channel grayscale is the identity"
    );
}

#[test]
fn solarize_inverts_at_and_above_threshold() {
    let img = Image {
        channels: 1,
        height: 1,
        width: 4,
        data: vec![0.2, 0.5, 0.7, 1.0],
    };
    let s = ops::solarize(&img, 0.5);
    let want = [0.2, 0.5, 0.3, 0.0];
    for (v, w) in s.data.iter().zip(want) {
        assert!((v - w).abs() < 1e-6, "{:?}", s.data);
    }
    assert_eq!(
        ops::solarize(&img, 1.01),
        img,
        "threshold above 1: unchanged"
    );
}

#[test]
fn posterize_keeps_the_high_bits() {
    let img = Image::from_u8_chw(1, 1, 4, &[255, 0b1011_0111, 0b0110_1001, 15]);
    assert_eq!(
        ops::posterize(&img, 4).to_u8_chw(),
        vec![0xF0, 0b1011_0000, 0b0110_0000, 0]
    );
    assert_eq!(ops::posterize(&img, 1).to_u8_chw(), vec![128, 128, 0, 0]);
    assert_eq!(ops::posterize(&img, 8), img);
}

#[test]
fn bilinear_resize_of_a_constant_image_stays_constant() {
    for (c, s) in SHAPES {
        let img = Image {
            channels: c,
            height: s,
            width: s,
            data: vec![0.37; c * s * s],
        };
        for (h, w) in [(s, s), (64, 48), (13, 7), (1, 1)] {
            let r = ops::resize(&img, h, w);
            assert!(r.data.iter().all(|v| (v - 0.37).abs() < 1e-6), "{h}x{w}");
        }
    }
}

#[test]
fn full_square_crop_is_the_identity() {
    for (c, s) in SHAPES {
        let img = random_image(c, s, s, 3);
        // Scale 1 and ratio 1 on a square image: the only valid window is the whole image.
        let out = ops::random_resized_crop(&img, s, s, (1.0, 1.0), (1.0, 1.0), &mut rng(9));
        let max_diff = img
            .data
            .iter()
            .zip(&out.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(max_diff < 1e-6, "{max_diff}");
    }
}

#[test]
fn color_jitter_ops_on_known_values() {
    let img = Image {
        channels: 3,
        height: 1,
        width: 2,
        data: vec![0.2, 0.8, 0.4, 0.4, 0.6, 0.2],
    };
    let b = ops::adjust_brightness(&img, 2.0);
    assert_eq!(b.data, vec![0.4, 1.0, 0.8, 0.8, 1.0, 0.4]);
    // Contrast 0 gives the mean luma everywhere.
    let mean_luma =
        (0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6 + 0.299 * 0.8 + 0.587 * 0.4 + 0.114 * 0.2) / 2.0;
    for v in ops::adjust_contrast(&img, 0.0).data {
        assert!((v - mean_luma).abs() < 1e-6);
    }
    // Saturation 0 is grayscale; hue shift of 0 and 1 are the identity.
    assert_eq!(ops::adjust_saturation(&img, 0.0), ops::grayscale(&img));
    let h1 = ops::adjust_hue(&img, 1.0);
    for (a, b) in h1.data.iter().zip(&img.data) {
        assert!((a - b).abs() < 1e-5);
    }
    assert_eq!(ops::adjust_hue(&img, 0.0), img);
}

#[test]
fn autocontrast_and_invert_on_known_values() {
    let img = Image {
        channels: 1,
        height: 1,
        width: 3,
        data: vec![0.25, 0.5, 0.75],
    };
    let a = ops::autocontrast(&img);
    assert_eq!(a.data, vec![0.0, 0.5, 1.0]);
    assert_eq!(ops::invert(&img).data, vec![0.75, 0.5, 0.25]);
}

// ---------------------------------------------------------------- stages and policies

fn all_stages() -> Vec<(&'static str, Box<dyn Transform>)> {
    vec![
        ("resize", Box::new(Resize { size: None })),
        ("rrc", Box::new(RandomResizedCrop::new(None, (0.08, 1.0)))),
        ("flip", Box::new(RandomHorizontalFlip { probability: 1.0 })),
        (
            "jitter",
            Box::new(ColorJitter {
                probability: 1.0,
                ..ColorJitter::SIMCLR
            }),
        ),
        ("gray", Box::new(RandomGrayscale { probability: 1.0 })),
        (
            "blur",
            Box::new(RandomGaussianBlur {
                probability: 1.0,
                ..RandomGaussianBlur::SIMCLR
            }),
        ),
        (
            "aa-cifar",
            Box::new(AutoAugment::new(AutoAugmentPolicy::Cifar10)),
        ),
        (
            "aa-imagenet",
            Box::new(AutoAugment::new(AutoAugmentPolicy::Imagenet)),
        ),
        ("randaugment", Box::new(RandAugment::new(3, 30).unwrap())),
    ]
}

#[test]
fn every_stage_keeps_shape_and_range() {
    for (c, s) in SHAPES {
        let img = random_image(c, s, s, 11);
        for (name, t) in all_stages() {
            for seed in 0..20 {
                let out = t.apply(&img, &mut rng(seed));
                assert_valid(&out, c, s, s, &format!("{name} seed {seed}"));
                assert_eq!(
                    out,
                    t.apply_owned(img.clone(), &mut rng(seed)),
                    "{name}: apply_owned"
                );
            }
        }
    }
}

#[test]
fn every_policy_keeps_shape_and_range_and_is_deterministic() {
    for policy in Augment::ALL {
        for blur in [false, true] {
            let cfg = AugmentConfig {
                policy,
                blur,
                ..AugmentConfig::default()
            };
            let t = cfg.build().unwrap();
            for (c, s) in SHAPES {
                let img = random_image(c, s, s, 5);
                for seed in 0..25 {
                    let a = t.apply(&img, &mut rng(seed));
                    assert_valid(&a, c, s, s, &format!("{policy} blur={blur}"));
                    assert_eq!(a, t.apply(&img, &mut rng(seed)), "{policy}: same seed");
                }
                let outs: Vec<Image> = (0..4).map(|seed| t.apply(&img, &mut rng(seed))).collect();
                if policy.is_random() {
                    assert!(
                        outs.windows(2).any(|w| w[0] != w[1]),
                        "{policy}: different seeds should differ"
                    );
                } else {
                    assert!(outs.iter().all(|o| *o == img), "none is the identity");
                }
            }
        }
    }
}

#[test]
fn policies_resize_to_the_configured_size() {
    for policy in Augment::ALL {
        let cfg = AugmentConfig {
            policy,
            size: Some(24),
            ..AugmentConfig::default()
        };
        let t = cfg.build().unwrap();
        assert_eq!(t.output_size(28, 32), (24, 24));
        for (c, s) in SHAPES {
            let out = t.apply(&random_image(c, s, s, 2), &mut rng(1));
            assert_valid(&out, c, 24, 24, &format!("{policy} size 24"));
        }
    }
}

#[test]
fn color_stages_leave_single_channel_saturation_and_hue_alone() {
    let img = random_image(1, 8, 8, 4);
    let sat_hue = ColorJitter {
        brightness: 0.0,
        contrast: 0.0,
        saturation: 0.9,
        hue: 0.5,
        probability: 1.0,
    };
    for seed in 0..10 {
        assert_eq!(sat_hue.apply(&img, &mut rng(seed)), img);
    }
}

#[test]
fn augment_names_round_trip() {
    for a in Augment::ALL {
        assert_eq!(a.to_string().parse::<Augment>().unwrap(), a);
    }
    let err = "simclr".parse::<Augment>().unwrap_err().to_string();
    assert!(
        err.contains("simclr") && err.contains("stacked-randaugment"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn sim_and_stacked_stay_in_range_for_any_shape(
        c in prop_oneof![Just(1usize), Just(3usize)],
        h in 1usize..40,
        w in 1usize..40,
        seed in any::<u64>(),
        stacked in any::<bool>(),
    ) {
        let policy = if stacked { Augment::StackedRandAugment } else { Augment::Sim };
        let t = AugmentConfig { policy, blur: true, ..AugmentConfig::default() }.build().unwrap();
        let img = random_image(c, h, w, seed);
        let out = t.apply(&img, &mut rng(seed));
        prop_assert_eq!((out.channels, out.height, out.width), (c, h, w));
        prop_assert!(out.data.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}

// ---------------------------------------------------------------- batcher

fn none_batcher(views: usize, mean: &[f32], std: &[f32], threads: usize) -> MultiViewBatcher {
    let t = AugmentConfig::new(Augment::None).build().unwrap();
    MultiViewBatcher::new(t, views, mean, std, 0, threads).unwrap()
}

#[test]
fn batcher_is_identical_for_one_and_two_threads() {
    let ds = dataset(40, 3, 32, 32, 1);
    let t = AugmentConfig::default().build().unwrap();
    let mean = [0.4914, 0.4822, 0.4465];
    let std = [0.2470, 0.2435, 0.2616];
    let one = MultiViewBatcher::new(t.clone(), 2, &mean, &std, 17, 1).unwrap();
    let two = MultiViewBatcher::new(t, 2, &mean, &std, 17, 2).unwrap();
    let idx = [5, 0, 39, 12, 12, 7, 21];
    for epoch in 0..3 {
        assert_eq!(
            one.batch(&ds, &idx, epoch).unwrap(),
            two.batch(&ds, &idx, epoch).unwrap()
        );
    }
    // Views depend on (seed, epoch, index, view) only, not on the batch composition.
    let a = one.batch(&ds, &[12, 3], 1).unwrap();
    let b = two.batch(&ds, &idx, 1).unwrap();
    assert_eq!(a.view(0, 0), b.view(0, 3));
    assert_eq!(a.view(1, 0), b.view(1, 4));
    assert_ne!(a.view(0, 0), a.view(1, 0), "two views differ");
    assert_ne!(
        b.view(0, 0),
        one.batch(&ds, &idx, 2).unwrap().view(0, 0),
        "epochs differ"
    );
}

#[test]
fn batch_views_match_the_transform_with_derived_rngs() {
    let ds = dataset(6, 3, 32, 32, 2);
    let t = AugmentConfig::new(Augment::RandAugment).build().unwrap();
    let batcher = MultiViewBatcher::new(t.clone(), 3, &[0.0; 3], &[1.0; 3], 99, 2).unwrap();
    let b = batcher.batch(&ds, &[4, 1], 5).unwrap();
    for (i, &idx) in [4usize, 1].iter().enumerate() {
        for v in 0..3 {
            let want = t.apply(&ds.image(idx), &mut view_rng(99, 5, idx as u64, v as u64));
            assert_eq!(b.view(v, i).unwrap(), &want.data[..]);
        }
    }
}

#[test]
fn batch_layout_is_view_major_and_normalised() {
    let ds = dataset(5, 3, 28, 28, 3);
    let mean = [0.5, 0.25, 0.75];
    let std = [0.5, 0.25, 2.0];
    let batcher = none_batcher(2, &mean, &std, 2);
    let idx = [3, 1, 4];
    let b = batcher.batch(&ds, &idx, 0).unwrap();
    assert_eq!(b.shape(), [6, 3, 28, 28]);
    assert_eq!(
        (b.views, b.batch_size, b.channels, b.height, b.width),
        (2, 3, 3, 28, 28)
    );
    assert_eq!(b.labels, vec![3, 1, 4]);
    assert_eq!(b.indices, idx.to_vec());
    assert_eq!(b.images.len(), 6 * 3 * 28 * 28);
    let n = 3 * 28 * 28;
    for (i, &di) in idx.iter().enumerate() {
        let raw = ds.pixels_of(di);
        for v in 0..2 {
            let row = &b.images[(v * 3 + i) * n..][..n];
            for (k, (&got, &p)) in row.iter().zip(raw).enumerate() {
                let ch = k / (28 * 28);
                let want = (f32::from(p) / 255.0 - mean[ch]) / std[ch];
                assert!((got - want).abs() < 1e-6, "view {v} sample {i} value {k}");
            }
        }
        assert_eq!(b.view(0, i), b.view(1, i), "policy none: both views equal");
    }
}

#[test]
fn normalisation_of_known_pixels() {
    let ds = ImageDataset {
        channels: 1,
        height: 1,
        width: 3,
        pixels: vec![0, 51, 255],
        labels: vec![2],
        class_names: vec!["a".into(), "b".into(), "c".into()],
        stream: None,
    };
    let b = none_batcher(1, &[0.2], &[0.4], 1)
        .batch(&ds, &[0], 0)
        .unwrap();
    let want = [-0.5, 0.0, 2.0];
    for (g, w) in b.images.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{:?}", b.images);
    }
    assert_eq!(b.labels, vec![2]);
}

#[test]
fn batcher_rejects_invalid_configuration_and_input() {
    let t = || AugmentConfig::default().build().unwrap();
    let e = |r: Result<MultiViewBatcher, BatcherError>| r.unwrap_err();
    assert_eq!(
        e(MultiViewBatcher::new(t(), 0, &[0.5], &[0.5], 0, 1)),
        BatcherError::ZeroViews
    );
    assert!(matches!(
        e(MultiViewBatcher::new(t(), 2, &[0.5, 0.5], &[0.5], 0, 1)),
        BatcherError::NormalisationLength { .. }
    ));
    assert!(matches!(
        e(MultiViewBatcher::new(t(), 2, &[], &[], 0, 1)),
        BatcherError::NormalisationLength { .. }
    ));
    for bad_std in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert!(matches!(
            e(MultiViewBatcher::new(t(), 2, &[0.5], &[bad_std], 0, 1)),
            BatcherError::InvalidNormalisation { .. }
        ));
    }
    let ds = dataset(4, 3, 8, 8, 0);
    let gray = none_batcher(2, &[0.5], &[0.5], 1);
    assert!(matches!(
        gray.batch(&ds, &[0], 0),
        Err(BatcherError::ChannelMismatch { .. })
    ));
    let rgb = none_batcher(2, &[0.5; 3], &[0.5; 3], 1);
    assert_eq!(
        rgb.batch(&ds, &[0, 4], 0).unwrap_err(),
        BatcherError::IndexOutOfRange { index: 4, len: 4 }
    );
    let empty = rgb.batch(&ds, &[], 0).unwrap();
    assert_eq!((empty.batch_size, empty.images.len()), (0, 0));
    let ds = Arc::new(ds);
    assert_eq!(
        EpochLoader::new(rgb, Arc::clone(&ds), 0, false).unwrap_err(),
        BatcherError::ZeroBatchSize
    );
    assert!(matches!(
        EpochLoader::new(gray, ds, 2, false).unwrap_err(),
        BatcherError::ChannelMismatch { .. }
    ));
}

// ---------------------------------------------------------------- loader

#[test]
fn loader_covers_every_index_once_and_reshuffles_per_epoch() {
    let ds = Arc::new(dataset(23, 1, 28, 28, 4));
    let batcher = MultiViewBatcher::new(
        AugmentConfig::default().build().unwrap(),
        2,
        &[0.1307],
        &[0.3081],
        3,
        2,
    )
    .unwrap();
    let loader = EpochLoader::new(batcher, Arc::clone(&ds), 5, false).unwrap();
    assert_eq!(loader.num_batches(), 5);
    let mut orders = Vec::new();
    for epoch in 0..3 {
        let batches: Vec<_> = loader.iter(epoch).map(Result::unwrap).collect();
        assert_eq!(batches.len(), 5);
        assert_eq!(batches.last().unwrap().batch_size, 3);
        let seen: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..23).collect::<Vec<_>>(), "epoch {epoch}");
        for b in &batches {
            assert_eq!(b.shape(), [2 * b.batch_size, 1, 28, 28]);
            let labels: Vec<usize> = b.indices.iter().map(|&i| ds.labels[i]).collect();
            assert_eq!(b.labels, labels);
        }
        assert_eq!(seen, loader.order(epoch));
        orders.push(seen);
    }
    assert_ne!(orders[0], orders[1]);
    assert_ne!(orders[1], orders[2]);
    // Re-running an epoch reproduces it exactly.
    let again: Vec<_> = loader.iter(1).map(Result::unwrap).collect();
    let first: Vec<_> = loader.iter(1).map(Result::unwrap).collect();
    assert_eq!(again, first);
    // A resumed epoch: the same batches after the skipped ones, none past the end.
    for start in [0, 2, 5, 7] {
        let rest: Vec<_> = loader.iter_from(1, start).map(Result::unwrap).collect();
        assert_eq!(rest, first[start.min(5)..], "start {start}");
    }
}

#[test]
fn loader_drop_last_and_no_shuffle() {
    let ds = Arc::new(dataset(23, 3, 8, 8, 5));
    let loader = EpochLoader::new(none_batcher(1, &[0.5; 3], &[0.5; 3], 1), ds, 5, true)
        .unwrap()
        .with_shuffle(false)
        .with_prefetch(1);
    assert_eq!(loader.num_batches(), 4);
    let batches: Vec<_> = loader.iter(0).map(Result::unwrap).collect();
    assert_eq!(batches.len(), 4);
    assert!(batches.iter().all(|b| b.batch_size == 5));
    let seen: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
}

#[test]
fn dropping_a_loader_iterator_early_does_not_hang() {
    let ds = Arc::new(dataset(64, 3, 32, 32, 6));
    let batcher = MultiViewBatcher::new(
        AugmentConfig::default().build().unwrap(),
        2,
        &[0.5; 3],
        &[0.5; 3],
        0,
        2,
    )
    .unwrap();
    let loader = EpochLoader::new(batcher, ds, 4, false).unwrap();
    let mut it = loader.iter(0);
    assert!(it.next().unwrap().is_ok());
    drop(it);
    assert_eq!(loader.iter(1).count(), 16);
}

#[test]
fn throughput_is_positive_and_errors_are_reported() {
    let ds = dataset(64, 3, 32, 32, 7);
    let rate = measure_throughput(&ds, &AugmentConfig::default(), 2, 16, 2, 2).unwrap();
    assert!(rate.is_finite() && rate > 0.0);
    let bad = AugmentConfig {
        crop_scale: (0.0, 1.0),
        ..AugmentConfig::default()
    };
    assert!(matches!(
        measure_throughput(&ds, &bad, 2, 16, 1, 1),
        Err(BatcherError::Augment(_))
    ));
    assert_eq!(
        measure_throughput(&ds, &AugmentConfig::default(), 2, 16, 1, 0).unwrap_err(),
        BatcherError::ZeroBatches
    );
}

// ---------------------------------------------------------------- pinned `sim` parameters
//
// Reference: SupContrast's `main_supcon.py` (Khosla et al. 2020, github.com/HobbitLong/
// SupContrast), `set_loader`, CIFAR training transform:
//
//     transforms.RandomResizedCrop(size=opt.size, scale=(0.2, 1.)),
//     transforms.RandomHorizontalFlip(),
//     transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
//     transforms.RandomGrayscale(p=0.2),
//
// with torchvision's defaults `RandomResizedCrop(ratio=(3/4, 4/3))` and
// `RandomHorizontalFlip(p=0.5)`. The optional blur is SimCLR's (Chen et al. 2020,
// appendix A): p = 0.5, sigma uniform in [0.1, 2.0], kernel 10% of the image side.

/// The SupContrast CIFAR stage list, written out from the reference (not from the code's
/// named constants, so a typo in `ColorJitter::SIMCLR`, `RandomResizedCrop::DEFAULT_RATIO`,
/// `RandomHorizontalFlip::default()` or the grayscale probability fails the test).
fn supcontrast_cifar_stages(size: Option<usize>) -> Vec<supcon::augment::Stage> {
    use supcon::augment::Stage;
    vec![
        Stage::RandomResizedCrop(RandomResizedCrop {
            size: size.map(|s| (s, s)),
            scale: (0.2, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
        }),
        Stage::HorizontalFlip(RandomHorizontalFlip { probability: 0.5 }),
        Stage::ColorJitter(ColorJitter {
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.4,
            hue: 0.1,
            probability: 0.8,
        }),
        Stage::Grayscale(RandomGrayscale { probability: 0.2 }),
    ]
}

#[test]
fn default_sim_pipeline_is_supcontrast_cifar_transform() {
    use supcon::augment::Stage;
    let cfg = AugmentConfig::default();
    assert_eq!(cfg.policy, Augment::Sim);
    assert_eq!(cfg.crop_scale, (0.2, 1.0), "SupContrast scale=(0.2, 1.)");
    assert!(!cfg.blur, "SupContrast's CIFAR transform has no blur");
    assert_eq!(
        cfg.build().unwrap().stages(),
        supcontrast_cifar_stages(None)
    );

    // A configured size only sets the crop's output size.
    let sized = AugmentConfig {
        size: Some(32),
        ..AugmentConfig::default()
    };
    assert_eq!(
        sized.build().unwrap().stages(),
        supcontrast_cifar_stages(Some(32))
    );

    // With blur: SimCLR's RandomApply(GaussianBlur, p=0.5), sigma in [0.1, 2.0], kernel
    // 10% of the side, appended last.
    let blurred = AugmentConfig {
        blur: true,
        ..AugmentConfig::default()
    };
    let mut want = supcontrast_cifar_stages(None);
    want.push(Stage::GaussianBlur(RandomGaussianBlur {
        probability: 0.5,
        sigma: (0.1, 2.0),
        kernel_size: None,
    }));
    assert_eq!(blurred.build().unwrap().stages(), want);

    // Stacked RandAugment reuses the same jitter and grayscale after RandAugment.
    let stacked = AugmentConfig::new(Augment::StackedRandAugment)
        .build()
        .unwrap();
    let reference = supcontrast_cifar_stages(None);
    assert_eq!(stacked.stages()[..2], reference[..2]);
    assert_eq!(stacked.stages()[3..], reference[2..]);
}

/// `crop` is the SupContrast reference's linear-stage `train_transform` (`main_linear.py`:
/// `RandomResizedCrop(size, scale=(0.2, 1.))`, `RandomHorizontalFlip()`, no colour
/// stages): the first two stages of the CIFAR list above.
#[test]
fn crop_policy_is_supcontrast_linear_transform() {
    let stages = AugmentConfig::new(Augment::Crop).build().unwrap();
    assert_eq!(stages.stages(), &supcontrast_cifar_stages(None)[..2]);
    let sized = AugmentConfig {
        size: Some(32),
        blur: true, // blur belongs to `sim` and `stacked-randaugment` only
        ..AugmentConfig::new(Augment::Crop)
    };
    assert_eq!(
        sized.build().unwrap().stages(),
        &supcontrast_cifar_stages(Some(32))[..2]
    );
    assert_eq!("crop".parse::<Augment>().unwrap(), Augment::Crop);
}

/// The default pipeline's stages, destructured (panics if the layout changes).
fn default_sim_stages() -> (
    RandomResizedCrop,
    RandomHorizontalFlip,
    ColorJitter,
    RandomGrayscale,
) {
    use supcon::augment::Stage;
    let p = AugmentConfig::default().build().unwrap();
    match p.stages() {
        [
            Stage::RandomResizedCrop(c),
            Stage::HorizontalFlip(f),
            Stage::ColorJitter(j),
            Stage::Grayscale(g),
        ] => (*c, *f, *j, *g),
        other => panic!("unexpected default stages {other:?}"),
    }
}

/// Mean area fraction of torchvision's `RandomResizedCrop.get_params` box on a square
/// `side x side` image: scale `s ~ U(lo, 1)`, log-ratio `u ~ U(-L, L)` with
/// `L = ln(4/3)`. A draw is kept when the rounded box fits; as `w = round(side sqrt(s e^u))`
/// fits while `side sqrt(s e^u) <= side + 1/2`, that is `s e^|u| <= k` with
/// `k = ((side + 1/2) / side)^2` (k -> 1 for large images). So a draw is always kept for
/// `s <= b = k e^-L` and with probability `ln(k / s) / L` above. Kept draws are what the
/// first accepted attempt returns, and all 10 attempts fail with probability below
/// `0.17^10 ~ 1e-8` (fallback: the whole image), so, with the rounded area `w h` averaging
/// the target `s side^2`,
///
///   E[area] = (int_lo^b s ds + int_b^1 s ln(k/s)/L ds) / (int_lo^b ds + int_b^1 ln(k/s)/L ds)
///
/// = 0.5384 for k = 1 (0.5511 at 32 px, 0.5392 at 512 px), not the 0.6 of an
/// unconstrained `U(0.2, 1)`: the fit check rejects large, elongated boxes. Closed form
/// with `int s ln(k/s) ds = s^2/2 ln k + s^2/4 - s^2/2 ln s` and
/// `int ln(k/s) ds = s ln k + s - s ln s`.
fn rrc_theoretical_mean_area(lo: f64, side: usize) -> f64 {
    let l = (4.0f64 / 3.0).ln();
    let k = ((side as f64 + 0.5) / side as f64).powi(2);
    let b = (k * (-l).exp()).min(1.0);
    let p = |s: f64| s * s / 2.0 * k.ln() + s * s / 4.0 - s * s / 2.0 * s.ln();
    let q = |s: f64| s * k.ln() + s - s * s.ln();
    let num = (b * b - lo * lo) / 2.0 + (p(1.0) - p(b)) / l;
    let den = (b - lo) + (q(1.0) - q(b)) / l;
    num / den
}

#[test]
fn default_random_resized_crop_box_statistics() {
    let (crop, _, _, _) = default_sim_stages();
    // Hand-checked values of the closed form (k = 1, i.e. no rounding slack: 0.5384).
    assert!((rrc_theoretical_mean_area(0.2, 1 << 30) - 0.5384).abs() < 1e-4);
    assert!((rrc_theoretical_mean_area(0.2, 32) - 0.5511).abs() < 1e-4);

    // (side, draws, tolerance on the mean). The standard deviation of the area fraction
    // is about 0.2, so the standard error of the mean of 100000 draws is 0.0006 and the
    // tolerance 0.004 over 6 standard errors (sampling boxes is cheap: ~30 ms in all).
    // A scale lower bound of 0.08 would give a mean of 0.48, 0.25 one of 0.56, 0.3 one of
    // 0.59. (Checked with 400000 draws: 0.5510 at 32 px, 0.5395 at 512 px.)
    for (side, n, tol) in [(32usize, 100_000u64, 0.004), (512, 100_000, 0.004)] {
        let theory = rrc_theoretical_mean_area(0.2, side);
        let area = (side * side) as f64;
        let (mut sum, mut min_a, mut max_a) = (0.0, f64::MAX, 0.0f64);
        let (mut min_r, mut max_r) = (f64::MAX, 0.0f64);
        for seed in 0..n {
            let b =
                ops::random_resized_crop_box(side, side, crop.scale, crop.ratio, &mut rng(seed));
            let (w, h) = (b.width as f64, b.height as f64);
            assert!(
                b.top + b.height <= side && b.left + b.width <= side,
                "{b:?}"
            );
            // torchvision rounds w = round(sqrt(t r)), h = round(sqrt(t / r)) for a target
            // area t in [0.2, 1] * A and ratio r in [3/4, 4/3]; so sqrt(t r) lies within
            // w +- 0.5 and sqrt(t / r) within h +- 0.5, which bounds t and r by the rounded
            // box. The central fallback (whole square image) satisfies these too.
            assert!(
                (w + 0.5) * (h + 0.5) >= 0.2 * area,
                "{side}: too small {b:?}"
            );
            assert!((w - 0.5) * (h - 0.5) <= area, "{side}: too large {b:?}");
            assert!((w + 0.5) / (h - 0.5) >= 0.75, "{side}: too tall {b:?}");
            assert!((w - 0.5) / (h + 0.5) <= 4.0 / 3.0, "{side}: too wide {b:?}");
            let a = w * h / area;
            sum += a;
            min_a = min_a.min(a);
            max_a = max_a.max(a);
            min_r = min_r.min(w / h);
            max_r = max_r.max(w / h);
        }
        let mean = sum / n as f64;
        assert!(
            (mean - theory).abs() < tol,
            "{side}px: mean area {mean:.4}, theory {theory:.4}"
        );
        // The ranges are actually used: a lower scale bound of 0.08 (torchvision's
        // default) or 0.3 would move the minimum, a narrower ratio range the extremes.
        if side == 512 {
            assert!((0.199..0.205).contains(&min_a), "min area {min_a}");
            assert!(max_a > 0.98, "max area {max_a}");
            assert!((0.74..0.76).contains(&min_r), "min ratio {min_r}");
            assert!((1.32..1.345).contains(&max_r), "max ratio {max_r}");
        }
    }
}

#[test]
fn default_random_resized_crop_stage_crops_the_sampled_box() {
    // The stage resizes exactly the box the sampler draws with the reference parameters,
    // scale (0.2, 1) and ratio (3/4, 4/3).
    let (crop, _, _, _) = default_sim_stages();
    let img = random_image(3, 32, 32, 8);
    for seed in 0..50 {
        let b = ops::random_resized_crop_box(32, 32, (0.2, 1.0), (0.75, 4.0 / 3.0), &mut rng(seed));
        let want = ops::resized_crop(&img, b, 32, 32);
        // (`assert!`, not `assert_eq!`: a mismatch would print two 3072-value images.)
        assert!(crop.apply(&img, &mut rng(seed)) == want, "seed {seed}");
    }
}

/// A colourful, left-right asymmetric RGB image: every pixel saturated and distinct, so
/// any jitter changes it, and grayscale (all channels equal) is detectable.
fn colourful_image(h: usize, w: usize) -> Image {
    let mut img = Image::zeros(3, h, w);
    for y in 0..h {
        for x in 0..w {
            let t = (y * w + x) as f32 / (h * w) as f32;
            let (r, g, b) = ops::hsv_to_rgb(t, 0.8, 0.3 + 0.5 * t);
            *img.get_mut(0, y, x) = r;
            *img.get_mut(1, y, x) = g;
            *img.get_mut(2, y, x) = b;
        }
    }
    img
}

fn is_gray(img: &Image) -> bool {
    let plane = img.height * img.width;
    (0..plane).all(|i| {
        let (r, g, b) = (img.data[i], img.data[plane + i], img.data[2 * plane + i]);
        (r - g).abs() < 1e-6 && (g - b).abs() < 1e-6
    })
}

/// Fraction of `n` seeds for which `pred(stage output)` holds.
fn fraction(n: u64, mut pred: impl FnMut(u64) -> bool) -> f64 {
    (0..n).filter(|&s| pred(s)).count() as f64 / n as f64
}

// Application rates over 10000 seeds: the standard error of a rate p is
// sqrt(p (1 - p) / 10000) <= 0.005, so +-0.02 is 4 or more standard errors, while a typo
// such as 0.8 -> 0.9 or 0.2 -> 0.25 moves the rate by 0.05 or more.
const RATE_SEEDS: u64 = 10_000;
const RATE_TOL: f64 = 0.02;

#[test]
fn default_color_jitter_is_applied_with_probability_0_8() {
    let (_, _, jitter, _) = default_sim_stages();
    let img = colourful_image(4, 4);
    let rate = fraction(RATE_SEEDS, |s| jitter.apply(&img, &mut rng(s)) != img);
    assert!((rate - 0.8).abs() < RATE_TOL, "jitter rate {rate}");

    // The factor ranges: brightness alone (others 0) scales the image by a factor in
    // [1 - 0.4, 1 + 0.4]; hue alone shifts the hue by at most 0.1.
    let bright = ColorJitter {
        contrast: 0.0,
        saturation: 0.0,
        hue: 0.0,
        probability: 1.0,
        ..jitter
    };
    let flat = Image {
        channels: 3,
        height: 1,
        width: 1,
        data: vec![0.5; 3],
    };
    let factors: Vec<f32> = (0..2000)
        .map(|s| bright.apply(&flat, &mut rng(s)).data[0] / 0.5)
        .collect();
    let lo = factors.iter().copied().fold(f32::MAX, f32::min);
    let hi = factors.iter().copied().fold(0.0f32, f32::max);
    assert!(
        (0.6 - 1e-5..0.61).contains(&lo),
        "brightness min factor {lo}"
    );
    assert!(hi <= 1.4 + 1e-5 && hi > 1.39, "brightness max factor {hi}");

    let hue_only = ColorJitter {
        brightness: 0.0,
        contrast: 0.0,
        saturation: 0.0,
        probability: 1.0,
        ..jitter
    };
    let (r, g, b) = ops::hsv_to_rgb(0.5, 1.0, 1.0);
    let cyan = Image {
        channels: 3,
        height: 1,
        width: 1,
        data: vec![r, g, b],
    };
    let shifts: Vec<f32> = (0..2000)
        .map(|s| {
            let o = hue_only.apply(&cyan, &mut rng(s));
            ops::rgb_to_hsv(o.data[0], o.data[1], o.data[2]).0 - 0.5
        })
        .collect();
    let lo = shifts.iter().copied().fold(f32::MAX, f32::min);
    let hi = shifts.iter().copied().fold(f32::MIN, f32::max);
    assert!((-0.1 - 1e-4..-0.099).contains(&lo), "hue min shift {lo}");
    assert!(hi <= 0.1 + 1e-4 && hi > 0.099, "hue max shift {hi}");
}

#[test]
fn default_grayscale_is_applied_with_probability_0_2() {
    let (_, _, _, gray) = default_sim_stages();
    let img = colourful_image(4, 4);
    assert!(!is_gray(&img));
    let rate = fraction(RATE_SEEDS, |s| is_gray(&gray.apply(&img, &mut rng(s))));
    assert!((rate - 0.2).abs() < RATE_TOL, "grayscale rate {rate}");

    // Through the whole default pipeline too (jitter's saturation factor is at least 0.6,
    // so only the grayscale stage makes an output gray). 4000 seeds: standard error
    // 0.0063, tolerance 0.03.
    let p = AugmentConfig::default().build().unwrap();
    let img = colourful_image(16, 16);
    let rate = fraction(4000, |s| is_gray(&p.apply(&img, &mut rng(s))));
    assert!((rate - 0.2).abs() < 0.03, "pipeline grayscale rate {rate}");
}

#[test]
fn default_horizontal_flip_is_applied_with_probability_0_5() {
    let (_, flip, _, _) = default_sim_stages();
    let img = colourful_image(4, 4);
    let flipped = ops::hflip(&img);
    let mut n_flipped = 0;
    for s in 0..RATE_SEEDS {
        let out = flip.apply(&img, &mut rng(s));
        if out == flipped {
            n_flipped += 1;
        } else {
            assert_eq!(out, img, "seed {s}: neither the image nor its mirror");
        }
    }
    let rate = n_flipped as f64 / RATE_SEEDS as f64;
    assert!((rate - 0.5).abs() < RATE_TOL, "flip rate {rate}");
}

/// Non-finite factors and angles (a library caller's NaN, an infinite jitter strength)
/// leave the image unchanged instead of filling it with NaN: every output stays in
/// `[0, 1]`, as the ops promise.
#[test]
fn non_finite_parameters_leave_images_unchanged() {
    let img = random_image(3, 6, 6, 9);
    let black = Image::zeros(3, 6, 6);
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let outputs = [
            ("brightness", ops::adjust_brightness(&img, bad), &img),
            (
                "brightness black",
                ops::adjust_brightness(&black, bad),
                &black,
            ),
            ("contrast", ops::adjust_contrast(&black, bad), &black),
            ("saturation", ops::adjust_saturation(&img, bad), &img),
            ("sharpness", ops::adjust_sharpness(&img, bad), &img),
            (
                "rotate",
                ops::rotate(&img, bad, Interpolation::Bilinear, 0.0),
                &img,
            ),
            (
                "shear",
                ops::shear_x(&img, bad, Interpolation::Bilinear, 0.0),
                &img,
            ),
            (
                "shear nearest",
                ops::shear_y(&img, bad, Interpolation::Nearest, 0.0),
                &img,
            ),
        ];
        for (name, out, input) in outputs {
            assert_eq!(&out, input, "{name}({bad})");
        }
    }
    let jitter = ColorJitter {
        brightness: f32::INFINITY,
        contrast: f32::NAN,
        saturation: 0.0,
        hue: 0.0,
        probability: 1.0,
    };
    for seed in 0..5 {
        let out = jitter.apply(&img, &mut rng(seed));
        assert!(
            out.data.iter().all(|v| (0.0..=1.0).contains(v)),
            "seed {seed}"
        );
    }
}
