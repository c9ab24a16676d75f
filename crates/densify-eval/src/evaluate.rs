//! Evaluating a run against qrels: per-query values and their means.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};
use crate::measure::Measure;
use crate::metrics::{QueryJudgements, query_values};
use densify_data::qrels::Qrels;
use densify_data::run::{Run, ScorePrecision, rank};

/// Which queries a mean is taken over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Averaging {
    /// Queries present in both the run and the qrels (trec_eval's and pytrec_eval's default).
    #[default]
    RunAndQrels,
    /// Every query of the qrels, a query missing from the run counting 0 (trec_eval `-c`).
    AllQrels,
}

/// How an evaluation is carried out. The defaults reproduce pytrec_eval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// How scores are compared when ranking. Default: [`ScorePrecision::F32`], as pytrec_eval.
    pub precision: ScorePrecision,
    /// Which queries the means are taken over. Default: [`Averaging::RunAndQrels`].
    pub averaging: Averaging,
}

impl densify_core::Config for EvalConfig {}

densify_core::setters!(EvalConfig {
    precision: ScorePrecision,
    averaging: Averaging,
});

/// The result of an evaluation: every measure for every evaluated query, and the means.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    measures: Vec<Measure>,
    per_query: BTreeMap<String, Vec<f64>>,
    means: Vec<f64>,
    averaged_over: usize,
    averaging: Averaging,
}

impl Evaluation {
    /// The measures, in the order values are stored.
    pub fn measures(&self) -> &[Measure] {
        &self.measures
    }

    /// The mean of `measure`, or `None` when it was not computed.
    pub fn mean(&self, measure: Measure) -> Option<f64> {
        self.index(measure).map(|i| self.means[i])
    }

    /// The value of `measure` for one query (`None` when the query or measure is absent).
    pub fn query(&self, query_id: &str, measure: Measure) -> Option<f64> {
        let i = self.index(measure)?;
        self.per_query.get(query_id).map(|v| v[i])
    }

    /// Every evaluated query's values, in query-id order, each in the order of [`Self::measures`].
    pub fn per_query(&self) -> impl Iterator<Item = (&str, &[f64])> {
        self.per_query
            .iter()
            .map(|(q, v)| (q.as_str(), v.as_slice()))
    }

    /// Number of queries the means are taken over.
    pub fn averaged_over(&self) -> usize {
        self.averaged_over
    }

    /// Number of queries evaluated (present in the run and the qrels).
    pub fn evaluated(&self) -> usize {
        self.per_query.len()
    }

    /// Which queries the means are taken over.
    pub fn averaging(&self) -> Averaging {
        self.averaging
    }

    fn index(&self, measure: Measure) -> Option<usize> {
        self.measures.iter().position(|&m| m == measure)
    }

    /// trec_eval's three-column text: `measure<TAB>query<TAB>value`, per query (when
    /// `per_query`) then `all`, values with four decimals.
    pub fn to_trec_text(&self, per_query: bool) -> String {
        let mut out = String::new();
        if per_query {
            for (query, values) in &self.per_query {
                for (m, v) in self.measures.iter().zip(values) {
                    let _ = writeln!(out, "{:<22}\t{}\t{:.4}", m.to_string(), query, v);
                }
            }
        }
        let _ = writeln!(out, "{:<22}\tall\t{}", "num_q", self.averaged_over);
        for (m, v) in self.measures.iter().zip(&self.means) {
            let _ = writeln!(out, "{:<22}\tall\t{:.4}", m.to_string(), v);
        }
        out
    }

    /// A JSON value: `{"averaging", "num_q", "measures": {name: mean}, "per_query": {query:
    /// {name: value}}}` with full precision.
    pub fn to_json(&self, per_query: bool) -> serde_json::Value {
        let named = |values: &[f64]| -> serde_json::Map<String, serde_json::Value> {
            self.measures
                .iter()
                .zip(values)
                .map(|(m, v)| (m.to_string(), (*v).into()))
                .collect()
        };
        let mut object = serde_json::Map::new();
        let averaging = match self.averaging {
            Averaging::RunAndQrels => "run_and_qrels",
            Averaging::AllQrels => "all_qrels",
        };
        object.insert("averaging".into(), averaging.into());
        object.insert("num_q".into(), self.averaged_over.into());
        object.insert("measures".into(), named(&self.means).into());
        if per_query {
            let queries: serde_json::Map<_, _> = self
                .per_query
                .iter()
                .map(|(q, v)| (q.clone(), named(v).into()))
                .collect();
            object.insert("per_query".into(), queries.into());
        }
        object.into()
    }
}

/// Evaluates `run` against `qrels` on `measures`.
///
/// Queries of the run without judgements are ignored, as trec_eval ignores them. With
/// [`Averaging::RunAndQrels`] it is an error when no query is in both.
pub fn evaluate(
    qrels: &Qrels,
    run: &Run,
    measures: &[Measure],
    config: EvalConfig,
) -> Result<Evaluation> {
    if measures.is_empty() {
        return Err(EvalError::Mismatch("no measure to compute".into()));
    }
    let work: Vec<(
        &str,
        &[densify_data::run::ScoredDoc],
        &std::collections::HashMap<String, i32>,
    )> = run
        .iter()
        .filter_map(|(q, docs)| qrels.query(q).map(|grades| (q, docs, grades)))
        .collect();
    let averaged_over = match config.averaging {
        Averaging::RunAndQrels => work.len(),
        Averaging::AllQrels => qrels.len(),
    };
    if averaged_over == 0 {
        return Err(EvalError::Mismatch(
            "the run and the qrels have no query id in common".into(),
        ));
    }
    let per_query: BTreeMap<String, Vec<f64>> = work
        .par_iter()
        .map(|(q, docs, grades)| {
            let ranked = rank(docs, config.precision);
            let values = query_values(&ranked, &QueryJudgements::new(grades), measures);
            ((*q).to_owned(), values)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    let mut means = vec![0.0; measures.len()];
    for values in per_query.values() {
        for (sum, v) in means.iter_mut().zip(values) {
            *sum += v;
        }
    }
    for sum in &mut means {
        *sum /= averaged_over as f64;
    }
    Ok(Evaluation {
        measures: measures.to_vec(),
        per_query,
        means,
        averaged_over,
        averaging: config.averaging,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_over_run_and_qrels_or_all_qrels() {
        let mut qrels = Qrels::new();
        qrels.insert("q1", "a", 1);
        qrels.insert("q2", "b", 1);
        let mut run = Run::new();
        run.push("q1", "a", 1.0);
        run.push("q3", "a", 1.0); // not judged: ignored
        let m = [Measure::RecipRank];
        let default = evaluate(&qrels, &run, &m, EvalConfig::default()).unwrap();
        assert_eq!(default.mean(Measure::RecipRank), Some(1.0));
        assert_eq!(default.averaged_over(), 1);
        let all = EvalConfig {
            averaging: Averaging::AllQrels,
            ..Default::default()
        };
        let complete = evaluate(&qrels, &run, &m, all).unwrap();
        assert_eq!(complete.mean(Measure::RecipRank), Some(0.5));
        assert_eq!(complete.query("q2", Measure::RecipRank), None);
        assert!(
            complete
                .to_trec_text(false)
                .contains("num_q                 \tall\t2")
        );
    }

    #[test]
    fn disjoint_run_and_qrels_is_an_error() {
        let mut qrels = Qrels::new();
        qrels.insert("q1", "a", 1);
        let mut run = Run::new();
        run.push("q9", "a", 1.0);
        assert!(evaluate(&qrels, &run, &[Measure::Map], EvalConfig::default()).is_err());
    }
}
