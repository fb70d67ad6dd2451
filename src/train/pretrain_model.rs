//! The module stage 1 trains: the contrastive model (encoder + projection head) and, with
//! `joint`, a linear classifier on stop-gradient features.

use burn::module::Module;

use super::TrainError;
use super::pretrain_config::PretrainConfig;
use crate::model::{LinearClassifier, LinearClassifierConfig, SupConModel, SupConModelConfig};

/// The trained module of stage 1: the contrastive model and, with `joint`, the classifier.
#[derive(Module, Debug)]
pub struct PretrainModel {
    /// Encoder + projection head.
    pub net: SupConModel,
    /// The joint classifier on stop-gradient features.
    pub classifier: Option<LinearClassifier>,
}

/// Builds the stage-1 model for `config` on `device`.
///
/// # Errors
/// An invalid model configuration.
pub fn build_model(
    config: &PretrainConfig,
    num_classes: usize,
    device: &burn::tensor::Device,
) -> Result<PretrainModel, TrainError> {
    let net = config.model.try_init(device)?;
    let classifier = config
        .joint
        .then(|| LinearClassifierConfig::new(net.feature_dim(), num_classes).init(device));
    Ok(PretrainModel { net, classifier })
}

/// The model configuration adapted to a dataset's image shape (channels, MLP input size;
/// see [`EncoderConfig::fit_to_images`](crate::model::EncoderConfig::fit_to_images)).
pub fn adapt_model_config(mut model: SupConModelConfig, shape: [usize; 3]) -> SupConModelConfig {
    model.encoder.fit_to_images(shape);
    model
}
