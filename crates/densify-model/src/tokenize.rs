//! Tokenization with the `tokenizers` crate: truncation to a max length, padding to the longest
//! sequence of each batch (not the fixed length some `tokenizer.json` files ship), pairs for
//! cross-encoders.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use tokenizers::{
    EncodeInput, PaddingParams, PostProcessor, Tokenizer, TruncationParams, TruncationStrategy,
};

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
    special: SpecialTokens,
}

/// The special tokens the tokenizer's post-processor adds to every input.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SpecialTokens {
    /// How many it adds to a single text (BERT: 2, `[CLS]` and `[SEP]`).
    single: usize,
    /// How many it adds to a pair (BERT: 3).
    pair: usize,
    /// Their names on a single text, when they could be read (`[CLS] [SEP]`).
    single_names: String,
    /// Their names on a pair (`[CLS] [SEP] [SEP]`).
    pair_names: String,
}

impl SpecialTokens {
    /// Reads the post-processor's counts (what `tokenizers` subtracts from a max length) and
    /// the tokens an empty input gets. `inner` must have no truncation or padding set.
    fn read(inner: &Tokenizer) -> Self {
        fn names(inner: &Tokenizer, input: EncodeInput<'_>) -> String {
            inner
                .encode(input, true)
                .map(|e| e.get_tokens().join(" "))
                .unwrap_or_default()
        }
        let count = |pair: bool| {
            inner
                .get_post_processor()
                .map_or(0, |p| p.added_tokens(pair))
        };
        Self {
            single: count(false),
            pair: count(true),
            single_names: names(inner, EncodeInput::Single("".into())),
            pair_names: names(inner, EncodeInput::Dual("".into(), "".into())),
        }
    }

    /// `2 special tokens ([CLS] [SEP])`.
    fn describe(&self, pair: bool) -> String {
        let (n, names) = if pair {
            (self.pair, &self.pair_names)
        } else {
            (self.single, &self.single_names)
        };
        let noun = if n == 1 { "token" } else { "tokens" };
        if names.is_empty() || names.split(' ').count() != n {
            format!("{n} special {noun}")
        } else {
            format!("{n} special {noun} ({names})")
        }
    }
}

/// Errors unless `max_length` leaves room for the special tokens and at least one token of
/// text (of each text, for a pair); `setting` names where the length came from.
fn check_room(
    special: &SpecialTokens,
    tokenizer_path: &Path,
    setting: &str,
    max_length: usize,
    pair: bool,
) -> Result<()> {
    let least = if pair {
        special.pair + 2
    } else {
        special.single + 1
    };
    if max_length >= least {
        return Ok(());
    }
    let described = special.describe(pair);
    let path = tokenizer_path.display();
    Err(ModelError::Input(if pair {
        format!(
            "{setting} {max_length} leaves no room for a (query, passage) pair and its \
             {described}; the least is {least}: the special tokens {path} adds to a pair and \
             one token of each text"
        )
    } else {
        format!(
            "{setting} {max_length} leaves no room for the {described}; the least is {least}: \
             the special tokens {path} adds to every text and one token of text"
        )
    }))
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
        densify_core::regular_file(path).map_err(|e| ModelError::io(path, e))?;
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
        // No truncation while the special tokens are counted: `tokenizers` subtracts their
        // number from a max length (an overflow when the max length is smaller).
        inner
            .with_truncation(None)
            .map_err(|e| bad(e.to_string()))?;
        let special = SpecialTokens::read(&inner);
        check_room(&special, path, "the max length", max_length, false)?;
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
            special,
        })
    }

    /// How many special tokens the tokenizer adds to a single text (`pair` false; BERT: 2,
    /// `[CLS]` and `[SEP]`) or to a pair (BERT: 3).
    pub fn special_token_count(&self, pair: bool) -> usize {
        if pair {
            self.special.pair
        } else {
            self.special.single
        }
    }

    /// The least max length that leaves room for the special tokens and one token of text (of
    /// each text, for a pair).
    pub fn least_max_length(&self, pair: bool) -> usize {
        self.special_token_count(pair) + if pair { 2 } else { 1 }
    }

    /// Errors unless `max_length` is at least [`TextTokenizer::least_max_length`]; the error
    /// names `setting` (`query_max_length`, `max_length`, ...), the special tokens and the
    /// least length.
    pub fn check_max_length(&self, setting: &str, max_length: usize, pair: bool) -> Result<()> {
        check_room(&self.special, &self.path, setting, max_length, pair)
    }

    /// The same tokenizer with another max length (at least
    /// [`TextTokenizer::least_max_length`] for single texts).
    pub fn with_max_length(&self, max_length: usize) -> Result<Self> {
        self.check_max_length("the max length", max_length, false)?;
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

    /// The largest id the tokenizer can produce (added tokens included) and its token. Ids need
    /// not be contiguous, so this can exceed [`TextTokenizer::vocab_size`] - 1.
    pub fn largest_id(&self) -> Option<(u32, String)> {
        self.inner
            .get_vocab(true)
            .into_iter()
            .max_by_key(|(_, id)| *id)
            .map(|(token, id)| (id, token))
    }

    /// The id padded positions get.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
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
        let json = self
            .inner
            .to_string(false)
            .map_err(|e| ModelError::Tokenizer {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        densify_core::write_atomic(path, json.as_bytes()).map_err(|e| ModelError::io(path, e))
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

    /// Encodes `(first, second)` pairs, as cross-encoders read them (an error when the max
    /// length leaves no room for a pair's special tokens).
    pub fn encode_pairs(&self, pairs: &[(&str, &str)]) -> Result<Vec<Encoded>> {
        check_room(
            &self.special,
            &self.path,
            "the max length",
            self.max_length,
            true,
        )?;
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
    length_sorted_batches_within(items, batch_size, None)
}

/// As [`length_sorted_batches`], and with `max_tokens`, a batch also closes before its padded
/// size (items x longest) would pass that many tokens (a single longer item is a batch alone).
/// Long and short texts then get batches of similar cost.
pub fn length_sorted_batches_within(
    items: &[Encoded],
    batch_size: usize,
    max_tokens: Option<usize>,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[b].ids.len().cmp(&items[a].ids.len()).then(a.cmp(&b)));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for i in order {
        // Sorted longest first: the batch's first item sets its padded length.
        let longest = current
            .first()
            .map_or(items[i].ids.len(), |&f| items[f].ids.len());
        let full = current.len() >= batch_size.max(1)
            || max_tokens.is_some_and(|m| !current.is_empty() && (current.len() + 1) * longest > m);
        if full {
            batches.push(std::mem::take(&mut current));
        }
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(len: usize) -> Encoded {
        Encoded {
            ids: vec![1; len],
            type_ids: vec![0; len],
        }
    }

    #[test]
    fn batches_respect_count_and_token_budget() {
        let items: Vec<Encoded> = [3, 10, 4, 10, 2].into_iter().map(item).collect();
        // Longest first: 1 (10), 3 (10), 2 (4), 0 (3), 4 (2).
        assert_eq!(
            length_sorted_batches(&items, 2),
            [vec![1, 3], vec![2, 0], vec![4]]
        );
        // 20 tokens: two 10s fit (2 x 10), then 4 + 3 + 2 padded to 4: 3 x 4 = 12 fits.
        assert_eq!(
            length_sorted_batches_within(&items, 8, Some(20)),
            [vec![1, 3], vec![2, 0, 4]]
        );
        // A budget below one item still makes progress.
        assert_eq!(length_sorted_batches_within(&items, 8, Some(1)).len(), 5);
    }
}
