//! Errors of noise configurations.

use std::path::PathBuf;

/// A noise configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NoiseError {
    /// A configuration file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A configuration file is malformed (unknown operator, wrong field, bad syntax).
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file (`<string>` for text parsed directly).
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, as the parser reports it (it names the unknown operator or field).
        message: String,
    },
    /// A field has an invalid value.
    #[error("noise operator `{operator}`: `{field}` {message}")]
    Invalid {
        /// The operator.
        operator: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A `Result` whose error is [`NoiseError`].
pub type Result<T> = std::result::Result<T, NoiseError>;
