//! Errors raised reading and writing BEIR and TREC files.

use std::path::{Path, PathBuf};

/// Everything that can go wrong reading or writing runs, qrels, embeddings and datasets.
///
/// Every variant that comes from a file names the file, and where it applies the 1-based line
/// number, so a user can open the file and fix it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
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
    /// A binary file (an embeddings table) is malformed; there are no lines to name.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
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
    /// A split's qrels judge no query of the queries file: a run over them would be empty.
    #[error(
        "{qrels}: none of the {judged} queries judged here is in {queries}; a run over no query \
         would be empty (is it the right split, or the right dataset?)"
    )]
    NoQueriesInSplit {
        /// The split's qrels file.
        qrels: PathBuf,
        /// The queries file.
        queries: PathBuf,
        /// How many queries the qrels judge.
        judged: usize,
    },
    /// Two inputs that must agree in shape do not.
    #[error("{0}")]
    Mismatch(String),
}

/// A `Result` whose error is [`DataError`].
pub type Result<T> = std::result::Result<T, DataError>;

impl DataError {
    /// An [`DataError::Io`] for `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// An [`DataError::Parse`] for line `line` (1-based) of `path`.
    pub fn parse(path: &Path, line: usize, message: impl Into<String>) -> Self {
        Self::Parse {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

/// Writes `path` atomically through `densify_core::AtomicFile`: `fill` writes the content, and
/// the previous file stays as it was if anything fails.
pub(crate) fn write_file(
    path: &Path,
    fill: impl FnOnce(&mut densify_core::AtomicFile) -> std::io::Result<()>,
) -> Result<()> {
    let mut file = densify_core::AtomicFile::create(path).map_err(|e| DataError::io(path, e))?;
    fill(&mut file).map_err(|e| DataError::io(path, e))?;
    file.commit().map_err(|e| DataError::io(path, e))
}
