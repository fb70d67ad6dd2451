//! ImageNet-style image folders: one subfolder per class, JPEG/PNG images of any size.
//!
//! Two layouts:
//! - `DIR/train/<class>/*` and `DIR/val/<class>/*` (or `DIR/test/<class>/*`): the
//!   given split. Class ids come from the sorted subfolder names of `train/`; every
//!   folder of `val/` must also exist in `train/` (a class may have no val images).
//! - `DIR/<class>/*`: one pool, split per class by a seeded ratio
//!   ([`FolderOptions::split`] of each class goes to the test split).
//!
//! Class folders are sorted by name (byte order); their names are the class names.
//! Hidden entries (starting with `.`) are ignored, as are files whose extension is
//! not `jpg`, `jpeg` or `png` (any case). Class folders are not searched recursively
//! unless asked ([`FolderOptions::recursive`]), and images in their subfolders are never
//! dropped without a word: a class folder with images in subfolders is refused, naming
//! them, until the spec says `recursive=true` (read them as images of that class, as
//! torchvision's `ImageFolder` does) or `recursive=false` (leave them out, with a note
//! counting them).
//!
//! Every image is decoded, converted to RGB (alpha dropped) or grayscale, centre-
//! cropped to a square of its shorter side, and resized (bilinear, anti-aliased when
//! shrinking) to `size x size`; that equals "resize the shorter side to `size`, then
//! centre-crop". Decoding runs in parallel.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

pub use super::cache::{CacheMode, DEFAULT_DATA_MEMORY};
use super::dataset::ImageDataset;
pub use super::decode::{MAX_IMAGE_FILE_BYTES, decode_image_bytes, square_resize};
use super::decode::{decode_image_file, header_size, read_image_file};
use super::error::DataError;
use super::fsio::{require_dir, test_split_dir};
use super::streamed::{Entry, Location, StreamOrder, StreamedImages};

/// Default side of the loaded images.
pub const FOLDER_DEFAULT_SIZE: usize = 32;
/// Largest accepted image side.
pub const FOLDER_MAX_SIZE: usize = 4096;
/// Default fraction of each class moved to the test split (single-folder layout).
pub const FOLDER_DEFAULT_SPLIT: f32 = 0.2;
/// File extensions read as images (compared case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];
/// How many skipped files are named in warnings before the rest are only counted.
const MAX_WARNINGS: usize = 10;

/// Options of the image-folder loader.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FolderOptions {
    /// Side of the square output images (`1..=4096`, default 32).
    pub size: usize,
    /// Fraction of each class put in the test split, in `(0, 1)` (default 0.2); only
    /// used by the single-folder layout.
    pub split: f32,
    /// Seed of the per-class shuffle of the single-folder split (default 0).
    pub seed: u64,
    /// Load as 1-channel grayscale instead of 3-channel RGB (default false).
    pub gray: bool,
    /// Skip undecodable images with a warning instead of failing (default false).
    pub skip_bad: bool,
    /// Images in subfolders of a class folder: `Some(true)` reads them as images of that
    /// class (at any depth), `Some(false)` leaves them out (with a note counting them);
    /// `None` (the default) refuses a class folder that has any, naming them.
    pub recursive: Option<bool>,
    /// Keep the decoded images in memory or stream them from disk (default
    /// [`CacheMode::Auto`]).
    pub cache: CacheMode,
}

impl Default for FolderOptions {
    fn default() -> Self {
        Self {
            size: FOLDER_DEFAULT_SIZE,
            split: FOLDER_DEFAULT_SPLIT,
            seed: 0,
            gray: false,
            skip_bad: false,
            recursive: None,
            cache: CacheMode::Auto,
        }
    }
}

impl FolderOptions {
    /// Checks the option ranges.
    ///
    /// # Errors
    /// [`DataError::Invalid`] when `size` is outside `1..=4096` or `split` outside `(0, 1)`.
    pub fn check(&self) -> Result<(), DataError> {
        let bad = |reason: String| DataError::Invalid {
            what: "image-folder options".to_string(),
            reason,
        };
        if !(1..=FOLDER_MAX_SIZE).contains(&self.size) {
            return Err(bad(format!(
                "size={}, expected 1..={FOLDER_MAX_SIZE}",
                self.size
            )));
        }
        if !(self.split > 0.0 && self.split < 1.0) {
            return Err(bad(format!(
                "split={}, expected a fraction strictly between 0 and 1",
                self.split
            )));
        }
        Ok(())
    }

    fn channels(&self) -> usize {
        if self.gray { 1 } else { 3 }
    }
}

/// The result of loading an image folder.
#[derive(Clone, Debug, PartialEq)]
pub struct FolderData {
    /// Training split.
    pub train: ImageDataset,
    /// Test split.
    pub test: ImageDataset,
    /// Undecodable images that were skipped (only with `skip_bad`), in file order.
    pub skipped: Vec<PathBuf>,
}

/// Sorted class subfolders of `dir` as `(name, path)`.
///
/// # Errors
/// [`DataError::Io`] when `dir` cannot be listed.
fn class_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, DataError> {
    let io = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if !name.starts_with('.') && path.is_dir() {
            out.push((name, path));
        }
    }
    out.sort();
    // Names that are not UTF-8 are shown with U+FFFD; two such folders can then look
    // alike, and one class name would stand for two folders.
    if let Some(pair) = out.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(DataError::Format {
            path: dir.to_path_buf(),
            reason: format!(
                "class folders {} and {} both read as class '{}' (their names are not valid \
                 UTF-8 and differ only in the bytes shown as U+FFFD); rename one of them",
                pair[0].1.display(),
                pair[1].1.display(),
                pair[0].0
            ),
        });
    }
    Ok(out)
}

/// Sorted image files (by extension) directly in `dir`, and its (non-hidden) subfolders.
///
/// # Errors
/// [`DataError::Io`] when `dir` cannot be listed.
fn list_dir(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), DataError> {
    let io = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        let is_image = path.extension().is_some_and(|e| {
            let e = e.to_string_lossy().to_ascii_lowercase();
            IMAGE_EXTENSIONS.contains(&e.as_str())
        });
        if hidden {
            continue;
        }
        if path.is_dir() {
            dirs.push(path);
        } else if is_image && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    dirs.sort();
    Ok((files, dirs))
}

/// The image files of a class folder: those directly in it, and those in its subfolders
/// at any depth (each real folder walked once, so a link cycle ends), each sorted.
///
/// # Errors
/// [`DataError::Io`] when the class folder, or (with `strict`) a subfolder, cannot be
/// listed; without `strict` an unlistable subfolder is passed over (its files are only
/// counted, never read).
fn class_files(dir: &Path, strict: bool) -> Result<(Vec<PathBuf>, Vec<PathBuf>), DataError> {
    let (direct, mut pending) = list_dir(dir)?;
    let mut seen: std::collections::HashSet<PathBuf> = dir.canonicalize().into_iter().collect();
    let mut nested = Vec::new();
    while let Some(sub) = pending.pop() {
        if !seen.insert(sub.canonicalize().unwrap_or_else(|_| sub.clone())) {
            continue;
        }
        match list_dir(&sub) {
            Ok((files, dirs)) => {
                nested.extend(files);
                pending.extend(dirs);
            }
            Err(e) if strict => return Err(e),
            Err(_) => {}
        }
    }
    nested.sort();
    Ok((direct, nested))
}

/// The refusal of a class folder with images in subfolders when the spec says nothing.
fn nested_images(name: &str, path: &Path, nested: &[PathBuf]) -> DataError {
    let shown: Vec<String> = nested
        .iter()
        .map(|p| p.strip_prefix(path).unwrap_or(p).display().to_string())
        .collect();
    DataError::Format {
        path: path.to_path_buf(),
        reason: format!(
            "class folder '{name}' has {} image file(s) in subfolders ({}), which would not \
             be read; add the spec option recursive=true to read them as images of class \
             '{name}' (as torchvision's ImageFolder does), or recursive=false to leave them \
             out",
            nested.len(),
            crate::listing::listing(shown.iter(), 3)
        ),
    }
}

/// Decodes `files` (`(path, label)`) into a split; undecodable files fail the load
/// or, with `skip_bad`, are appended to `skipped`.
///
/// # Errors
/// [`DataError::Format`] naming the first undecodable file (in file order) unless
/// `skip_bad`.
fn decode_split(
    files: &[(PathBuf, usize)],
    class_names: &[String],
    opts: &FolderOptions,
    skipped: &mut Vec<PathBuf>,
) -> Result<ImageDataset, DataError> {
    // A stop request (Ctrl-C) skips the remaining files: decoding a large folder stops
    // within one image per thread.
    let decoded: Vec<Result<Vec<u8>, String>> = files
        .par_iter()
        .map(|(p, _)| {
            if crate::stop::requested() {
                return Err(String::new());
            }
            decode_image_file(p, opts.size, opts.gray)
        })
        .collect();
    crate::stop::check("decoding the image folder")?;
    let per_image = opts.channels() * opts.size * opts.size;
    let mut pixels = Vec::with_capacity(files.len() * per_image);
    let mut labels = Vec::with_capacity(files.len());
    for ((path, label), result) in files.iter().zip(decoded) {
        match result {
            Ok(px) => {
                pixels.extend_from_slice(&px);
                labels.push(*label);
            }
            Err(reason) if opts.skip_bad => {
                if skipped.len() < MAX_WARNINGS {
                    eprintln!(
                        "warning: skipping undecodable image {}: {reason}",
                        path.display()
                    );
                }
                skipped.push(path.clone());
            }
            Err(reason) => {
                return Err(DataError::Format {
                    path: path.clone(),
                    reason: format!(
                        "cannot decode image: {reason} (set the spec option skip_bad=true \
                         to skip undecodable images)"
                    ),
                });
            }
        }
    }
    Ok(ImageDataset {
        channels: opts.channels(),
        height: opts.size,
        width: opts.size,
        pixels,
        labels,
        class_names: class_names.to_vec(),
        stream: None,
    })
}

/// A streamed split of `files` (`(path, label)`): each file's header is read (in
/// parallel) for its size, and a decompression bomb is refused before anything is
/// decoded. Unreadable headers fail the load or, with `skip_bad`, are appended to
/// `skipped`.
///
/// # Errors
/// [`DataError::Format`] naming the first file (in file order) whose header cannot be
/// read, unless `skip_bad`.
fn list_split(
    files: &[(PathBuf, usize)],
    class_names: &[String],
    opts: &FolderOptions,
    skipped: &mut Vec<PathBuf>,
) -> Result<ImageDataset, DataError> {
    let sizes: Vec<Result<(u32, u32), String>> = files
        .par_iter()
        .map(|(p, _)| {
            if crate::stop::requested() {
                return Err(String::new());
            }
            read_header(p)
        })
        .collect();
    crate::stop::check("listing the image folder")?;
    let mut entries = Vec::with_capacity(files.len());
    let mut labels = Vec::with_capacity(files.len());
    for ((path, label), size) in files.iter().zip(sizes) {
        match size {
            Ok((width, height)) => {
                entries.push(Entry {
                    location: Location::File(path.clone()),
                    width,
                    height,
                });
                labels.push(*label);
            }
            Err(reason) if opts.skip_bad => {
                if skipped.len() < MAX_WARNINGS {
                    eprintln!("warning: skipping image {}: {reason}", path.display());
                }
                skipped.push(path.clone());
            }
            Err(reason) => {
                return Err(DataError::Format {
                    path: path.clone(),
                    reason: format!(
                        "cannot read the image's header: {reason} (set the spec option \
                         skip_bad=true to skip unreadable images)"
                    ),
                });
            }
        }
    }
    let stream = StreamedImages::new(
        entries,
        Vec::new(),
        opts.size,
        opts.gray,
        opts.skip_bad,
        StreamOrder::Permutation,
    );
    Ok(ImageDataset {
        channels: opts.channels(),
        height: opts.size,
        width: opts.size,
        pixels: Vec::new(),
        labels,
        class_names: class_names.to_vec(),
        stream: Some(std::sync::Arc::new(stream)),
    })
}

/// The size an image file's header declares, reading at most its first 128 KiB (the
/// whole file when the header lies further in, behind large metadata).
fn read_header(path: &Path) -> Result<(u32, u32), String> {
    use std::io::Read;
    const HEAD: u64 = 128 << 10;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return read_image_file(path).map(|_| (0, 0));
    }
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(HEAD).read_to_end(&mut head))
        .map_err(|e| e.to_string())?;
    let hint = ::image::ImageFormat::from_path(path).ok();
    match header_size(&head, hint) {
        Err(_) if head.len() as u64 == HEAD => header_size(&read_image_file(path)?, hint),
        other => other,
    }
}

/// Lists the class folders of `dir`, requiring at least two.
///
/// # Errors
/// [`DataError::Format`] naming `dir` when it has fewer than two class subfolders.
fn require_classes(dir: &Path) -> Result<Vec<(String, PathBuf)>, DataError> {
    let classes = class_dirs(dir)?;
    match classes.as_slice() {
        [] => Err(DataError::Format {
            path: dir.to_path_buf(),
            reason: "no class subfolders; expected one subfolder per class holding \
                     .jpg/.jpeg/.png images (or train/ and val/ folders of such subfolders)"
                .to_string(),
        }),
        [(only, _)] => Err(DataError::Format {
            path: dir.to_path_buf(),
            reason: format!(
                "only one class subfolder ('{only}'); expected at least two, one per class"
            ),
        }),
        _ => Ok(classes),
    }
}

/// Image files of every class folder as `(path, label)`; every class must have one.
/// Images in subfolders of a class folder follow `recursive` ([`FolderOptions`]); those
/// left out (`Some(false)`) are added to `left_out`.
///
/// # Errors
/// [`DataError::Format`] naming a class folder without image files, or (`recursive`
/// `None`) one with images in subfolders.
fn labelled_files(
    classes: &[(String, PathBuf)],
    label_of: impl Fn(&str) -> Option<usize>,
    split_dir: &Path,
    allow_empty: bool,
    recursive: Option<bool>,
    left_out: &mut usize,
) -> Result<Vec<Vec<(PathBuf, usize)>>, DataError> {
    let mut out = Vec::with_capacity(classes.len());
    for (name, path) in classes {
        let label = label_of(name).ok_or_else(|| DataError::Format {
            path: path.clone(),
            reason: format!(
                "class folder '{name}' has no counterpart in {}; expected the same class \
                 folders as the training split",
                split_dir.display()
            ),
        })?;
        let (mut files, nested) = class_files(path, recursive == Some(true))?;
        let nested_count = nested.len();
        match recursive {
            Some(true) => {
                files.extend(nested);
                files.sort();
            }
            None if !nested.is_empty() => return Err(nested_images(name, path, &nested)),
            _ => *left_out += nested.len(),
        }
        if files.is_empty() && !allow_empty {
            return Err(DataError::Format {
                path: path.clone(),
                reason: format!(
                    "class folder '{name}' holds no image; expected .jpg/.jpeg/.png files{}",
                    if nested_count > 0 && recursive == Some(false) {
                        " (its subfolders' images are left out: recursive=false)"
                    } else {
                        ""
                    }
                ),
            });
        }
        out.push(files.into_iter().map(|p| (p, label)).collect());
    }
    Ok(out)
}

/// Checks that every class kept at least one training image after undecodable files
/// were skipped (`skip_bad`): `files` are the split's `(path, label)` before decoding,
/// `labels` those of the decoded images.
///
/// # Errors
/// [`DataError::Format`] naming the first class folder (by label) whose every training
/// file was undecodable.
fn require_training_images(
    classes: &[(String, PathBuf)],
    files: &[(PathBuf, usize)],
    labels: &[usize],
) -> Result<(), DataError> {
    let mut decoded = vec![0usize; classes.len()];
    for &l in labels {
        if let Some(c) = decoded.get_mut(l) {
            *c += 1;
        }
    }
    for (label, ((name, path), &count)) in classes.iter().zip(&decoded).enumerate() {
        if count == 0 {
            let bad: Vec<String> = files
                .iter()
                .filter(|(_, l)| *l == label)
                .map(|(p, _)| {
                    p.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                })
                .collect();
            let listed = bad.len();
            let names = crate::listing::listing(bad.iter(), 3);
            return Err(DataError::Format {
                path: path.clone(),
                reason: format!(
                    "class folder '{name}' has no training image left: all {listed} of its \
                     training image file(s) ({names}) were undecodable and skipped \
                     (skip_bad=true); \
                     expected at least one decodable .jpg/.jpeg/.png image per class (fix \
                     or remove the bad files, or remove the folder)"
                ),
            });
        }
    }
    Ok(())
}

/// Loads an image folder (see the module docs for the layouts).
///
/// # Errors
/// [`DataError::Missing`] when `dir` does not exist, or it has `train/` but neither
/// `val/` nor `test/`; [`DataError::Format`] naming the folder when it has fewer than
/// two classes or a class folder holds no image (or, with `skip_bad`, no decodable
/// training image), and naming the file when an image is undecodable (unless
/// `skip_bad`); [`DataError::Invalid`] on out-of-range options;
/// [`DataError::Io`] when a folder cannot be listed.
pub fn load_folder(dir: &Path, opts: &FolderOptions) -> Result<FolderData, DataError> {
    load_folder_within(dir, opts, DEFAULT_DATA_MEMORY)
}

/// [`load_folder`] with a memory budget of `budget` bytes for `cache=auto`: the decoded
/// training-size images of both splits are kept in memory when they fit it, and
/// streamed ([`super::streamed`]) otherwise.
///
/// # Errors
/// As [`load_folder`]; a streamed folder names a file whose header cannot be read or
/// declares a decompression bomb (unless `skip_bad`).
pub fn load_folder_within(
    dir: &Path,
    opts: &FolderOptions,
    budget: u64,
) -> Result<FolderData, DataError> {
    opts.check()?;
    require_dir(
        dir,
        "an image folder: one subfolder per class with .jpg/.jpeg/.png images, or \
         train/ and val/ folders of such subfolders",
    )?;
    let train_dir = dir.join("train");
    let mut left_out = 0;
    let (train_files, test_files, classes) = if train_dir.is_dir() {
        let test_dir = test_split_dir(
            dir,
            "a val/ (or test/) folder next to train/, with the same class subfolders",
        )?;
        let classes = require_classes(&train_dir)?;
        let names: Vec<String> = classes.iter().map(|(n, _)| n.clone()).collect();
        let label_of = |n: &str| names.iter().position(|c| c == n);
        let train = labelled_files(
            &classes,
            label_of,
            &train_dir,
            false,
            opts.recursive,
            &mut left_out,
        )?;
        let test_classes = class_dirs(&test_dir)?;
        let test = labelled_files(
            &test_classes,
            label_of,
            &train_dir,
            true,
            opts.recursive,
            &mut left_out,
        )?;
        (
            train.into_iter().flatten().collect::<Vec<_>>(),
            test.into_iter().flatten().collect::<Vec<_>>(),
            classes,
        )
    } else {
        let classes = require_classes(dir)?;
        let names: Vec<String> = classes.iter().map(|(n, _)| n.clone()).collect();
        let label_of = |n: &str| names.iter().position(|c| c == n);
        let per_class = labelled_files(
            &classes,
            label_of,
            dir,
            false,
            opts.recursive,
            &mut left_out,
        )?;
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let mut train = Vec::new();
        let mut test = Vec::new();
        for mut files in per_class {
            let n = files.len();
            files.shuffle(&mut rng);
            let n_test =
                ((n as f64 * f64::from(opts.split)).round() as usize).min(n.saturating_sub(1));
            let mut test_part = files.split_off(n - n_test);
            files.sort();
            test_part.sort();
            train.extend(files);
            test.extend(test_part);
        }
        (train, test, classes)
    };
    if left_out > 0 {
        eprintln!(
            "note: {left_out} image file(s) in subfolders of the class folders of {} are left \
             out (recursive=false)",
            dir.display()
        );
    }
    let class_names: Vec<String> = classes.iter().map(|(n, _)| n.clone()).collect();
    let mut skipped = Vec::new();
    let per_image = opts.channels() * opts.size * opts.size;
    if !opts
        .cache
        .in_memory(train_files.len() + test_files.len(), per_image, budget)
    {
        let train = list_split(&train_files, &class_names, opts, &mut skipped)?;
        require_training_images(&classes, &train_files, &train.labels)?;
        let test = list_split(&test_files, &class_names, opts, &mut skipped)?;
        if !skipped.is_empty() {
            eprintln!(
                "warning: skipped {} image(s) with unreadable headers in {}",
                skipped.len(),
                dir.display()
            );
        }
        return Ok(FolderData {
            train,
            test,
            skipped,
        });
    }
    let train = decode_split(&train_files, &class_names, opts, &mut skipped)?;
    require_training_images(&classes, &train_files, &train.labels)?;
    let test = decode_split(&test_files, &class_names, opts, &mut skipped)?;
    if !skipped.is_empty() {
        eprintln!(
            "warning: skipped {} undecodable image(s) in {}",
            skipped.len(),
            dir.display()
        );
    }
    Ok(FolderData {
        train,
        test,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        assert!(FolderOptions::default().check().is_ok());
        let bad = FolderOptions {
            split: 1.0,
            ..FolderOptions::default()
        };
        assert!(bad.check().unwrap_err().to_string().contains("split=1"));
        let bad = FolderOptions {
            size: 0,
            ..FolderOptions::default()
        };
        assert!(bad.check().unwrap_err().to_string().contains("size=0"));
    }
}
