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
use densify_data::TrainingExample;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::{BiEncoder, CrossEncoder, Side};

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
    ///
    /// A cross-encoder whose checkpoint has no classification head is an error
    /// ([`not_a_cross_encoder`]): the loader would start a random head.
    pub fn load(kind: TeacherKind, dir: &Path, max_length: usize, device: &Device) -> Result<Self> {
        Ok(match kind {
            TeacherKind::CrossEncoder => {
                let model = CrossEncoder::load(dir, max_length, device)?;
                if model.new_head {
                    return Err(not_a_cross_encoder(dir));
                }
                Self::Cross(Box::new(model))
            }
            TeacherKind::BiEncoder => Self::Bi(Box::new(BiEncoder::load(dir, device, |_| {})?)),
        })
    }
}

/// The error for a cross-encoder teacher folder whose checkpoint has no classification head.
pub fn not_a_cross_encoder(dir: &Path) -> ModelError {
    ModelError::NotACrossEncoder {
        dir: dir.to_path_buf(),
    }
}

/// Errors unless every candidate of `examples` has a text in `texts`, naming the file the
/// examples were read from and the example's line (`lists.jsonl:3: `candidates[1].doc_id`:
/// document `x` is not in the corpus (corpus.jsonl)`). Run it before loading a teacher, so a
/// wrong corpus fails at once.
pub fn check_texts(
    examples: &[TrainingExample],
    texts: &HashMap<String, String>,
    examples_path: &Path,
    corpus_path: &Path,
) -> Result<()> {
    Ok(densify_data::corpus_check::check_examples_in_corpus(
        examples,
        examples_path,
        corpus_path,
        |d| texts.contains_key(d),
    )?)
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
    let text = |e: &TrainingExample, id: &str| {
        texts
            .get(id)
            .map(String::as_str)
            .ok_or_else(|| ModelError::DocumentWithoutText {
                example: e.id.clone(),
                line: e.line,
                doc_id: id.to_owned(),
            })
    };
    let scores: Vec<f32> = match teacher {
        Teacher::Cross(model) => {
            let mut pairs = Vec::new();
            for e in examples.iter() {
                for c in &e.candidates {
                    pairs.push((e.query.as_str(), text(e, &c.doc_id)?));
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
                        docs.push(text(e, &c.doc_id)?);
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
                return Err(ModelError::NonFiniteTeacherScore {
                    example: e.id.clone(),
                    doc_id: c.doc_id.clone(),
                    score: s,
                });
            }
            c.teacher = Some(f64::from(s));
        }
    }
    Ok(())
}

/// Where a teacher comes from, for [`score_file`].
#[derive(Debug, Clone, Copy)]
pub struct TeacherSource<'a> {
    /// Its kind.
    pub kind: TeacherKind,
    /// Its folder (Hugging Face / sentence-transformers layout).
    pub dir: &'a Path,
    /// Max tokens of a (query, document) pair for a cross-encoder.
    pub max_length: usize,
}

/// `densify score` as one call: reads the training JSONL `examples`, checks every candidate
/// against `dataset`'s corpus (an error naming the file and line, before the teacher loads),
/// loads the teacher, scores every pair and writes the scored lists to `output` atomically.
/// `progress` gets a piece `teacher: scoring pairs`. Returns (examples, pairs) scored.
pub fn score_file(
    dataset: &densify_data::Dataset,
    examples: &Path,
    teacher: TeacherSource<'_>,
    batch_size: usize,
    device: &Device,
    output: &Path,
    progress: &mut dyn densify_core::Progress,
) -> Result<(usize, usize)> {
    let mut lists = densify_data::training_example::read_examples(examples)?;
    let texts: HashMap<String, String> = dataset.corpus_items()?.into_iter().collect();
    check_texts(&lists, &texts, examples, &dataset.corpus_path())?;
    let teacher = Teacher::load(teacher.kind, teacher.dir, teacher.max_length, device)?;
    let pairs: usize = lists.iter().map(|e| e.candidates.len()).sum();
    progress.start("teacher: scoring pairs", Some(pairs as u64));
    let scored = score_examples(&mut lists, &texts, &teacher, batch_size, device, &mut |n| {
        progress.set(n as u64)
    });
    progress.finish();
    scored?;
    densify_data::training_example::write_examples(output, &lists)?;
    Ok((lists.len(), pairs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use densify_data::Candidate;

    #[test]
    fn a_bare_encoder_is_refused_as_a_cross_encoder_teacher() {
        let dir = std::env::temp_dir().join(format!("densify-score-bare-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        densify_testkit::tiny_bi_encoder(&dir, 1);
        let device = Device::flex();
        let err = Teacher::load(TeacherKind::CrossEncoder, &dir, 64, &device)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no classification head (classifier.weight")
                && err.contains("not a cross-encoder")
                && err.contains("--kind bi"),
            "{err}"
        );
        assert!(matches!(
            Teacher::load(TeacherKind::BiEncoder, &dir, 64, &device),
            Ok(Teacher::Bi(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_document_outside_the_corpus_names_the_file_and_line() {
        let example = TrainingExample {
            id: "q1".into(),
            query_id: "q1".into(),
            query: "thing".into(),
            candidates: ["d1", "nope"]
                .into_iter()
                .map(|d| Candidate {
                    doc_id: d.into(),
                    positive: d == "d1",
                    teacher: None,
                    label: None,
                })
                .collect(),
            line: 3,
        };
        let texts: HashMap<String, String> = [("d1".to_owned(), "text".to_owned())].into();
        let err = check_texts(
            &[example],
            &texts,
            Path::new("lists.jsonl"),
            Path::new("corpus.jsonl"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "lists.jsonl:3: `candidates[1].doc_id`: document `nope` is not in the corpus (corpus.jsonl)"
        );
    }
}
