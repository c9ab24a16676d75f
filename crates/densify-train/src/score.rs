//! Teacher scoring (`densify score`): every (query, candidate) pair of a training file scored
//! by a teacher and stored as the candidates' `teacher` scores, so distillation runs without
//! the teacher in memory.
//!
//! A cross-encoder teacher scores each pair jointly (its raw logit, as sentence-transformers'
//! `CrossEncoder.predict` returns it before any activation); a bi-encoder teacher scores with
//! its own similarity between the query's and the document's embeddings, each document
//! embedded once however many lists it is in.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::Device;
use densify_model::{BiEncoder, CrossEncoder, Side};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::example::TrainingExample;

/// A model that gives teacher scores.
#[derive(Debug)]
pub enum Teacher {
    /// Scores (query, document) pairs jointly.
    Cross(Box<CrossEncoder>),
    /// Scores by embedding similarity.
    Bi(Box<BiEncoder>),
}

/// The kind of teacher model (`cross_encoder` or `bi_encoder` in a config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeacherKind {
    /// A cross-encoder (sentence-transformers `CrossEncoder` layout): raw logits.
    CrossEncoder,
    /// A bi-encoder: the model's own similarity.
    BiEncoder,
}

impl Teacher {
    /// Loads a teacher of `kind` from its folder (Hugging Face / sentence-transformers
    /// layout). `max_length` bounds a cross-encoder's (query, document) pairs in tokens; a
    /// bi-encoder keeps its own max lengths.
    pub fn load(kind: TeacherKind, dir: &Path, max_length: usize, device: &Device) -> Result<Self> {
        Ok(match kind {
            TeacherKind::CrossEncoder => {
                Self::Cross(Box::new(CrossEncoder::load(dir, max_length, device)?))
            }
            TeacherKind::BiEncoder => Self::Bi(Box::new(BiEncoder::load(dir, device, |_| {})?)),
        })
    }
}

/// Scores every candidate of `examples` with `teacher`, overwriting their `teacher` fields.
/// `texts` maps document ids to their text; `progress` gets the pairs scored so far.
pub fn score_examples(
    examples: &mut [TrainingExample],
    texts: &HashMap<String, String>,
    teacher: &Teacher,
    batch_size: usize,
    device: &Device,
    progress: &mut dyn FnMut(usize),
) -> Result<()> {
    let text = |id: &str| {
        texts
            .get(id)
            .map(String::as_str)
            .ok_or_else(|| TrainError::Invalid(format!("document `{id}` is not in the corpus")))
    };
    let scores: Vec<f32> = match teacher {
        Teacher::Cross(model) => {
            let mut pairs = Vec::new();
            for e in examples.iter() {
                for c in &e.candidates {
                    pairs.push((e.query.as_str(), text(&c.doc_id)?));
                }
            }
            let mut out = Vec::with_capacity(pairs.len());
            for chunk in pairs.chunks(batch_size.max(1) * 8) {
                out.extend(model.score(chunk, batch_size, device)?);
                progress(out.len());
            }
            out
        }
        Teacher::Bi(model) => {
            let mut doc_index: HashMap<&str, usize> = HashMap::new();
            let mut docs: Vec<&str> = Vec::new();
            for e in examples.iter() {
                for c in &e.candidates {
                    if !doc_index.contains_key(c.doc_id.as_str()) {
                        doc_index.insert(c.doc_id.as_str(), docs.len());
                        docs.push(text(&c.doc_id)?);
                    }
                }
            }
            let queries: Vec<&str> = examples.iter().map(|e| e.query.as_str()).collect();
            let dim = model.dim();
            let d = model.encode(&docs, Side::Passage, batch_size, device, &mut |n| {
                progress(n)
            })?;
            let q = model.encode(&queries, Side::Query, batch_size, device, &mut |_| {})?;
            let similarity = model.settings.similarity;
            let mut out = Vec::new();
            for (i, e) in examples.iter().enumerate() {
                let qv = &q[i * dim..(i + 1) * dim];
                for c in &e.candidates {
                    let j = doc_index[c.doc_id.as_str()];
                    out.push(similarity.pair(qv, &d[j * dim..(j + 1) * dim]));
                }
            }
            out
        }
    };
    let mut next = scores.into_iter();
    for e in examples.iter_mut() {
        for c in &mut e.candidates {
            let s = next.next().expect("one score per pair");
            if !s.is_finite() {
                return Err(TrainError::Invalid(format!(
                    "example `{}`: the teacher scored document `{}` {s}",
                    e.id, c.doc_id
                )));
            }
            c.teacher = Some(f64::from(s));
        }
    }
    Ok(())
}
