//! Errors raised at densify-eval's I/O and configuration boundaries.

use std::path::{Path, PathBuf};

/// Everything that can go wrong reading, writing or evaluating runs, qrels and datasets.
///
/// Every variant that comes from a file names the file, and where it applies the 1-based line
/// number, so a user can open the file and fix it.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A line of a file is malformed.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What was expected and what was found.
        message: String,
    },
    /// A file holds no record at all.
    #[error("{path}: the file is empty (expected at least one {what})")]
    Empty {
        /// The file.
        path: PathBuf,
        /// What a record of this file is ("run line", "judgement", ...).
        what: &'static str,
    },
    /// A named dataset is not on the search path.
    #[error(
        "dataset `{name}` not found; looked in: {searched}. Put the BEIR folder `{name}/` \
         (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) in one of these places or set \
         $DENSIFY_DATA to the folder that holds it"
    )]
    DatasetNotFound {
        /// The dataset name.
        name: String,
        /// The folders searched, joined by ", ".
        searched: String,
    },
    /// A measure name that densify does not know.
    #[error(
        "unknown measure `{0}` (known: ndcg, ndcg_cut.K, recall.K, P.K, map, map_cut.K, recip_rank, recip_rank.K, success.K, num_q, num_ret, num_rel, num_rel_ret)"
    )]
    UnknownMeasure(String),
    /// Two inputs that must agree in shape do not.
    #[error("{0}")]
    Mismatch(String),
}

/// A `Result` whose error is [`EvalError`].
pub type Result<T> = std::result::Result<T, EvalError>;

impl EvalError {
    /// An [`EvalError::Io`] for `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// An [`EvalError::Parse`] for line `line` (1-based) of `path`.
    pub fn parse(path: &Path, line: usize, message: impl Into<String>) -> Self {
        Self::Parse {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}
