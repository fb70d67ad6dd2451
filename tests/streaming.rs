//! Streamed image folders (`folder:DIR?cache=none`): the same batches as the in-memory
//! path for the evaluation transform, batches independent of the worker count, exact
//! resume, bad files mid-epoch, decompression bombs, and a CLI run on a streamed folder.

mod common;

use std::path::Path;
use std::sync::Arc;

use supcon::augment::{Augment, AugmentConfig};
use supcon::data::batcher::{Batch, EpochLoader, MultiViewBatcher};
use supcon::data::{DatasetSpec, LoadedDataset};
use supcon::train::setup::{eval_loader, streamed_augment};

/// A photo-like RGB image of `w x h` (smooth gradients plus texture), varied by `seed`.
fn photo(w: u32, h: u32, seed: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let t = (x * 7 + y * 13 + seed * 31) % 97;
        image::Rgb([
            ((x * 255 / w.max(1)) as u8).wrapping_add(seed as u8 * 17),
            ((y * 255 / h.max(1)) as u8).wrapping_add(t as u8),
            ((x + y + seed * 5) % 256) as u8,
        ])
    })
}

/// `root/<class>/<i>.jpg` (and every third a `.png`), `n` images per class of varied,
/// non-square sizes around `side`.
fn write_folder(root: &Path, classes: usize, n: usize, side: u32) {
    for c in 0..classes {
        let d = root.join(format!("class{c}"));
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..n {
            let seed = (c * n + i) as u32;
            let (w, h) = (side + seed % 7 * 3, side + (seed * 5) % 11);
            let ext = if i % 3 == 2 { "png" } else { "jpg" };
            photo(w, h, seed)
                .save(d.join(format!("{i:04}.{ext}")))
                .unwrap();
        }
    }
}

fn load(spec: &str) -> LoadedDataset {
    spec.parse::<DatasetSpec>().unwrap().load().unwrap()
}

fn all_batches(loader: &EpochLoader, epoch: u64) -> Vec<Batch> {
    loader.iter(epoch).map(Result::unwrap).collect()
}

fn train_loader(data: &LoadedDataset, threads: usize, batch: usize) -> EpochLoader {
    let augment = streamed_augment(&AugmentConfig::new(Augment::Sim), &data.train);
    let batcher = MultiViewBatcher::new(
        augment.build().unwrap(),
        2,
        &data.mean,
        &data.std,
        7,
        threads,
    )
    .unwrap();
    EpochLoader::new(batcher, Arc::new(data.train.clone()), batch, true).unwrap()
}

#[test]
fn streamed_and_in_memory_give_the_same_eval_batches() {
    let t = tempfile::tempdir().unwrap();
    write_folder(t.path(), 3, 7, 20);
    let dir = t.path().display();
    let ram = load(&format!("folder:{dir}?size=12&cache=ram"));
    let streamed = load(&format!("folder:{dir}?size=12&cache=none"));
    assert!(!ram.train.is_streamed() && streamed.train.is_streamed());
    assert!(streamed.train.pixels.is_empty());
    assert_eq!(ram.summary(), {
        let mut s = streamed.summary();
        s.name = ram.name.clone();
        s
    });
    // Fewer training images than the statistics sample: the same mean and std exactly.
    assert_eq!(
        (ram.mean.clone(), ram.std.clone()),
        (streamed.mean.clone(), streamed.std.clone())
    );
    for (a, b) in [(&ram.train, &streamed.train), (&ram.test, &streamed.test)] {
        let la = eval_loader(&ram, a, 5, 2).unwrap();
        let lb = eval_loader(&streamed, b, 5, 2).unwrap();
        let (ba, bb) = (all_batches(&la, 0), all_batches(&lb, 0));
        assert_eq!(ba.len(), a.len().div_ceil(5));
        assert_eq!(ba, bb);
        for i in 0..a.len() {
            assert_eq!(a.image(i), b.try_image(i).unwrap());
        }
    }
    // cache=auto keeps this small folder in memory; a budget below its size streams it.
    assert!(!load(&format!("folder:{dir}?size=12")).train.is_streamed());
    let tight: DatasetSpec = format!("folder:{dir}?size=12").parse().unwrap();
    assert!(tight.load_within(1000).unwrap().train.is_streamed());
}

#[test]
fn streamed_batches_do_not_depend_on_the_worker_count_and_resume_exactly() {
    let t = tempfile::tempdir().unwrap();
    write_folder(t.path(), 2, 9, 24);
    let data = load(&format!("folder:{}?size=16&cache=none", t.path().display()));
    let one = train_loader(&data, 1, 4);
    let reference: Vec<Vec<Batch>> = (0..2).map(|e| all_batches(&one, e)).collect();
    assert_eq!(reference[0].len(), data.train.len() / 4);
    assert_eq!(reference[0][0].shape(), [8, 3, 16, 16]);
    assert_ne!(reference[0], reference[1]);
    for threads in [2, 3, 5] {
        let other = train_loader(&data, threads, 4);
        for (e, want) in reference.iter().enumerate() {
            assert_eq!(&all_batches(&other, e as u64), want, "{threads} threads");
        }
    }
    // A resumed epoch continues with exactly the batches it had not done.
    let tail: Vec<Batch> = one.iter_from(1, 2).map(Result::unwrap).collect();
    assert_eq!(tail, reference[1][2..]);
    // Crops come from the originals: a view is not the centre square's crop.
    let mem = load(&format!("folder:{}?size=16&cache=ram", t.path().display()));
    assert_ne!(all_batches(&train_loader(&mem, 1, 4), 0), reference[0]);
}

#[test]
fn a_file_gone_mid_epoch_is_named_or_skipped_and_counted() {
    let t = tempfile::tempdir().unwrap();
    write_folder(t.path(), 2, 6, 16);
    let dir = t.path().display();
    let strict = load(&format!("folder:{dir}?size=8&cache=none"));
    let skip = load(&format!("folder:{dir}?size=8&cache=none&skip_bad=true"));
    let victim = t.path().join("class1").join("0001.jpg");
    let garbled = t.path().join("class0").join("0003.jpg");
    std::fs::remove_file(&victim).unwrap();
    std::fs::write(&garbled, b"\xff\xd8\xff not a jpeg any more").unwrap();
    let loader = eval_loader(&strict, &strict.train, 64, 2).unwrap();
    let e = loader.iter(0).next().unwrap().unwrap_err().to_string();
    assert!(
        e.contains(&victim.display().to_string()) || e.contains(&garbled.display().to_string()),
        "{e}"
    );
    assert!(e.contains("skip_bad=true"), "{e}");
    // skip_bad: both are replaced by the next readable image and counted.
    let loader = eval_loader(&skip, &skip.train, 64, 2).unwrap();
    let batch = loader.iter(0).next().unwrap().unwrap();
    let stream = skip.train.stream.as_ref().unwrap();
    assert_eq!(stream.skipped(), 2);
    assert_eq!(batch.batch_size, skip.train.len());
    let files: Vec<String> = (0..skip.train.len()).map(|i| stream.describe(i)).collect();
    for bad in [&victim, &garbled] {
        let at = files
            .iter()
            .position(|f| *f == bad.display().to_string())
            .unwrap();
        assert_eq!(batch.indices[at], at + 1, "{}", bad.display());
        assert_eq!(batch.labels[at], skip.train.labels[at + 1]);
        assert_eq!(batch.view(0, at), batch.view(0, at + 1));
    }
}

#[test]
fn a_decompression_bomb_is_refused_from_its_header() {
    let t = tempfile::tempdir().unwrap();
    write_folder(t.path(), 2, 3, 16);
    // A valid PNG declaring 60000 x 60000 pixels (3.6 G) with an empty image stream.
    let bomb = t.path().join("class0").join("bomb.png");
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&60_000u32.to_be_bytes());
    ihdr.extend_from_slice(&60_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    for chunk in [&b"IDAT\x78\x9c\x03\x00\x00\x00\x00\x01"[..], b"IEND"] {
        png.extend_from_slice(&(chunk.len() as u32 - 4).to_be_bytes());
        png.extend_from_slice(chunk);
        png.extend_from_slice(&crc32(chunk).to_be_bytes());
    }
    std::fs::write(&bomb, &png).unwrap();
    for cache in ["none", "ram"] {
        let spec: DatasetSpec = format!("folder:{}?size=8&cache={cache}", t.path().display())
            .parse()
            .unwrap();
        let e = spec.load().unwrap_err().to_string();
        assert!(
            e.contains(&bomb.display().to_string()) && e.contains("decompression bomb"),
            "{cache}: {e}"
        );
        assert!(e.contains("60000x60000"), "{e}");
    }
}

/// CRC-32 (IEEE) of `bytes`, as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `pretrain` on a streamed folder (2 epochs of 3 steps, MLP encoder), its arguments.
fn pretrain_args<'a>(spec: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "pretrain",
        "--data",
        spec,
        "--model",
        "mlp",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--checkpoint-every",
        "1",
        "--threads",
        "2",
        "--out",
        out,
        "-q",
    ]
}

#[test]
fn pretrain_linear_and_eval_run_on_a_streamed_folder() {
    use common::{ok, s, step_losses};
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("photos");
    write_folder(&dir, 3, 10, 20);
    let spec = format!("folder:{}?size=12&cache=none", s(&dir));
    let run = t.path().join("pre");
    ok(&pretrain_args(&spec, s(&run)));
    let losses = step_losses(&run);
    assert_eq!(losses.len(), 6, "2 epochs of 24 / 8 steps");
    assert!(losses.iter().all(|(_, l)| l.is_finite() && *l > 0.0));
    let config = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(config.contains("cache=none"), "{config}");
    let lin = t.path().join("lin");
    let out = ok(&[
        "linear",
        "--encoder",
        s(&run),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--out",
        s(&lin),
        "-q",
    ]);
    assert!(out.contains("top1"), "{out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lin.join("report.json")).unwrap()).unwrap();
    let top1 = report["test"]["top1"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&top1), "{report}");
    let eval = ok(&[
        "eval",
        "--model",
        s(&lin),
        "--out",
        s(&t.path().join("eval.json")),
    ]);
    assert!(
        eval.contains("top-1") && eval.contains("6 test images"),
        "{eval}"
    );
}

#[test]
fn a_file_gone_mid_run_keeps_a_checkpoint_and_resumes_exactly() {
    use common::{ok, s, step_losses};
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("photos");
    // 660 images: 528 training images, more than the 512 the start-up statistics read,
    // so one can vanish after start-up and before its batch.
    write_folder(&dir, 3, 220, 8);
    let spec = format!("folder:{}?size=8&cache=none", s(&dir));
    let data = load(&spec);
    let n = data.train.len();
    assert_eq!(n, 528);
    let sampled: Vec<usize> = (0..512).map(|k| k * n / 512).collect();
    let unsampled = (0..n).find(|i| !sampled.contains(i)).unwrap();
    let stream = data.train.stream.as_ref().unwrap();
    let victim = std::path::PathBuf::from(stream.describe(unsampled));
    let bytes = std::fs::read(&victim).unwrap();
    let args = |out: &std::path::Path| {
        let mut a = pretrain_args(&spec, s(out))
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        a[8] = "176".into(); // --batch-size: 3 steps per epoch
        a
    };
    let whole = t.path().join("whole");
    ok(&args(&whole));
    let losses = step_losses(&whole);
    assert_eq!(losses.len(), 6);
    // Cut short after its header: listed at start-up, undecodable when its batch comes.
    std::fs::write(&victim, &bytes[..bytes.len() - 2]).unwrap(); // no end marker
    let broken = t.path().join("broken");
    let o = common::supcon(&args(&broken));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains(s(&victim)) && err.contains("checkpoint saved in"),
        "{err}"
    );
    assert!(
        err.contains(&format!("supcon pretrain --resume {}", s(&broken))),
        "{err}"
    );
    let done = step_losses(&broken);
    assert!(done.len() < 6 && losses.starts_with(&done), "{done:?}");
    std::fs::write(&victim, &bytes).unwrap();
    ok(&["pretrain", "--resume", s(&broken), "-q"]);
    assert_eq!(step_losses(&broken), losses);
}

#[test]
fn each_rank_reads_only_its_shard_of_the_global_batch() {
    let t = tempfile::tempdir().unwrap();
    write_folder(t.path(), 2, 6, 16);
    let data = load(&format!("folder:{}?size=8&cache=none", t.path().display()));
    let whole = train_loader(&data, 2, 8);
    let first = whole.iter(0).next().unwrap().unwrap();
    // Remove the last image of rank 1's half of the first global batch: rank 0 never
    // reads it, rank 1 names it.
    let stream = data.train.stream.as_ref().unwrap();
    let gone = stream.describe(first.indices[7]);
    std::fs::remove_file(&gone).unwrap();
    let rank = |r| train_loader(&data, 2, 8).with_shard(r, 2);
    let b0 = rank(0).iter(0).next().unwrap().unwrap();
    assert_eq!(b0.indices, first.indices[..4]);
    assert_eq!(b0.view(1, 3), first.view(1, 3));
    let e = rank(1).iter(0).next().unwrap().unwrap_err().to_string();
    assert!(e.contains(&gone), "{e}");
}
