//! A noise configuration for training: separate pipelines for queries and passages, a seed,
//! loaded from JSON or TOML.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{NoiseError, Result};
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
#[serde(deny_unknown_fields)]
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

impl NoiseConfig {
    /// Parses JSON text; `path` names the source in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let config: Self = serde_json::from_str(text).map_err(|e| NoiseError::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_owned(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text; `path` names the source in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let before = &text[..offset.min(text.len())];
            NoiseError::Parse {
                path: path.to_path_buf(),
                line: before.matches('\n').count() + 1,
                column: before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1,
                message: e.message().to_owned(),
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a `.toml` file as TOML and anything else as JSON.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| NoiseError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if path.extension().is_some_and(|e| e == "toml") {
            Self::from_toml(&text, path)
        } else {
            Self::from_json(&text, path)
        }
    }

    /// Checks both pipelines.
    pub fn validate(&self) -> Result<()> {
        self.query.validate()?;
        self.passage.validate()
    }

    /// The stream for one input of example `index`: independent of every other example and
    /// input, so noise does not depend on batching or thread order.
    pub fn rng(&self, index: u64, side: Side) -> NoiseRng {
        let lane = match side {
            Side::Query => 0,
            Side::Passage(i) => 1 + u64::from(i),
        };
        NoiseRng::new(self.seed ^ lane.wrapping_mul(0x9E37_79B9_7F4A_7C15), index)
    }

    /// Noised query tokens of example `index`.
    pub fn noisy_query(&self, tokens: &[u32], vocab: &TokenVocab, index: u64) -> Vec<u32> {
        self.query
            .apply_tokens(tokens, vocab, &mut self.rng(index, Side::Query))
    }

    /// Noised tokens of passage `position` of example `index`.
    pub fn noisy_passage(
        &self,
        tokens: &[u32],
        vocab: &TokenVocab,
        index: u64,
        position: u32,
    ) -> Vec<u32> {
        self.passage
            .apply_tokens(tokens, vocab, &mut self.rng(index, Side::Passage(position)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_toml_and_json_with_located_errors() {
        let toml_text =
            "seed = 13\n[query]\ntype = \"sequential\"\n[passage]\ntype = \"delete\"\np = 0.2\n";
        let c = NoiseConfig::from_toml(toml_text, Path::new("noise.toml")).unwrap();
        assert_eq!(c.query, NoiseOp::Sequential { p: 0.1 });
        assert_eq!(c.passage, NoiseOp::Delete { p: 0.2 });
        let json = r#"{"seed": 13, "query": {"type": "sequential"}, "passage": {"type": "delete", "p": 0.2}}"#;
        assert_eq!(
            NoiseConfig::from_json(json, Path::new("n.json")).unwrap(),
            c
        );

        let bad = "{\n  \"query\": {\"type\": \"blur\"}\n}";
        let err = NoiseConfig::from_json(bad, Path::new("n.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("n.json:2:") && err.contains("unknown variant `blur`"),
            "{err}"
        );
        let err = NoiseConfig::from_toml("[query]\ntype = \"mask\"\nq = 1\n", Path::new("n.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("n.toml:") && err.contains("unknown field `q`"),
            "{err}"
        );
        let err = NoiseConfig::from_json(
            r#"{"query": {"type": "mask", "p": 2}}"#,
            Path::new("n.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`p` must be in [0, 1], got 2"), "{err}");
    }
}
