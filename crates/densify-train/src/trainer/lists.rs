//! Examples as steps read them: each query's list of `list_size` documents (the first
//! positive first) with its texts, teacher scores and labels, checked against the corpus; and
//! the targets a loss reads for a batch of them.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use burn::tensor::{Device, Int, Tensor, TensorData};
use densify_loss::{LossConfig, ScoredLists};

use crate::config::TrainConfig;
use crate::error::{MissingTarget, Result, TrainError};
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

/// What `example` lacks of what `loss` reads ([`LossConfig::requirements`]), the positive
/// first: checked before the first step, so no step meets a batch without its targets and no
/// list without a positive has column 0 taken for one.
pub(crate) fn missing_target(
    example: &TrainingExample,
    loss: &LossConfig,
) -> Option<MissingTarget> {
    let needs = loss.requirements();
    let all = |f: fn(&crate::Candidate) -> bool| example.candidates.iter().all(f);
    if needs.positive && example.positives().next().is_none() {
        Some(MissingTarget::Positive)
    } else if needs.teacher && !all(|c| c.teacher.is_some()) {
        Some(MissingTarget::Teacher)
    } else if needs.labels && !all(|c| c.label.is_some()) {
        Some(MissingTarget::Labels)
    } else {
        None
    }
}

/// Checks the examples against the corpus, the configuration and what the loss reads, and
/// lays each out as a list of `list_size` documents, the first positive first. `source` is
/// the file the examples come from, for messages.
pub(crate) fn build_lists(
    examples: &[TrainingExample],
    corpus: &HashMap<&str, &str>,
    config: &TrainConfig,
    source: &Path,
) -> Result<Vec<StepList>> {
    let shown = source.display();
    if examples.is_empty() {
        return Err(TrainError::NoExamples {
            file: source.to_path_buf(),
        });
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
            format!("{shown}:{}", e.line)
        } else {
            format!("{shown} (example `{}`)", e.id)
        }
    };
    examples
        .iter()
        .map(|e| {
            if let Some(c) = e
                .candidates
                .iter()
                .find(|c| !corpus.contains_key(c.doc_id.as_str()))
            {
                return Err(TrainError::DocumentNotInCorpus {
                    place: place(e),
                    doc_id: c.doc_id.clone(),
                    corpus: format!("the corpus of {}", config.dataset),
                });
            }
            if e.candidates.len() < config.list_size {
                return Err(TrainError::ListTooShort {
                    place: place(e),
                    candidates: e.candidates.len(),
                    list_size: config.list_size,
                });
            }
            if let Some(missing) = missing_target(e, &config.loss) {
                return Err(TrainError::MissingTarget {
                    file: source.to_path_buf(),
                    line: e.line,
                    example: e.id.clone(),
                    loss: config.loss.name(),
                    missing,
                });
            }
            // Without a positive (a loss that reads none), the list keeps its order.
            let first = e.positives().next().unwrap_or(0);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Candidate;
    use densify_core::Config;

    fn example(positive: bool, teacher: Option<f64>, label: Option<f64>) -> TrainingExample {
        let candidate = |doc_id: &str, positive| Candidate {
            doc_id: doc_id.into(),
            positive,
            teacher,
            label,
        };
        TrainingExample {
            id: "q1".into(),
            query_id: "q1".into(),
            query: "q".into(),
            candidates: vec![candidate("a", positive), candidate("b", false)],
            line: 3,
        }
    }

    fn loss(name: &str) -> LossConfig {
        LossConfig::from_toml_str(&format!("type = \"{name}\"\n"), "l.toml").unwrap()
    }

    #[test]
    fn each_loss_asks_for_what_it_reads() {
        let bare = example(false, None, None);
        let scored = example(false, Some(1.0), None);
        let marked = example(true, Some(1.0), Some(2.0));
        for name in ["info_nce", "kl_distillation", "margin_mse", "list_net"] {
            assert_eq!(missing_target(&marked, &loss(name)), None, "{name}");
        }
        assert_eq!(
            missing_target(&bare, &loss("kl_distillation")),
            Some(MissingTarget::Teacher)
        );
        assert_eq!(missing_target(&scored, &loss("kl_distillation")), None);
        // Listwise distillation's InfoNCE term never takes column 0 for an unmarked positive.
        assert_eq!(
            missing_target(&scored, &loss("listwise_distillation")),
            Some(MissingTarget::Positive)
        );
        assert_eq!(
            missing_target(&example(true, None, None), &loss("margin_mse")),
            Some(MissingTarget::Teacher)
        );
        assert_eq!(
            missing_target(&scored, &loss("rank_net")),
            Some(MissingTarget::Labels)
        );
        assert_eq!(
            missing_target(&bare, &loss("info_nce")),
            Some(MissingTarget::Positive)
        );
    }
}
