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
use densify_core::canonical_safetensors_header as canonical_header;

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
            let shown = &self.errors[..self.errors.len().min(4)];
            let more = self.errors.len() - shown.len();
            problems.push(format!(
                "{} tensor(s) do not fit: {}{}",
                self.errors.len(),
                shown.join("; "),
                if more > 0 {
                    format!("; and {more} more")
                } else {
                    String::new()
                }
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
    densify_core::regular_file(path).map_err(|e| ModelError::io(path, e))?;
    let mut store = SafetensorsStore::from_file(path)
        .with_from_adapter(PyTorchToBurnAdapter)
        // Mismatches come back in the result and are reported by `LoadReport::check`, in the
        // file's own naming and layout.
        .validate(false)
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
    check_finite(module, path)?;
    Ok(LoadReport {
        missing: result.missing.iter().map(|(k, _)| k.clone()).collect(),
        unused: result
            .unused
            .iter()
            .filter(|k| !ignorable(k, has_pooler))
            .cloned()
            .collect(),
        errors: result.errors.iter().map(describe_apply_error).collect(),
    })
}

/// A tensor that could not be applied, in the file's own naming and layout: Hugging Face key
/// names, and Linear weights as `[out, in]` as PyTorch stores them (burn keeps `[in, out]`).
fn describe_apply_error(error: &burn::store::ApplyError) -> String {
    use burn::store::ApplyError;
    match error {
        ApplyError::ShapeMismatch {
            path,
            expected,
            found,
        } => {
            let linear = path.ends_with(".weight")
                && expected.num_dims() == 2
                && !path.contains("embeddings.");
            let layout = |shape: &burn::tensor::Shape| {
                let mut dims = shape.to_vec();
                if linear {
                    dims.reverse();
                }
                format!("{dims:?}")
            };
            format!(
                "`{}` has shape {} in the file but config.json implies {}",
                hugging_face_name(path),
                layout(found),
                layout(expected)
            )
        }
        other => other.to_string(),
    }
}

/// The Hugging Face key of a densify parameter path.
pub(crate) fn hugging_face_name(path: &str) -> String {
    path.replace(".layer_norm.gamma", ".LayerNorm.weight")
        .replace(".layer_norm.beta", ".LayerNorm.bias")
        .replace(".attention.self_attention.", ".attention.self.")
}

/// Errors when a parameter of `module` holds a NaN or an infinity (a corrupt or diverged
/// checkpoint would otherwise give NaN scores ranked first).
pub(crate) fn check_finite<M: Module>(module: &M, path: &Path) -> Result<()> {
    let mut visitor = NonFinite::default();
    module.visit(&mut visitor);
    if visitor.found.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = visitor.found.iter().take(5).map(String::as_str).collect();
    Err(ModelError::Weights {
        path: path.to_path_buf(),
        message: format!(
            "{} tensor(s) hold NaN or infinite values: {}{}",
            visitor.found.len(),
            shown.join(", "),
            if visitor.found.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        ),
    })
}

/// Collects the Hugging Face names of float parameters with a non-finite value.
#[derive(Default)]
struct NonFinite {
    path: Vec<String>,
    found: Vec<String>,
}

impl burn::module::ModuleVisitor for NonFinite {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<burn::Tensor<D>>) {
        let tensor = param.val();
        let bad = tensor.clone().is_nan().any().into_scalar::<bool>()
            || tensor.is_inf().any().into_scalar::<bool>();
        if bad {
            self.found.push(hugging_face_name(&self.path.join(".")));
        }
    }
}

/// Saves `module` to `path` in Hugging Face naming, atomically (the previous file stays whole
/// until the new one is on disk).
pub(crate) fn save<M: Module + ModuleSnapshot>(module: &M, path: &Path) -> Result<()> {
    let failed = |message: String| ModelError::Weights {
        path: path.to_path_buf(),
        message,
    };
    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter)
        .metadata("format", "pt");
    for (from, to) in INVERSE_RENAMES {
        store = store.with_key_remapping(from, to);
    }
    module
        .save_into(&mut store)
        .map_err(|e| failed(e.to_string()))?;
    let bytes = store.get_bytes().map_err(|e| failed(e.to_string()))?;
    let bytes = canonical_header(bytes).map_err(failed)?;
    densify_core::write_atomic(path, &bytes).map_err(|e| ModelError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn headers_are_written_with_sorted_keys_and_the_data_untouched() {
        let data = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let a = file(
            r#"{"__metadata__":{"producer":"burn","format":"pt"},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            &data,
        );
        let b = file(
            r#"{"a":{"data_offsets":[0,4],"dtype":"F32","shape":[1]},"__metadata__":{"format":"pt","producer":"burn"},"b":{"shape":[1],"data_offsets":[4,8],"dtype":"F32"}}"#,
            &data,
        );
        let (ca, cb) = (canonical_header(a).unwrap(), canonical_header(b).unwrap());
        assert_eq!(
            ca, cb,
            "the same content in another order gives the same bytes"
        );
        let length = u64::from_le_bytes(ca[..8].try_into().unwrap()) as usize;
        assert_eq!((8 + length) % 8, 0);
        let header = std::str::from_utf8(&ca[8..8 + length]).unwrap().trim_end();
        assert_eq!(
            header,
            r#"{"__metadata__":{"format":"pt","producer":"burn"},"a":{"data_offsets":[0,4],"dtype":"F32","shape":[1]},"b":{"data_offsets":[4,8],"dtype":"F32","shape":[1]}}"#
        );
        assert_eq!(&ca[8 + length..], &data);
        assert!(canonical_header(vec![1, 2]).is_err());
    }
}
