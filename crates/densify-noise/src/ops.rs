//! Noise operators and their composition, as one serde-tagged enum: a whole pipeline is one
//! JSON or TOML value, e.g. `{"type": "sequence", "ops": [{"type": "shuffle", "p": 0.1},
//! {"type": "delete"}]}`.
//!
//! Definitions (noisy self-training, arXiv 2311.15563; default p = 0.1), applied to the
//! non-special positions only:
//! - `shuffle`: each position is picked with probability p (about Binomial(len, p) positions),
//!   and the picked tokens are permuted among themselves uniformly;
//! - `delete`: each token is dropped with probability p;
//! - `mask`: each token becomes the `[MASK]` id (word level: the mask string) with probability p;
//! - `replace`: each token becomes a uniformly drawn non-special id (word level: a word of the
//!   vocabulary) with probability p;
//! - `sequential`: the paper's composite, shuffle then delete then mask, each with p;
//! - `sequence`: any list of operators applied in order; `identity`: no change.

use serde::{Deserialize, Serialize};

use crate::error::{NoiseError, Result};
use crate::rng::NoiseRng;
use crate::vocab::{TokenVocab, WordVocab};

fn default_p() -> f64 {
    0.1
}

/// One noise operator or a composition of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum NoiseOp {
    /// No change.
    Identity,
    /// Permute about Binomial(len, p) picked positions among themselves.
    Shuffle {
        /// Probability of picking a position. Default 0.1.
        #[serde(default = "default_p")]
        p: f64,
    },
    /// Drop each token with probability p.
    Delete {
        /// Probability. Default 0.1.
        #[serde(default = "default_p")]
        p: f64,
    },
    /// Replace each token by the mask with probability p.
    Mask {
        /// Probability. Default 0.1.
        #[serde(default = "default_p")]
        p: f64,
    },
    /// Replace each token by a random non-special token with probability p.
    Replace {
        /// Probability. Default 0.1.
        #[serde(default = "default_p")]
        p: f64,
    },
    /// Shuffle, then delete, then mask, each with probability p (the paper's `sequential`).
    Sequential {
        /// Probability of each stage. Default 0.1.
        #[serde(default = "default_p")]
        p: f64,
    },
    /// Operators applied in order.
    Sequence {
        /// The operators.
        ops: Vec<NoiseOp>,
    },
}

impl NoiseOp {
    /// The operator's name as written in configurations.
    pub fn name(&self) -> &'static str {
        match self {
            NoiseOp::Identity => "identity",
            NoiseOp::Shuffle { .. } => "shuffle",
            NoiseOp::Delete { .. } => "delete",
            NoiseOp::Mask { .. } => "mask",
            NoiseOp::Replace { .. } => "replace",
            NoiseOp::Sequential { .. } => "sequential",
            NoiseOp::Sequence { .. } => "sequence",
        }
    }

    /// Checks every probability is in [0, 1].
    pub fn validate(&self) -> Result<()> {
        match self {
            NoiseOp::Identity => Ok(()),
            NoiseOp::Sequence { ops } => ops.iter().try_for_each(NoiseOp::validate),
            NoiseOp::Shuffle { p }
            | NoiseOp::Delete { p }
            | NoiseOp::Mask { p }
            | NoiseOp::Replace { p }
            | NoiseOp::Sequential { p } => {
                if (0.0..=1.0).contains(p) {
                    Ok(())
                } else {
                    Err(NoiseError::Invalid {
                        operator: self.name(),
                        field: "p",
                        message: format!("must be in [0, 1], got {p}"),
                    })
                }
            }
        }
    }

    /// Checks the operator can run on `vocab` (`mask` needs a mask id, `replace` a non-special
    /// id to draw).
    pub fn check_vocab(&self, vocab: &TokenVocab) -> Result<()> {
        match self {
            NoiseOp::Mask { .. } | NoiseOp::Sequential { .. } if vocab.mask_id.is_none() => {
                Err(NoiseError::Invalid {
                    operator: self.name(),
                    field: "p",
                    message: "needs a tokenizer with a [MASK] token".into(),
                })
            }
            NoiseOp::Replace { .. } if vocab.special_ids.len() as u64 >= u64::from(vocab.size) => {
                Err(NoiseError::Invalid {
                    operator: "replace",
                    field: "p",
                    message: "the vocabulary has no non-special id to draw".into(),
                })
            }
            NoiseOp::Sequence { ops } => ops.iter().try_for_each(|op| op.check_vocab(vocab)),
            _ => Ok(()),
        }
    }

    /// Applies the operator to token ids; special ids keep their values and relative order.
    ///
    /// # Panics
    /// If the vocabulary cannot serve the operator (see [`NoiseOp::check_vocab`]).
    pub fn apply_tokens(&self, tokens: &[u32], vocab: &TokenVocab, rng: &mut NoiseRng) -> Vec<u32> {
        let replace_id = |rng: &mut NoiseRng| loop {
            let id = rng.below(u64::from(vocab.size)) as u32;
            if !vocab.is_special(id) {
                return id;
            }
        };
        let mask_id = || {
            vocab
                .mask_id
                .expect("mask noise needs a [MASK] id (check_vocab)")
        };
        apply(
            self,
            tokens,
            &|t: &u32| vocab.is_special(*t),
            rng,
            &mut |kind, rng| match kind {
                Fill::Mask => mask_id(),
                Fill::Replace => replace_id(rng),
            },
        )
    }

    /// Applies the operator to the whitespace-separated words of `text`; the result is joined
    /// with single spaces.
    pub fn apply_words(&self, text: &str, vocab: &WordVocab, rng: &mut NoiseRng) -> String {
        let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        let out = apply(self, &words, &|_| false, rng, &mut |kind, rng| match kind {
            Fill::Mask => vocab.mask_token.clone(),
            Fill::Replace if vocab.words.is_empty() => vocab.mask_token.clone(),
            Fill::Replace => vocab.words[rng.below(vocab.words.len() as u64) as usize].clone(),
        });
        out.join(" ")
    }
}

/// What a replaced position gets.
enum Fill {
    Mask,
    Replace,
}

fn apply<T: Clone>(
    op: &NoiseOp,
    items: &[T],
    special: &dyn Fn(&T) -> bool,
    rng: &mut NoiseRng,
    fill: &mut dyn FnMut(Fill, &mut NoiseRng) -> T,
) -> Vec<T> {
    match op {
        NoiseOp::Identity => items.to_vec(),
        NoiseOp::Shuffle { p } => {
            let picked: Vec<usize> = (0..items.len())
                .filter(|&i| !special(&items[i]) && rng.bernoulli(*p))
                .collect();
            let mut moved: Vec<T> = picked.iter().map(|&i| items[i].clone()).collect();
            rng.shuffle(&mut moved);
            let mut out = items.to_vec();
            for (i, item) in picked.into_iter().zip(moved) {
                out[i] = item;
            }
            out
        }
        NoiseOp::Delete { p } => items
            .iter()
            .filter(|t| special(t) || !rng.bernoulli(*p))
            .cloned()
            .collect(),
        NoiseOp::Mask { p } | NoiseOp::Replace { p } => items
            .iter()
            .map(|t| {
                if !special(t) && rng.bernoulli(*p) {
                    fill(
                        if matches!(op, NoiseOp::Mask { .. }) {
                            Fill::Mask
                        } else {
                            Fill::Replace
                        },
                        rng,
                    )
                } else {
                    t.clone()
                }
            })
            .collect(),
        NoiseOp::Sequential { p } => {
            let stages = [
                NoiseOp::Shuffle { p: *p },
                NoiseOp::Delete { p: *p },
                NoiseOp::Mask { p: *p },
            ];
            stages.iter().fold(items.to_vec(), |acc, stage| {
                apply(stage, &acc, special, rng, fill)
            })
        }
        NoiseOp::Sequence { ops } => ops.iter().fold(items.to_vec(), |acc, stage| {
            apply(stage, &acc, special, rng, fill)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_one_masks_every_non_special_token() {
        let vocab = TokenVocab::bert_uncased();
        let mut rng = NoiseRng::new(1, 0);
        let out =
            NoiseOp::Mask { p: 1.0 }.apply_tokens(&[101, 2023, 2003, 102, 0], &vocab, &mut rng);
        assert_eq!(out, [101, 103, 103, 102, 0]);
        let out =
            NoiseOp::Delete { p: 1.0 }.apply_tokens(&[101, 2023, 2003, 102, 0], &vocab, &mut rng);
        assert_eq!(out, [101, 102, 0]);
    }

    #[test]
    fn serde_names_and_defaults() {
        let op: NoiseOp = serde_json::from_str(
            r#"{"type": "sequence", "ops": [{"type": "shuffle"}, {"type": "delete", "p": 0.2}]}"#,
        )
        .unwrap();
        assert_eq!(
            op,
            NoiseOp::Sequence {
                ops: vec![NoiseOp::Shuffle { p: 0.1 }, NoiseOp::Delete { p: 0.2 }]
            }
        );
        let err = serde_json::from_str::<NoiseOp>(r#"{"type": "blur"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `blur`"), "{err}");
        assert!(
            NoiseOp::Mask { p: 1.5 }
                .validate()
                .unwrap_err()
                .to_string()
                .contains("[0, 1], got 1.5")
        );
    }

    #[test]
    fn word_level_noise() {
        let vocab = WordVocab {
            mask_token: "[MASK]".into(),
            words: vec!["x".into()],
        };
        let mut rng = NoiseRng::new(3, 0);
        assert_eq!(
            NoiseOp::Mask { p: 1.0 }.apply_words("a  b c", &vocab, &mut rng),
            "[MASK] [MASK] [MASK]"
        );
        assert_eq!(
            NoiseOp::Replace { p: 1.0 }.apply_words("a b", &vocab, &mut rng),
            "x x"
        );
        assert_eq!(
            NoiseOp::Identity.apply_words(" a b ", &vocab, &mut rng),
            "a b"
        );
    }
}
