//! The text side of a bi-encoder, apart from its burn `Module`: each side's tokenizer (with its
//! max length) and prefix. A trainer's data loader owns one on a background thread (it is
//! `Send + Sync + Clone`), tokenises and noises examples there, and hands padded batches to the
//! model on the training thread.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::tokenize::{Encoded, TextTokenizer, TokenBatch};

/// Which side of retrieval a text is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// A query.
    Query,
    /// A passage (document).
    Passage,
}

/// Tokenizers, max lengths and prefixes of both sides.
#[derive(Debug, Clone)]
pub struct TextPipeline {
    query: TextTokenizer,
    passage: TextTokenizer,
    query_prefix: String,
    passage_prefix: String,
}

impl TextPipeline {
    /// The pipeline over `tokenizer` with each side's `(prefix, max length)`.
    pub fn new(
        tokenizer: &TextTokenizer,
        query: (&str, usize),
        passage: (&str, usize),
    ) -> Result<Self> {
        tokenizer.check_max_length("query_max_length", query.1, false)?;
        tokenizer.check_max_length("passage_max_length", passage.1, false)?;
        Ok(Self {
            query: tokenizer.with_max_length(query.1)?,
            passage: tokenizer.with_max_length(passage.1)?,
            query_prefix: query.0.to_owned(),
            passage_prefix: passage.0.to_owned(),
        })
    }

    /// The same tokenizers with other prefixes.
    pub fn with_prefixes(mut self, query_prefix: &str, passage_prefix: &str) -> Self {
        query_prefix.clone_into(&mut self.query_prefix);
        passage_prefix.clone_into(&mut self.passage_prefix);
        self
    }

    /// The tokenizer of one side.
    pub fn tokenizer(&self, side: Side) -> &TextTokenizer {
        match side {
            Side::Query => &self.query,
            Side::Passage => &self.passage,
        }
    }

    /// The prefix of one side.
    pub fn prefix(&self, side: Side) -> &str {
        match side {
            Side::Query => &self.query_prefix,
            Side::Passage => &self.passage_prefix,
        }
    }

    /// Tokenises texts of one side, prefix included, truncated to the side's max length.
    pub fn tokenize(&self, texts: &[&str], side: Side) -> Result<Vec<Encoded>> {
        tokenize_with_prefix(self.tokenizer(side), self.prefix(side), texts)
    }

    /// Pads tokenised texts of one side into a batch on `device`.
    ///
    /// # Shapes
    /// - returns `[items, longest]` token tensors
    pub fn batch(&self, items: &[&Encoded], side: Side, device: &Device) -> TokenBatch {
        self.tokenizer(side).batch(items, device)
    }
}

/// `tokenizer.encode` of `prefix + text` for each text (no copy when the prefix is empty).
pub(crate) fn tokenize_with_prefix(
    tokenizer: &TextTokenizer,
    prefix: &str,
    texts: &[&str],
) -> Result<Vec<Encoded>> {
    if prefix.is_empty() {
        return tokenizer.encode(texts);
    }
    let prefixed: Vec<String> = texts
        .iter()
        .map(|t| {
            let mut s = String::with_capacity(prefix.len() + t.len());
            s.push_str(prefix);
            s.push_str(t);
            s
        })
        .collect();
    tokenizer.encode(&prefixed.iter().map(String::as_str).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    #[test]
    fn the_pipeline_can_move_to_a_loader_thread() {
        assert_send_sync_clone::<super::TextPipeline>();
    }
}
