//! CIFAR-10 and CIFAR-100 in their official binary layouts.
//!
//! - CIFAR-10 (`cifar-10-batches-bin`): `data_batch_1.bin` .. `data_batch_5.bin` and
//!   `test_batch.bin`; each record is 1 label byte then 3072 pixel bytes.
//! - CIFAR-100 (`cifar-100-binary`): `train.bin` and `test.bin`; each record is 2 label
//!   bytes (coarse, fine) then 3072 pixel bytes.
//!
//! The 3072 pixel bytes are 1024 red, 1024 green then 1024 blue values, each plane
//! 32x32 row-major: already the CHW order of [`ImageDataset`], so records are copied
//! as they are.

use std::path::{Path, PathBuf};

use super::dataset::ImageDataset;
use super::error::DataError;
use super::fsio::{first_file, read_file, read_names, require_dir};

/// Channels of a CIFAR image.
pub const CIFAR_CHANNELS: usize = 3;
/// Side of a CIFAR image in pixels.
pub const CIFAR_SIDE: usize = 32;
/// Pixel bytes per CIFAR record (`3 * 32 * 32`).
pub const CIFAR_PIXELS: usize = CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE;
/// Number of training batch files of the official CIFAR-10 release.
pub const CIFAR10_TRAIN_BATCHES: usize = 5;

/// Standard CIFAR-10 class names, by label.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Standard CIFAR-100 fine class names, by fine label.
pub const CIFAR100_FINE_CLASSES: [&str; 100] = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
];

/// Standard CIFAR-100 coarse (superclass) names, by coarse label.
pub const CIFAR100_COARSE_CLASSES: [&str; 20] = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
];

/// Which of CIFAR-100's two labels becomes the class label.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Cifar100Labels {
    /// The 100 fine classes (the default, and what the SupCon paper reports).
    #[default]
    Fine,
    /// The 20 coarse superclasses.
    Coarse,
}

impl Cifar100Labels {
    /// The spec option value: `"fine"` or `"coarse"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fine => "fine",
            Self::Coarse => "coarse",
        }
    }

    /// Parses `"fine"` or `"coarse"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fine" => Some(Self::Fine),
            "coarse" => Some(Self::Coarse),
            _ => None,
        }
    }
}

/// Layout of one CIFAR record type.
struct RecordLayout {
    /// Number of classes for each label byte, in file order.
    label_ranges: &'static [usize],
    /// Which label byte becomes the class label.
    pick: usize,
}

impl RecordLayout {
    fn record_size(&self) -> usize {
        self.label_ranges.len() + CIFAR_PIXELS
    }
}

/// Parses the records of one CIFAR binary file, appending to `pixels` and `labels`.
///
/// Every label byte is range-checked (both labels for CIFAR-100), whichever is kept.
///
/// # Errors
/// [`DataError::Format`] naming `path` when the file is empty, its size is not a
/// multiple of the record size (truncated), or a label is out of range.
fn parse_records(
    bytes: &[u8],
    path: &Path,
    layout: &RecordLayout,
    pixels: &mut Vec<u8>,
    labels: &mut Vec<usize>,
) -> Result<(), DataError> {
    let record = layout.record_size();
    let fmt_err = |reason: String| DataError::Format {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.is_empty() {
        return Err(fmt_err(format!(
            "file is empty; expected {record}-byte CIFAR records"
        )));
    }
    if !bytes.len().is_multiple_of(record) {
        return Err(fmt_err(format!(
            "size {} bytes is not a multiple of the {record}-byte CIFAR record \
             ({} label byte(s) + {CIFAR_PIXELS} pixel bytes): truncated or not a CIFAR file \
             ({} whole records + {} stray bytes)",
            bytes.len(),
            layout.label_ranges.len(),
            bytes.len() / record,
            bytes.len() % record
        )));
    }
    let n = bytes.len() / record;
    pixels.reserve(n * CIFAR_PIXELS);
    labels.reserve(n);
    let nl = layout.label_ranges.len();
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let (label_bytes, px) = rec.split_at(nl);
        for (j, (&b, &range)) in label_bytes.iter().zip(layout.label_ranges).enumerate() {
            if usize::from(b) >= range {
                return Err(fmt_err(format!(
                    "record {i}: label byte {j} is {b}, expected 0..={}",
                    range - 1
                )));
            }
        }
        let label = label_bytes.get(layout.pick).copied().unwrap_or(0);
        labels.push(usize::from(label));
        pixels.extend_from_slice(px);
    }
    Ok(())
}

/// Loads and concatenates CIFAR binary files into one split.
///
/// # Errors
/// See [`parse_records`]; I/O errors name the file.
fn load_split(
    files: &[PathBuf],
    layout: &RecordLayout,
    class_names: &[String],
) -> Result<ImageDataset, DataError> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for f in files {
        let bytes = read_file(f, "a CIFAR binary batch file")?;
        parse_records(&bytes, f, layout, &mut pixels, &mut labels)?;
    }
    Ok(ImageDataset {
        channels: CIFAR_CHANNELS,
        height: CIFAR_SIDE,
        width: CIFAR_SIDE,
        pixels,
        labels,
        class_names: class_names.to_vec(),
        stream: None,
    })
}

/// Parses the bytes of one CIFAR-10 binary batch file (`path` only names it in
/// errors) into a split with the standard class names.
///
/// # Errors
/// [`DataError::Format`] naming `path` when the bytes are empty, not a whole number of
/// 3073-byte records, or hold a label above 9.
pub fn parse_cifar10(bytes: &[u8], path: &Path) -> Result<ImageDataset, DataError> {
    let layout = RecordLayout {
        label_ranges: &[10],
        pick: 0,
    };
    let names: Vec<String> = CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect();
    parse_split(bytes, path, &layout, &names)
}

/// Parses the bytes of one CIFAR-100 binary file (`train.bin` or `test.bin`; `path`
/// only names it in errors) into a split with the standard class names of `labels`.
///
/// # Errors
/// [`DataError::Format`] naming `path` when the bytes are empty, not a whole number of
/// 3074-byte records, or hold a coarse label above 19 or a fine label above 99.
pub fn parse_cifar100(
    bytes: &[u8],
    path: &Path,
    labels: Cifar100Labels,
) -> Result<ImageDataset, DataError> {
    let (pick, names): (usize, &[&str]) = match labels {
        Cifar100Labels::Coarse => (0, &CIFAR100_COARSE_CLASSES),
        Cifar100Labels::Fine => (1, &CIFAR100_FINE_CLASSES),
    };
    let layout = RecordLayout {
        label_ranges: &[20, 100],
        pick,
    };
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    parse_split(bytes, path, &layout, &names)
}

/// One split from the bytes of one file.
fn parse_split(
    bytes: &[u8],
    path: &Path,
    layout: &RecordLayout,
    class_names: &[String],
) -> Result<ImageDataset, DataError> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    parse_records(bytes, path, layout, &mut pixels, &mut labels)?;
    Ok(ImageDataset {
        channels: CIFAR_CHANNELS,
        height: CIFAR_SIDE,
        width: CIFAR_SIDE,
        pixels,
        labels,
        class_names: class_names.to_vec(),
        stream: None,
    })
}

/// Picks `dir` or `dir/sub`, whichever holds one of `markers`.
fn locate(dir: &Path, sub: &str, markers: &[String]) -> Option<PathBuf> {
    [dir.to_path_buf(), dir.join(sub)]
        .into_iter()
        .find(|d| first_file(d, markers).is_some())
}

/// Loads CIFAR-10 from `dir` (or `dir/cifar-10-batches-bin`), returning `(train, test)`.
///
/// Training batches `data_batch_1.bin` .. `data_batch_5.bin` are read in order; a
/// partial set (e.g. only `data_batch_1.bin`) loads what is there, as long as at least
/// one exists. `test_batch.bin` is required. Class names come from `batches.meta.txt`
/// when present (10 non-empty lines), else [`CIFAR10_CLASSES`].
///
/// # Errors
/// [`DataError::Missing`] when `dir` does not exist, holds no training batch, or
/// lacks `test_batch.bin`; [`DataError::Format`] naming the file when a batch is
/// truncated or holds a label above 9, or `batches.meta.txt` does not list 10 names;
/// [`DataError::Io`] on read failures.
pub fn load_cifar10(dir: &Path) -> Result<(ImageDataset, ImageDataset), DataError> {
    const EXPECTED: &str = "a CIFAR-10 binary folder with data_batch_1.bin .. data_batch_5.bin \
                            (at least one) and test_batch.bin, directly or in \
                            cifar-10-batches-bin/";
    require_dir(dir, EXPECTED)?;
    let batch_names: Vec<String> = (1..=CIFAR10_TRAIN_BATCHES)
        .map(|i| format!("data_batch_{i}.bin"))
        .collect();
    let mut markers = batch_names.clone();
    markers.push("test_batch.bin".to_string());
    let root = locate(dir, "cifar-10-batches-bin", &markers).ok_or_else(|| DataError::Missing {
        path: dir.join("data_batch_1.bin"),
        expected: format!(
            "CIFAR-10 binary batches data_batch_1.bin .. data_batch_5.bin (at least one) and \
             test_batch.bin in {0} or {0}/cifar-10-batches-bin",
            dir.display()
        ),
    })?;
    let train_files: Vec<PathBuf> = batch_names
        .iter()
        .map(|n| root.join(n))
        .filter(|p| p.is_file())
        .collect();
    if train_files.is_empty() {
        return Err(DataError::Missing {
            path: root.join("data_batch_1.bin"),
            expected: format!(
                "at least one training batch data_batch_1.bin .. data_batch_5.bin in {}",
                root.display()
            ),
        });
    }
    let test_file = root.join("test_batch.bin");
    if !test_file.is_file() {
        return Err(DataError::Missing {
            path: test_file,
            expected: "the CIFAR-10 test batch test_batch.bin".to_string(),
        });
    }
    let meta = root.join("batches.meta.txt");
    let class_names = if meta.is_file() {
        read_names(&meta, CIFAR10_CLASSES.len())?
    } else {
        CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect()
    };
    let layout = RecordLayout {
        label_ranges: &[10],
        pick: 0,
    };
    let train = load_split(&train_files, &layout, &class_names)?;
    let test = load_split(&[test_file], &layout, &class_names)?;
    Ok((train, test))
}

/// Loads CIFAR-100 from `dir` (or `dir/cifar-100-binary`), returning `(train, test)`.
///
/// Reads `train.bin` and `test.bin`; `labels` picks the fine (100) or coarse (20)
/// label. Class names come from `fine_label_names.txt` / `coarse_label_names.txt`
/// when present, else [`CIFAR100_FINE_CLASSES`] / [`CIFAR100_COARSE_CLASSES`].
///
/// # Errors
/// [`DataError::Missing`] when `dir`, `train.bin` or `test.bin` does not exist;
/// [`DataError::Format`] naming the file when it is truncated, a coarse label is
/// above 19 or a fine label above 99, or a name file has the wrong number of lines;
/// [`DataError::Io`] on read failures.
pub fn load_cifar100(
    dir: &Path,
    labels: Cifar100Labels,
) -> Result<(ImageDataset, ImageDataset), DataError> {
    const EXPECTED: &str = "a CIFAR-100 binary folder with train.bin and test.bin, directly \
                            or in cifar-100-binary/";
    require_dir(dir, EXPECTED)?;
    let markers = ["train.bin".to_string(), "test.bin".to_string()];
    let root = locate(dir, "cifar-100-binary", &markers).ok_or_else(|| DataError::Missing {
        path: dir.join("train.bin"),
        expected: format!(
            "CIFAR-100 binary files train.bin and test.bin in {0} or {0}/cifar-100-binary",
            dir.display()
        ),
    })?;
    let train_file = require_file(&root, "train.bin")?;
    let test_file = require_file(&root, "test.bin")?;
    let (pick, names_file, default_names): (usize, &str, &[&str]) = match labels {
        Cifar100Labels::Coarse => (0, "coarse_label_names.txt", &CIFAR100_COARSE_CLASSES),
        Cifar100Labels::Fine => (1, "fine_label_names.txt", &CIFAR100_FINE_CLASSES),
    };
    let names_path = root.join(names_file);
    let class_names = if names_path.is_file() {
        read_names(&names_path, default_names.len())?
    } else {
        default_names.iter().map(|s| s.to_string()).collect()
    };
    let layout = RecordLayout {
        label_ranges: &[20, 100],
        pick,
    };
    let train = load_split(&[train_file], &layout, &class_names)?;
    let test = load_split(&[test_file], &layout, &class_names)?;
    Ok((train, test))
}

/// `root/name` when it is an existing file.
///
/// # Errors
/// [`DataError::Missing`] naming the file otherwise.
fn require_file(root: &Path, name: &str) -> Result<PathBuf, DataError> {
    let p = root.join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(DataError::Missing {
            path: p,
            expected: format!("the CIFAR-100 file {name}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_name_tables_have_standard_sizes() {
        assert_eq!(CIFAR10_CLASSES.len(), 10);
        assert_eq!(CIFAR100_FINE_CLASSES.len(), 100);
        assert_eq!(CIFAR100_COARSE_CLASSES.len(), 20);
        let mut fine = CIFAR100_FINE_CLASSES.to_vec();
        fine.sort_unstable();
        fine.dedup();
        assert_eq!(fine.len(), 100, "fine names are distinct");
    }

    #[test]
    fn parse_records_rejects_stray_bytes_and_bad_labels() {
        let layout = RecordLayout {
            label_ranges: &[10],
            pick: 0,
        };
        let p = Path::new("x.bin");
        let parse = |bytes: &[u8]| {
            let (mut px, mut l) = (Vec::new(), Vec::new());
            parse_records(bytes, p, &layout, &mut px, &mut l).map(|()| (px.len(), l))
        };
        let mut rec = vec![3u8];
        rec.extend(std::iter::repeat_n(7u8, CIFAR_PIXELS));
        assert_eq!(parse(&rec).expect("one record"), (CIFAR_PIXELS, vec![3]));
        let err = parse(&rec[..100]).unwrap_err().to_string();
        assert!(
            err.contains("x.bin") && err.contains("not a multiple"),
            "{err}"
        );
        rec[0] = 10;
        let err = parse(&rec).unwrap_err().to_string();
        assert!(err.contains("record 0") && err.contains("0..=9"), "{err}");
        let err = parse(&[]).unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
    }
}
