//! Which (anchor, contrast) pairs are positives, which enter the denominator.
//!
//! The contrast set stacks all views view-major: contrast row `k = v * batch + i` is view
//! `v` of sample `i`. Anchors are the first `anchors` contrast rows: every row
//! (`ContrastMode::All`, `anchors = views * batch`) or view 0 only (`ContrastMode::One`,
//! `anchors = batch`). So anchor `a` is contrast row `a`, its own sample is `a % batch`,
//! and it never contrasts with itself.
//!
//! This module is plain CPU code on slices: the plain loss materialises every row, the
//! tiled loss asks for one block of rows at a time.

use super::error::LossError;

/// Where the positives of each anchor come from.
#[derive(Clone, Copy, Debug)]
pub enum Positives<'a> {
    /// Class labels, one per sample (`[batch]`): same label = positive (SupCon).
    Labels(&'a [usize]),
    /// An explicit `[batch, batch]` row-major mask: `mask[i * batch + j] > 0` makes sample
    /// `j` a positive of anchors from sample `i`, with that weight (1 for plain positives).
    /// May be asymmetric. The diagonal decides whether other views of the anchor's own
    /// sample are positives.
    Mask(&'a [f32]),
    /// No labels (SimCLR): the positives of an anchor are the other views of its sample.
    Instance,
}

/// Extra contrast entries from a memory bank (no gradient, never anchors), appended after
/// the batch's `views * batch` contrast rows.
#[derive(Clone, Copy, Debug, Default)]
pub struct QueueSpec<'a> {
    /// Number of queued entries.
    pub len: usize,
    /// Their labels (required with [`Positives::Labels`]); with [`Positives::Instance`]
    /// (SimCLR) queued entries are always negatives, since sample identity does not
    /// survive across batches.
    pub labels: Option<&'a [usize]>,
}

/// The pair structure of one loss call: answers, per anchor row, the positive weight and
/// whether the entry counts in the softmax denominator.
#[derive(Clone, Debug)]
pub struct PairSpec<'a> {
    positives: Positives<'a>,
    batch: usize,
    views: usize,
    anchors: usize,
    cap: Option<usize>,
    cap_seed: u64,
    queue: QueueSpec<'a>,
}

impl<'a> PairSpec<'a> {
    /// Validates `positives` against the batch and builds the pair structure.
    ///
    /// `anchors` is `batch` (contrast mode one) or `batch * views` (all). `cap` limits the
    /// positives per anchor that come from *other* samples (see [`super::SupConLossConfig`]).
    ///
    /// # Errors
    /// [`LossError::LabelsLength`], [`LossError::MaskShape`] or [`LossError::MaskValue`].
    pub fn new(
        positives: Positives<'a>,
        batch: usize,
        views: usize,
        anchors: usize,
        cap: Option<usize>,
        cap_seed: u64,
    ) -> Result<Self, LossError> {
        match positives {
            Positives::Labels(labels) if labels.len() != batch => {
                return Err(LossError::LabelsLength {
                    labels: labels.len(),
                    batch,
                });
            }
            Positives::Mask(mask) => {
                if mask.len() != batch * batch {
                    return Err(LossError::MaskShape {
                        len: mask.len(),
                        batch,
                    });
                }
                if let Some(pos) = mask.iter().position(|v| !v.is_finite() || *v < 0.0) {
                    return Err(LossError::MaskValue {
                        row: pos / batch,
                        col: pos % batch,
                        value: mask[pos],
                    });
                }
            }
            _ => {}
        }
        Ok(Self {
            positives,
            batch,
            views,
            anchors,
            cap,
            cap_seed,
            queue: QueueSpec::default(),
        })
    }

    /// Adds memory-bank entries as extra contrast columns.
    ///
    /// # Errors
    /// [`LossError::Shape`] when labels are needed but missing or of the wrong length, or
    /// with an explicit mask (it only describes pairs within the batch).
    pub fn with_queue(mut self, queue: QueueSpec<'a>) -> Result<Self, LossError> {
        if queue.len > 0 {
            match (self.positives, queue.labels) {
                (Positives::Mask(_), _) => {
                    return Err(LossError::Shape(
                        "a memory bank cannot be combined with an explicit positive mask (the mask only covers the batch)".into(),
                    ));
                }
                (Positives::Labels(_), None) => {
                    return Err(LossError::Shape(
                        "memory bank: labels are required for SupCon".into(),
                    ));
                }
                (_, Some(l)) if l.len() != queue.len => {
                    return Err(LossError::Shape(format!(
                        "memory bank: {} labels for {} entries",
                        l.len(),
                        queue.len
                    )));
                }
                _ => {}
            }
        }
        self.queue = queue;
        Ok(self)
    }

    /// Number of anchor rows.
    pub fn anchors(&self) -> usize {
        self.anchors
    }

    /// Number of contrast columns (`views * batch` plus the memory-bank entries).
    pub fn contrast(&self) -> usize {
        self.views * self.batch + self.queue.len
    }

    /// Positive weight of sample `j` for an anchor of sample `i` (before self-exclusion).
    #[inline]
    fn sample_weight(&self, i: usize, j: usize) -> f32 {
        match self.positives {
            Positives::Labels(labels) => f32::from(u8::from(labels[i] == labels[j])),
            Positives::Mask(mask) => mask[i * self.batch + j],
            Positives::Instance => f32::from(u8::from(i == j)),
        }
    }

    /// Fills one anchor row: `weight[k]` is the positive weight of contrast column `k`
    /// (0 for negatives, self and capped-out positives) and `keep[k]` says whether column
    /// `k` enters the denominator (false for self and capped-out positives).
    ///
    /// # Panics
    /// If `a >= anchors()` or the slices are not `contrast()` long (internal callers only).
    pub fn fill_row(&self, a: usize, weight: &mut [f32], keep: &mut [bool]) {
        let m = self.contrast();
        assert!(a < self.anchors && weight.len() == m && keep.len() == m);
        let i = a % self.batch;
        let in_batch = self.views * self.batch;
        for k in 0..in_batch {
            weight[k] = self.sample_weight(i, k % self.batch);
            keep[k] = true;
        }
        for k in in_batch..m {
            weight[k] = match (self.positives, self.queue.labels) {
                (Positives::Labels(labels), Some(q)) => {
                    f32::from(u8::from(labels[i] == q[k - in_batch]))
                }
                _ => 0.0,
            };
            keep[k] = true;
        }
        weight[a] = 0.0;
        keep[a] = false;
        if let Some(cap) = self.cap {
            self.apply_cap(a, i, cap, weight, keep);
        }
    }

    /// Keeps at most `cap` positives from other samples (views of the anchor's own sample
    /// always stay), chosen by a seeded hash so the choice is random but reproducible.
    /// Dropped positives leave both the numerator and the denominator, as in the official
    /// TensorFlow implementation's `positives_cap` with `denominator_mode = "all"`.
    fn apply_cap(&self, a: usize, i: usize, cap: usize, weight: &mut [f32], keep: &mut [bool]) {
        let in_batch = self.views * self.batch;
        let mut others: Vec<(u64, usize)> = (0..weight.len())
            .filter(|&k| weight[k] > 0.0 && (k >= in_batch || k % self.batch != i))
            .map(|k| (mix(self.cap_seed, a as u64, k as u64), k))
            .collect();
        if others.len() <= cap {
            return;
        }
        others.select_nth_unstable(cap);
        for &(_, k) in &others[cap..] {
            weight[k] = 0.0;
            keep[k] = false;
        }
    }

    /// Per-column group ids, when the pair structure is "same id, not self": contrast
    /// columns `a` and `k` (anchor `a` is column `a`) are positives exactly when their ids
    /// are equal and `k != a`, and every column but `a` enters the denominator. That holds
    /// for labels (id = label) and SimCLR (id = sample index; memory-bank entries get -1,
    /// which matches nothing) without a positives cap. `None` for an explicit mask, a cap,
    /// or a label too large for a 32-bit id: those need [`Self::fill_row`].
    ///
    /// With these `contrast()` ids a device builds the `[anchors, contrast]` masks itself
    /// instead of receiving `anchors * contrast` values from the host.
    pub fn column_ids(&self) -> Option<Vec<i64>> {
        if self.cap.is_some() {
            return None;
        }
        let in_batch = self.views * self.batch;
        let mut ids = Vec::with_capacity(self.contrast());
        match self.positives {
            Positives::Labels(labels) => {
                if labels.iter().any(|&l| l > i32::MAX as usize) {
                    return None;
                }
                ids.extend((0..in_batch).map(|k| labels[k % self.batch] as i64));
                if self.queue.len > 0 {
                    let queue = self.queue.labels?;
                    if queue.iter().any(|&l| l > i32::MAX as usize) {
                        return None;
                    }
                    ids.extend(queue.iter().map(|&l| l as i64));
                }
            }
            Positives::Instance => {
                ids.extend((0..in_batch).map(|k| (k % self.batch) as i64));
                ids.extend(std::iter::repeat_n(-1, self.queue.len));
            }
            Positives::Mask(_) => return None,
        }
        Some(ids)
    }

    /// Materialises all rows: `(weights, keep)`, each `anchors * contrast` long, row-major.
    pub fn dense(&self) -> (Vec<f32>, Vec<bool>) {
        let m = self.contrast();
        let mut weight = vec![0.0f32; self.anchors * m];
        let mut keep = vec![false; self.anchors * m];
        for (a, (w, k)) in weight
            .chunks_exact_mut(m)
            .zip(keep.chunks_exact_mut(m))
            .enumerate()
        {
            self.fill_row(a, w, k);
        }
        (weight, keep)
    }
}

/// SplitMix64-style mixing of three words into one pseudo-random word.
fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut z = seed
        .wrapping_add(a.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(b.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_rows_exclude_self_and_mark_same_label() {
        // batch 3, 2 views, labels [0, 1, 0]; contrast rows: v0: s0 s1 s2, v1: s0 s1 s2.
        let labels = [0, 1, 0];
        let spec = PairSpec::new(Positives::Labels(&labels), 3, 2, 6, None, 0).unwrap();
        let (w, k) = spec.dense();
        assert_eq!(&w[0..6], &[0.0, 0.0, 1.0, 1.0, 0.0, 1.0]);
        assert_eq!(&k[0..6], &[false, true, true, true, true, true]);
        // anchor 4 = view 1 of sample 1: only view 0 of sample 1 is positive.
        assert_eq!(&w[24..30], &[0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn instance_positives_are_other_views() {
        let spec = PairSpec::new(Positives::Instance, 2, 3, 6, None, 0).unwrap();
        let (w, _) = spec.dense();
        // anchor 2 = view 1 of sample 0: views 0 and 2 of sample 0 (columns 0 and 4).
        assert_eq!(&w[12..18], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn cap_keeps_own_views_and_at_most_cap_others() {
        let labels = [0; 6];
        let spec = PairSpec::new(Positives::Labels(&labels), 6, 2, 12, Some(2), 7).unwrap();
        let (w, k) = spec.dense();
        for a in 0..12 {
            let row = &w[a * 12..(a + 1) * 12];
            let own = (a + 6) % 12;
            assert_eq!(row[own], 1.0, "own view kept for anchor {a}");
            let others = row
                .iter()
                .enumerate()
                .filter(|&(c, &v)| v > 0.0 && c % 6 != a % 6)
                .count();
            assert_eq!(others, 2, "anchor {a}");
            // dropped positives leave the denominator: only self + 12 - 1 - 1 - 2 = 8 dropped.
            let kept = k[a * 12..(a + 1) * 12].iter().filter(|&&x| x).count();
            assert_eq!(kept, 3);
        }
    }

    #[test]
    fn rejects_bad_shapes_and_values() {
        let err = PairSpec::new(Positives::Labels(&[0, 1]), 3, 2, 6, None, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "labels: length 2 does not match the batch size 3"
        );
        let err = PairSpec::new(Positives::Mask(&[1.0; 8]), 3, 2, 6, None, 0).unwrap_err();
        assert!(err.to_string().contains("9"), "{err}");
        let mask = [1.0, 0.0, f32::NAN, 1.0];
        let err = PairSpec::new(Positives::Mask(&mask), 2, 2, 4, None, 0).unwrap_err();
        assert!(err.to_string().starts_with("mask[1][0] = NaN"), "{err}");
    }
}
