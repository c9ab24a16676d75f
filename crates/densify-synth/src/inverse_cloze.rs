//! A generator with no LLM: pseudo-queries cut from the passage itself, by the inverse cloze
//! task (a sentence of the passage is its query; Lee, Chang and Toutanova, ACL 2019) or, when
//! no sentence is long enough, a random span of words (random cropping; Izacard et al.,
//! "Unsupervised Dense Information Retrieval with Contrastive Learning", 2022).
//!
//! It is the baseline the LLM queries are measured against and the default when no server is
//! configured, so the recipes run on a fresh machine with nothing else. It ignores the query
//! type except as part of the seed.
//!
//! A query cut from its passage is a substring of it, so a model trained to find that passage
//! learns exact lexical overlap rather than meaning. ICT therefore removes the sentence from
//! the passage it is paired with (Lee et al. remove it 90 % of the time): [`remove_query`]
//! gives that masked passage, which the recipes use as the positive when
//! `remove_from_source` is on (the default).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::generator::{Generated, Generator, Provenance};
use crate::openai::request_seed;
use crate::passage::Passage;
use crate::query_type::QueryType;

/// Span settings of the inverse-cloze generator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InverseClozeConfig {
    /// Shortest sentence (in words) taken as a query. Default 4.
    pub min_words: usize,
    /// Longest query in words: longer sentences are cropped to a random window. Default 24.
    pub max_words: usize,
    /// Seed of the sentence and span choices. Default 42.
    pub seed: u64,
    /// Pair each query with its passage minus the query's words (the inverse cloze task as
    /// Lee et al. train it) instead of the whole passage, where at least
    /// [`MIN_CONTEXT_WORDS`] words remain. Default true.
    pub remove_from_source: bool,
    /// Take a passage's title as its query when the title has at least `min_words` words
    /// (cropped to `max_words` like a sentence), and a sentence of the body otherwise: the
    /// title-body pairs of unsupervised retrieval pre-training (Wang et al., "Text Embeddings by
    /// Weakly-Supervised Contrastive Pre-training", 2022). With `remove_from_source` the
    /// positive is then the body without its title. Default false.
    pub title_as_query: bool,
}

/// The fewest words a passage keeps after its query is removed; a shorter remainder keeps the
/// whole passage as the positive.
pub const MIN_CONTEXT_WORDS: usize = 8;

/// `passage` without the first occurrence of `query`'s words (compared word by word, so
/// spacing and line breaks do not matter), joined by single spaces; `None` when the query is
/// not a word sequence of the passage or fewer than [`MIN_CONTEXT_WORDS`] words would remain.
pub fn remove_query(passage: &str, query: &str) -> Option<String> {
    let words: Vec<&str> = passage.split_whitespace().collect();
    let cut: Vec<&str> = query.split_whitespace().collect();
    if cut.is_empty() || cut.len() > words.len() {
        return None;
    }
    let start = words.windows(cut.len()).position(|w| w == cut.as_slice())?;
    let rest: Vec<&str> = words[..start]
        .iter()
        .chain(&words[start + cut.len()..])
        .copied()
        .collect();
    (rest.len() >= MIN_CONTEXT_WORDS).then(|| rest.join(" "))
}

impl Default for InverseClozeConfig {
    fn default() -> Self {
        Self {
            min_words: 4,
            max_words: 24,
            seed: 42,
            remove_from_source: true,
            title_as_query: false,
        }
    }
}

/// Pseudo-queries from the passage's own sentences.
#[derive(Debug, Clone, Default)]
pub struct InverseClozeGenerator {
    config: InverseClozeConfig,
}

impl InverseClozeGenerator {
    /// A generator with `config`.
    pub fn new(config: InverseClozeConfig) -> Self {
        Self { config }
    }

    /// The pseudo-query for `passage` under `seed`: its title when `title_as_query` is on and
    /// the title is long enough, else [`InverseClozeGenerator::crop`] of its text.
    pub fn pseudo_query(&self, passage: &Passage, seed: u64) -> String {
        let title_words: Vec<&str> = passage.title.split_whitespace().collect();
        if self.config.title_as_query && title_words.len() >= self.config.min_words.max(1) {
            let max = self.config.max_words.max(1);
            if title_words.len() <= max {
                return title_words.join(" ");
            }
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let start = rng.random_range(0..=title_words.len() - max);
            return title_words[start..start + max].join(" ");
        }
        self.crop(&passage.text, seed)
    }

    /// The pseudo-query for `text` under `seed`.
    pub fn crop(&self, text: &str, seed: u64) -> String {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let sentences: Vec<Vec<&str>> = split_sentences(text)
            .into_iter()
            .map(|s| s.split_whitespace().collect::<Vec<_>>())
            .filter(|w| w.len() >= self.config.min_words)
            .collect();
        let words: Vec<&str> = if sentences.is_empty() {
            text.split_whitespace().collect()
        } else {
            sentences[rng.random_range(0..sentences.len())].clone()
        };
        let max = self.config.max_words.max(1);
        if words.len() <= max {
            return words.join(" ");
        }
        let start = rng.random_range(0..=words.len() - max);
        words[start..start + max].join(" ")
    }
}

fn split_sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '?' | '!') && bytes.get(i + 1).is_none_or(|b| b.is_ascii_whitespace())
        {
            out.push(text[start..=i].trim());
            start = i + 1;
        }
    }
    if start < text.len() {
        out.push(text[start..].trim());
    }
    out.retain(|s| !s.is_empty());
    out
}

impl Generator for InverseClozeGenerator {
    fn query(&self, passage: &Passage, kind: QueryType, key: &str) -> Result<Generated> {
        let _ = kind;
        let seed = request_seed(self.config.seed, key);
        Ok(Generated {
            raw: Some(self.pseudo_query(passage, seed)),
            provenance: Provenance {
                generator: "inverse_cloze".into(),
                model: format!(
                    "{} of >= {} words, window <= {}",
                    if self.config.title_as_query {
                        "title, else sentence,"
                    } else {
                        "sentence"
                    },
                    self.config.min_words,
                    self.config.max_words
                ),
                template: String::new(),
                template_hash: String::new(),
                seed,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_a_long_enough_sentence_of_the_passage() {
        let g = InverseClozeGenerator::default();
        let text = "Short one. Vitamin C deficiency causes scurvy in sailors. Ok.";
        for seed in 0..20 {
            assert_eq!(
                g.crop(text, seed),
                "Vitamin C deficiency causes scurvy in sailors."
            );
        }
    }

    #[test]
    fn crops_long_sentences_to_a_window_and_is_seeded() {
        let g = InverseClozeGenerator::new(InverseClozeConfig {
            max_words: 3,
            ..Default::default()
        });
        let text = "a b c d e f g h";
        let q = g.crop(text, 7);
        assert_eq!(q.split(' ').count(), 3);
        assert!(text.contains(&q));
        assert_eq!(q, g.crop(text, 7));
        let all: std::collections::HashSet<String> = (0..30).map(|s| g.crop(text, s)).collect();
        assert!(all.len() > 1);
    }

    #[test]
    fn a_long_enough_title_is_the_query_and_its_removal_leaves_the_body() {
        let g = InverseClozeGenerator::new(InverseClozeConfig {
            title_as_query: true,
            ..Default::default()
        });
        let document = densify_data::Document {
            id: "d".into(),
            title: "Vitamin C deficiency causes scurvy".into(),
            text: "Sailors on long voyages fell ill. Citrus fruit cured them within weeks.".into(),
            metadata: None,
        };
        let passage = Passage::from(&document);
        for seed in 0..5 {
            assert_eq!(
                g.pseudo_query(&passage, seed),
                "Vitamin C deficiency causes scurvy"
            );
        }
        assert_eq!(
            remove_query(&passage.text, "Vitamin C deficiency causes scurvy").as_deref(),
            Some("Sailors on long voyages fell ill. Citrus fruit cured them within weeks.")
        );
        // A title of fewer than min_words (4) words, or the option off: a body sentence.
        let short = Passage::from(&densify_data::Document {
            title: "Scurvy".into(),
            ..document.clone()
        });
        let sentences = [
            "Scurvy Sailors on long voyages fell ill.",
            "Citrus fruit cured them within weeks.",
        ];
        assert!(sentences.contains(&g.pseudo_query(&short, 1).as_str()));
        let off = InverseClozeGenerator::default();
        for seed in 0..5 {
            assert_ne!(off.pseudo_query(&passage, seed), passage.title);
        }
        // A title longer than max_words is cropped to a window of it.
        let narrow = InverseClozeGenerator::new(InverseClozeConfig {
            title_as_query: true,
            min_words: 2,
            max_words: 3,
            ..Default::default()
        });
        let q = narrow.pseudo_query(&passage, 9);
        assert_eq!(q.split(' ').count(), 3);
        assert!(passage.title.contains(&q));
    }

    #[test]
    fn the_query_is_cut_out_of_its_passage_word_by_word() {
        let passage = "Scurvy was common.  Vitamin C deficiency\ncauses scurvy in sailors. \
                       It was cured by citrus fruit on long voyages at sea.";
        let query = "Vitamin C deficiency causes scurvy in sailors.";
        assert_eq!(
            remove_query(passage, query).as_deref(),
            Some("Scurvy was common. It was cured by citrus fruit on long voyages at sea.")
        );
        // Not a word sequence of the passage.
        assert_eq!(remove_query(passage, "scurvy in pirates"), None);
        // Seven words would remain: fewer than MIN_CONTEXT_WORDS.
        assert_eq!(remove_query("a b c d e f g x y", "x y"), None);
        assert_eq!(
            remove_query("a b c d e f g h x y", "x y").as_deref(),
            Some("a b c d e f g h")
        );
        assert_eq!(remove_query("a b", ""), None);
    }

    #[test]
    fn sentences_split_on_terminal_punctuation_only() {
        assert_eq!(
            split_sentences("Dr Who. And 3.5 that? yes"),
            vec!["Dr Who.", "And 3.5 that?", "yes"]
        );
    }
}
