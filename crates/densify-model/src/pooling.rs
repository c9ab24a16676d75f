//! Pooling token states into one vector, and L2 normalisation, as sentence-transformers does.

use std::path::Path;

use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Result, read_json};

/// How token states become a text embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The `[CLS]` state.
    Cls,
    /// The mean over non-padding tokens (sentence-transformers' default).
    #[default]
    Mean,
    /// The element-wise max over non-padding tokens (padding set to -1e9 first).
    Max,
}

/// Pools token states.
///
/// # Shapes
/// - `hidden`: `[batch, seq, dim]`, `attention_mask`: `[batch, seq]` -> `[batch, dim]`
pub fn pool(hidden: Tensor<3>, attention_mask: Tensor<2, Int>, pooling: Pooling) -> Tensor<2> {
    let [batch, seq, dim] = hidden.dims();
    match pooling {
        Pooling::Cls => hidden.narrow(1, 0, 1).reshape([batch, dim]),
        Pooling::Mean => {
            let mask = attention_mask.float().reshape([batch, seq, 1]);
            let summed = (hidden * mask.clone().expand([batch, seq, dim]))
                .sum_dim(1)
                .reshape([batch, dim]);
            let counts = mask.sum_dim(1).reshape([batch, 1]).clamp_min(1e-9);
            summed / counts
        }
        Pooling::Max => {
            let padded = attention_mask
                .equal_elem(0)
                .reshape([batch, seq, 1])
                .expand([batch, seq, dim]);
            hidden
                .mask_fill(padded, -1e9)
                .max_dim(1)
                .reshape([batch, dim])
        }
    }
}

pub use densify_eval::search::l2_normalize;

/// What a sentence-transformers folder says about pooling, normalisation and length.
#[derive(Debug, Clone, PartialEq)]
pub struct SentenceTransformerSettings {
    /// From `1_Pooling/config.json` (default mean).
    pub pooling: Pooling,
    /// True when `modules.json` lists a `Normalize` module.
    pub normalize: bool,
    /// `max_seq_length` of `sentence_bert_config.json`, if any.
    pub max_seq_length: Option<usize>,
    /// `prompts` of `config_sentence_transformers.json` (e.g. `{"query": "query: "}`).
    pub prompts: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
struct PoolingFile {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
}

impl SentenceTransformerSettings {
    /// Reads the sentence-transformers files of `dir`; absent files give the defaults (mean
    /// pooling, no normalisation).
    pub fn read(dir: &Path) -> Result<Self> {
        let mut settings = Self {
            pooling: Pooling::Mean,
            normalize: false,
            max_seq_length: None,
            prompts: serde_json::Map::new(),
        };
        let modules_path = dir.join("modules.json");
        let mut pooling_dir = dir.join("1_Pooling");
        if modules_path.is_file() {
            let modules: Vec<ModuleEntry> = read_json(&modules_path)?;
            settings.normalize = modules.iter().any(|m| m.kind.ends_with("Normalize"));
            if let Some(p) = modules.iter().find(|m| m.kind.ends_with("Pooling")) {
                pooling_dir = dir.join(&p.path);
            }
        }
        let pooling_path = pooling_dir.join("config.json");
        if pooling_path.is_file() {
            let p: PoolingFile = read_json(&pooling_path)?;
            settings.pooling = if p.pooling_mode_cls_token {
                Pooling::Cls
            } else if p.pooling_mode_max_tokens {
                Pooling::Max
            } else {
                Pooling::Mean
            };
        }
        let bert_config = dir.join("sentence_bert_config.json");
        if bert_config.is_file() {
            let v: serde_json::Value = read_json(&bert_config)?;
            settings.max_seq_length = v
                .get("max_seq_length")
                .and_then(serde_json::Value::as_u64)
                .map(|n| n as usize);
        }
        let st_config = dir.join("config_sentence_transformers.json");
        if st_config.is_file() {
            let v: serde_json::Value = read_json(&st_config)?;
            if let Some(p) = v.get("prompts").and_then(|p| p.as_object()) {
                settings.prompts = p.clone();
            }
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn pooling_matches_hand_computation() {
        let device = Device::flex();
        let hidden = Tensor::<3>::from_data([[[1.0, 2.0], [3.0, 6.0], [100.0, 100.0]]], &device);
        let mask = Tensor::<2, Int>::from_data([[1, 1, 0]], &device);
        let v = |t: Tensor<2>| t.into_data().iter::<f32>().collect::<Vec<_>>();
        assert_eq!(
            v(pool(hidden.clone(), mask.clone(), Pooling::Mean)),
            [2.0, 4.0]
        );
        assert_eq!(
            v(pool(hidden.clone(), mask.clone(), Pooling::Max)),
            [3.0, 6.0]
        );
        assert_eq!(v(pool(hidden, mask, Pooling::Cls)), [1.0, 2.0]);
        let n = v(l2_normalize(Tensor::<2>::from_data([[3.0, 4.0]], &device)));
        assert!((n[0] - 0.6).abs() < 1e-6 && (n[1] - 0.8).abs() < 1e-6);
    }
}
