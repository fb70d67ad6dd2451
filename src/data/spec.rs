//! Dataset specs: the one-string names of datasets taken by `--data`, and loading them.
//!
//! # Syntax
//!
//! ```text
//! builtin                       embedded Fashion-MNIST subset (5000 + 1000, 28x28x1)
//! cifar10:DIR                   CIFAR-10 binary batches in DIR or DIR/cifar-10-batches-bin
//! cifar100:DIR[?labels=fine|coarse]
//! idx:DIR[?names=auto|fashion|numbers][&classes=N]
//! folder:DIR[?size=N][&split=F][&seed=N][&gray=true|false][&skip_bad=true|false]
//!            [&recursive=true|false][&cache=auto|ram|none]
//! shards:DIR[?size=N][&gray=true|false][&skip_bad=true|false][&buffer=N]
//!            [&cache=auto|ram|none]
//! ```
//!
//! `shards:DIR` reads WebDataset tar shards (`DIR/train/*.tar`, `DIR/val/*.tar`; see
//! [`super::shards`]); `buffer` (default 1000) is the size of its shuffle buffer.
//!
//! Options follow the first `?` as `key=value` pairs joined by `&`, each key at most
//! once, in any order. So a directory whose path contains `?` cannot be named by a
//! spec. Defaults: `labels=fine`; `names=auto` (Fashion-MNIST names when the path
//! contains "fashion", else `"0"`, `"1"`, ...), `classes=10`; `size=32`, `split=0.2`
//! (test fraction per class, single-folder layout only), `seed=0`, `gray=false`,
//! `skip_bad=false`; `recursive` unset (a class folder with images in subfolders is
//! refused until the spec says `recursive=true` or `recursive=false`, see
//! [`FolderOptions::recursive`]), `cache=auto` (images kept in memory when their decoded
//! size fits the memory budget of [`DatasetSpec::load_within`], streamed from disk
//! otherwise; `ram` always in memory, `none` always streamed).
//!
//! `Display` writes the canonical form (options that differ from their defaults only,
//! in the order above), and parsing it gives back an equal spec (for UTF-8 paths
//! without `?`, the only paths a spec can name).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::builtin::load_builtin;
use super::cifar::{Cifar100Labels, load_cifar10, load_cifar100};
use super::dataset::ImageDataset;
use super::error::DataError;
use super::folder::{CacheMode, DEFAULT_DATA_MEMORY, FolderOptions, load_folder_within};
use super::idx::{IdxNames, IdxOptions, idx_class_names, load_idx};
use super::loaded::LoadedDataset;
use super::shards::{ShardOptions, load_shards};
use super::stats::{
    CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD, FASHION_MNIST_MEAN, FASHION_MNIST_STD,
    channel_mean_std, mean_std_from_sums, pixel_sums,
};
use super::subset::validate;

/// The accepted forms, for error messages.
const FORMS: &str = "builtin, cifar10:DIR, cifar100:DIR[?labels=fine|coarse], \
                     idx:DIR[?names=auto|fashion|numbers&classes=N], \
                     folder:DIR[?size=N&split=F&seed=N&gray=BOOL&skip_bad=BOOL&recursive=BOOL\
                     &cache=auto|ram|none], \
                     shards:DIR[?size=N&gray=BOOL&skip_bad=BOOL&buffer=N&cache=auto|ram|none]";

/// A dataset named by a spec string (see the module docs for the syntax).
#[derive(Clone, Debug, PartialEq)]
pub enum DatasetSpec {
    /// CIFAR-10 binary batches.
    Cifar10 {
        /// Folder with the batches (or their `cifar-10-batches-bin/` parent).
        dir: PathBuf,
    },
    /// CIFAR-100 binary files.
    Cifar100 {
        /// Folder with `train.bin` and `test.bin` (or their `cifar-100-binary/` parent).
        dir: PathBuf,
        /// Fine (100) or coarse (20) labels.
        labels: Cifar100Labels,
    },
    /// MNIST-style IDX files.
    Idx {
        /// Folder with the four IDX files (or their `raw/` parent).
        dir: PathBuf,
        /// Class-name and class-count options.
        options: IdxOptions,
    },
    /// An image folder, one subfolder per class.
    Folder {
        /// The folder (either `train/` + `val/` inside, or the class folders).
        dir: PathBuf,
        /// Size, split and decoding options.
        options: FolderOptions,
    },
    /// WebDataset tar shards.
    Shards {
        /// The folder with `train/` and `val/` (or `test/`) shards.
        dir: PathBuf,
        /// Size, decoding, shuffle-buffer and cache options.
        options: ShardOptions,
    },
    /// The embedded Fashion-MNIST subset.
    Builtin,
}

impl DatasetSpec {
    /// The scheme name: `builtin`, `cifar10`, `cifar100`, `idx` or `folder`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Cifar10 { .. } => "cifar10",
            Self::Cifar100 { .. } => "cifar100",
            Self::Idx { .. } => "idx",
            Self::Folder { .. } => "folder",
            Self::Shards { .. } => "shards",
            Self::Builtin => "builtin",
        }
    }

    /// The dataset's folder, if it has one.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            Self::Cifar10 { dir }
            | Self::Cifar100 { dir, .. }
            | Self::Idx { dir, .. }
            | Self::Folder { dir, .. }
            | Self::Shards { dir, .. } => Some(dir),
            Self::Builtin => None,
        }
    }

    /// Loads both splits and their normalisation statistics.
    ///
    /// Mean and std are the published constants for CIFAR-10, CIFAR-100 and (IDX with
    /// Fashion-MNIST names) Fashion-MNIST, and are computed from the training split
    /// otherwise (other IDX data, image folders, and the built-in subset).
    ///
    /// # Errors
    /// Whatever the format's loader reports ([`DataError::Missing`] for a missing
    /// folder or file, [`DataError::Format`] naming a bad file, [`DataError::Io`]),
    /// and [`DataError::Invalid`] naming the spec when a split is empty or
    /// inconsistent, or the two splits differ in image shape or classes.
    pub fn load(&self) -> Result<LoadedDataset, DataError> {
        self.load_within(DEFAULT_DATA_MEMORY)
    }

    /// [`Self::load`] with a memory budget of `budget` bytes for the decoded images of
    /// an image folder with `cache=auto`: above it the folder is streamed. A streamed
    /// folder's mean and std are computed from [`STATS_SAMPLE`] of its training images
    /// (evenly spaced).
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn load_within(&self, budget: u64) -> Result<LoadedDataset, DataError> {
        let mut skipped = 0;
        let ((train, test), known) = match self {
            Self::Cifar10 { dir } => (
                load_cifar10(dir)?,
                Some((&CIFAR10_MEAN[..], &CIFAR10_STD[..])),
            ),
            Self::Cifar100 { dir, labels } => (
                load_cifar100(dir, *labels)?,
                Some((&CIFAR100_MEAN[..], &CIFAR100_STD[..])),
            ),
            Self::Idx { dir, options } => {
                let known = options
                    .names
                    .is_fashion(dir)
                    .then_some((&FASHION_MNIST_MEAN[..], &FASHION_MNIST_STD[..]));
                (load_idx(dir, options)?, known)
            }
            Self::Folder { dir, options } => {
                let data = load_folder_within(dir, options, budget)?;
                skipped = data.skipped.len();
                ((data.train, data.test), None)
            }
            Self::Shards { dir, options } => {
                let (train, test, bad) = load_shards(dir, options, budget)?;
                skipped = bad;
                ((train, test), None)
            }
            Self::Builtin => (load_builtin()?, None),
        };
        let name = self.to_string();
        check_splits(&name, &train, &test)?;
        let (mean, std) = match known {
            Some((m, s)) => (m.to_vec(), s.to_vec()),
            None => sample_mean_std(&train)?,
        };
        Ok(LoadedDataset {
            name,
            train,
            test,
            mean,
            std,
            skipped,
        })
    }
}

/// How many training images the mean and std of a streamed split are computed from.
pub const STATS_SAMPLE: usize = 512;

/// Per-channel mean and std of `train`: of all its images in memory, or of
/// [`STATS_SAMPLE`] evenly spaced ones of a streamed split (unreadable ones left out
/// with `skip_bad`).
///
/// # Errors
/// [`DataError::Format`] naming an image that cannot be read (without `skip_bad`).
fn sample_mean_std(train: &ImageDataset) -> Result<(Vec<f32>, Vec<f32>), DataError> {
    use rayon::prelude::*;
    let Some(stream) = &train.stream else {
        return Ok(channel_mean_std(train));
    };
    let n = train.len();
    let take = n.min(STATS_SAMPLE);
    let (c, plane) = (train.channels, train.height * train.width);
    // Each image's sums, not its pixels, are kept: memory stays one image per thread.
    let sums: Vec<Result<(Vec<u64>, Vec<u64>), _>> = (0..take)
        .into_par_iter()
        .map(|k| {
            stream
                .eval_pixels(k * n / take.max(1))
                .map(|px| pixel_sums(&px, c, plane))
        })
        .collect();
    let (mut sum, mut sq, mut images) = (vec![0u64; c], vec![0u64; c], 0);
    for s in sums {
        match s {
            Ok((s, q)) => {
                sum.iter_mut().zip(&s).for_each(|(a, b)| *a += b);
                sq.iter_mut().zip(&q).for_each(|(a, b)| *a += b);
                images += 1;
            }
            Err(e) if stream.skip_bad() => stream.note_skipped(&e),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(mean_std_from_sums(&sum, &sq, images * plane))
}

/// Validates both splits and checks that they agree.
///
/// # Errors
/// [`DataError::Invalid`] naming the split and spec.
fn check_splits(name: &str, train: &ImageDataset, test: &ImageDataset) -> Result<(), DataError> {
    for (split, ds) in [("train", train), ("test", test)] {
        validate(ds).map_err(|e| DataError::Invalid {
            what: format!("{split} split of '{name}'"),
            reason: match e {
                DataError::Invalid { reason, .. } => reason,
                other => other.to_string(),
            },
        })?;
    }
    let shape = |d: &ImageDataset| [d.channels, d.height, d.width];
    if shape(train) != shape(test) {
        return Err(DataError::Invalid {
            what: format!("'{name}'"),
            reason: format!(
                "test images are {:?} (CxHxW) but train images are {:?}",
                shape(test),
                shape(train)
            ),
        });
    }
    if train.class_names != test.class_names {
        return Err(DataError::Invalid {
            what: format!("'{name}'"),
            reason: "train and test splits have different class names".to_string(),
        });
    }
    Ok(())
}

/// Parsed `key=value` options of one spec.
struct Options<'a> {
    spec: &'a str,
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Options<'a> {
    /// Splits `query` (the text after `?`) into pairs, rejecting keys outside
    /// `allowed`, duplicates and pairs without `=`.
    fn parse(spec: &'a str, query: &'a str, allowed: &[&str]) -> Result<Self, DataError> {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| spec_err(spec, format!("option '{part}' must be key=value")))?;
            if !allowed.contains(&k) {
                let expected = if allowed.is_empty() {
                    "this dataset takes no options".to_string()
                } else {
                    format!("expected one of {}", allowed.join(", "))
                };
                return Err(spec_err(spec, format!("unknown option '{k}'; {expected}")));
            }
            if pairs.iter().any(|(pk, _)| *pk == k) {
                return Err(spec_err(spec, format!("option '{k}' given twice")));
            }
            if v.is_empty() {
                return Err(spec_err(spec, format!("option '{k}' has an empty value")));
            }
            pairs.push((k, v));
        }
        Ok(Self { spec, pairs })
    }

    /// The value of `key`, parsed, or `default`.
    fn get<T: FromStr>(&self, key: &str, default: T, expected: &str) -> Result<T, DataError> {
        match self.pairs.iter().find(|(k, _)| *k == key) {
            None => Ok(default),
            Some((_, v)) => v.parse().map_err(|_| {
                spec_err(
                    self.spec,
                    format!("option {key}={v} is invalid; expected {expected}"),
                )
            }),
        }
    }

    /// The value of `key` mapped by `parse`, or `default`.
    fn get_with<T>(
        &self,
        key: &str,
        default: T,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<T, DataError> {
        match self.pairs.iter().find(|(k, _)| *k == key) {
            None => Ok(default),
            Some((_, v)) => parse(v).ok_or_else(|| {
                spec_err(
                    self.spec,
                    format!("option {key}={v} is invalid; expected {expected}"),
                )
            }),
        }
    }
}

fn spec_err(spec: &str, reason: impl Into<String>) -> DataError {
    DataError::Spec {
        spec: spec.to_string(),
        reason: reason.into(),
    }
}

impl FromStr for DatasetSpec {
    type Err = DataError;

    /// Parses a spec (see the module docs).
    ///
    /// # Errors
    /// [`DataError::Spec`] naming the spec on an unknown scheme, a missing directory,
    /// an unknown, repeated or invalid option.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (head, query) = match s.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (s, None),
        };
        let (scheme, dir) = match head.split_once(':') {
            Some((sch, d)) => (sch, Some(d)),
            None => (head, None),
        };
        let query = query.unwrap_or("");
        if scheme == "builtin" {
            if dir.is_some() {
                return Err(spec_err(
                    s,
                    "builtin takes no directory; write just 'builtin'",
                ));
            }
            Options::parse(s, query, &[])?;
            return Ok(Self::Builtin);
        }
        if !["cifar10", "cifar100", "idx", "folder", "shards"].contains(&scheme) {
            return Err(spec_err(
                s,
                format!("unknown dataset scheme '{scheme}'; expected one of {FORMS}"),
            ));
        }
        let dir = match dir {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => {
                return Err(spec_err(
                    s,
                    format!("missing directory; expected {scheme}:DIR"),
                ));
            }
        };
        match scheme {
            "cifar10" => {
                Options::parse(s, query, &[])?;
                Ok(Self::Cifar10 { dir })
            }
            "cifar100" => {
                let o = Options::parse(s, query, &["labels"])?;
                let labels = o.get_with(
                    "labels",
                    Cifar100Labels::Fine,
                    Cifar100Labels::parse,
                    "fine or coarse",
                )?;
                Ok(Self::Cifar100 { dir, labels })
            }
            "idx" => {
                let o = Options::parse(s, query, &["names", "classes"])?;
                let d = IdxOptions::default();
                let options = IdxOptions {
                    names: o.get_with(
                        "names",
                        d.names,
                        IdxNames::parse,
                        "auto, fashion or numbers",
                    )?,
                    classes: o.get("classes", d.classes, "an integer in 1..=256")?,
                };
                idx_class_names(&options, &dir).map_err(|e| spec_err(s, invalid_reason(e)))?;
                Ok(Self::Idx { dir, options })
            }
            "shards" => {
                let o = Options::parse(s, query, &["size", "gray", "skip_bad", "buffer", "cache"])?;
                let d = ShardOptions::default();
                let options = ShardOptions {
                    size: o.get("size", d.size, "an integer in 1..=4096")?,
                    gray: o.get("gray", d.gray, "true or false")?,
                    skip_bad: o.get("skip_bad", d.skip_bad, "true or false")?,
                    buffer: o.get("buffer", d.buffer, "a positive number of images")?,
                    cache: o.get_with("cache", d.cache, CacheMode::parse, "auto, ram or none")?,
                };
                options
                    .check()
                    .map_err(|e| spec_err(s, invalid_reason(e)))?;
                Ok(Self::Shards { dir, options })
            }
            _ => {
                let o = Options::parse(
                    s,
                    query,
                    &[
                        "size",
                        "split",
                        "seed",
                        "gray",
                        "skip_bad",
                        "recursive",
                        "cache",
                    ],
                )?;
                let d = FolderOptions::default();
                let options = FolderOptions {
                    size: o.get("size", d.size, "an integer in 1..=4096")?,
                    split: o.get("split", d.split, "a fraction strictly between 0 and 1")?,
                    seed: o.get("seed", d.seed, "a non-negative integer")?,
                    gray: o.get("gray", d.gray, "true or false")?,
                    skip_bad: o.get("skip_bad", d.skip_bad, "true or false")?,
                    recursive: o.get_with(
                        "recursive",
                        d.recursive,
                        |v| v.parse().ok().map(Some),
                        "true or false",
                    )?,
                    cache: o.get_with("cache", d.cache, CacheMode::parse, "auto, ram or none")?,
                };
                options
                    .check()
                    .map_err(|e| spec_err(s, invalid_reason(e)))?;
                Ok(Self::Folder { dir, options })
            }
        }
    }
}

/// The reason of a [`DataError::Invalid`] (the whole message otherwise).
fn invalid_reason(e: DataError) -> String {
    match e {
        DataError::Invalid { reason, .. } => reason,
        other => other.to_string(),
    }
}

impl fmt::Display for DatasetSpec {
    /// Writes the canonical spec: non-default options only, in a fixed order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut opts: Vec<String> = Vec::new();
        match self {
            Self::Builtin => return f.write_str("builtin"),
            Self::Cifar10 { .. } => {}
            Self::Cifar100 { labels, .. } => {
                if *labels != Cifar100Labels::default() {
                    opts.push(format!("labels={}", labels.as_str()));
                }
            }
            Self::Idx { options, .. } => {
                let d = IdxOptions::default();
                if options.names != d.names {
                    opts.push(format!("names={}", options.names.as_str()));
                }
                if options.classes != d.classes {
                    opts.push(format!("classes={}", options.classes));
                }
            }
            Self::Folder { options, .. } => {
                let d = FolderOptions::default();
                if options.size != d.size {
                    opts.push(format!("size={}", options.size));
                }
                if options.split != d.split {
                    opts.push(format!("split={}", options.split));
                }
                if options.seed != d.seed {
                    opts.push(format!("seed={}", options.seed));
                }
                if options.gray != d.gray {
                    opts.push(format!("gray={}", options.gray));
                }
                if options.skip_bad != d.skip_bad {
                    opts.push(format!("skip_bad={}", options.skip_bad));
                }
                if let Some(recursive) = options.recursive {
                    opts.push(format!("recursive={recursive}"));
                }
                if options.cache != d.cache {
                    opts.push(format!("cache={}", options.cache.as_str()));
                }
            }
            Self::Shards { options, .. } => {
                let d = ShardOptions::default();
                if options.size != d.size {
                    opts.push(format!("size={}", options.size));
                }
                if options.gray != d.gray {
                    opts.push(format!("gray={}", options.gray));
                }
                if options.skip_bad != d.skip_bad {
                    opts.push(format!("skip_bad={}", options.skip_bad));
                }
                if options.buffer != d.buffer {
                    opts.push(format!("buffer={}", options.buffer));
                }
                if options.cache != d.cache {
                    opts.push(format!("cache={}", options.cache.as_str()));
                }
            }
        }
        let dir = self
            .dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        write!(f, "{}:{dir}", self.scheme())?;
        if !opts.is_empty() {
            write!(f, "?{}", opts.join("&"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in [
            "builtin",
            "cifar10:/data/c10",
            "cifar100:rel/dir?labels=coarse",
            "idx:/d/mnist?names=fashion",
            "idx:/d/emnist?classes=47",
            "folder:/img?size=64&split=0.1&seed=3&gray=true&skip_bad=true",
            "folder:/img?recursive=false",
            "folder:/img?gray=true&recursive=true",
            "folder:/img?size=224&cache=none",
            "shards:/s",
            "shards:/s?size=64&gray=true&skip_bad=true&buffer=10&cache=ram",
            "folder:C:\\imgs",
        ] {
            let spec: DatasetSpec = s.parse().unwrap();
            assert_eq!(spec.to_string(), s);
            assert_eq!(spec.to_string().parse::<DatasetSpec>().unwrap(), spec);
        }
        let spec: DatasetSpec = "folder:/x?skip_bad=false&size=32".parse().unwrap();
        assert_eq!(spec.to_string(), "folder:/x");
    }

    #[test]
    fn bad_specs_name_the_spec() {
        for (s, needle) in [
            ("mnist:/x", "unknown dataset scheme 'mnist'"),
            ("cifar10", "missing directory"),
            ("cifar10:", "missing directory"),
            ("builtin:/x", "no directory"),
            ("cifar10:/x?labels=fine", "unknown option 'labels'"),
            ("cifar100:/x?labels=medium", "labels=medium is invalid"),
            ("folder:/x?size=0", "size=0"),
            ("folder:/x?split=1.5", "split=1.5"),
            ("folder:/x?gray", "key=value"),
            ("folder:/x?seed=1&seed=2", "given twice"),
            ("idx:/x?names=fashion&classes=26", "classes=10"),
            ("idx:/x?classes=300", "1..=256"),
        ] {
            let e = s.parse::<DatasetSpec>().unwrap_err().to_string();
            assert!(e.contains(s) && e.contains(needle), "{s}: {e}");
        }
    }
}
