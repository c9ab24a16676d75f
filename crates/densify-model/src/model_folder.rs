//! A Hugging Face model folder: the files it must hold, its config and tokenizer read and
//! checked against each other, and the tokenizer companions copied when a model is saved.
//! Bi-encoders and cross-encoders share it.

use std::path::{Path, PathBuf};

use crate::config::BertConfig;
use crate::error::{ModelError, Result};
use crate::tokenize::TextTokenizer;

/// Errors unless `dir/file` exists.
pub(crate) fn require(dir: &Path, file: &'static str, hint: &'static str) -> Result<PathBuf> {
    let path = dir.join(file);
    if path.exists() {
        densify_core::regular_file(&path).map_err(|e| ModelError::io(&path, e))?;
        Ok(path)
    } else {
        Err(ModelError::MissingFile {
            dir: dir.to_path_buf(),
            file,
            hint,
        })
    }
}

/// Loads config and tokenizer and checks they agree ([`check_vocabulary`]). The tokenizer
/// truncates to `max_length` until a caller sets the max length it checked.
pub(crate) fn config_and_tokenizer(
    dir: &Path,
    max_length: usize,
) -> Result<(BertConfig, TextTokenizer)> {
    if !dir.is_dir() {
        return Err(ModelError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "model folder not found"),
        ));
    }
    let config_path = require(dir, "config.json", "the Hugging Face model configuration")?;
    let config = BertConfig::from_file(&config_path)?;
    let tokenizer = TextTokenizer::from_file(
        require(dir, "tokenizer.json", "a tokenizers-format tokenizer")?,
        max_length,
    )?;
    check_vocabulary(&tokenizer, &config, &config_path)?;
    Ok((config, tokenizer))
}

/// Errors unless every id the tokenizer can produce is a row of the word embedding: its
/// vocabulary (added tokens included), its largest id (ids need not be contiguous) and its
/// padding id must fit in `vocab_size` of `config.json`. A larger id would index past the
/// embedding matrix at the first batch.
pub(crate) fn check_vocabulary(
    tokenizer: &TextTokenizer,
    config: &BertConfig,
    config_path: &Path,
) -> Result<()> {
    let rows = config.vocab_size;
    let count = tokenizer.vocab_size();
    let (largest, largest_token) = tokenizer.largest_id().unwrap_or((0, String::new()));
    let pad = tokenizer.pad_id();
    let needed = count.max(largest as usize + 1).max(pad as usize + 1);
    if needed <= rows {
        return Ok(());
    }
    let problem = if count > rows {
        format!(
            "the tokenizer has {count} tokens but the embedding matrix of config.json has {rows} \
             rows (added tokens included)"
        )
    } else if largest as usize >= rows {
        format!(
            "the tokenizer's token `{largest_token}` has id {largest} but the embedding matrix \
             of config.json has {rows} rows (ids must be below {rows})"
        )
    } else {
        format!(
            "the tokenizer pads with id {pad} but the embedding matrix of config.json has \
             {rows} rows (ids must be below {rows})"
        )
    };
    Err(ModelError::Tokenizer {
        path: tokenizer.path().to_path_buf(),
        message: format!(
            "{problem}; {}: `vocab_size` is {rows}, the tokenizer needs at least {needed}: use \
             the tokenizer.json the model was trained with (or a config.json whose \
             `vocab_size` covers it)",
            crate::error::key_location(config_path, "vocab_size")
        ),
    })
}

/// Copies the tokenizer companions `transformers` reads (when the source has them).
pub(crate) fn copy_tokenizer_files(source: &Path, dir: &Path) -> Result<()> {
    for file in [
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
    ] {
        let from = source.join(file);
        let to = dir.join(file);
        if from.is_file() && from != to {
            let bytes = densify_core::read_regular(&from).map_err(|e| ModelError::io(&from, e))?;
            densify_core::write_atomic(&to, &bytes).map_err(|e| ModelError::io(&to, e))?;
        }
    }
    Ok(())
}

/// Writes `value` as pretty JSON to `path` atomically, creating its folder.
pub(crate) fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ModelError::io(parent, e))?;
    }
    let text = serde_json::to_string_pretty(value).expect("a JSON value serialises");
    densify_core::write_atomic(path, text.as_bytes()).map_err(|e| ModelError::io(path, e))
}
