//! BM25, the lexical baseline: a deterministic run producer for evaluation, and later the source
//! of lexical hard negatives.
//!
//! Scoring follows Lucene's BM25 (Robertson et al., 1994; Lucene's idf
//! `ln(1 + (N - df + 0.5) / (df + 0.5))`), with Anserini's defaults k1 = 0.9, b = 0.4. The
//! analyzer is deliberately simple and documented: lower-case, split on anything that is not
//! alphanumeric, drop Lucene's 33 English stop words; no stemming. So its figures are close to,
//! not equal to, Anserini's.

use std::collections::HashMap;

use densify_core::config::{Config, InvalidField};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use densify_data::run::{Run, ScoredDoc};

/// BM25 parameters (Robertson and Zaragoza, "The Probabilistic Relevance Framework: BM25 and
/// Beyond", 2009; defaults of Anserini's BEIR baselines).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Bm25Config {
    /// Term-frequency saturation. Default 0.9 (Anserini).
    pub k1: f64,
    /// Length normalisation. Default 0.4 (Anserini).
    pub b: f64,
}

impl Default for Bm25Config {
    fn default() -> Self {
        Self { k1: 0.9, b: 0.4 }
    }
}

impl Config for Bm25Config {
    fn validate(&self) -> Result<(), InvalidField> {
        densify_core::config::non_negative("k1", self.k1)?;
        if !(0.0..=1.0).contains(&self.b) {
            return Err(InvalidField::new(
                "b",
                format!("must be in [0, 1], found {}", self.b),
            ));
        }
        Ok(())
    }
}

densify_core::setters!(Bm25Config { k1: f64, b: f64 });

/// Lucene's default English stop words.
const STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Lower-cased alphanumeric tokens of `text`, stop words removed.
pub fn analyze(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .filter(|t| !STOP_WORDS.contains(&t.as_str()))
        .collect()
}

/// An in-memory inverted index over a corpus.
#[derive(Debug, Clone)]
pub struct Bm25Index {
    config: Bm25Config,
    doc_ids: Vec<String>,
    doc_lengths: Vec<u32>,
    average_length: f64,
    postings: HashMap<String, Vec<(u32, u32)>>,
}

impl Bm25Index {
    /// Indexes a BEIR dataset's corpus (title and text, as [`densify_data::Document::full_text`]),
    /// after checking the configuration.
    pub fn for_dataset(dataset: &densify_data::Dataset, config: Bm25Config) -> crate::Result<Self> {
        config.validate()?;
        let items = dataset.corpus_items()?;
        Ok(Self::build(
            items.iter().map(|(id, t)| (id.as_str(), t.as_str())),
            config,
        ))
    }

    /// Searches BEIR queries, as [`Bm25Index::search_all`].
    pub fn search_queries(&self, queries: &[densify_data::Query], k: usize) -> Run {
        let pairs: Vec<(&str, &str)> = queries
            .iter()
            .map(|q| (q.id.as_str(), q.text.as_str()))
            .collect();
        self.search_all(&pairs, k)
    }

    /// Indexes `(doc_id, text)` pairs.
    pub fn build<'a>(
        docs: impl IntoIterator<Item = (&'a str, &'a str)>,
        config: Bm25Config,
    ) -> Self {
        let mut doc_ids = Vec::new();
        let mut doc_lengths = Vec::new();
        let mut postings: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        for (i, (id, text)) in docs.into_iter().enumerate() {
            let tokens = analyze(text);
            doc_ids.push(id.to_owned());
            doc_lengths.push(tokens.len() as u32);
            let mut counts: HashMap<String, u32> = HashMap::new();
            for t in tokens {
                *counts.entry(t).or_default() += 1;
            }
            for (t, tf) in counts {
                postings.entry(t).or_default().push((i as u32, tf));
            }
        }
        let total: u64 = doc_lengths.iter().map(|&l| u64::from(l)).sum();
        let average_length = total as f64 / doc_ids.len().max(1) as f64;
        Self {
            config,
            doc_ids,
            doc_lengths,
            average_length,
            postings,
        }
    }

    /// Number of indexed documents.
    pub fn len(&self) -> usize {
        self.doc_ids.len()
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.doc_ids.is_empty()
    }

    /// The best `k` documents for `query` (documents sharing no term are not returned).
    pub fn search(&self, query: &str, k: usize) -> Vec<ScoredDoc> {
        let n = self.doc_ids.len() as f64;
        let Bm25Config { k1, b } = self.config;
        let mut scores = vec![0.0f64; self.doc_ids.len()];
        let mut touched = vec![false; self.doc_ids.len()];
        let mut terms = analyze(query);
        let mut seen = std::collections::HashSet::new();
        terms.retain(|t| seen.insert(t.clone()));
        for term in &terms {
            let Some(list) = self.postings.get(term) else {
                continue;
            };
            let df = list.len() as f64;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for &(doc, tf) in list {
                let tf = f64::from(tf);
                let norm =
                    1.0 - b + b * f64::from(self.doc_lengths[doc as usize]) / self.average_length;
                scores[doc as usize] += idf * tf * (k1 + 1.0) / (tf + k1 * norm);
                touched[doc as usize] = true;
            }
        }
        let mut hits: Vec<ScoredDoc> = (0..scores.len())
            .filter(|&i| touched[i])
            .map(|i| ScoredDoc {
                doc_id: self.doc_ids[i].clone(),
                score: scores[i],
            })
            .collect();
        hits.sort_by(|a, b| {
            densify_data::run::trec_order(a, b, densify_data::run::ScorePrecision::F64)
        });
        hits.truncate(k);
        hits
    }

    /// BM25 of `query` against a `text` that is not in the index, scored as if it were one
    /// more document under the index's statistics (document frequencies, average length), so
    /// its score compares with [`Bm25Index::search`]'s. 0 when they share no term.
    pub fn score_text(&self, query: &str, text: &str) -> f64 {
        let n = self.doc_ids.len() as f64;
        let Bm25Config { k1, b } = self.config;
        let tokens = analyze(text);
        let mut counts: HashMap<&str, u32> = HashMap::new();
        for t in &tokens {
            *counts.entry(t.as_str()).or_default() += 1;
        }
        let norm = 1.0 - b + b * tokens.len() as f64 / self.average_length.max(f64::MIN_POSITIVE);
        let mut terms = analyze(query);
        let mut seen = std::collections::HashSet::new();
        terms.retain(|t| seen.insert(t.clone()));
        terms
            .iter()
            .filter_map(|term| {
                let tf = f64::from(*counts.get(term.as_str())?);
                let df = self.postings.get(term).map_or(0, Vec::len) as f64;
                let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                Some(idf * tf * (k1 + 1.0) / (tf + k1 * norm))
            })
            .sum()
    }

    /// Searches every `(query_id, text)` and returns the run, using all cores.
    pub fn search_all<'a>(&self, queries: &[(&'a str, &'a str)], k: usize) -> Run {
        let lists: Vec<(String, Vec<ScoredDoc>)> = queries
            .par_iter()
            .map(|(id, text)| ((*id).to_owned(), self.search(text, k)))
            .collect();
        let mut run = Run::new();
        for (id, docs) in lists {
            run.set_query(&id, docs);
        }
        run
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    #[test]
    fn analyzer_lowercases_splits_and_drops_stop_words() {
        assert_eq!(
            analyze("The COVID-19 vaccine, and its effects"),
            ["covid", "19", "vaccine", "its", "effects"]
        );
    }

    #[test]
    fn scores_match_hand_computation() {
        let index = Bm25Index::build(
            [("d1", "apple banana"), ("d2", "apple apple cherry cherry")],
            Bm25Config::default(),
        );
        // "banana": df 1, N 2 -> idf = ln(1 + 1.5/1.5) = ln 2; d1 length 2, avg 3:
        // norm = 0.6 + 0.4 * 2/3; score = ln2 * 1 * 1.9 / (1 + 0.9 * norm).
        let hits = index.search("banana", 10);
        assert_eq!(hits.len(), 1);
        let norm = 0.6 + 0.4 * 2.0 / 3.0;
        assert_abs_diff_eq!(
            hits[0].score,
            2f64.ln() * 1.9 / (1.0 + 0.9 * norm),
            epsilon = 1e-12
        );
        // "apple" is in both: d2 has tf 2 but is longer.
        let hits = index.search("apple cherry", 1);
        assert_eq!(hits[0].doc_id, "d2");
    }

    #[test]
    fn a_text_outside_the_index_scores_as_an_indexed_copy_would() {
        let index = Bm25Index::build(
            [("d1", "apple banana"), ("d2", "apple apple cherry cherry")],
            Bm25Config::default(),
        );
        // The same text as d1 scores what d1 scores.
        let d1 = index.search("banana apple", 10);
        let d1 = d1.iter().find(|h| h.doc_id == "d1").unwrap().score;
        assert_abs_diff_eq!(
            index.score_text("banana apple", "apple banana"),
            d1,
            epsilon = 1e-12
        );
        // "cherry" (df 1) three times in a 4-token text; avg length 3:
        // norm = 0.6 + 0.4 * 4/3; score = ln2 * 3 * 1.9 / (3 + 0.9 * norm).
        let norm = 0.6 + 0.4 * 4.0 / 3.0;
        assert_abs_diff_eq!(
            index.score_text("cherry", "cherry cherry cherry kiwi"),
            2f64.ln() * 3.0 * 1.9 / (3.0 + 0.9 * norm),
            epsilon = 1e-12
        );
        // A term the index never saw: df 0, idf ln(1 + 2.5/0.5) = ln 6.
        let norm = 0.6 + 0.4 * 1.0 / 3.0;
        assert_abs_diff_eq!(
            index.score_text("kiwi", "kiwi"),
            6f64.ln() * 1.9 / (1.0 + 0.9 * norm),
            epsilon = 1e-12
        );
        assert_eq!(index.score_text("durian", "apple"), 0.0);
    }
}
