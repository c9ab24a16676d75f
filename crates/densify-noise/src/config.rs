//! A noise configuration for training: separate pipelines for queries and passages, a seed,
//! loaded from JSON or TOML.

use serde::{Deserialize, Serialize};

use densify_core::InvalidField;

use crate::error::NoiseError;
use crate::ops::NoiseOp;
use crate::rng::NoiseRng;
use crate::vocab::TokenVocab;

fn identity() -> NoiseOp {
    NoiseOp::Identity
}

/// Noise for the student's inputs. Example (TOML):
///
/// ```toml
/// seed = 13
/// [query]
/// type = "sequential"
/// p = 0.1
/// [passage]
/// type = "delete"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoiseConfig {
    /// Noise on query tokens. Default identity.
    #[serde(default = "identity")]
    pub query: NoiseOp,
    /// Noise on passage tokens. Default identity.
    #[serde(default = "identity")]
    pub passage: NoiseOp,
    /// Seed of every random stream. Default 0.
    #[serde(default)]
    pub seed: u64,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        Self {
            query: NoiseOp::Identity,
            passage: NoiseOp::Identity,
            seed: 0,
        }
    }
}

/// Which input of an example a stream is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The query.
    Query,
    /// A passage (`0` for the first of the list, ...).
    Passage(u32),
}

impl densify_core::Config for NoiseConfig {
    fn validate(&self) -> std::result::Result<(), InvalidField> {
        let located = |side: &str, e: NoiseError| {
            let NoiseError::Invalid {
                operator,
                field,
                message,
            } = e;
            InvalidField::new(
                format!("{side}.{field}"),
                format!("{message} (operator `{operator}`)"),
            )
        };
        self.query.validate().map_err(|e| located("query", e))?;
        self.passage.validate().map_err(|e| located("passage", e))
    }
}

impl NoiseConfig {
    /// The stream for one input of the example with id `example`: independent of every other
    /// example and input, so noise does not depend on batching, thread order, or which other
    /// examples a filter kept.
    pub fn rng(&self, example: &str, side: Side) -> NoiseRng {
        let lane = match side {
            Side::Query => 0,
            Side::Passage(i) => 1 + u64::from(i),
        };
        NoiseRng::keyed(
            self.seed ^ lane.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            example,
        )
    }

    /// Noised query tokens of example `example` (its id).
    pub fn noisy_query(&self, tokens: &[u32], vocab: &TokenVocab, example: &str) -> Vec<u32> {
        self.query
            .apply_tokens(tokens, vocab, &mut self.rng(example, Side::Query))
    }

    /// Noised tokens of passage `position` of example `example` (its id).
    pub fn noisy_passage(
        &self,
        tokens: &[u32],
        vocab: &TokenVocab,
        example: &str,
        position: u32,
    ) -> Vec<u32> {
        self.passage.apply_tokens(
            tokens,
            vocab,
            &mut self.rng(example, Side::Passage(position)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use densify_core::Config;

    #[test]
    fn reads_toml_and_json_with_located_errors() {
        let toml_text =
            "seed = 13\n[query]\ntype = \"sequential\"\n[passage]\ntype = \"delete\"\np = 0.2\n";
        let c = NoiseConfig::from_toml_str(toml_text, "noise.toml").unwrap();
        assert_eq!(c.query, NoiseOp::Sequential { p: 0.1 });
        assert_eq!(c.passage, NoiseOp::Delete { p: 0.2 });
        let json = r#"{"seed": 13, "query": {"type": "sequential"}, "passage": {"type": "delete", "p": 0.2}}"#;
        assert_eq!(NoiseConfig::from_json_str(json, "n.json").unwrap(), c);

        let bad = "{\n  \"query\": {\"type\": \"blur\"}\n}";
        let err = NoiseConfig::from_json_str(bad, "n.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("n.json:2:") && err.contains("unknown variant `blur`"),
            "{err}"
        );
        let err = NoiseConfig::from_toml_str("[query]\ntype = \"mask\"\nq = 1\n", "n.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("n.toml:") && err.contains("unknown field `q`"),
            "{err}"
        );
        let err = NoiseConfig::from_json_str(r#"{"query": {"type": "mask", "p": 2}}"#, "n.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("n.json:1: `query.p` must be in [0, 1], got 2"),
            "{err}"
        );
    }
}
