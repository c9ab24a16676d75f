//! Hugging Face safetensors checkpoints in and out, through burn-store.
//!
//! The Hugging Face → densify key mapping, applied in order (regex → replacement); saving applies
//! the inverse so files load in `transformers` / sentence-transformers:
//!
//! | Hugging Face | densify | why |
//! |---|---|---|
//! | `.LayerNorm.` | `.layer_norm.` | Rust field names are snake case |
//! | `.attention.self.` | `.attention.self_attention.` | `self` is a Rust keyword |
//! | `^bert.` (bi-encoders) | removed | `BertForSequenceClassification` and pre-training checkpoints nest the encoder under `bert.` |
//! | `^(embeddings\|encoder\|pooler).` (cross-encoders from a bare encoder) | `bert.$1.` | the cross-encoder's encoder field is `bert` |
//!
//! burn-store's `PyTorchToBurnAdapter` transposes Linear weights (`[out, in]` → `[in, out]`) and
//! maps LayerNorm `weight`/`bias` to `gamma`/`beta` (legacy checkpoints that already say
//! `gamma`/`beta` load as they are). Keys the model does not use are an error, except
//! `embeddings.position_ids` (a buffer), pre-training heads (`cls.*`) and, for models without a
//! pooler, `pooler.*`.

use std::path::Path;

use burn::module::Module;
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};

use crate::error::{ModelError, Result};

/// Hugging Face → densify renames shared by every model.
pub const RENAMES: [(&str, &str); 2] = [
    (r"\.LayerNorm\.", ".layer_norm."),
    (r"\.attention\.self\.", ".attention.self_attention."),
];

/// densify → Hugging Face renames used on save.
pub const INVERSE_RENAMES: [(&str, &str); 2] = [
    (r"\.layer_norm\.", ".LayerNorm."),
    (r"\.attention\.self_attention\.", ".attention.self."),
];

/// Checkpoint keys that may be left unused.
fn ignorable(key: &str, has_pooler: bool) -> bool {
    key.ends_with("embeddings.position_ids")
        // Pre-training heads (masked LM and next sentence prediction) of checkpoints such as
        // bert-base-uncased: not part of an encoder.
        || key.starts_with("cls.")
        || (!has_pooler && (key.starts_with("pooler.") || key.starts_with("bert.pooler.")))
}

/// What a load applied and left over.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadReport {
    /// Model tensors the checkpoint did not provide (densify names).
    pub missing: Vec<String>,
    /// Checkpoint tensors the model does not use (after remapping), ignorable ones removed.
    pub unused: Vec<String>,
    /// Tensors that could not be applied (shape or type mismatches).
    pub errors: Vec<String>,
}

impl LoadReport {
    /// Errors unless everything matched, allowing `allow_missing` keys to stay at their
    /// initial values.
    pub fn check(&self, path: &Path, allow_missing: &dyn Fn(&str) -> bool) -> Result<()> {
        let missing: Vec<&str> = self
            .missing
            .iter()
            .map(String::as_str)
            .filter(|k| !allow_missing(k))
            .collect();
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!(
                "missing keys (densify names): {}",
                missing.join(", ")
            ));
        }
        if !self.unused.is_empty() {
            problems.push(format!("unexpected keys: {}", self.unused.join(", ")));
        }
        if !self.errors.is_empty() {
            problems.push(format!(
                "tensors that do not fit: {}",
                self.errors.join("; ")
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ModelError::Weights {
                path: path.to_path_buf(),
                message: problems.join("; "),
            })
        }
    }
}

/// Loads `path` into `module`, with `extra` remappings applied before the shared ones.
pub(crate) fn load<M: Module + ModuleSnapshot>(
    module: &mut M,
    path: &Path,
    extra: &[(&str, &str)],
    has_pooler: bool,
) -> Result<LoadReport> {
    if !path.is_file() {
        return Err(ModelError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "weights file not found"),
        ));
    }
    let mut store = SafetensorsStore::from_file(path)
        .with_from_adapter(PyTorchToBurnAdapter)
        .allow_partial(true);
    for (from, to) in extra.iter().chain(RENAMES.iter()) {
        store = store.with_key_remapping(*from, *to);
    }
    let result = module
        .load_from(&mut store)
        .map_err(|e| ModelError::Weights {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(LoadReport {
        missing: result.missing.iter().map(|(k, _)| k.clone()).collect(),
        unused: result
            .unused
            .iter()
            .filter(|k| !ignorable(k, has_pooler))
            .cloned()
            .collect(),
        errors: result.errors.iter().map(|e| format!("{e:?}")).collect(),
    })
}

/// Saves `module` to `path` in Hugging Face naming.
pub(crate) fn save<M: Module + ModuleSnapshot>(module: &M, path: &Path) -> Result<()> {
    let mut store = SafetensorsStore::from_file(path)
        .with_to_adapter(BurnToPyTorchAdapter)
        .overwrite(true)
        .metadata("format", "pt");
    for (from, to) in INVERSE_RENAMES {
        store = store.with_key_remapping(from, to);
    }
    module
        .save_into(&mut store)
        .map_err(|e| ModelError::Weights {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}
