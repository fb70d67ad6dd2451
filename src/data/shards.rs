//! Tar shards in the WebDataset layout: `DIR/train/*.tar` and `DIR/val/*.tar` (or
//! `DIR/test/`), each a run of samples `KEY.jpg` (or `.jpeg`, `.png`) with their label in
//! `KEY.cls` (the class number as text) or `KEY.json` (an object with an integer
//! `"label"`), and optionally `DIR/classes.txt` with one class name per line (class
//! numbers otherwise). Large sequential files read far faster than millions of small ones
//! on clusters and network file systems.
//!
//! At start-up every shard's members are indexed (name, offset, length) and each image's
//! header is read for its size; images are then read with one positioned read each when
//! a batch needs them ([`super::streamed`]). An epoch visits the shards in a seeded
//! order and its images through a seeded shuffle buffer
//! ([`StreamOrder::ShardBuffer`]). [`write_shards`] writes shards from any streamed
//! split (`supcon data --to-shards`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cache::CacheMode;
use super::dataset::ImageDataset;
use super::decode::header_size;
use super::error::DataError;
use super::fsio::{require_dir, test_split_dir};
use super::streamed::{Entry, Location, StreamOrder, StreamedImages};

/// Default shuffle-buffer size (images).
pub const DEFAULT_BUFFER: usize = 1000;
/// Default number of images per shard written by [`write_shards`].
pub const DEFAULT_SHARD_IMAGES: usize = 1000;
/// Image extensions of shard members (lower case).
const IMAGE_EXT: [&str; 3] = ["jpg", "jpeg", "png"];
/// The most bytes a label member (`.cls`, `.json`) may have.
const MAX_LABEL_BYTES: u64 = 1 << 16;

/// Options of a `shards:DIR` spec.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShardOptions {
    /// Side of the square images (`1..=4096`, default 32).
    pub size: usize,
    /// Grayscale instead of RGB (default false).
    pub gray: bool,
    /// Skip unreadable images with a warning instead of failing (default false).
    pub skip_bad: bool,
    /// Shuffle-buffer size in images (default [`DEFAULT_BUFFER`]).
    pub buffer: usize,
    /// In memory or streamed (default [`CacheMode::Auto`]).
    pub cache: CacheMode,
}

impl Default for ShardOptions {
    fn default() -> Self {
        Self {
            size: super::folder::FOLDER_DEFAULT_SIZE,
            gray: false,
            skip_bad: false,
            buffer: DEFAULT_BUFFER,
            cache: CacheMode::Auto,
        }
    }
}

impl ShardOptions {
    /// Checks the option ranges.
    ///
    /// # Errors
    /// [`DataError::Invalid`] when `size` is outside `1..=4096` or `buffer` is 0.
    pub fn check(&self) -> Result<(), DataError> {
        let bad = |reason: String| DataError::Invalid {
            what: "tar-shard options".to_string(),
            reason,
        };
        if !(1..=super::folder::FOLDER_MAX_SIZE).contains(&self.size) {
            return Err(bad(format!("size={}, expected 1..=4096", self.size)));
        }
        if self.buffer == 0 {
            return Err(bad("buffer=0, expected at least 1 image".to_string()));
        }
        Ok(())
    }

    fn channels(&self) -> usize {
        if self.gray { 1 } else { 3 }
    }
}

/// One member of a shard as indexed.
struct Member {
    name: String,
    offset: u64,
    len: u64,
}

/// The sorted `*.tar` files of `dir`.
fn shard_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let io = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "tar") && path.is_file() {
            out.push(path);
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(DataError::Format {
            path: dir.to_path_buf(),
            reason: "no .tar shard; expected shard-000000.tar, ... in WebDataset layout"
                .to_string(),
        });
    }
    Ok(out)
}

/// Every regular member of `shard` (name, data offset, length), checking that each lies
/// wholly inside the file.
///
/// # Errors
/// [`DataError::Format`] naming the shard and the member when the archive is truncated
/// or corrupt.
fn index_shard(shard: &Path) -> Result<Vec<Member>, DataError> {
    let fail = |member: &str, reason: String| DataError::Format {
        path: shard.to_path_buf(),
        reason: if member.is_empty() {
            reason
        } else {
            format!("member {member}: {reason}")
        },
    };
    let file = File::open(shard).map_err(|source| DataError::Io {
        path: shard.to_path_buf(),
        source,
    })?;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut archive = tar::Archive::new(BufReader::new(file));
    let mut out = Vec::new();
    let entries = archive
        .entries_with_seek()
        .map_err(|e| fail("", format!("not a tar archive: {e}")))?;
    let mut last = String::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            let after = if last.is_empty() {
                "at its first member".to_string()
            } else {
                format!("after member {last}")
            };
            fail("", format!("truncated or corrupt tar archive {after}: {e}"))
        })?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if !entry.header().entry_type().is_file() {
            last = name;
            continue;
        }
        let (offset, len) = (entry.raw_file_position(), entry.size());
        if offset.saturating_add(len) > file_len {
            return Err(fail(
                &name,
                format!(
                    "truncated: declares {len} bytes at offset {offset} but the shard ends at \
                     byte {file_len}"
                ),
            ));
        }
        last.clone_from(&name);
        out.push(Member { name, offset, len });
    }
    Ok(out)
}

/// `(key, extension)` of a member name: the WebDataset key is everything up to the first
/// `.` of the file name (with its folder), the extension what follows.
fn split_key(name: &str) -> (&str, String) {
    let start = name.rfind('/').map_or(0, |i| i + 1);
    match name[start..].find('.') {
        Some(dot) => (
            &name[..start + dot],
            name[start + dot + 1..].to_ascii_lowercase(),
        ),
        None => (name, String::new()),
    }
}

/// `len` bytes at `offset` of an open shard.
fn read_member(file: &File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// The class number of a label member's bytes (`.cls`: the number as text; `.json`: an
/// object with an integer `"label"`).
fn parse_label(bytes: &[u8], ext: &str) -> Result<usize, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    if ext == "json" {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        return v
            .get("label")
            .and_then(serde_json::Value::as_u64)
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| "expected an object with a non-negative integer \"label\"".into());
    }
    text.trim()
        .parse()
        .map_err(|_| format!("'{}' is not a class number", text.trim()))
}

/// One split's images and labels from its shards.
struct Listed {
    entries: Vec<Entry>,
    labels: Vec<usize>,
    skipped: usize,
}

/// The samples of a shard as `(image member, label member)` indices, in the order their
/// first member appears (WebDataset keys: a file name up to its first dot).
///
/// # Errors
/// What `fail` makes of a member: a second image of a key, an image without a label, a
/// label without an image.
fn pair_members(
    members: &[Member],
    fail: &dyn Fn(&str, String) -> DataError,
) -> Result<Vec<(usize, usize)>, DataError> {
    // key -> (image member, label member, first member).
    let mut samples: BTreeMap<&str, (Option<usize>, Option<usize>, usize)> = BTreeMap::new();
    for (m, member) in members.iter().enumerate() {
        let (key, ext) = split_key(&member.name);
        let slot = samples.entry(key).or_insert((None, None, m));
        if IMAGE_EXT.contains(&ext.as_str()) {
            if slot.0.is_some() {
                return Err(fail(
                    &member.name,
                    format!("a second image of sample {key}"),
                ));
            }
            slot.0 = Some(m);
        } else if ext == "cls" || ext == "json" {
            slot.1 = Some(m);
        }
    }
    let mut order: Vec<(usize, Option<usize>, Option<usize>)> =
        samples.into_values().map(|(i, l, m)| (m, i, l)).collect();
    order.sort_unstable();
    let mut out = Vec::with_capacity(order.len());
    for (_, image, label) in order {
        match (image, label) {
            (Some(i), Some(l)) => out.push((i, l)),
            (Some(i), None) => {
                return Err(fail(
                    &members[i].name,
                    "has no label: expected a .cls or .json member with the same key".into(),
                ));
            }
            (None, Some(l)) => {
                return Err(fail(
                    &members[l].name,
                    "is a label without an image: expected a .jpg, .jpeg or .png member with \
                     the same key"
                        .into(),
                ));
            }
            (None, None) => {}
        }
    }
    Ok(out)
}

/// Indexes the shards of one split: pairs each image with its label member and reads the
/// image's header.
///
/// # Errors
/// [`DataError::Format`] naming the shard and member: a truncated archive, an image
/// without a label (or a label without an image), an unreadable label, or (without
/// `skip_bad`) an unreadable image header or a decompression bomb.
fn list_shards(
    shards: &[PathBuf],
    first_shard: u32,
    opts: &ShardOptions,
) -> Result<Listed, DataError> {
    let mut listed = Listed {
        entries: Vec::new(),
        labels: Vec::new(),
        skipped: 0,
    };
    for (k, shard) in shards.iter().enumerate() {
        crate::stop::check("indexing the tar shards")?;
        let members = index_shard(shard)?;
        let file = File::open(shard).map_err(|source| DataError::Io {
            path: shard.clone(),
            source,
        })?;
        let fail = |member: &str, reason: String| DataError::Format {
            path: shard.clone(),
            reason: format!("member {member}: {reason}"),
        };
        for (image, label) in pair_members(&members, &fail)? {
            let (image, label) = (&members[image], &members[label]);
            if label.len > MAX_LABEL_BYTES {
                let reason = format!(
                    "a label of {} bytes; expected a short .cls or .json",
                    label.len
                );
                return Err(fail(&label.name, reason));
            }
            let ext = split_key(&label.name).1;
            let class = read_member(&file, label.offset, label.len)
                .map_err(|e| fail(&label.name, e.to_string()))
                .and_then(|b| parse_label(&b, &ext).map_err(|r| fail(&label.name, r)))?;
            let head_len = image.len.min(128 << 10);
            let hint = ::image::ImageFormat::from_path(&image.name).ok();
            let size = read_member(&file, image.offset, head_len)
                .map_err(|e| e.to_string())
                .and_then(|head| match header_size(&head, hint) {
                    Err(_) if head_len < image.len => read_member(&file, image.offset, image.len)
                        .map_err(|e| e.to_string())
                        .and_then(|all| header_size(&all, hint)),
                    other => other,
                });
            match size {
                Ok((width, height)) => {
                    listed.entries.push(Entry {
                        location: Location::Member {
                            shard: first_shard + k as u32,
                            offset: image.offset,
                            len: image.len,
                            name: image.name.clone().into_boxed_str(),
                        },
                        width,
                        height,
                    });
                    listed.labels.push(class);
                }
                Err(reason) if opts.skip_bad => {
                    eprintln!(
                        "warning: skipping {} member {}: {reason}",
                        shard.display(),
                        image.name
                    );
                    listed.skipped += 1;
                }
                Err(reason) => {
                    return Err(fail(
                        &image.name,
                        format!(
                            "cannot read the image's header: {reason} (set the spec option \
                             skip_bad=true to skip unreadable images)"
                        ),
                    ));
                }
            }
        }
    }
    Ok(listed)
}

/// Class names: `DIR/classes.txt` (one per line) or the class numbers `0..k`.
fn class_names(dir: &Path, max_label: usize) -> Result<Vec<String>, DataError> {
    let path = dir.join("classes.txt");
    if !path.is_file() {
        return Ok((0..=max_label).map(|c| c.to_string()).collect());
    }
    let text = std::fs::read_to_string(&path).map_err(|source| DataError::Io {
        path: path.clone(),
        source,
    })?;
    let names: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    if names.len() <= max_label {
        return Err(DataError::Format {
            path,
            reason: format!(
                "{} class name(s) but the shards hold label {max_label}; expected one name \
                 per line for every label",
                names.len()
            ),
        });
    }
    Ok(names)
}

/// The two splits of a shard directory and the images skipped while indexing.
///
/// # Errors
/// [`DataError::Missing`] without `train/` or without `val/` and `test/`; whatever
/// indexing a shard reports (naming the shard and member); [`DataError::Invalid`] on
/// out-of-range options.
pub fn load_shards(
    dir: &Path,
    opts: &ShardOptions,
    budget: u64,
) -> Result<(ImageDataset, ImageDataset, usize), DataError> {
    opts.check()?;
    require_dir(
        dir,
        "a folder of tar shards: train/ and val/ (or test/) holding shard-000000.tar, ...",
    )?;
    let train_dir = dir.join("train");
    let test_dir = test_split_dir(
        dir,
        "a val/ (or test/) folder of .tar shards next to train/",
    )?;
    require_dir(&train_dir, "a train/ folder of .tar shards")?;
    let train_shards = shard_files(&train_dir)?;
    let test_shards = shard_files(&test_dir)?;
    let train = list_shards(&train_shards, 0, opts)?;
    let test = list_shards(&test_shards, train_shards.len() as u32, opts)?;
    let max_label = train.labels.iter().chain(&test.labels).copied().max();
    let names = class_names(dir, max_label.unwrap_or(0))?;
    let shards: Vec<PathBuf> = train_shards.into_iter().chain(test_shards).collect();
    let per_image = opts.channels() * opts.size * opts.size;
    let in_memory = opts
        .cache
        .in_memory(train.labels.len() + test.labels.len(), per_image, budget);
    let skipped = train.skipped + test.skipped;
    let split = |l: Listed| -> Result<ImageDataset, DataError> {
        let stream = StreamedImages::new(
            l.entries,
            shards.clone(),
            opts.size,
            opts.gray,
            opts.skip_bad,
            StreamOrder::ShardBuffer(opts.buffer),
        );
        let ds = ImageDataset {
            channels: opts.channels(),
            height: opts.size,
            width: opts.size,
            pixels: Vec::new(),
            labels: l.labels,
            class_names: names.clone(),
            stream: Some(Arc::new(stream)),
        };
        if in_memory { materialise(&ds) } else { Ok(ds) }
    };
    Ok((split(train)?, split(test)?, skipped))
}

/// A streamed split decoded into memory (square images of its size).
///
/// # Errors
/// [`DataError::Format`] naming an image that cannot be read (without `skip_bad`; with
/// it, the image is left out).
pub fn materialise(ds: &ImageDataset) -> Result<ImageDataset, DataError> {
    use rayon::prelude::*;
    let Some(stream) = &ds.stream else {
        return Ok(ds.clone());
    };
    let decoded: Vec<_> = (0..stream.len())
        .into_par_iter()
        .map(|i| stream.eval_pixels(i))
        .collect();
    let mut pixels = Vec::with_capacity(ds.len() * ds.image_size());
    let mut labels = Vec::with_capacity(ds.len());
    for (px, &label) in decoded.into_iter().zip(&ds.labels) {
        match px {
            Ok(px) => {
                pixels.extend_from_slice(&px);
                labels.push(label);
            }
            Err(e) if stream.skip_bad() => stream.note_skipped(&e),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ImageDataset {
        pixels,
        labels,
        stream: None,
        ..ds.clone()
    })
}

/// Writes the two splits as tar shards under `out` (`out/train/shard-000000.tar`, ...,
/// `out/val/...`, and `out/classes.txt`), `per_shard` images each, every image's file
/// bytes unchanged as `KEY.EXT` with its label in `KEY.cls`. `out` must not exist or be
/// empty. Each shard is written as `.tar.part` and renamed when complete. Returns the
/// number of shards written per split.
///
/// # Errors
/// [`DataError::Invalid`] when a split is not streamed (nothing to copy the files from) or
/// `out` is not empty; [`DataError::Format`] naming an image that cannot be read;
/// [`DataError::Io`] naming the file that cannot be written.
pub fn write_shards(
    train: &ImageDataset,
    test: &ImageDataset,
    out: &Path,
    per_shard: usize,
    mut progress: impl FnMut(usize),
) -> Result<(usize, usize), DataError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DataError::Io { path, source }
    };
    if std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) {
        return Err(DataError::Invalid {
            what: format!("shard output {}", out.display()),
            reason: "the folder is not empty; expected a new or empty folder".to_string(),
        });
    }
    let per_shard = per_shard.max(1);
    let mut counts = [0usize; 2];
    for (k, (split, name)) in [(train, "train"), (test, "val")].into_iter().enumerate() {
        let stream = split.stream.as_ref().ok_or_else(|| DataError::Invalid {
            what: format!("{name} split"),
            reason: "held in memory; expected a streamed split (cache=none) whose files are \
                     copied into the shards"
                .to_string(),
        })?;
        let dir = out.join(name);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        for (s, chunk) in (0..split.len())
            .collect::<Vec<_>>()
            .chunks(per_shard)
            .enumerate()
        {
            let path = dir.join(format!("shard-{s:06}.tar"));
            let part = path.with_extension("tar.part");
            let file = File::create(&part).map_err(io(&part))?;
            let mut builder = tar::Builder::new(std::io::BufWriter::new(file));
            for &i in chunk {
                let (bytes, ext) = stream.raw_bytes(i).map_err(DataError::from)?;
                let key = format!("{:06}", s * per_shard + (i - chunk[0]));
                append(&mut builder, &format!("{key}.{ext}"), &bytes).map_err(io(&part))?;
                let label = split.labels[i].to_string();
                append(&mut builder, &format!("{key}.cls"), label.as_bytes()).map_err(io(&part))?;
                progress(1);
            }
            builder
                .into_inner()
                .and_then(|mut w| std::io::Write::flush(&mut w))
                .map_err(io(&part))?;
            std::fs::rename(&part, &path).map_err(io(&path))?;
            counts[k] += 1;
        }
    }
    let classes = out.join("classes.txt");
    std::fs::write(&classes, train.class_names.join("\n") + "\n").map_err(io(&classes))?;
    Ok((counts[0], counts[1]))
}

/// Appends one regular file of `bytes` named `name` (mode 0644, time 0: reproducible).
fn append<W: std::io::Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, name, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_labels_parse() {
        assert_eq!(split_key("a/000001.jpg"), ("a/000001", "jpg".to_string()));
        assert_eq!(split_key("x.seg.png"), ("x", "seg.png".to_string()));
        assert_eq!(parse_label(b"7\n", "cls"), Ok(7));
        assert_eq!(parse_label(br#"{"label": 3}"#, "json"), Ok(3));
        assert!(parse_label(b"cat", "cls").unwrap_err().contains("'cat'"));
        assert!(parse_label(br#"{"cls": 3}"#, "json").is_err());
    }
}
