//! Subsets of a split (a size limit, a k-shot subset) and a consistency check.
//!
//! Subsets keep the selected images in their original order, so a subset of a
//! subset behaves predictably; the batcher shuffles anyway.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::dataset::ImageDataset;
use super::error::DataError;

/// Checks that `ds` is a usable split: at least one class and one image, non-zero
/// image size, `channels * height * width` bytes per image, and every label below
/// the number of classes.
///
/// # Errors
/// [`DataError::Invalid`] describing the first problem found.
pub fn validate(ds: &ImageDataset) -> Result<(), DataError> {
    let bad = |reason: String| {
        Err(DataError::Invalid {
            what: "dataset".to_string(),
            reason,
        })
    };
    if ds.class_names.is_empty() {
        return bad("no class names; expected at least one class".to_string());
    }
    if ds.labels.is_empty() {
        return bad("no images; expected at least one".to_string());
    }
    let size = ds.image_size();
    if size == 0 {
        return bad(format!(
            "image shape {}x{}x{} is empty",
            ds.channels, ds.height, ds.width
        ));
    }
    if let Some(stream) = &ds.stream {
        if stream.len() != ds.labels.len() || !ds.pixels.is_empty() {
            return bad(format!(
                "{} streamed images for {} labels; expected one image per label",
                stream.len(),
                ds.labels.len()
            ));
        }
    } else if ds.labels.len().checked_mul(size) != Some(ds.pixels.len()) {
        let expected = ds.labels.len().checked_mul(size);
        return bad(format!(
            "{} pixel bytes for {} images of {}x{}x{}; expected {}",
            ds.pixels.len(),
            ds.labels.len(),
            ds.channels,
            ds.height,
            ds.width,
            expected.map_or_else(|| "an overflow-free size".to_string(), |e| e.to_string())
        ));
    }
    let k = ds.num_classes();
    if let Some((i, &l)) = ds.labels.iter().enumerate().find(|&(_, &l)| l >= k) {
        return bad(format!(
            "label {l} of image {i} is out of range; expected < {k} (number of classes)"
        ));
    }
    Ok(())
}

/// Indices of `ds` grouped by label, in label order: one group per class (possibly
/// empty), then one per out-of-range label present, so nothing is lost and no
/// label can index past a table.
fn by_class(ds: &ImageDataset) -> Vec<Vec<usize>> {
    let mut groups: BTreeMap<usize, Vec<usize>> =
        (0..ds.num_classes()).map(|c| (c, Vec::new())).collect();
    for (i, &l) in ds.labels.iter().enumerate() {
        groups.entry(l).or_default().push(i);
    }
    groups.into_values().collect()
}

/// A new split holding images `indices` of `ds` (in the given order; indices past
/// the end or of incomplete images are ignored).
pub fn select(ds: &ImageDataset, indices: &[usize]) -> ImageDataset {
    if let Some(stream) = &ds.stream {
        let kept: Vec<usize> = indices
            .iter()
            .copied()
            .filter(|&i| i < ds.labels.len() && i < stream.len())
            .collect();
        return ImageDataset {
            pixels: Vec::new(),
            labels: kept.iter().map(|&i| ds.labels[i]).collect(),
            stream: Some(std::sync::Arc::new(stream.select(&kept))),
            ..ds.clone()
        };
    }
    let size = ds.image_size();
    let mut pixels = Vec::with_capacity(indices.len() * size);
    let mut labels = Vec::with_capacity(indices.len());
    for &i in indices {
        let range = i
            .checked_mul(size)
            .and_then(|s| s.checked_add(size).map(|e| s..e));
        if let (Some(&l), Some(px)) = (ds.labels.get(i), range.and_then(|r| ds.pixels.get(r))) {
            labels.push(l);
            pixels.extend_from_slice(px);
        }
    }
    ImageDataset {
        channels: ds.channels,
        height: ds.height,
        width: ds.width,
        pixels,
        labels,
        class_names: ds.class_names.clone(),
        stream: None,
    }
}

/// At most `n` images of `ds`, class-balanced and seeded.
///
/// Stratification: each class's images are shuffled with `seed`, then classes are
/// visited round-robin (in label order), taking one image from each class that has
/// some left, until `n` are taken. So every class gets `n / classes` images (one more
/// for the first `n % classes`) while it has them; a class that runs out leaves its
/// share to the others. The result keeps the original image order. With
/// `n >= ds.len()` the whole split is returned (as a copy).
pub fn limit(ds: &ImageDataset, n: usize, seed: u64) -> ImageDataset {
    if n >= ds.len() {
        return select(ds, &(0..ds.len()).collect::<Vec<_>>());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut groups = by_class(ds);
    for g in &mut groups {
        g.shuffle(&mut rng);
        g.reverse(); // pop() from the end takes the shuffled order front-first
    }
    let mut chosen = Vec::with_capacity(n);
    while chosen.len() < n {
        let before = chosen.len();
        for g in &mut groups {
            if chosen.len() == n {
                break;
            }
            if let Some(i) = g.pop() {
                chosen.push(i);
            }
        }
        if chosen.len() == before {
            break;
        }
    }
    chosen.sort_unstable();
    select(ds, &chosen)
}

/// The seed of [`holdout`]'s draw: fixed, so that every stage and every training seed of
/// a study sees the same validation split.
pub const HOLDOUT_SEED: u64 = 0x005e_ed0f_7a11;

/// Splits `ds` into `(rest, held_out)`, class-stratified: of each class's images, shuffled
/// with [`HOLDOUT_SEED`], `round(fraction * count)` are held out. Both parts keep the
/// original image order.
///
/// # Errors
/// [`DataError::Invalid`] when `fraction` is not in `(0, 1)`, or either part would be empty.
pub fn holdout(
    ds: &ImageDataset,
    fraction: f64,
) -> Result<(ImageDataset, ImageDataset), DataError> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(DataError::Invalid {
            what: "--val-split".into(),
            reason: format!("{fraction}: expected a fraction of the training set in (0, 1)"),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(HOLDOUT_SEED);
    let (mut rest, mut held) = (Vec::new(), Vec::new());
    for mut group in by_class(ds) {
        group.shuffle(&mut rng);
        let n = (fraction * group.len() as f64).round() as usize;
        held.extend_from_slice(&group[..n]);
        rest.extend_from_slice(&group[n..]);
    }
    if held.is_empty() || rest.is_empty() {
        return Err(DataError::Invalid {
            what: "--val-split".into(),
            reason: format!(
                "{fraction} of {} training images leaves {} for training and {} held out; \
                 both need at least one",
                ds.len(),
                rest.len(),
                held.len()
            ),
        });
    }
    rest.sort_unstable();
    held.sort_unstable();
    Ok((select(ds, &rest), select(ds, &held)))
}

/// Exactly `k` images of every class of `ds`, chosen with `seed` (the result keeps
/// the original image order).
///
/// # Errors
/// [`DataError::Invalid`] when `k` is 0, `ds` fails [`validate`], or a class has
/// fewer than `k` images (naming the class, its id and its count).
pub fn shots(ds: &ImageDataset, k: usize, seed: u64) -> Result<ImageDataset, DataError> {
    let what = format!("{k}-shot subset");
    if k == 0 {
        return Err(DataError::Invalid {
            what,
            reason: "k must be at least 1".to_string(),
        });
    }
    validate(ds)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut chosen = Vec::with_capacity(k * ds.num_classes());
    for (label, mut g) in by_class(ds).into_iter().enumerate() {
        if g.len() < k {
            let name = ds
                .class_names
                .get(label)
                .map_or("?", String::as_str)
                .to_string();
            return Err(DataError::Invalid {
                what,
                reason: format!(
                    "class '{name}' (label {label}) has {} image(s); expected at least {k}",
                    g.len()
                ),
            });
        }
        g.shuffle(&mut rng);
        g.truncate(k);
        chosen.extend(g);
    }
    chosen.sort_unstable();
    Ok(select(ds, &chosen))
}

/// Number of images of each class (indexed by label; labels beyond the class list
/// are not counted).
pub fn class_counts(ds: &ImageDataset) -> Vec<usize> {
    let mut counts = vec![0usize; ds.num_classes()];
    for &l in &ds.labels {
        if let Some(c) = counts.get_mut(l) {
            *c += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holdout_is_stratified_disjoint_and_fixed() {
        // 3 classes of 10, 20 and 30 images.
        let labels: Vec<usize> = (0..60)
            .map(|i| usize::from(i >= 10) + usize::from(i >= 30))
            .collect();
        let ds = toy(&labels, 3);
        let (rest, held) = holdout(&ds, 0.2).unwrap();
        assert_eq!(class_counts(&held), vec![2, 4, 6]);
        assert_eq!(class_counts(&rest), vec![8, 16, 24]);
        // Pixels are the image indices: disjoint, and together every image once.
        let mut all: Vec<u8> = rest.pixels.iter().chain(&held.pixels).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..60).collect::<Vec<u8>>());
        // The same draw every time, whatever else is seeded.
        assert_eq!(holdout(&ds, 0.2).unwrap().1.pixels, held.pixels);
        let err = holdout(&ds, 1.0).unwrap_err().to_string();
        assert!(
            err.contains("--val-split") && err.contains("(0, 1)"),
            "{err}"
        );
        let err = holdout(&toy(&[0, 1], 2), 0.2).unwrap_err().to_string();
        assert!(err.contains("0 held out"), "{err}");
    }

    fn toy(labels: &[usize], classes: usize) -> ImageDataset {
        ImageDataset {
            channels: 1,
            height: 1,
            width: 1,
            pixels: (0..labels.len()).map(|i| i as u8).collect(),
            labels: labels.to_vec(),
            class_names: (0..classes).map(|c| format!("c{c}")).collect(),
            stream: None,
        }
    }

    #[test]
    fn limit_is_balanced_seeded_and_ordered() {
        let ds = toy(&[0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2], 3);
        let a = limit(&ds, 6, 7);
        assert_eq!(a.len(), 6);
        assert_eq!(class_counts(&a), vec![2, 2, 2]);
        assert_eq!(a, limit(&ds, 6, 7));
        assert!(
            a.pixels.windows(2).all(|w| w[0] < w[1]),
            "original order kept"
        );
        let b = limit(&ds, 10, 1);
        assert_eq!(class_counts(&b), vec![4, 2, 4]);
        assert_eq!(limit(&ds, 100, 0), ds);
        assert!(limit(&ds, 0, 0).is_empty());
        let odd = toy(&[0, usize::MAX, 1, 1], 2);
        assert_eq!(class_counts(&limit(&odd, 3, 0)).iter().sum::<usize>(), 2);
        assert_eq!(
            limit(&odd, 3, 0).len(),
            3,
            "no panic on out-of-range labels"
        );
    }

    #[test]
    fn shots_and_validate() {
        let ds = toy(&[0, 1, 0, 1, 0, 2], 3);
        assert_eq!(class_counts(&shots(&ds, 1, 0).unwrap()), vec![1, 1, 1]);
        let e = shots(&ds, 2, 0).unwrap_err().to_string();
        assert!(e.contains("class 'c2' (label 2) has 1 image"), "{e}");
        assert!(shots(&ds, 0, 0).is_err());
        let bad = toy(&[0, 3], 3);
        let e = validate(&bad).unwrap_err().to_string();
        assert!(e.contains("label 3 of image 1"), "{e}");
        let mut bad = toy(&[0, 1], 2);
        bad.pixels.pop();
        assert!(validate(&bad).is_err());
        assert!(validate(&toy(&[], 2)).is_err());
        assert!(validate(&toy(&[0], 0)).is_err());
    }
}
