//! WebDataset tar shards: `supcon data --to-shards` from a folder reads back as the same
//! samples and labels; the shard order and shuffle buffer are seeded permutations;
//! truncated members and members without a label are named.

mod common;

use std::path::Path;

use common::{s, succeeds};
use supcon::data::{DatasetSpec, LoadedDataset};

/// `root/<class>/<i>.jpg|png`, `n` images per class of varied sizes.
fn write_folder(root: &Path, classes: &[&str], n: usize) {
    for (c, name) in classes.iter().enumerate() {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..n {
            let seed = (c * n + i) as u32;
            let img = image::RgbImage::from_fn(14 + seed % 5, 12 + seed % 3, |x, y| {
                image::Rgb([
                    (x * 17 + seed) as u8,
                    (y * 23) as u8,
                    (x * y + seed * 7) as u8,
                ])
            });
            let ext = if i % 2 == 0 { "jpg" } else { "png" };
            img.save(d.join(format!("{i:03}.{ext}"))).unwrap();
        }
    }
}

fn load(spec: &str) -> LoadedDataset {
    spec.parse::<DatasetSpec>().unwrap().load().unwrap()
}

/// A folder of 3 classes x 7 images and its shards (4 images per shard) in `out`.
fn folder_and_shards(t: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = t.join("photos");
    write_folder(&dir, &["ant", "bee", "cow"], 7);
    let out = t.join("shards");
    let (stdout, _) = succeeds(&[
        "data",
        "--data",
        &format!("folder:{}", s(&dir)),
        "--to-shards",
        s(&out),
        "--shard-images",
        "4",
    ]);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    // 21 images, split 0.2 per class: 6 of 7 train... 3 x round(1.4) = 3 test, 18 train.
    assert_eq!(
        (v["train_images"].as_u64(), v["val_images"].as_u64()),
        (Some(18), Some(3))
    );
    assert_eq!(
        (v["train_shards"].as_u64(), v["val_shards"].as_u64()),
        (Some(5), Some(1))
    );
    (dir, out)
}

#[test]
fn shards_written_from_a_folder_read_back_to_the_same_samples() {
    let t = tempfile::tempdir().unwrap();
    let (dir, out) = folder_and_shards(t.path());
    assert!(out.join("train").join("shard-000004.tar").is_file());
    assert!(!out.join("train").join("shard-000005.tar").exists());
    let folder = load(&format!("folder:{}?size=10&cache=ram", s(&dir)));
    for cache in ["ram", "none"] {
        let shards = load(&format!("shards:{}?size=10&cache={cache}", s(&out)));
        assert_eq!(shards.train.class_names, vec!["ant", "bee", "cow"]);
        for (a, b) in [(&folder.train, &shards.train), (&folder.test, &shards.test)] {
            assert_eq!(a.labels, b.labels, "{cache}");
            for i in 0..a.len() {
                assert_eq!(a.image(i), b.try_image(i).unwrap(), "{cache} image {i}");
            }
        }
        assert_eq!(
            (folder.mean.clone(), folder.std.clone()),
            (shards.mean, shards.std)
        );
    }
}

#[test]
fn shard_order_is_a_seeded_permutation_through_the_buffer() {
    let t = tempfile::tempdir().unwrap();
    let (_, out) = folder_and_shards(t.path());
    let data = load(&format!("shards:{}?size=8&cache=none&buffer=3", s(&out)));
    let stream = data.train.stream.as_ref().unwrap();
    let a = stream.epoch_order(5, 0);
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..18).collect::<Vec<_>>());
    assert_eq!(a, stream.epoch_order(5, 0));
    assert_ne!(a, stream.epoch_order(5, 1));
    assert_ne!(a, stream.epoch_order(6, 0));
    // A buffer of one image passes the shards through in order: whole shards (4
    // images each, the last 2) in a seeded order, each read sequentially.
    let one = load(&format!("shards:{}?size=8&cache=none&buffer=1", s(&out)));
    let order = one.train.stream.as_ref().unwrap().epoch_order(5, 0);
    let mut runs: Vec<Vec<usize>> = Vec::new();
    for &i in &order {
        match runs.last_mut() {
            Some(run) if run.last().is_some_and(|&l| l / 4 == i / 4) => run.push(i),
            _ => runs.push(vec![i]),
        }
    }
    assert_eq!(runs.len(), 5, "{order:?}");
    for run in &runs {
        let first = run[0];
        assert_eq!(first % 4, 0);
        assert_eq!(*run, (first..(first + 4).min(18)).collect::<Vec<_>>());
    }
    let starts: Vec<usize> = runs.iter().map(|r| r[0]).collect();
    assert_ne!(starts, vec![0, 4, 8, 12, 16], "the shard order is shuffled");
}

#[test]
fn a_truncated_member_or_a_member_without_label_is_named() {
    let t = tempfile::tempdir().unwrap();
    let (_, out) = folder_and_shards(t.path());
    let shard = out.join("train").join("shard-000001.tar");
    let bytes = std::fs::read(&shard).unwrap();
    // Cut the shard inside its third member's data (members: 000004.EXT, 000004.cls,
    // 000005.EXT, ...): the header of 000005.EXT survives, its data does not.
    let headers: Vec<usize> = (0..bytes.len() / 512)
        .filter(|b| bytes[b * 512 + 257..b * 512 + 262] == *b"ustar")
        .map(|b| b * 512)
        .collect();
    let third = headers[2];
    let name = String::from_utf8_lossy(&bytes[third..third + 10]).into_owned(); // KEY.EXT
    assert!(name.starts_with("000005."), "{name}");
    std::fs::write(&shard, &bytes[..third + 512 + 10]).unwrap();
    let e = format!("shards:{}", s(&out))
        .parse::<DatasetSpec>()
        .unwrap()
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(s(&shard)) && e.contains(&format!("member {name}")),
        "{e}"
    );
    assert!(e.contains("truncated"), "{e}");
    // A member without its label.
    std::fs::write(&shard, &bytes[..headers[1]]).unwrap();
    let mut tail = vec![0u8; 1024];
    let mut cut = std::fs::read(&shard).unwrap();
    cut.append(&mut tail);
    std::fs::write(&shard, &cut).unwrap();
    let e = format!("shards:{}", s(&out))
        .parse::<DatasetSpec>()
        .unwrap()
        .load()
        .unwrap_err()
        .to_string();
    let first = String::from_utf8_lossy(&bytes[headers[0]..headers[0] + 10]).into_owned();
    assert!(
        e.contains(s(&shard)) && e.contains(&format!("member {first}")),
        "{e}"
    );
    assert!(e.contains("has no label"), "{e}");
}

#[test]
fn to_shards_refuses_what_it_cannot_write() {
    let t = tempfile::tempdir().unwrap();
    let (dir, out) = folder_and_shards(t.path());
    let folder = format!("folder:{}", s(&dir));
    // Into a folder that is not empty: nothing is overwritten.
    let before = std::fs::read(out.join("train").join("shard-000000.tar")).unwrap();
    common::fails_naming(
        &["data", "--data", &folder, "--to-shards", s(&out)],
        &[s(&out), "not empty"],
    );
    assert_eq!(
        std::fs::read(out.join("train").join("shard-000000.tar")).unwrap(),
        before
    );
    let fresh = t.path().join("fresh");
    common::fails_naming(
        &[
            "data",
            "--data",
            &folder,
            "--to-shards",
            s(&fresh),
            "--shard-images",
            "0",
        ],
        &["--shard-images 0"],
    );
    common::fails_naming(
        &["data", "--data", "builtin", "--to-shards", s(&fresh)],
        &["--to-shards", "'builtin'", "folder:DIR"],
    );
    assert!(!fresh.exists());
}

/// A `train/` folder without a `val/` (or `test/`) beside it is refused, for tar shards and
/// for image folders alike, naming the missing `val` folder and what was expected there.
#[test]
fn a_train_folder_without_val_or_test_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = tmp.path().join("shards");
    std::fs::create_dir_all(shards.join("train")).unwrap();
    let spec = format!("shards:{}", s(&shards));
    let want = shards.join("val");
    common::fails_naming(
        &["data", "--data", &spec],
        &[
            s(&want),
            "a val/ (or test/) folder of .tar shards next to train/",
        ],
    );
    let folder = tmp.path().join("photos");
    write_folder(&folder.join("train"), &["a", "b"], 2);
    let spec = format!("folder:{}", s(&folder));
    let want = folder.join("val");
    common::fails_naming(
        &["data", "--data", &spec],
        &[
            s(&want),
            "a val/ (or test/) folder next to train/, with the same class subfolders",
        ],
    );
}
