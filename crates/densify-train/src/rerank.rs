//! Reranking a retrieval run's top k (`densify rerank`): each query's best `depth` documents
//! rescored by a cross-encoder, a bi-encoder or the label-free hybrid teacher, and written
//! back as a run ranked by the new scores, as sentence-transformers' `CrossEncoder.rank` and
//! pyserini's rerankers do. Documents below `depth` are not kept (the reranked run is the
//! top `depth`, as theirs is), so a reranked run's Recall@100 is at most the first stage's at
//! `depth`.
//!
//! The scores are the scorer's own: a cross-encoder's raw logit, a bi-encoder's similarity,
//! the hybrid teacher's mix of min-max-normalised BM25 and base-model scores over the query's
//! `depth` candidates ([`crate::hybrid`]).

use std::collections::HashMap;

use burn::tensor::Device;
use densify_core::{InvalidField, Progress};
use densify_data::{Query, Run, ScorePrecision};

use crate::error::{Result, TrainError};
use crate::example::{Candidate, TrainingExample};
use crate::hybrid::HybridTeacher;
use crate::score::{Teacher, score_examples};

/// What rescores the candidates.
pub enum Reranker<'a> {
    /// A cross-encoder or a bi-encoder (densify-model's teachers).
    Model(&'a Teacher),
    /// BM25 and the base bi-encoder combined per query ([`HybridTeacher`]).
    Hybrid(&'a HybridTeacher<'a>),
}

/// Counts of a reranking pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RerankReport {
    /// Queries reranked (queries of the split the run has a list for).
    pub queries: usize,
    /// (query, document) pairs scored.
    pub pairs: usize,
    /// Queries of the split the run has no list for (left out of the reranked run).
    pub not_in_run: usize,
}

/// Rescores the best `depth` documents of `run` (trec_eval's ranking order) for each of
/// `queries` with `reranker`; `texts` maps document ids to their text. The reranked run holds
/// those documents with the new scores. `progress` gets a piece `reranking`.
///
/// Errors: `depth` 0; no query of `queries` in the run; a document with no text (check the run
/// against the corpus first, `densify_data::corpus_check::check_run_in_corpus`, to name its
/// line); a non-finite score.
#[allow(clippy::too_many_arguments)]
pub fn rerank_run(
    queries: &[Query],
    run: &Run,
    depth: usize,
    reranker: Reranker<'_>,
    texts: &HashMap<String, String>,
    batch_size: usize,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<(Run, RerankReport)> {
    if depth == 0 {
        return Err(TrainError::Setting {
            section: "rerank",
            field: InvalidField::new("depth", "must be at least 1"),
        });
    }
    let mut report = RerankReport::default();
    let mut lists: Vec<TrainingExample> = Vec::new();
    for query in queries {
        let Some(ranked) = run.ranked(&query.id, ScorePrecision::F32) else {
            report.not_in_run += 1;
            continue;
        };
        let candidates: Vec<Candidate> = ranked
            .into_iter()
            .take(depth)
            .map(|d| Candidate {
                doc_id: d.doc_id.clone(),
                positive: false,
                teacher: None,
                label: None,
            })
            .collect();
        report.pairs += candidates.len();
        lists.push(TrainingExample {
            id: query.id.clone(),
            query_id: query.id.clone(),
            query: query.text.clone(),
            candidates,
            line: 0,
        });
    }
    report.queries = lists.len();
    if lists.is_empty() {
        return Err(TrainError::NoQueryInRun {
            queries: queries.len(),
        });
    }
    progress.start("reranking", Some(report.pairs as u64));
    let mut on_progress = |n: usize| progress.set(n as u64);
    let scored = match reranker {
        Reranker::Model(teacher) => score_examples(
            &mut lists,
            texts,
            teacher,
            batch_size,
            device,
            &mut on_progress,
        )
        .map_err(TrainError::from),
        Reranker::Hybrid(hybrid) => hybrid.score(&mut lists, device, &mut on_progress),
    };
    progress.finish();
    scored?;
    let mut out = Run::new();
    for list in &lists {
        for c in &list.candidates {
            let score = c.teacher.expect("every candidate was scored");
            out.push(&list.query_id, &c.doc_id, score);
        }
    }
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hybrid::HybridTeacherConfig;
    use densify_model::BiEncoder;

    fn query(id: &str, text: &str) -> Query {
        Query {
            id: id.into(),
            text: text.into(),
            metadata: None,
        }
    }

    #[test]
    fn the_hybrid_reranks_the_top_depth_and_drops_the_rest() {
        let dir = std::env::temp_dir().join(format!("densify-rerank-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        densify_testkit::tiny_bi_encoder(&dir, 1);
        let device = Device::flex();
        let model = BiEncoder::load(&dir, &device, |_| {}).unwrap();
        let texts: HashMap<String, String> = [
            ("d1", "cats purr"),
            ("d2", "scurvy vitamin deficiency in sailors"),
            ("d3", "dogs bark"),
            ("d4", "vitamin pills"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        // BM25 alone (w = 1): d2 shares two terms with the query, d4 one, d1 none.
        let config = HybridTeacherConfig {
            bm25_weight: 1.0,
            ..HybridTeacherConfig::default()
        };
        let hybrid = HybridTeacher::new(&texts, &model, None, &config).unwrap();
        let mut run = Run::new();
        // First-stage order d1, d4, d2, d3: depth 3 keeps d1, d4, d2.
        for (doc, score) in [("d1", 4.0), ("d4", 3.0), ("d2", 2.0), ("d3", 1.0)] {
            run.push("q1", doc, score);
        }
        let queries = [query("q1", "scurvy vitamin"), query("q2", "unrun")];
        let rerank = |queries: &[Query], depth: usize| {
            rerank_run(
                queries,
                &run,
                depth,
                Reranker::Hybrid(&hybrid),
                &texts,
                8,
                &device,
                &mut densify_core::NoProgress,
            )
        };
        let (reranked, report) = rerank(&queries, 3).unwrap();
        assert_eq!(
            report,
            RerankReport {
                queries: 1,
                pairs: 3,
                not_in_run: 1
            }
        );
        let order: Vec<&str> = reranked
            .ranked("q1", ScorePrecision::F32)
            .unwrap()
            .into_iter()
            .map(|d| d.doc_id.as_str())
            .collect();
        assert_eq!(order, ["d2", "d4", "d1"]);
        // Min-max over the list: the best 1, the worst 0.
        let scores: HashMap<&str, f64> = reranked
            .query("q1")
            .unwrap()
            .iter()
            .map(|d| (d.doc_id.as_str(), d.score))
            .collect();
        assert_eq!(scores["d2"], 1.0);
        assert_eq!(scores["d1"], 0.0);

        let e = rerank(&queries, 0).unwrap_err();
        assert!(e.to_string().contains("depth"), "{e}");
        let e = rerank(&queries[1..], 3).unwrap_err();
        assert!(e.to_string().contains("none of the 1 queries"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
