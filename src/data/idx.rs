//! MNIST-style IDX files (MNIST, Fashion-MNIST, KMNIST, ...), raw or gzip.
//!
//! A folder holds `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//! `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte` (also accepted: a `.` before
//! `idx`, e.g. `train-images.idx3-ubyte`, and a `.gz` suffix), directly or in a `raw/`
//! subfolder. Gzip is detected by the file's magic bytes, not its name.
//!
//! IDX layout: a 4-byte big-endian magic `0x0000TTNN` (`TT = 0x08`: unsigned bytes,
//! `NN`: number of dimensions), then `NN` big-endian `u32` dimension sizes, then the
//! data. Images are `idx3` (`count x rows x cols`), labels `idx1` (`count`).

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::dataset::ImageDataset;
use super::error::DataError;
use super::fsio::{first_file, is_gzip, read_file, require_dir};

/// Fashion-MNIST class names (Zalando Research), by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// The IDX element-type byte for unsigned bytes, the only type these loaders read.
const IDX_UBYTE: u8 = 0x08;
/// Default number of classes (MNIST, Fashion-MNIST, KMNIST).
pub const IDX_DEFAULT_CLASSES: usize = 10;
/// Largest number of classes an IDX label file can express (labels are bytes).
pub const IDX_MAX_CLASSES: usize = 256;

/// How class names are chosen for an IDX dataset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IdxNames {
    /// Fashion-MNIST names when the folder path mentions "fashion" (any case), else
    /// numbers.
    #[default]
    Auto,
    /// Always the Fashion-MNIST names (requires 10 classes).
    Fashion,
    /// The label numbers as names: `"0"`, `"1"`, ...
    Numbers,
}

impl IdxNames {
    /// The spec option value: `"auto"`, `"fashion"` or `"numbers"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Fashion => "fashion",
            Self::Numbers => "numbers",
        }
    }

    /// Parses `"auto"`, `"fashion"` or `"numbers"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "fashion" => Some(Self::Fashion),
            "numbers" => Some(Self::Numbers),
            _ => None,
        }
    }

    /// Whether the Fashion-MNIST names apply to the folder `dir`.
    pub fn is_fashion(self, dir: &Path) -> bool {
        match self {
            Self::Fashion => true,
            Self::Numbers => false,
            Self::Auto => dir
                .to_string_lossy()
                .to_ascii_lowercase()
                .contains("fashion"),
        }
    }
}

/// Options of the IDX loader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdxOptions {
    /// How class names are chosen.
    pub names: IdxNames,
    /// Number of classes; every label must be below it (1..=256, default 10).
    pub classes: usize,
}

impl Default for IdxOptions {
    fn default() -> Self {
        Self {
            names: IdxNames::Auto,
            classes: IDX_DEFAULT_CLASSES,
        }
    }
}

/// A decoded `idx3` unsigned-byte image file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows (height) of every image.
    pub rows: usize,
    /// Columns (width) of every image.
    pub cols: usize,
    /// `count * rows * cols` bytes, image-major, row-major.
    pub pixels: Vec<u8>,
}

/// Reads the magic and the dimension sizes from the start of `bytes` (the data after
/// the header is not looked at). Returns the dimension sizes and the header length.
///
/// # Errors
/// [`DataError::Format`] naming `path` on a short header or a wrong magic.
fn parse_dims(
    bytes: &[u8],
    path: &Path,
    ndims: u8,
    what: &str,
) -> Result<(Vec<usize>, usize), DataError> {
    let fmt_err = |reason: String| DataError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let expected_magic = u32::from(IDX_UBYTE) << 8 | u32::from(ndims);
    let Some(magic) = bytes.get(..4) else {
        return Err(fmt_err(format!(
            "truncated: {} bytes, expected at least a 4-byte IDX magic 0x{expected_magic:08x} ({what})",
            bytes.len()
        )));
    };
    if magic != [0, 0, IDX_UBYTE, ndims] {
        return Err(fmt_err(format!(
            "wrong magic number 0x{:02x}{:02x}{:02x}{:02x}: expected 0x{expected_magic:08x} \
             (IDX, unsigned bytes, {ndims} dimension(s): {what})",
            magic[0], magic[1], magic[2], magic[3]
        )));
    }
    let header_len = 4 + 4 * usize::from(ndims);
    let Some(dim_bytes) = bytes.get(4..header_len) else {
        return Err(fmt_err(format!(
            "truncated header: {} bytes, expected {header_len}",
            bytes.len()
        )));
    };
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| {
            let b = [c[0], c[1], c[2], c[3]];
            u32::from_be_bytes(b) as usize
        })
        .collect();
    Ok((dims, header_len))
}

/// The number of data bytes that dimensions `dims` declare.
///
/// # Errors
/// [`DataError::Format`] naming `path` when the product overflows.
fn data_len(dims: &[usize], path: &Path) -> Result<usize, DataError> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::Format {
            path: path.to_path_buf(),
            reason: format!("dimensions {dims:?} overflow"),
        })
}

/// Parses the IDX header of `bytes`, checking the magic for `ndims` unsigned-byte
/// dimensions and the exact data length. Returns the dimension sizes.
///
/// # Errors
/// [`DataError::Format`] naming `path` on a short header, a wrong magic, a data
/// length that does not match the header (truncated or trailing bytes).
fn parse_header(bytes: &[u8], path: &Path, ndims: u8, what: &str) -> Result<Vec<usize>, DataError> {
    let fmt_err = |reason: String| DataError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let (dims, header_len) = parse_dims(bytes, path, ndims, what)?;
    let data_len = data_len(&dims, path)?;
    let found = bytes.len() - header_len;
    if found < data_len {
        return Err(fmt_err(format!(
            "truncated: header declares dimensions {dims:?} ({data_len} data bytes), \
             found {found} data bytes"
        )));
    }
    if found > data_len {
        return Err(fmt_err(format!(
            "{} unexpected trailing bytes after the {data_len} data bytes declared by \
             dimensions {dims:?}",
            found - data_len
        )));
    }
    Ok(dims)
}

/// Largest expansion of a deflate stream: a 258-byte match coded in 2 bits.
const DEFLATE_MAX_RATIO: usize = 1032;

/// The most data bytes a gzip IDX file may declare (2 GiB: EMNIST ByClass, the largest
/// IDX dataset, holds 0.6 GB), whatever its compressed size allows.
pub const MAX_GZIP_IDX_DATA_BYTES: usize = 2 << 30;

/// Returns the IDX file `bytes` decompressed when they are a gzip stream (detected by
/// magic bytes), else unchanged. Decompression is capped absolutely
/// ([`MAX_GZIP_IDX_DATA_BYTES`]) and by the header: the header is
/// decompressed first, checked (magic, then `check` on the dimensions), and then no more
/// than the data bytes it declares are decompressed, so a decompression bomb or a
/// corrupt header is an error naming the file, never an unbounded allocation.
///
/// # Errors
/// [`DataError::Format`] naming `path` on a corrupt or truncated gzip stream, a bad
/// header, dimensions rejected by `check`, a header declaring more data than the
/// compressed stream can hold, or a stream that decompresses past the declared size.
fn gunzip_idx(
    bytes: Vec<u8>,
    path: &Path,
    ndims: u8,
    what: &str,
    check: impl Fn(&[usize]) -> Result<(), DataError>,
) -> Result<Vec<u8>, DataError> {
    gunzip_idx_capped(bytes, path, ndims, what, check, MAX_GZIP_IDX_DATA_BYTES)
}

/// [`gunzip_idx`] with the absolute cap `max_data` on the declared data bytes.
fn gunzip_idx_capped(
    bytes: Vec<u8>,
    path: &Path,
    ndims: u8,
    what: &str,
    check: impl Fn(&[usize]) -> Result<(), DataError>,
    max_data: usize,
) -> Result<Vec<u8>, DataError> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    let fmt_err = |reason: String| DataError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let gz_err = |e: std::io::Error| fmt_err(format!("corrupt or truncated gzip stream: {e}"));
    let mut decoder = MultiGzDecoder::new(bytes.as_slice());
    let header_len = 4 + 4 * usize::from(ndims);
    let mut out = Vec::with_capacity(header_len);
    (&mut decoder)
        .take(header_len as u64)
        .read_to_end(&mut out)
        .map_err(gz_err)?;
    let (dims, _) = parse_dims(&out, path, ndims, what)?;
    check(&dims)?;
    let data_len = data_len(&dims, path)?;
    if data_len > max_data {
        return Err(fmt_err(format!(
            "header declares dimensions {dims:?} ({data_len} data bytes); a gzip IDX file may \
             hold at most {max_data} bytes{} of data (decompress it first if it really is that \
             large)",
            match max_data % (1 << 30) {
                0 => format!(" ({} GiB)", max_data >> 30),
                _ => String::new(),
            }
        )));
    }
    let most = bytes.len().saturating_mul(DEFLATE_MAX_RATIO);
    if data_len > most {
        return Err(fmt_err(format!(
            "truncated: header declares dimensions {dims:?} ({data_len} data bytes), more \
             than a gzip stream of {} bytes can hold (at most {most})",
            bytes.len()
        )));
    }
    out.reserve(data_len.min(bytes.len().saturating_mul(4)));
    let cap = data_len as u64 + 1;
    (&mut decoder)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(gz_err)?;
    if out.len() > header_len + data_len {
        return Err(fmt_err(format!(
            "gzip stream decompresses to more than the {} bytes (header + {data_len} data \
             bytes) that dimensions {dims:?} declare; not read further",
            header_len + data_len
        )));
    }
    Ok(out)
}

/// Parses an `idx3` unsigned-byte image file (already decompressed).
///
/// # Errors
/// [`DataError::Format`] naming `path` on a wrong magic (expected `0x00000803`), a
/// truncated file, trailing bytes, zero images or a zero-sized image.
pub fn parse_idx_images(bytes: &[u8], path: &Path) -> Result<IdxImages, DataError> {
    let dims = parse_header(bytes, path, 3, "images count x rows x cols")?;
    let (count, rows, cols) = match dims.as_slice() {
        &[n, r, c] => (n, r, c),
        _ => {
            return Err(DataError::Format {
                path: path.to_path_buf(),
                reason: format!("expected 3 dimensions, found {dims:?}"),
            });
        }
    };
    if count == 0 || rows == 0 || cols == 0 {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            reason: format!(
                "holds {count} images of {rows}x{cols}; expected at least one non-empty image"
            ),
        });
    }
    let header_len = 16;
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: bytes.get(header_len..).unwrap_or_default().to_vec(),
    })
}

/// Parses an `idx1` unsigned-byte label file (already decompressed).
///
/// # Errors
/// [`DataError::Format`] naming `path` on a wrong magic (expected `0x00000801`), a
/// truncated file or trailing bytes.
pub fn parse_idx_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    parse_header(bytes, path, 1, "labels count")?;
    Ok(bytes.get(8..).unwrap_or_default().to_vec())
}

/// Builds one split from the bytes of an image file and a label file (each raw or
/// gzip, detected by magic bytes).
///
/// Gzip decompression reads no more than the header declares (and the label header
/// must declare the image count before any label is decompressed), so a decompression
/// bomb is an error naming the file, not an unbounded allocation.
///
/// # Errors
/// [`DataError::Format`] naming the file on a corrupt gzip stream, a gzip stream that
/// decompresses past its header's declared size, an invalid IDX file (see
/// [`parse_idx_images`], [`parse_idx_labels`]), a label count that differs from the
/// image count, or a label `>= class_names.len()`.
pub fn idx_split(
    images: (Vec<u8>, &Path),
    labels: (Vec<u8>, &Path),
    class_names: &[String],
) -> Result<ImageDataset, DataError> {
    let (img_bytes, img_path) = images;
    let (lbl_bytes, lbl_path) = labels;
    let img_what = "images count x rows x cols";
    let img = gunzip_idx(img_bytes, img_path, 3, img_what, |_| Ok(()))?;
    let img = parse_idx_images(&img, img_path)?;
    let count_err = |labels: usize| DataError::Format {
        path: lbl_path.to_path_buf(),
        reason: format!(
            "holds {labels} labels but {} holds {} images; expected one label per image",
            img_path.display(),
            img.count
        ),
    };
    // The label count is checked against the image count before the labels are
    // decompressed: a header claiming billions of labels is rejected at once.
    let lbl = gunzip_idx(lbl_bytes, lbl_path, 1, "labels count", |dims| match dims {
        &[n] if n != img.count => Err(count_err(n)),
        _ => Ok(()),
    })?;
    let lbl = parse_idx_labels(&lbl, lbl_path)?;
    if lbl.len() != img.count {
        return Err(count_err(lbl.len()));
    }
    let classes = class_names.len();
    if let Some((i, &l)) = lbl
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= classes)
    {
        return Err(DataError::Format {
            path: lbl_path.to_path_buf(),
            reason: format!(
                "label {l} at index {i} is out of range: expected 0..={} ({classes} classes; \
                 set the spec option classes=N for more)",
                classes.saturating_sub(1)
            ),
        });
    }
    Ok(ImageDataset {
        channels: 1,
        height: img.rows,
        width: img.cols,
        pixels: img.pixels,
        labels: lbl.into_iter().map(usize::from).collect(),
        class_names: class_names.to_vec(),
        stream: None,
    })
}

/// Candidate file names for `prefix` (`train`/`t10k`) and `kind` (`images`/`labels`).
fn candidates(prefix: &str, kind: &str, idx: &str) -> Vec<String> {
    let mut v = Vec::with_capacity(4);
    for sep in ['-', '.'] {
        for gz in ["", ".gz"] {
            v.push(format!("{prefix}-{kind}{sep}{idx}-ubyte{gz}"));
        }
    }
    v
}

/// Finds `prefix-kind-idxN-ubyte[.gz]` in `root`.
///
/// # Errors
/// [`DataError::Missing`] naming the expected file.
fn find(root: &Path, prefix: &str, kind: &str, idx: &str) -> Result<PathBuf, DataError> {
    let names = candidates(prefix, kind, idx);
    first_file(root, &names).ok_or_else(|| DataError::Missing {
        path: root.join(format!("{prefix}-{kind}-{idx}-ubyte")),
        expected: format!(
            "the IDX file {prefix}-{kind}-{idx}-ubyte (or .gz) in {}",
            root.display()
        ),
    })
}

/// The class names for `options` and folder `dir`.
///
/// # Errors
/// [`DataError::Invalid`] when `classes` is outside
/// `1..=256` or Fashion-MNIST names are asked for with `classes != 10`.
pub fn idx_class_names(options: &IdxOptions, dir: &Path) -> Result<Vec<String>, DataError> {
    let classes = options.classes;
    if !(1..=IDX_MAX_CLASSES).contains(&classes) {
        return Err(DataError::Invalid {
            what: "IDX options".to_string(),
            reason: format!("classes={classes}, expected 1..={IDX_MAX_CLASSES}"),
        });
    }
    if options.names.is_fashion(dir) {
        if classes != FASHION_MNIST_CLASSES.len() {
            return Err(DataError::Invalid {
                what: "IDX options".to_string(),
                reason: format!(
                    "Fashion-MNIST names need classes=10, got classes={classes} \
                     (use names=numbers)"
                ),
            });
        }
        Ok(FASHION_MNIST_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect())
    } else {
        Ok((0..classes).map(|i| i.to_string()).collect())
    }
}

/// Loads an IDX dataset from `dir` (or `dir/raw`), returning `(train, test)`.
///
/// # Errors
/// [`DataError::Missing`] when `dir` or one of the four files does not exist;
/// [`DataError::Format`] naming the file when it is invalid (see [`idx_split`]) or
/// the test images do not have the train images' size; [`DataError::Invalid`] on
/// inconsistent options; [`DataError::Io`] on read failures.
pub fn load_idx(
    dir: &Path,
    options: &IdxOptions,
) -> Result<(ImageDataset, ImageDataset), DataError> {
    require_dir(
        dir,
        "a folder with MNIST-style IDX files (train-images-idx3-ubyte[.gz], \
         train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])",
    )?;
    let raw = dir.join("raw");
    let root = if find(dir, "train", "images", "idx3").is_err()
        && find(&raw, "train", "images", "idx3").is_ok()
    {
        raw
    } else {
        dir.to_path_buf()
    };
    let class_names = idx_class_names(options, dir)?;
    let mut splits = Vec::with_capacity(2);
    for prefix in ["train", "t10k"] {
        let img_path = find(&root, prefix, "images", "idx3")?;
        let lbl_path = find(&root, prefix, "labels", "idx1")?;
        let img = read_file(&img_path, "an IDX image file")?;
        let lbl = read_file(&lbl_path, "an IDX label file")?;
        let split = idx_split((img, &img_path), (lbl, &lbl_path), &class_names)?;
        splits.push((split, img_path));
    }
    let mut it = splits.into_iter();
    let (Some((train, _)), Some((test, test_path))) = (it.next(), it.next()) else {
        return Err(DataError::Missing {
            path: root,
            expected: "train and t10k IDX files".to_string(),
        });
    };
    if (test.height, test.width) != (train.height, train.width) {
        return Err(DataError::Format {
            path: test_path,
            reason: format!(
                "test images are {}x{} but train images are {}x{}; expected the same size",
                test.height, test.width, train.height, train.width
            ),
        });
    }
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_gzip_header_over_the_absolute_cap_is_refused_before_decompressing() {
        use std::io::Write;
        // 100 labels, within what the stream could hold, but over a 64-byte cap.
        let mut raw = vec![0, 0, 8, 1, 0, 0, 0, 100];
        raw.extend(std::iter::repeat_n(1u8, 100));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        let bytes = gz.finish().unwrap();
        let path = std::path::Path::new("labels.gz");
        let ok = super::gunzip_idx_capped(bytes.clone(), path, 1, "labels", |_| Ok(()), 100);
        assert_eq!(ok.unwrap(), raw);
        let err = super::gunzip_idx_capped(bytes, path, 1, "labels", |_| Ok(()), 64).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("labels.gz") && text.contains("at most 64 bytes of data"),
            "{text}"
        );
    }

    use super::*;

    fn idx3(n: u32, r: u32, c: u32, data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, 3];
        for d in [n, r, c] {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn header_checks() {
        let p = Path::new("f");
        assert!(parse_idx_images(&idx3(1, 2, 2, &[1, 2, 3, 4]), p).is_ok());
        let e = parse_idx_images(&idx3(1, 2, 2, &[1, 2, 3]), p).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = parse_idx_images(&idx3(1, 2, 2, &[1, 2, 3, 4, 5]), p).unwrap_err();
        assert!(e.to_string().contains("trailing"), "{e}");
        let e = parse_idx_images(&[0, 0, 8], p).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = parse_idx_images(&[0, 0, 8, 3, 0, 0], p).unwrap_err();
        assert!(e.to_string().contains("truncated header"), "{e}");
        let e = parse_idx_labels(&idx3(1, 1, 1, &[0]), p).unwrap_err();
        assert!(e.to_string().contains("0x00000801"), "{e}");
        let huge = idx3(u32::MAX, u32::MAX, u32::MAX, &[]);
        assert!(parse_idx_images(&huge, p).is_err());
        let e = parse_idx_images(&idx3(0, 2, 2, &[]), p).unwrap_err();
        assert!(e.to_string().contains("0 images"), "{e}");
    }

    #[test]
    fn names_auto_detects_fashion() {
        assert!(IdxNames::Auto.is_fashion(Path::new("/usr/share/datasets/fashion-mnist")));
        assert!(!IdxNames::Auto.is_fashion(Path::new("/data/mnist")));
        let names = idx_class_names(&IdxOptions::default(), Path::new("mnist")).unwrap();
        assert_eq!(names.first().map(String::as_str), Some("0"));
        let bad = IdxOptions {
            names: IdxNames::Fashion,
            classes: 26,
        };
        assert!(idx_class_names(&bad, Path::new("x")).is_err());
    }
}
