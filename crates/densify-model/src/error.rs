//! Errors at the model crate's I/O and configuration boundaries.

use std::path::PathBuf;

/// Everything that can go wrong loading, running or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A model folder lacks a file it needs.
    #[error("{dir}: no {file} ({hint})")]
    MissingFile {
        /// The model folder.
        dir: PathBuf,
        /// The missing file.
        file: &'static str,
        /// What the file is for.
        hint: &'static str,
    },
    /// A JSON configuration is malformed.
    #[error("{path}:{line}:{column}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The configuration names a model densify cannot build.
    #[error("{path}: {message}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is not supported.
        message: String,
    },
    /// The checkpoint's tensors do not match the model.
    #[error("{path}: {message}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// Which keys are missing, unexpected, or of the wrong shape.
        message: String,
    },
    /// The tokenizer could not be loaded or used.
    #[error("{path}: {message}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Inputs that do not fit together.
    #[error("{0}")]
    Input(String),
    /// A cross-encoder teacher folder whose checkpoint has no classification head: a new
    /// random head would give random teacher scores, different in every run.
    #[error(
        "{dir}: the model has no classification head (classifier.weight is not in \
         model.safetensors); it is not a cross-encoder, and a new random head would give random \
         teacher scores: pass a trained cross-encoder, or score with it as a bi-encoder \
         (`densify score --kind bi`; `kind = \"bi_encoder\"` in a filter's teacher stage)"
    )]
    NotACrossEncoder {
        /// The model folder.
        dir: PathBuf,
    },
    /// A training list names a document no text was given for.
    #[error("example `{example}`{}: document `{doc_id}` is not in the corpus", line_suffix(*line))]
    DocumentWithoutText {
        /// The example's id.
        example: String,
        /// The 1-based line it was read from (0 when built in code).
        line: usize,
        /// The document.
        doc_id: String,
    },
    /// A teacher gave a score that is not finite (a broken checkpoint).
    #[error("example `{example}`: the teacher scored document `{doc_id}` {score}")]
    NonFiniteTeacherScore {
        /// The example's id.
        example: String,
        /// The document.
        doc_id: String,
        /// The score.
        score: f32,
    },
    /// Reading a training file or a corpus failed.
    #[error(transparent)]
    Data(#[from] densify_data::DataError),
}

fn line_suffix(line: usize) -> String {
    if line > 0 {
        format!(" (line {line})")
    } else {
        String::new()
    }
}

/// A `Result` whose error is [`ModelError`].
pub type Result<T> = std::result::Result<T, ModelError>;

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn json(path: impl Into<PathBuf>, e: &serde_json::Error) -> Self {
        Self::Config {
            path: path.into(),
            line: e.line(),
            column: e.column(),
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

/// The 1-based line and column of the first `"key":` in a JSON text (a field of a flat file
/// such as `config.json` or `1_Pooling/config.json`), if the key is written plainly.
pub(crate) fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    let quoted = format!("\"{key}\"");
    let mut from = 0;
    while let Some(found) = text[from..].find(&quoted) {
        let start = from + found;
        let end = start + quoted.len();
        if text[end..].trim_start().starts_with(':') {
            let before = &text[..start];
            let line = before.matches('\n').count() + 1;
            let column = start - before.rfind('\n').map_or(0, |n| n + 1) + 1;
            return Some((line, column));
        }
        from = end;
    }
    None
}

/// `path:line` of `key` in the JSON file at `path`, or just `path` when it cannot be found.
pub(crate) fn key_location(path: &std::path::Path, key: &str) -> String {
    densify_core::read_regular_to_string(path)
        .ok()
        .and_then(|text| key_position(&text, key))
        .map_or_else(
            || path.display().to_string(),
            |(line, _)| format!("{}:{line}", path.display()),
        )
}

/// Reads and parses a JSON file with located errors.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let text = densify_core::read_regular_to_string(path).map_err(|e| ModelError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| ModelError::json(path, &e))
}

#[cfg(test)]
mod tests {
    use super::key_position;

    #[test]
    fn keys_are_found_with_their_line_and_column() {
        let text = "{\n  \"a\": \"vocab_size\",\n  \"vocab_size\" : 30522\n}";
        // The value "vocab_size" on line 2 is not a key; the key is on line 3, column 3.
        assert_eq!(key_position(text, "vocab_size"), Some((3, 3)));
        assert_eq!(key_position(text, "a"), Some((2, 3)));
        assert_eq!(key_position(text, "hidden_size"), None);
    }
}
