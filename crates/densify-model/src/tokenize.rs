//! Tokenization with the `tokenizers` crate: truncation to a max length, padding to the longest
//! sequence of each batch (not the fixed length some `tokenizer.json` files ship), pairs for
//! cross-encoders.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use tokenizers::{EncodeInput, PaddingParams, Tokenizer, TruncationParams, TruncationStrategy};

use crate::error::{ModelError, Result};

/// Token ids of one input, without padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids, special tokens included.
    pub ids: Vec<u32>,
    /// Segment ids (0 for the first text, 1 for the second of a pair).
    pub type_ids: Vec<u32>,
}

/// A padded batch on a device.
#[derive(Debug, Clone)]
pub struct TokenBatch {
    /// `[batch, seq]`.
    pub input_ids: Tensor<2, Int>,
    /// `[batch, seq]`.
    pub token_type_ids: Tensor<2, Int>,
    /// `[batch, seq]`: 1 for tokens, 0 for padding.
    pub attention_mask: Tensor<2, Int>,
}

/// A `tokenizer.json` tokenizer with a fixed max length.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    path: PathBuf,
    max_length: usize,
    pad_id: u32,
}

impl TextTokenizer {
    /// Loads `tokenizer.json`, truncating every input (or pair, longest first) to `max_length`
    /// tokens including special tokens.
    pub fn from_file(path: impl AsRef<Path>, max_length: usize) -> Result<Self> {
        let path = path.as_ref();
        let bad = |message: String| ModelError::Tokenizer {
            path: path.to_path_buf(),
            message,
        };
        if !path.is_file() {
            return Err(ModelError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "tokenizer.json not found"),
            ));
        }
        let mut inner = Tokenizer::from_file(path).map_err(|e| bad(e.to_string()))?;
        // The tokenizer's own padding id, else its pad token; padded positions are masked, so
        // the id only has to be a valid row of the embedding matrix.
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| {
                ["[PAD]", "<pad>", "<|padding|>"]
                    .iter()
                    .find_map(|t| inner.token_to_id(t))
            })
            .ok_or_else(|| {
                bad("the tokenizer has no padding settings and no [PAD] or <pad> token".into())
            })?;
        inner.with_padding(None::<PaddingParams>);
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                ..Default::default()
            }))
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            inner,
            path: path.to_path_buf(),
            max_length,
            pad_id,
        })
    }

    /// The same tokenizer with another max length.
    pub fn with_max_length(&self, max_length: usize) -> Result<Self> {
        let mut copy = self.clone();
        copy.inner
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                ..Default::default()
            }))
            .map_err(|e| ModelError::Tokenizer {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        copy.max_length = max_length;
        Ok(copy)
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The max length.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token, e.g. `[MASK]`.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Ids of every special (added, special) token.
    pub fn special_ids(&self) -> Vec<u32> {
        self.inner
            .get_added_tokens_decoder()
            .iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Saves the tokenizer as `tokenizer.json`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.inner
            .save(path, false)
            .map_err(|e| ModelError::Tokenizer {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
    }

    fn run(&self, inputs: Vec<EncodeInput<'_>>) -> Result<Vec<Encoded>> {
        let encodings =
            self.inner
                .encode_batch_fast(inputs, true)
                .map_err(|e| ModelError::Tokenizer {
                    path: self.path.clone(),
                    message: e.to_string(),
                })?;
        Ok(encodings
            .into_iter()
            .map(|e| Encoded {
                ids: e.get_ids().to_vec(),
                type_ids: e.get_type_ids().to_vec(),
            })
            .collect())
    }

    /// Encodes single texts (an empty text gives `[CLS] [SEP]`).
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Encoded>> {
        self.run(
            texts
                .iter()
                .map(|t| EncodeInput::Single((*t).into()))
                .collect(),
        )
    }

    /// Encodes `(first, second)` pairs, as cross-encoders read them.
    pub fn encode_pairs(&self, pairs: &[(&str, &str)]) -> Result<Vec<Encoded>> {
        self.run(
            pairs
                .iter()
                .map(|(a, b)| EncodeInput::Dual((*a).into(), (*b).into()))
                .collect(),
        )
    }

    /// Pads `items` to the longest and moves them to `device`. Type ids shorter than the token
    /// ids (token-level noise that deleted ids only) are padded with 0, longer ones cut.
    pub fn batch(&self, items: &[&Encoded], device: &Device) -> TokenBatch {
        let seq = items.iter().map(|e| e.ids.len()).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(items.len() * seq);
        let mut types = Vec::with_capacity(items.len() * seq);
        let mut mask = Vec::with_capacity(items.len() * seq);
        for e in items {
            let pad = seq - e.ids.len();
            ids.extend(
                e.ids
                    .iter()
                    .map(|&i| i64::from(i))
                    .chain(std::iter::repeat_n(i64::from(self.pad_id), pad)),
            );
            types.extend(
                e.type_ids
                    .iter()
                    .map(|&i| i64::from(i))
                    .chain(std::iter::repeat(0))
                    .take(seq),
            );
            mask.extend(std::iter::repeat_n(1i64, e.ids.len()).chain(std::iter::repeat_n(0, pad)));
        }
        let shape = [items.len(), seq];
        TokenBatch {
            input_ids: Tensor::from_data(TensorData::new(ids, shape), device),
            token_type_ids: Tensor::from_data(TensorData::new(types, shape), device),
            attention_mask: Tensor::from_data(TensorData::new(mask, shape), device),
        }
    }
}

/// Batches of indices into `items`, longest first, so each batch pads little; run the model on
/// each and scatter the results back by index.
pub fn length_sorted_batches(items: &[Encoded], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[b].ids.len().cmp(&items[a].ids.len()).then(a.cmp(&b)));
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}
