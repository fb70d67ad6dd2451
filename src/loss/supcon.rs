//! The supervised contrastive loss (Khosla et al., NeurIPS 2020, arXiv:2004.11362).
//!
//! For an anchor `a` with positives `P(a)` (every other view of every same-label sample)
//! and denominator set `A(a)` (every contrast entry but `a` itself):
//!
//! - `L_out(a) = -(tau / base_tau) * 1/|P(a)| * sum_{p in P(a)} log softmax_{k in A(a)}(z_a . z_k / tau)[p]`
//!   (the paper's eq. 2, the default and the better of the two),
//! - `L_in(a)  = -(tau / base_tau) * log( 1/|P(a)| * sum_{p in P(a)} softmax(...)[p] )` (eq. 3).
//!
//! The loss is the mean over anchors. An anchor with no positive contributes 0 (and is
//! still counted in the mean, as the public reference does), never NaN. Without labels the
//! positives are the other views of the same sample: SimCLR's NT-Xent.
//!
//! The log-sum-exp is shifted by each row's maximum over the entries the denominator
//! keeps (self excluded), so even un-normalised features with logits in the tens of
//! thousands give the exact finite value.

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::error::LossError;
use super::positives::{PairSpec, Positives, QueueSpec};

/// Which views act as anchors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContrastMode {
    /// Every view of every sample is an anchor (the paper's setting).
    #[default]
    All,
    /// Only the first view of each sample is an anchor; all views are still contrasted.
    One,
}

/// Where the average over positives sits relative to the log (the paper's eq. 2 vs eq. 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// `L_out`: mean over positives outside the log (eq. 2; the paper's recommendation).
    #[default]
    Out,
    /// `L_in`: mean over positives inside the log (eq. 3; for comparison).
    In,
}

macro_rules! str_enum {
    ($ty:ty, $what:literal, $($variant:path => $name:literal),+) => {
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.to_ascii_lowercase().as_str() {
                    $($name => Ok($variant),)+
                    _ => Err(format!(
                        concat!("unknown ", $what, " '{}': expected one of {}"),
                        s,
                        [$($name),+].join(", ")
                    )),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $($variant => $name),+ })
            }
        }
    };
}
str_enum!(ContrastMode, "contrast mode", ContrastMode::All => "all", ContrastMode::One => "one");
str_enum!(Variant, "loss variant", Variant::Out => "out", Variant::In => "in");

/// Configuration of [`SupConLoss`]. Every field has the paper's default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupConLossConfig {
    /// Softmax temperature `tau`. Default 0.1 (the paper's value for SupCon).
    pub temperature: f64,
    /// The loss is scaled by `temperature / base_temperature`. Default: `None`, meaning
    /// equal to `temperature` (scale 1). The public reference uses 0.07.
    pub base_temperature: Option<f64>,
    /// Which views are anchors. Default [`ContrastMode::All`].
    pub contrast_mode: ContrastMode,
    /// `L_out` or `L_in`. Default [`Variant::Out`].
    pub variant: Variant,
    /// At most this many positives per anchor from *other* samples (views of the anchor's
    /// own sample always count), chosen at random; dropped positives leave the
    /// denominator too. As the official TensorFlow code's `positives_cap`. Default: no cap.
    pub positives_cap: Option<usize>,
}

impl Default for SupConLossConfig {
    fn default() -> Self {
        Self {
            temperature: 0.1,
            base_temperature: None,
            contrast_mode: ContrastMode::All,
            variant: Variant::Out,
            positives_cap: None,
        }
    }
}

impl SupConLossConfig {
    /// Sets the temperature.
    pub fn with_temperature(mut self, temperature: f64) -> Self {
        self.temperature = temperature;
        self
    }

    /// Sets the base temperature.
    pub fn with_base_temperature(mut self, base_temperature: Option<f64>) -> Self {
        self.base_temperature = base_temperature;
        self
    }

    /// Sets the contrast mode.
    pub fn with_contrast_mode(mut self, mode: ContrastMode) -> Self {
        self.contrast_mode = mode;
        self
    }

    /// Sets the variant.
    pub fn with_variant(mut self, variant: Variant) -> Self {
        self.variant = variant;
        self
    }

    /// Sets the positives cap.
    pub fn with_positives_cap(mut self, cap: Option<usize>) -> Self {
        self.positives_cap = cap;
        self
    }

    /// Checks the temperatures and builds the loss.
    ///
    /// # Errors
    /// [`LossError::Temperature`] when a temperature is not a finite number > 0.
    pub fn init(&self) -> Result<SupConLoss, LossError> {
        check_temperature("temperature", self.temperature)?;
        if let Some(base) = self.base_temperature {
            check_temperature("base_temperature", base)?;
        }
        Ok(SupConLoss {
            config: self.clone(),
        })
    }

    /// The factor `temperature / base_temperature` the loss is multiplied by.
    pub fn scale(&self) -> f64 {
        self.temperature / self.base_temperature.unwrap_or(self.temperature)
    }
}

fn check_temperature(name: &'static str, value: f64) -> Result<(), LossError> {
    // The tiled loss scales by 1 / temperature in f32.
    if value.is_finite() && value > 0.0 && ((1.0 / value) as f32).is_finite() {
        Ok(())
    } else {
        Err(LossError::Temperature { name, value })
    }
}

/// The SupCon loss family, differentiable through burn's autodiff.
///
/// Memory is `O((views * batch)^2)`: it materialises the full similarity matrix. For
/// batches in the thousands use the tiled loss of the large-batch module.
#[derive(Clone, Debug)]
pub struct SupConLoss {
    config: SupConLossConfig,
}

impl SupConLoss {
    /// The configuration this loss was built from.
    pub fn config(&self) -> &SupConLossConfig {
        &self.config
    }

    /// The mean loss over anchors.
    ///
    /// # Shapes
    /// - `features`: `[batch, views, dim]` (normally L2-normalised projections).
    /// - output: `[1]`.
    ///
    /// # Errors
    /// See [`Self::forward_no_reduction`].
    pub fn forward(
        &self,
        features: Tensor<3>,
        positives: Positives<'_>,
    ) -> Result<Tensor<1>, LossError> {
        Ok(self.forward_no_reduction(features, positives)?.mean())
    }

    /// The loss of every anchor, in anchor order (row `v * batch + i` is view `v` of sample
    /// `i`; only view 0 in contrast mode one).
    ///
    /// # Shapes
    /// - `features`: `[batch, views, dim]`.
    /// - output: `[anchors]` with `anchors = views * batch` (mode all) or `batch` (one).
    ///
    /// # Errors
    /// Empty batch, zero views or dimension, labels or mask that do not fit the batch,
    /// invalid mask values, NaN/Inf in `features`, or a loss that overflows f32.
    pub fn forward_no_reduction(
        &self,
        features: Tensor<3>,
        positives: Positives<'_>,
    ) -> Result<Tensor<1>, LossError> {
        self.forward_with_seed(features, positives, 0)
    }

    /// As [`Self::forward_no_reduction`], with the seed that picks which positives survive
    /// the positives cap (vary it per step; ignored without a cap).
    ///
    /// # Shapes
    /// As [`Self::forward_no_reduction`].
    ///
    /// # Errors
    /// As [`Self::forward_no_reduction`].
    pub fn forward_with_seed(
        &self,
        features: Tensor<3>,
        positives: Positives<'_>,
        cap_seed: u64,
    ) -> Result<Tensor<1>, LossError> {
        self.forward_with_queue(features, positives, None, cap_seed)
    }

    /// The per-anchor loss with memory-bank entries as extra contrast columns: they enter
    /// every anchor's denominator, are positives when their label matches (SupCon) and are
    /// negatives under SimCLR; they carry no gradient and are never anchors.
    ///
    /// # Shapes
    /// - `features`: `[batch, views, dim]`.
    /// - `queue`: `([K, dim], labels [K])`.
    /// - output: `[anchors]`.
    ///
    /// # Errors
    /// As [`Self::forward_no_reduction`], plus a queue whose width or labels do not fit.
    pub fn forward_with_queue(
        &self,
        features: Tensor<3>,
        positives: Positives<'_>,
        queue: Option<(Tensor<2>, Option<&[usize]>)>,
        cap_seed: u64,
    ) -> Result<Tensor<1>, LossError> {
        let [batch, views, dim] = features.dims();
        if batch == 0 {
            return Err(LossError::EmptyBatch);
        }
        if views == 0 {
            return Err(LossError::ZeroViews);
        }
        if dim == 0 {
            return Err(LossError::ZeroDim);
        }
        let batch_rows = views * batch;
        let anchor_count = match self.config.contrast_mode {
            ContrastMode::All => batch_rows,
            ContrastMode::One => batch,
        };
        let queue_len = queue.as_ref().map_or(0, |(q, _)| q.dims()[0]);
        if let Some((q, _)) = &queue
            && q.dims()[1] != dim
        {
            return Err(LossError::Shape(format!(
                "memory bank: entries of width {}, features of width {dim}",
                q.dims()[1]
            )));
        }
        let spec = PairSpec::new(
            positives,
            batch,
            views,
            anchor_count,
            self.config.positives_cap,
            cap_seed,
        )?
        .with_queue(QueueSpec {
            len: queue_len,
            labels: queue.as_ref().and_then(|(_, l)| *l),
        })?;
        if !features.clone().is_finite().all().into_scalar::<bool>() {
            return Err(LossError::NonFiniteFeatures);
        }
        if let Some((q, _)) = &queue
            && !q.clone().is_finite().all().into_scalar::<bool>()
        {
            // As the tiled loss says it.
            return Err(LossError::Shape(
                "memory bank: NaN or infinite entries".into(),
            ));
        }
        let device = features.device();
        let tau = self.config.temperature;

        // View-major contrast set: row v * batch + i is view v of sample i.
        let contrast = features.swap_dims(0, 1).reshape([batch_rows, dim]); // [V*B, D]
        let anchors = contrast.clone().narrow(0, 0, anchor_count); // [A, D]
        let contrast = match queue {
            Some((q, _)) if queue_len > 0 => Tensor::cat(vec![contrast, q.detach()], 0), // [M, D]
            _ => contrast,
        };
        let logits = anchors.matmul(contrast.transpose()).div_scalar(tau); // [A, M]

        let (weight, drop) = pair_masks(&spec, &device); // [A, M] each
        let pos_count = weight.clone().sum_dim(1); // [A, 1]
        let has_pos = pos_count.clone().greater_elem(0.0); // [A, 1]
        let pos_count = pos_count.mask_fill(has_pos.clone().bool_not(), 1.0); // [A, 1]

        // Stabilised log-softmax over the kept entries. The shift is a constant (detached):
        // log-sum-exp is shift-invariant, so the gradient is exact.
        let row_max = safe_row_max(logits.clone().detach(), drop.clone()); // [A, 1]
        let shifted = logits.sub(row_max); // [A, M]
        let exp = shifted
            .clone()
            .mask_fill(drop.clone(), f32::NEG_INFINITY)
            .exp(); // [A, M]
        // Rows with nothing in the denominator (batch 1, one view) get denominator 1: they
        // have no positive either, so they contribute 0.
        let empty_row = drop.clone().all_dim(1).float(); // [A, 1]
        let log_denom = exp.sum_dim(1).add(empty_row).log(); // [A, 1]

        let per_anchor = match self.config.variant {
            Variant::Out => {
                // sum_p w_p * log_prob_p / sum_p w_p; non-positive entries are masked (not
                // multiplied by 0) so that a huge self logit cannot turn into 0 * inf.
                let log_prob = shifted.sub(log_denom); // [A, M]
                let not_pos = weight.clone().lower_equal_elem(0.0); // [A, M]
                let weighted = log_prob.mask_fill(not_pos, 0.0).mul(weight); // [A, M]
                weighted.sum_dim(1).div(pos_count) // [A, 1]
            }
            Variant::In => {
                // log( sum_p w_p softmax_p / sum_p w_p ), with its own stabilising shift
                // over the positives so that tiny probabilities do not underflow to log 0.
                let not_pos = weight.clone().lower_equal_elem(0.0); // [A, M]
                let pos_max = safe_row_max(shifted.clone().detach(), not_pos.clone()); // [A, 1]
                let pos_exp = shifted
                    .sub(pos_max.clone())
                    .mask_fill(not_pos, f32::NEG_INFINITY)
                    .exp()
                    .mul(weight); // [A, M]
                let no_pos = has_pos.clone().bool_not().float(); // [A, 1]
                let log_pos = pos_exp.sum_dim(1).add(no_pos).log().add(pos_max); // [A, 1]
                log_pos
                    .sub(log_denom)
                    .sub(pos_count.log())
                    .mask_fill(has_pos.clone().bool_not(), 0.0) // [A, 1]
            }
        };
        let loss = per_anchor
            .mask_fill(has_pos.bool_not(), 0.0)
            .mul_scalar(-self.config.scale())
            .reshape([anchor_count]); // [A]
        if !loss.clone().is_finite().all().into_scalar::<bool>() {
            return Err(LossError::NonFiniteLoss { temperature: tau });
        }
        Ok(loss)
    }
}

/// The pair masks of one loss call: `weight` (positive weight of each anchor/contrast
/// pair, 0 for negatives and self) and `drop` (true where the pair leaves the
/// denominator: self, capped-out positives).
///
/// Labels and SimCLR without a positives cap are built on `device` from one id per
/// column (`M` integers cross to the device instead of `A * M` floats and booleans: 80 MB
/// per step at 4096 anchors). Masks and caps are materialised on the host. Both give the
/// same values exactly.
///
/// # Shapes
/// - outputs: `[A, M]` with `A = spec.anchors()`, `M = spec.contrast()`.
pub(crate) fn pair_masks(spec: &PairSpec<'_>, device: &Device) -> (Tensor<2>, Tensor<2, Bool>) {
    let (a, m) = (spec.anchors(), spec.contrast());
    match spec.column_ids() {
        Some(ids) => {
            let cols = Tensor::<1, Int>::from_data(TensorData::new(ids, [m]), device); // [M]
            let rows = cols.clone().narrow(0, 0, a).reshape([a, 1]).expand([a, m]); // [A, M]
            let same = rows.equal(cols.reshape([1, m]).expand([a, m])); // [A, M]
            let row_index = Tensor::<1, Int>::arange(0..a as i64, device)
                .reshape([a, 1])
                .expand([a, m]); // [A, M]
            let col_index = Tensor::<1, Int>::arange(0..m as i64, device)
                .reshape([1, m])
                .expand([a, m]); // [A, M]
            let is_self = row_index.equal(col_index); // [A, M]
            let weight = same.bool_and(is_self.clone().bool_not()).float(); // [A, M]
            (weight, is_self)
        }
        None => {
            let (weight, keep) = spec.dense();
            let drop = keep.iter().map(|k| !k).collect::<Vec<bool>>();
            (
                Tensor::<2>::from_data(TensorData::new(weight, [a, m]), device),
                Tensor::<2, Bool>::from_data(TensorData::new(drop, [a, m]), device),
            )
        }
    }
}

/// Row-wise maximum of `x` over the entries where `masked` is false; rows where every
/// entry is masked get 0.
///
/// # Shapes
/// - `x`, `masked`: `[rows, cols]`; output `[rows, 1]`.
fn safe_row_max(x: Tensor<2>, masked: Tensor<2, Bool>) -> Tensor<2> {
    let max = x.mask_fill(masked, f32::NEG_INFINITY).max_dim(1); // [rows, 1]
    let none = max.clone().is_inf();
    max.mask_fill(none, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The device-built masks equal the host-built ones value for value, for labels and
    /// SimCLR, both contrast modes, with and without memory-bank entries; masks and caps
    /// take the host path.
    #[test]
    fn device_masks_equal_host_masks() {
        let device = Device::flex();
        let labels = [3usize, 1, 3, 0, 1, 1, 7];
        let queue_labels = [1usize, 9, 3, 3];
        let mask = [1.0f32, 0.5, 0.0, 0.0, 1.0, 2.0, 1.0, 0.0, 1.0];
        let mut device_built = 0;
        for views in 1..=3 {
            for batch in [1usize, 3, 7] {
                for one in [false, true] {
                    let anchors = if one { batch } else { batch * views };
                    for queue in [0usize, 4] {
                        for cap in [None, Some(1)] {
                            let cases = [
                                (Positives::Labels(&labels[..batch]), Some(&queue_labels[..])),
                                (Positives::Instance, None),
                                (Positives::Mask(&mask), None),
                            ];
                            for (positives, q) in cases {
                                if matches!(positives, Positives::Mask(_))
                                    && (batch != 3 || queue > 0)
                                {
                                    continue;
                                }
                                let spec = PairSpec::new(positives, batch, views, anchors, cap, 11)
                                    .unwrap()
                                    .with_queue(QueueSpec {
                                        len: queue,
                                        labels: q,
                                    })
                                    .unwrap();
                                device_built += usize::from(spec.column_ids().is_some());
                                let (weight, drop) = pair_masks(&spec, &device);
                                let (host_weight, keep) = spec.dense();
                                let m = spec.contrast();
                                assert_eq!(weight.dims(), [anchors, m]);
                                let weight = weight.into_data().try_to_vec::<f32>().unwrap();
                                let drop = drop.into_data().try_to_vec::<bool>().unwrap();
                                let host_drop: Vec<bool> = keep.iter().map(|k| !k).collect();
                                let case = format!(
                                    "{positives:?} views {views} batch {batch} one {one} queue {queue} cap {cap:?}"
                                );
                                assert_eq!(weight, host_weight, "weights: {case}");
                                assert_eq!(drop, host_drop, "drop: {case}");
                            }
                        }
                    }
                }
            }
        }
        // Labels and SimCLR without a cap: 3 view counts x 3 batches x 2 modes x 2 queues x 2.
        assert_eq!(device_built, 72);
    }

    #[test]
    fn column_ids_cover_labels_simclr_and_queue() {
        let labels = [4usize, 2];
        let spec = PairSpec::new(Positives::Labels(&labels), 2, 2, 4, None, 0)
            .unwrap()
            .with_queue(QueueSpec {
                len: 1,
                labels: Some(&[2]),
            })
            .unwrap();
        assert_eq!(spec.column_ids(), Some(vec![4, 2, 4, 2, 2]));
        let spec = PairSpec::new(Positives::Instance, 2, 2, 2, None, 0)
            .unwrap()
            .with_queue(QueueSpec {
                len: 2,
                labels: None,
            })
            .unwrap();
        assert_eq!(spec.column_ids(), Some(vec![0, 1, 0, 1, -1, -1]));
        let big = [usize::MAX, 0];
        let spec = PairSpec::new(Positives::Labels(&big), 2, 2, 4, None, 0).unwrap();
        assert_eq!(
            spec.column_ids(),
            None,
            "labels beyond i32 use the host path"
        );
    }
}
