//! Per-query measure values, computed as trec_eval computes them.
//!
//! Conventions (trec_eval 9, see `docs/evaluation.md`): a document is relevant when its grade
//! is at least 1; nDCG's gain is the raw grade of documents with grade > 0 and its discount is
//! 1 / log2(rank + 1) with ranks from 1; the ideal ranking is built from every judged document
//! of the query; unjudged documents are non-relevant with gain 0. A query with no relevant
//! document scores 0 on every measure.

use std::collections::HashMap;

use crate::measure::Measure;
use densify_data::run::ScoredDoc;

/// The judgements of one query, prepared once for every measure.
#[derive(Debug, Clone)]
pub struct QueryJudgements<'a> {
    grades: &'a HashMap<String, i32>,
    relevant: usize,
    ideal_gains: Vec<f64>,
}

impl<'a> QueryJudgements<'a> {
    /// Prepares a query's judgements (doc id -> grade).
    pub fn new(grades: &'a HashMap<String, i32>) -> Self {
        let mut ideal_gains: Vec<f64> = grades
            .values()
            .filter(|&&g| g > 0)
            .map(|&g| f64::from(g))
            .collect();
        ideal_gains.sort_unstable_by(|a, b| b.total_cmp(a));
        let relevant = grades.values().filter(|&&g| g >= 1).count();
        Self {
            grades,
            relevant,
            ideal_gains,
        }
    }

    /// Number of relevant (grade >= 1) documents.
    pub fn relevant(&self) -> usize {
        self.relevant
    }

    /// The grade of `doc_id`, `None` when unjudged.
    pub fn grade(&self, doc_id: &str) -> Option<i32> {
        self.grades.get(doc_id).copied()
    }
}

/// Computes `measures` for one query whose documents are already in ranking order.
///
/// # Shapes
/// - `ranked`: the query's retrieved documents, best first (see [`densify_data::run::rank`]).
/// - returns one value per measure, in the order of `measures`.
pub fn query_values(
    ranked: &[&ScoredDoc],
    judgements: &QueryJudgements<'_>,
    measures: &[Measure],
) -> Vec<f64> {
    let grades: Vec<i32> = ranked
        .iter()
        .map(|d| judgements.grade(&d.doc_id).unwrap_or(0))
        .collect();
    measures
        .iter()
        .map(|&m| value(m, &grades, judgements))
        .collect()
}

fn value(measure: Measure, grades: &[i32], judged: &QueryJudgements<'_>) -> f64 {
    let relevant = judged.relevant as f64;
    let top = |k: usize| &grades[..k.min(grades.len())];
    let relevant_in = |list: &[i32]| list.iter().filter(|&&g| g >= 1).count() as f64;
    match measure {
        Measure::Ndcg => ndcg(grades, &judged.ideal_gains),
        Measure::NdcgCut(k) => ndcg(
            top(k),
            &judged.ideal_gains[..k.min(judged.ideal_gains.len())],
        ),
        Measure::Recall(k) => {
            if judged.relevant == 0 {
                0.0
            } else {
                relevant_in(top(k)) / relevant
            }
        }
        Measure::Precision(k) => relevant_in(top(k)) / k as f64,
        Measure::Map => average_precision(grades, judged.relevant),
        Measure::MapCut(k) => average_precision(top(k), judged.relevant),
        Measure::RecipRank => reciprocal_rank(grades),
        Measure::RecipRankCut(k) => reciprocal_rank(top(k)),
        Measure::Success(k) => {
            if top(k).iter().any(|&g| g >= 1) {
                1.0
            } else {
                0.0
            }
        }
    }
}

/// DCG of the gains `grades` (grades <= 0 give no gain), ranks from 1.
fn dcg(grades: impl IntoIterator<Item = f64>) -> f64 {
    grades
        .into_iter()
        .enumerate()
        .filter(|&(_, g)| g > 0.0)
        .map(|(i, g)| g / ((i + 2) as f64).log2())
        .sum()
}

fn ndcg(grades: &[i32], ideal_gains: &[f64]) -> f64 {
    let ideal = dcg(ideal_gains.iter().copied());
    if ideal <= 0.0 {
        return 0.0;
    }
    dcg(grades.iter().map(|&g| f64::from(g))) / ideal
}

fn average_precision(grades: &[i32], relevant: usize) -> f64 {
    if relevant == 0 {
        return 0.0;
    }
    let mut found = 0usize;
    let mut sum = 0.0;
    for (i, &g) in grades.iter().enumerate() {
        if g >= 1 {
            found += 1;
            sum += found as f64 / (i + 1) as f64;
        }
    }
    sum / relevant as f64
}

fn reciprocal_rank(grades: &[i32]) -> f64 {
    grades
        .iter()
        .position(|&g| g >= 1)
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    fn docs(ids: &[&str]) -> Vec<ScoredDoc> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| ScoredDoc {
                doc_id: (*id).to_owned(),
                score: -(i as f64),
            })
            .collect()
    }

    fn values(ranked: &[&str], qrels: &[(&str, i32)], measures: &[Measure]) -> Vec<f64> {
        let grades: HashMap<String, i32> =
            qrels.iter().map(|(d, g)| ((*d).to_owned(), *g)).collect();
        let list = docs(ranked);
        let refs: Vec<&ScoredDoc> = list.iter().collect();
        query_values(&refs, &QueryJudgements::new(&grades), measures)
    }

    #[test]
    fn ndcg_matches_hand_computation() {
        // ranked grades [0, 2, 1], ideal [2, 1]:
        // DCG = 2/log2(3) + 1/log2(4) = 1.261860 + 0.5; IDCG = 2 + 1/log2(3) = 2.630930.
        let v = values(
            &["x", "a", "b"],
            &[("a", 2), ("b", 1)],
            &[Measure::NdcgCut(10)],
        );
        assert_abs_diff_eq!(
            v[0],
            (2.0 / 3f64.log2() + 0.5) / (2.0 + 1.0 / 3f64.log2()),
            epsilon = 1e-12
        );
        // Cut at 1: DCG@1 = 0, IDCG@1 = 2.
        let v = values(
            &["x", "a", "b"],
            &[("a", 2), ("b", 1)],
            &[Measure::NdcgCut(1)],
        );
        assert_eq!(v[0], 0.0);
    }

    #[test]
    fn binary_measures_match_hand_computation() {
        let measures = [
            Measure::Precision(2),
            Measure::Recall(2),
            Measure::Map,
            Measure::MapCut(2),
            Measure::RecipRank,
            Measure::RecipRankCut(1),
            Measure::Success(2),
        ];
        // relevant: a (rank 2), c (rank 4), d (never retrieved) -> 3 relevant.
        let v = values(
            &["x", "a", "y", "c"],
            &[("a", 1), ("c", 2), ("d", 1), ("y", 0)],
            &measures,
        );
        let expected = [
            0.5,               // P@2: 1 of 2
            1.0 / 3.0,         // recall@2: 1 of 3
            (0.5 + 0.5) / 3.0, // AP: 1/2 at rank 2, 2/4 at rank 4
            0.5 / 3.0,         // AP@2
            0.5,               // first relevant at rank 2
            0.0,               // none in the top 1
            1.0,               // one in the top 2
        ];
        for ((m, got), want) in measures.iter().zip(v).zip(expected) {
            assert_abs_diff_eq!(got, want, epsilon = 1e-12);
            let _ = m;
        }
    }

    #[test]
    fn negative_grades_and_no_relevant_documents_score_zero() {
        let all = [
            Measure::Ndcg,
            Measure::Recall(10),
            Measure::Map,
            Measure::RecipRank,
        ];
        assert_eq!(
            values(&["a", "b"], &[("a", -1), ("b", 0)], &all),
            vec![0.0; 4]
        );
    }
}
