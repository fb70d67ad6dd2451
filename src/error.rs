//! The crate-wide error type: one variant per module, each wrapping that module's
//! own error so a message always names what was wrong (file, flag or value).

/// Any error the library returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid input to a loss.
    #[error(transparent)]
    Loss(#[from] crate::loss::LossError),
    /// A dataset could not be read or a spec was invalid.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// An augmentation could not be built.
    #[error(transparent)]
    Augment(#[from] crate::augment::AugmentError),
    /// Batching failed.
    #[error(transparent)]
    Batcher(#[from] crate::data::batcher::BatcherError),
    /// A model could not be built, saved or loaded.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// An evaluation could not run on the given input.
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    /// A training stage failed.
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    /// Inference, embedding or export failed.
    #[error(transparent)]
    Infer(#[from] crate::infer::InferError),
    /// A device name was not understood or the device is unavailable.
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
