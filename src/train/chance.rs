//! The contrastive loss of a run that has learned nothing ("chance"), the best loss the
//! batch allows ("floor"), and the warning of a pre-training run whose mean loss after its
//! first epoch still sits near chance. An epoch of fewer than [`MIN_CHECK_STEPS`] steps
//! (the 500-image builtin set has 3 at batch 128) says little, so the check is made at the
//! end of the first epoch that takes the run to at least that many steps.
//!
//! When every similarity is equal, every entry of an anchor's softmax is `1 / |A|`, with
//! `|A|` the contrast entries other than the anchor (`V * B - 1` for `V` views of `B`
//! images, plus a memory bank's entries, minus positives a cap drops). Then
//!
//! - `L_out = ln |A|` whatever the positives (the mean of `-ln(1/|A|)` over them), and
//! - `L_in = ln |A| - ln |P|`,
//!
//! both times `tau / base_tau`. That is `ln(2B - 1)` for the default 2 views without a bank:
//! 5.54 at batch 128. The floor is reached when all of an anchor's softmax mass sits evenly
//! on its `|P|` positives: `L_out = ln |P|`, `L_in = 0`. `|P|` is the expected count:
//! the anchor's other views, plus for SupCon every same-label entry among the other
//! samples' views and the bank, `(V * (B - 1) + K) * sum_c p_c^2` for class fractions `p_c`
//! of the training set (none for SimCLR).
//!
//! "Near chance" means the loss has closed less than [`NEAR_CHANCE_PROGRESS`] of the gap
//! from chance to the floor: `(chance - loss) / (chance - floor) < 0.1`. Measured for
//! issue 22 on CIFAR-10 (10k images, batch 128, 10 classes: chance 5.541, floor 3.273),
//! the default recipe (LR 0.0625, no warm-up) ends its first epoch at 5.484 (2.5% of the
//! gap) in `supcon` and at 5.489 in the independent PyTorch reference
//! (`scripts/reference_train.py`), and is still at 5.28 after 12 of 20 epochs: it warns,
//! as the issue asks of a run that has barely left chance.

use super::pretrain_config::{Method, PretrainConfig};
use super::trainer::EpochEnd;
use crate::loss::Variant;

/// Below this fraction of the gap from chance to the floor closed after the first epoch,
/// a run is "near chance" and warns.
pub const NEAR_CHANCE_PROGRESS: f64 = 0.1;

/// The fewest optimiser steps before the check: it is made at the end of the first epoch
/// that reaches them (epoch 1 when an epoch has at least this many steps).
pub const MIN_CHECK_STEPS: usize = 20;

/// Whether an epoch that ends `steps` steps into the run, of `steps_per_epoch` steps, is
/// the one the check is made at.
pub fn is_check_epoch(steps: usize, steps_per_epoch: usize) -> bool {
    steps >= MIN_CHECK_STEPS && steps.saturating_sub(steps_per_epoch) < MIN_CHECK_STEPS
}

/// Chance and floor of a run's contrastive loss, in the loss's own units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChanceLevel {
    /// The loss when every similarity is equal.
    pub chance: f64,
    /// The lowest loss the expected positives allow.
    pub floor: f64,
}

impl ChanceLevel {
    /// The chance level of `config`'s loss on a training set with class fractions
    /// `class_fractions` (they sum to 1). `None` when an anchor has no positive on
    /// average (no check is possible) or the gap is empty.
    pub fn of(config: &PretrainConfig, class_fractions: &[f64]) -> Option<Self> {
        let views = config.views as f64;
        let batch = config.batch_size as f64;
        let bank = config.memory_bank as f64;
        let same_class: f64 = class_fractions.iter().map(|p| p * p).sum();
        let others = match config.method {
            Method::Supcon => (views * (batch - 1.0) + bank) * same_class,
            Method::Simclr => 0.0,
        };
        let kept = match config.loss.positives_cap {
            Some(cap) => others.min(cap as f64),
            None => others,
        };
        let positives = views - 1.0 + kept;
        let entries = views * batch - 1.0 + bank - (others - kept);
        if positives < 1.0 || entries <= positives {
            return None;
        }
        let scale = config.loss.temperature
            / config
                .loss
                .base_temperature
                .unwrap_or(config.loss.temperature);
        let (chance, floor) = match config.loss.variant {
            Variant::Out => (entries.ln(), positives.ln()),
            Variant::In => (entries.ln() - positives.ln(), 0.0),
        };
        (chance > floor).then_some(Self {
            chance: chance * scale,
            floor: floor * scale,
        })
    }

    /// The fraction of the gap from chance to the floor that `loss` has closed (0 at
    /// chance, 1 at the floor; negative above chance).
    pub fn progress(&self, loss: f64) -> f64 {
        (self.chance - loss) / (self.chance - self.floor)
    }

    /// The warning for the epoch that ends at `end` when its mean loss is near chance.
    pub fn warning(&self, end: &EpochEnd) -> Option<String> {
        let progress = self.progress(end.loss);
        (progress < NEAR_CHANCE_PROGRESS).then(|| {
            format!(
                "the mean loss of epoch {} ({:.3}, {} steps in) is near chance ({:.3}, the loss \
                 when all similarities are equal; the floor for this batch is {:.3}): it closed \
                 {:.1}% of that gap, less than {:.0}%. The run is barely learning; try a larger \
                 learning rate (--lr), a warm-up (--warmup) or another batch size",
                end.epoch,
                end.loss,
                end.steps,
                self.chance,
                self.floor,
                100.0 * progress.max(0.0),
                100.0 * NEAR_CHANCE_PROGRESS
            )
        })
    }
}

/// The class fractions of `labels` over `classes` classes.
pub fn class_fractions(labels: &[usize], classes: usize) -> Vec<f64> {
    let mut counts = vec![0usize; classes.max(1)];
    for &l in labels {
        if let Some(c) = counts.get_mut(l) {
            *c += 1;
        }
    }
    let n = labels.len().max(1) as f64;
    counts.into_iter().map(|c| c as f64 / n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform(classes: usize) -> Vec<f64> {
        vec![1.0 / classes as f64; classes]
    }

    #[test]
    fn default_supcon_chance_is_ln_2b_minus_1() {
        let config = PretrainConfig {
            batch_size: 128,
            ..PretrainConfig::default()
        };
        let level = ChanceLevel::of(&config, &uniform(10)).unwrap();
        assert!((level.chance - 255f64.ln()).abs() < 1e-12);
        // Positives: the other view plus 2 * 127 / 10 same-class views.
        assert!((level.floor - (1.0 + 25.4f64).ln()).abs() < 1e-12);
    }

    #[test]
    fn simclr_in_variant_bank_cap_and_scale() {
        let simclr = PretrainConfig {
            method: Method::Simclr,
            batch_size: 64,
            ..PretrainConfig::default()
        };
        let level = ChanceLevel::of(&simclr, &uniform(10)).unwrap();
        assert!((level.chance - 127f64.ln()).abs() < 1e-12);
        assert_eq!(level.floor, 0.0);

        let mut l_in = PretrainConfig {
            batch_size: 64,
            memory_bank: 100,
            ..PretrainConfig::default()
        };
        l_in.loss.variant = Variant::In;
        l_in.loss.base_temperature = Some(0.2);
        // 2 * 63 + 100 = 226 others, 2 classes: 113 same-class, plus the own view.
        let level = ChanceLevel::of(&l_in, &uniform(2)).unwrap();
        let expect = 0.5 * ((127.0f64 + 100.0).ln() - 114f64.ln());
        assert!((level.chance - expect).abs() < 1e-12, "{level:?}");
        assert_eq!(level.floor, 0.0);

        let mut capped = PretrainConfig {
            batch_size: 64,
            ..PretrainConfig::default()
        };
        capped.loss.positives_cap = Some(3);
        // 126 * 0.5 = 63 others, 3 kept, 60 leave the denominator.
        let level = ChanceLevel::of(&capped, &uniform(2)).unwrap();
        assert!((level.chance - 67f64.ln()).abs() < 1e-12);
        assert!((level.floor - 4f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn no_level_without_positives() {
        let one_view = PretrainConfig {
            method: Method::Simclr,
            views: 1,
            ..PretrainConfig::default()
        };
        assert_eq!(ChanceLevel::of(&one_view, &uniform(10)), None);
    }

    fn end(loss: f64) -> EpochEnd {
        EpochEnd {
            epoch: 1,
            steps: 78,
            steps_per_epoch: 78,
            loss,
        }
    }

    #[test]
    fn warns_near_chance_only() {
        let level = ChanceLevel {
            chance: 5.0,
            floor: 3.0,
        };
        assert!((level.progress(4.0) - 0.5).abs() < 1e-12);
        // 9% of the gap closed: warns; 11%: does not; above chance: warns.
        let warning = level.warning(&end(4.82)).unwrap();
        assert!(
            warning.contains("epoch 1 (4.820, 78 steps in) is near chance (5.000"),
            "{warning}"
        );
        assert!(warning.contains("closed 9.0%"), "{warning}");
        assert_eq!(level.warning(&end(4.78)), None);
        assert!(level.warning(&end(5.2)).unwrap().contains("closed 0.0%"));
    }

    #[test]
    fn checked_once_at_the_first_epoch_of_enough_steps() {
        // 78 steps per epoch: epoch 1 only.
        assert!(is_check_epoch(78, 78));
        assert!(!is_check_epoch(156, 78));
        // 3 steps per epoch: the epoch ending at step 21 (epoch 7), not 18 or 24.
        let checked: Vec<usize> = (1..=20).filter(|e| is_check_epoch(3 * e, 3)).collect();
        assert_eq!(checked, vec![7]);
        // Exactly 20 per epoch: epoch 1.
        assert!(is_check_epoch(20, 20) && !is_check_epoch(40, 20));
    }

    #[test]
    fn fractions_of_labels() {
        assert_eq!(
            class_fractions(&[0, 1, 1, 3], 4),
            vec![0.25, 0.5, 0.0, 0.25]
        );
    }
}
