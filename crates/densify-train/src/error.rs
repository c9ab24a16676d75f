//! Errors of training: bad inputs named by file, line and field; faults named by step.

use std::path::PathBuf;

/// Everything that can stop a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A data file could not be read or is malformed.
    #[error(transparent)]
    Data(#[from] densify_data::DataError),
    /// The model could not be loaded or saved.
    #[error(transparent)]
    Model(#[from] densify_model::ModelError),
    /// A configuration is invalid.
    #[error(transparent)]
    Config(#[from] densify_core::ConfigError),
    /// Evaluation failed.
    #[error(transparent)]
    Eval(#[from] densify_eval::EvalError),
    /// A file or folder could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A checkpoint could not be written or read back.
    #[error("{path}: {message}")]
    Checkpoint {
        /// The checkpoint folder.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The loss became NaN or infinite; the last good checkpoint is kept.
    #[error(
        "step {step}: the loss is {loss} (examples {examples}); training stopped, the last good \
         checkpoint is kept"
    )]
    NonFiniteLoss {
        /// The 1-based optimizer step.
        step: usize,
        /// The loss value.
        loss: f64,
        /// The ids of the batch's examples, joined by ", ".
        examples: String,
    },
    /// The inputs do not fit the configuration (an empty training set, lists too short, ...).
    #[error("{0}")]
    Invalid(String),
}

/// A `Result` whose error is [`TrainError`].
pub type Result<T> = std::result::Result<T, TrainError>;

impl TrainError {
    /// An [`TrainError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
