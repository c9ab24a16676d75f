//! What the token-level operators need to know about a tokenizer.

use std::collections::BTreeSet;

/// The ids a noise operator may produce or must not touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenVocab {
    /// Vocabulary size: `replace` draws ids from `0..size`.
    pub size: u32,
    /// The `[MASK]` id used by `mask`.
    pub mask_id: Option<u32>,
    /// Ids never modified, moved, deleted or produced: `[CLS]`, `[SEP]`, `[PAD]`, `[MASK]`,
    /// `[UNK]` and any other special token of the tokenizer.
    pub special_ids: BTreeSet<u32>,
}

impl TokenVocab {
    /// A vocabulary of `size` ids with the given special ids and mask id (which is also
    /// treated as special).
    pub fn new(
        size: u32,
        mask_id: Option<u32>,
        special_ids: impl IntoIterator<Item = u32>,
    ) -> Self {
        let mut special_ids: BTreeSet<u32> = special_ids.into_iter().collect();
        special_ids.extend(mask_id);
        Self {
            size,
            mask_id,
            special_ids,
        }
    }

    /// BERT's uncased WordPiece vocabulary (bert-base-uncased, all-MiniLM-L6-v2): 30,522 ids,
    /// `[PAD]` 0, `[UNK]` 100, `[CLS]` 101, `[SEP]` 102, `[MASK]` 103.
    pub fn bert_uncased() -> Self {
        Self::new(30_522, Some(103), [0, 100, 101, 102])
    }

    /// True for an id that must not be touched.
    pub fn is_special(&self, id: u32) -> bool {
        self.special_ids.contains(&id)
    }
}

/// What the word-level operators need: the mask string and the words `replace` draws from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordVocab {
    /// The string `mask` writes, e.g. `[MASK]`.
    pub mask_token: String,
    /// Words `replace` draws from uniformly.
    pub words: Vec<String>,
}

impl WordVocab {
    /// The distinct whitespace-separated words of `texts`, sorted (so the vocabulary does not
    /// depend on text order), for `replace`.
    pub fn from_texts<'a>(mask_token: &str, texts: impl IntoIterator<Item = &'a str>) -> Self {
        let words: BTreeSet<&str> = texts.into_iter().flat_map(str::split_whitespace).collect();
        Self {
            mask_token: mask_token.to_owned(),
            words: words.into_iter().map(str::to_owned).collect(),
        }
    }
}
