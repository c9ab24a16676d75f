//! Examples as steps read them: each query's list of `list_size` documents (the first
//! positive first) with its texts, teacher scores and labels, checked against the corpus; and
//! the targets a loss reads for a batch of them.

use std::collections::{HashMap, HashSet};

use burn::tensor::{Device, Int, Tensor, TensorData};
use densify_loss::{LossConfig, ScoredLists};

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::example::TrainingExample;

/// An example as a step uses it: texts in list order (the first positive first).
#[derive(Debug)]
pub(crate) struct StepList {
    pub id: String,
    pub query: String,
    pub doc_ids: Vec<String>,
    pub texts: Vec<String>,
    /// Every document judged positive for this query anywhere in the examples.
    pub positives: HashSet<String>,
    pub teacher: Option<Vec<f32>>,
    pub labels: Option<Vec<f32>>,
}

/// Each query's own list: positive at column 0, the examples' teacher scores and labels when
/// every example of the step has them.
///
/// # Shapes
/// - `scores`: `[batch, list]`
pub(crate) fn list_targets(
    lists: &[StepList],
    batch: &[usize],
    list_size: usize,
    device: &Device,
    scores: Tensor<2>,
) -> ScoredLists {
    let b = batch.len();
    let mut scored = ScoredLists::new(scores).with_positive(Tensor::<1, Int>::zeros([b], device));
    let gather = |get: &dyn Fn(&StepList) -> &Option<Vec<f32>>| -> Option<Tensor<2>> {
        batch
            .iter()
            .map(|&i| get(&lists[i]).clone())
            .collect::<Option<Vec<Vec<f32>>>>()
            .map(|rows| Tensor::from_data(TensorData::new(rows.concat(), [b, list_size]), device))
    };
    if let Some(t) = gather(&|l| &l.teacher) {
        scored = scored.with_teacher(t);
    }
    if let Some(t) = gather(&|l| &l.labels) {
        scored = scored.with_labels(t);
    }
    scored
}

/// Document id -> text over a corpus's `(id, text)` items, borrowing them.
pub(crate) fn corpus_index(items: &[(String, String)]) -> HashMap<&str, &str> {
    items
        .iter()
        .map(|(id, text)| (id.as_str(), text.as_str()))
        .collect()
}

/// Checks the examples against the corpus and the configuration and lays each out as a list of
/// `list_size` documents, the first positive first.
pub(crate) fn build_lists(
    examples: &[TrainingExample],
    corpus: &HashMap<&str, &str>,
    config: &TrainConfig,
    source: &str,
) -> Result<Vec<StepList>> {
    if examples.is_empty() {
        return Err(TrainError::Invalid(format!(
            "{source}: no training examples"
        )));
    }
    let mut positives_of: HashMap<&str, HashSet<String>> = HashMap::new();
    for e in examples {
        for i in e.positives() {
            positives_of
                .entry(e.query_id.as_str())
                .or_default()
                .insert(e.candidates[i].doc_id.clone());
        }
    }
    let place = |e: &TrainingExample| {
        if e.line > 0 {
            format!("{source}:{}", e.line)
        } else {
            format!("{source} (example `{}`)", e.id)
        }
    };
    let needs_positive = matches!(
        config.loss,
        LossConfig::InfoNce(_) | LossConfig::MarginMse(_)
    );
    examples
        .iter()
        .map(|e| {
            if let Some(c) = e
                .candidates
                .iter()
                .find(|c| !corpus.contains_key(c.doc_id.as_str()))
            {
                return Err(TrainError::Invalid(format!(
                    "{}: document `{}` is not in the corpus of {}",
                    place(e),
                    c.doc_id,
                    config.dataset
                )));
            }
            if e.candidates.len() < config.list_size {
                return Err(TrainError::Invalid(format!(
                    "{}: {} candidates, fewer than list_size = {}",
                    place(e),
                    e.candidates.len(),
                    config.list_size
                )));
            }
            let first = e.positives().next();
            if needs_positive && first.is_none() {
                return Err(TrainError::Invalid(format!(
                    "{}: no candidate is marked `positive`, which the {} loss needs",
                    place(e),
                    config.loss.init().map(|l| l.name()).unwrap_or("configured")
                )));
            }
            let first = first.unwrap_or(0);
            let order: Vec<usize> = std::iter::once(first)
                .chain((0..e.candidates.len()).filter(|&i| i != first))
                .take(config.list_size)
                .collect();
            let pick = |f: &dyn Fn(&crate::Candidate) -> Option<f64>| -> Option<Vec<f32>> {
                order
                    .iter()
                    .map(|&i| f(&e.candidates[i]).map(|v| v as f32))
                    .collect()
            };
            Ok(StepList {
                id: e.id.clone(),
                query: e.query.clone(),
                doc_ids: order
                    .iter()
                    .map(|&i| e.candidates[i].doc_id.clone())
                    .collect(),
                texts: order
                    .iter()
                    .map(|&i| corpus[e.candidates[i].doc_id.as_str()].to_owned())
                    .collect(),
                positives: positives_of
                    .get(e.query_id.as_str())
                    .cloned()
                    .unwrap_or_default(),
                teacher: pick(&|c| c.teacher),
                labels: pick(&|c| c.label),
            })
        })
        .collect()
}
