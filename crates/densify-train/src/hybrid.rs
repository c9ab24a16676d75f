//! A label-free teacher: BM25 and the base bi-encoder combined per query.
//!
//! ```text
//! t_j = w · norm(bm25(q, d_j)) + (1 − w) · norm(sim(E(q), E(d_j)))
//! norm(x)_j = (x_j − min_k x_k) / (max_k x_k − min_k x_k)     over the query's own list
//! ```
//! A candidate sharing no term with the query has BM25 score 0; a list whose scores are all
//! equal normalises to 0.5 everywhere. Lexical and dense scores fail on different queries,
//! so on many domains the mix ranks better than either alone (hybrid retrieval; Gao et al.,
//! "Complement Lexical Retrieval Model with Semantic Residual Embeddings", 2021). It needs no
//! labels and no model beyond the one being adapted, which makes it the default teacher of
//! label-free adaptation when it beats the base model on the synthetic dev split.

use std::collections::HashMap;

use burn::tensor::Device;
use densify_core::{Config, InvalidField};
use densify_data::Embeddings;
use densify_eval::bm25::{Bm25Config, Bm25Index};
use densify_model::{BiEncoder, Side};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::example::TrainingExample;

/// Configuration of the hybrid teacher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HybridTeacherConfig {
    /// Weight `w` of the normalised BM25 score; `1 − w` goes to the bi-encoder. Default 0.5.
    pub bm25_weight: f64,
    /// BM25's parameters (Pyserini's BEIR defaults k1 = 0.9, b = 0.4).
    pub bm25: Bm25Config,
    /// Texts per encoding batch. Default 32.
    pub batch_size: usize,
}

impl Default for HybridTeacherConfig {
    fn default() -> Self {
        Self {
            bm25_weight: 0.5,
            bm25: Bm25Config::default(),
            batch_size: 32,
        }
    }
}

densify_core::setters!(HybridTeacherConfig {
    bm25_weight: f64,
    bm25: Bm25Config,
    batch_size: usize,
});

impl Config for HybridTeacherConfig {
    fn validate(&self) -> std::result::Result<(), InvalidField> {
        if !(0.0..=1.0).contains(&self.bm25_weight) {
            return Err(InvalidField::new(
                "bm25_weight",
                format!("must be in [0, 1], found {}", self.bm25_weight),
            ));
        }
        if self.batch_size == 0 {
            return Err(InvalidField::new(
                "batch_size",
                "must be at least 1, found 0",
            ));
        }
        self.bm25.validate().map_err(|e| e.within("bm25"))
    }
}

/// Min-max normalisation of one list to [0, 1]; all-equal (or single) lists give 0.5.
pub fn min_max(scores: &[f64]) -> Vec<f64> {
    let lo = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        return vec![0.5; scores.len()];
    }
    scores.iter().map(|s| (s - lo) / (hi - lo)).collect()
}

/// `w · norm(lexical) + (1 − w) · norm(dense)` for one list.
pub fn combine(lexical: &[f64], dense: &[f64], bm25_weight: f64) -> Vec<f64> {
    min_max(lexical)
        .into_iter()
        .zip(min_max(dense))
        .map(|(l, d)| bm25_weight * l + (1.0 - bm25_weight) * d)
        .collect()
}

/// The hybrid teacher over one corpus: its texts, its BM25 index (built once), the base model
/// and, when an earlier stage made them, the model's corpus embeddings.
pub struct HybridTeacher<'a> {
    texts: &'a HashMap<String, String>,
    extra: Option<&'a HashMap<String, String>>,
    index: Bm25Index,
    model: &'a BiEncoder,
    corpus_embeddings: Option<&'a Embeddings>,
    config: &'a HybridTeacherConfig,
}

impl<'a> HybridTeacher<'a> {
    /// A teacher over the `texts` corpus with `model`; `corpus_embeddings`, when given, are
    /// `model`'s passage embeddings of the corpus, looked up instead of encoding candidates
    /// again. Checks `config` and builds the BM25 index.
    pub fn new(
        texts: &'a HashMap<String, String>,
        model: &'a BiEncoder,
        corpus_embeddings: Option<&'a Embeddings>,
        config: &'a HybridTeacherConfig,
    ) -> Result<Self> {
        config.validate().map_err(|field| TrainError::Setting {
            section: "hybrid teacher",
            field,
        })?;
        let index = Bm25Index::build(
            texts.iter().map(|(id, t)| (id.as_str(), t.as_str())),
            config.bm25,
        );
        Ok(Self {
            texts,
            extra: None,
            index,
            model,
            corpus_embeddings,
            config,
        })
    }

    /// The teacher with `extra` documents that candidates may name but that are not part of
    /// the corpus (the passages inverse cloze removed its queries from): BM25 scores them with
    /// the corpus's statistics ([`Bm25Index::score_text`]) so they change no document
    /// frequency, and the model encodes them, as they have no cached embedding.
    pub fn with_extra_documents(mut self, extra: &'a HashMap<String, String>) -> Self {
        self.extra = Some(extra);
        self
    }

    /// The two signals of every candidate of `examples`, in list order: BM25 and the model's
    /// similarity. `progress` gets the texts encoded so far.
    ///
    /// # Shapes
    /// Returns one `(lexical, dense)` pair of vectors per example, each as long as its list.
    pub fn signals(
        &self,
        examples: &[TrainingExample],
        device: &Device,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<(Vec<f64>, Vec<f64>)>> {
        let text_of = |e: &TrainingExample, id: &str| {
            let extra = self.extra.and_then(|x| x.get(id));
            extra
                .or_else(|| self.texts.get(id))
                .ok_or_else(|| TrainError::DocumentNotInCorpus {
                    place: format!("example `{}`", e.id),
                    doc_id: id.to_owned(),
                    corpus: "the corpus".into(),
                })
        };
        let mut doc_index: HashMap<&str, usize> = HashMap::new();
        let mut docs: Vec<(String, String)> = Vec::new();
        for e in examples {
            for c in &e.candidates {
                if !doc_index.contains_key(c.doc_id.as_str()) {
                    doc_index.insert(c.doc_id.as_str(), docs.len());
                    docs.push((c.doc_id.clone(), text_of(e, &c.doc_id)?.clone()));
                }
            }
        }
        let queries: Vec<(String, String)> = examples
            .iter()
            .map(|e| (e.id.clone(), e.query.clone()))
            .collect();
        let query_embeddings = self.model.encode_items(
            &queries,
            Side::Query,
            self.config.batch_size,
            device,
            progress,
        )?;
        let done = queries.len();
        let cached = self
            .corpus_embeddings
            .filter(|e| e.dim() == query_embeddings.dim());
        // Cached rows for the corpus's documents, when a cache is given (a document it lacks
        // means it was made from another corpus); extra documents, or everything without a
        // cache, encoded here.
        let row_of: HashMap<&str, usize> = cached
            .map(|corpus| {
                corpus
                    .ids()
                    .iter()
                    .enumerate()
                    .map(|(i, id)| (id.as_str(), i))
                    .collect()
            })
            .unwrap_or_default();
        let is_extra = |id: &str| self.extra.is_some_and(|x| x.contains_key(id));
        if cached.is_some()
            && let Some((id, _)) = docs
                .iter()
                .find(|(id, _)| !is_extra(id) && !row_of.contains_key(id.as_str()))
        {
            return Err(TrainError::MissingEmbedding { doc_id: id.clone() });
        }
        let missing: Vec<(String, String)> = docs
            .iter()
            .filter(|(id, _)| cached.is_none() || is_extra(id))
            .cloned()
            .collect();
        let encoded = if missing.is_empty() {
            Embeddings::new(Vec::new(), query_embeddings.dim(), Vec::new())?
        } else {
            self.model.encode_items(
                &missing,
                Side::Passage,
                self.config.batch_size,
                device,
                &mut |n| progress(done + n),
            )?
        };
        let encoded_row: HashMap<&str, usize> = missing
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.as_str(), i))
            .collect();
        let dim = query_embeddings.dim();
        let mut values = Vec::with_capacity(docs.len() * dim);
        for (id, _) in &docs {
            match (encoded_row.get(id.as_str()), cached) {
                (Some(&row), _) => values.extend_from_slice(encoded.row(row)),
                (None, Some(corpus)) => values.extend_from_slice(corpus.row(row_of[id.as_str()])),
                (None, None) => unreachable!("every document without a cached row is encoded"),
            }
        }
        progress(done + docs.len());
        let ids = docs.iter().map(|(id, _)| id.clone()).collect();
        let doc_embeddings = Embeddings::new(ids, dim, values)?;
        let similarity = self.model.settings.similarity;
        Ok(examples
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let lexical: HashMap<String, f64> = self
                    .index
                    .search(&e.query, usize::MAX)
                    .into_iter()
                    .map(|s| (s.doc_id, s.score))
                    .collect();
                let q = query_embeddings.row(i);
                let mut bm25 = Vec::with_capacity(e.candidates.len());
                let mut dense = Vec::with_capacity(e.candidates.len());
                for c in &e.candidates {
                    let extra = self.extra.and_then(|x| x.get(&c.doc_id));
                    bm25.push(match extra {
                        Some(text) => self.index.score_text(&e.query, text),
                        None => lexical.get(&c.doc_id).copied().unwrap_or(0.0),
                    });
                    let d = doc_embeddings.row(doc_index[c.doc_id.as_str()]);
                    dense.push(f64::from(similarity.pair(q, d)));
                }
                (bm25, dense)
            })
            .collect())
    }

    /// Writes the teacher's score into every candidate's `teacher` field.
    pub fn score(
        &self,
        examples: &mut [TrainingExample],
        device: &Device,
        progress: &mut dyn FnMut(usize),
    ) -> Result<()> {
        let signals = self.signals(examples, device, progress)?;
        for (e, (lexical, dense)) in examples.iter_mut().zip(signals) {
            for (c, t) in
                e.candidates
                    .iter_mut()
                    .zip(combine(&lexical, &dense, self.config.bm25_weight))
            {
                c.teacher = Some(t);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    #[test]
    fn lists_are_normalised_to_the_unit_interval_then_mixed() {
        assert_eq!(min_max(&[2.0, 4.0, 3.0]), [0.0, 1.0, 0.5]);
        assert_eq!(min_max(&[7.0, 7.0]), [0.5, 0.5]);
        assert_eq!(min_max(&[1.0]), [0.5]);
        // lexical [0, 1, 0.5], dense [1, 0, 0.25] (from [0.9, 0.1, 0.3]); w = 0.25.
        let t = combine(&[2.0, 4.0, 3.0], &[0.9, 0.1, 0.3], 0.25);
        for (got, want) in t.iter().zip([0.75, 0.25, 0.3125]) {
            assert_abs_diff_eq!(*got, want, epsilon = 1e-12);
        }
    }

    #[test]
    fn a_weight_outside_the_unit_interval_is_refused() {
        let e = HybridTeacherConfig::from_toml_str("bm25_weight = 1.5\n", "t.toml").unwrap_err();
        assert!(e.to_string().contains("bm25_weight"), "{e}");
    }
}
