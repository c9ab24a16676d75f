//! Errors of evaluation, search and fusion.

use densify_data::DataError;

/// Everything that can go wrong evaluating, searching or fusing.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Reading or writing a run, qrels, embeddings or dataset file failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A measure name that densify does not know.
    #[error(
        "unknown measure `{0}` (known: ndcg, ndcg_cut.K, recall.K, P.K, map, map_cut.K, recip_rank, recip_rank.K, success.K, num_q, num_ret, num_rel, num_rel_ret)"
    )]
    UnknownMeasure(String),
    /// Two inputs that must agree do not, or a request that cannot be met.
    #[error("{0}")]
    Mismatch(String),
    /// A configuration value out of range.
    #[error("{0}")]
    Invalid(#[from] densify_core::InvalidField),
}

/// A `Result` whose error is [`EvalError`].
pub type Result<T> = std::result::Result<T, EvalError>;
