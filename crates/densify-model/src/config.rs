//! The BERT configuration, read from a Hugging Face `config.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result, read_json};

/// A Hugging Face BERT `config.json` (the fields densify uses; others are kept on save).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Vocabulary size (rows of the word embedding).
    pub vocab_size: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    pub num_attention_heads: usize,
    /// Feed-forward size.
    pub intermediate_size: usize,
    /// Feed-forward activation: `gelu` (exact) or `gelu_new`/`gelu_pytorch_tanh` (tanh
    /// approximation) or `relu`.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Maximum number of positions.
    #[serde(default = "default_positions")]
    pub max_position_embeddings: usize,
    /// Number of token types (segments).
    #[serde(default = "default_types")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Dropout after embeddings and sub-layers.
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// `bert` (also accepted: `roberta`-free BERT variants reported as `bert`).
    #[serde(default = "default_model_type")]
    pub model_type: String,
    /// Position embedding type; only `absolute` is supported.
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
    /// Classes of a sequence-classification head (cross-encoders), from `id2label` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_labels: Option<usize>,
    /// Every other field of the file, written back unchanged on save.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_positions() -> usize {
    512
}
fn default_types() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_dropout() -> f64 {
    0.1
}
fn default_model_type() -> String {
    "bert".into()
}
fn default_position_type() -> String {
    "absolute".into()
}

impl BertConfig {
    /// Reads `config.json` and checks the architecture is one densify builds.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let config: Self = read_json(path)?;
        config.check(path)?;
        Ok(config)
    }

    pub(crate) fn check(&self, path: &Path) -> Result<()> {
        let unsupported = |message: String| {
            Err(ModelError::Unsupported {
                path: path.to_path_buf(),
                message,
            })
        };
        if self.model_type != "bert" {
            return unsupported(format!(
                "model_type `{}` is not supported (densify builds BERT-family encoders: model_type `bert`)",
                self.model_type
            ));
        }
        if self.position_embedding_type != "absolute" {
            return unsupported(format!(
                "position_embedding_type `{}` is not supported (only `absolute`)",
                self.position_embedding_type
            ));
        }
        if !matches!(
            self.hidden_act.as_str(),
            "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu"
        ) {
            return unsupported(format!(
                "hidden_act `{}` is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)",
                self.hidden_act
            ));
        }
        for (field, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
        ] {
            if !(0.0..1.0).contains(&p) {
                return unsupported(format!("`{field}` must be in [0, 1), found {p}"));
            }
        }
        for (field, n) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if n == 0 {
                return unsupported(format!("`{field}` must be at least 1, found 0"));
            }
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return unsupported(format!(
                "`layer_norm_eps` must be a finite number > 0, found {}",
                self.layer_norm_eps
            ));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return unsupported(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        Ok(())
    }

    /// The number of labels of a classification head: `num_labels`, else the size of
    /// `id2label`, else 1 (a relevance score).
    pub fn labels(&self) -> usize {
        self.num_labels
            .or_else(|| {
                self.extra
                    .get("id2label")
                    .and_then(|m| m.as_object())
                    .map(|m| m.len())
            })
            .unwrap_or(1)
    }

    /// A small random configuration for unit tests.
    #[cfg(test)]
    pub(crate) fn tiny(vocab_size: usize) -> Self {
        Self {
            vocab_size,
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 64,
            hidden_act: "gelu".into(),
            max_position_embeddings: 64,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            model_type: "bert".into(),
            position_embedding_type: "absolute".into(),
            num_labels: None,
            extra: serde_json::Map::new(),
        }
    }
}
