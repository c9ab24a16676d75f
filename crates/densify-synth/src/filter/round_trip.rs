//! Round-trip consistency: keep a query only if the passage it was written for comes back in
//! the top `k` of each retriever's run (paper B: top 20 of each of three retrievers' top 100;
//! InPars and Promptagator use the same test with one retriever).

use std::collections::HashMap;
use std::path::PathBuf;

use densify_core::config::InvalidField;
use densify_data::Run;
use densify_data::run::ScorePrecision;
use serde::{Deserialize, Serialize};

use super::{FilterContext, FilterItem, StageReport, read_run};
use crate::error::Result;

/// Settings of the round-trip stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundTripConfig {
    /// TREC run files of the synthetic queries over the corpus, one per retriever (from
    /// `densify dense`, `densify bm25`, or any other tool). Required by `densify filter`; a
    /// recipe fills in its own candidate runs when none is given.
    #[serde(default)]
    pub runs: Vec<PathBuf>,
    /// The source passage must rank at or above this in every run. Default 20 (paper B).
    #[serde(default = "default_top_k")]
    pub top_k: usize,
}

fn default_top_k() -> usize {
    20
}

impl RoundTripConfig {
    pub(crate) fn validate(&self) -> std::result::Result<(), InvalidField> {
        if self.runs.is_empty() {
            return Err(InvalidField::new("runs", "name at least one run file"));
        }
        if self.top_k == 0 {
            return Err(InvalidField::new("top_k", "must be at least 1, found 0"));
        }
        Ok(())
    }
}

/// Keeps the items whose source is in the top `k` of every run. A run naming a document that
/// is not in the corpus (`context.texts`) is an error naming the run file, its line and the id.
pub fn apply(
    items: Vec<FilterItem>,
    config: &RoundTripConfig,
    context: &FilterContext<'_>,
) -> Result<(Vec<FilterItem>, StageReport)> {
    let runs: Vec<(String, Run)> = config
        .runs
        .iter()
        .map(|p| Ok((p.display().to_string(), read_run(p, context)?)))
        .collect::<Result<_>>()?;
    // rank of each (query, doc) in each run, 1-based, trec_eval order
    let ranks: Vec<HashMap<&str, HashMap<&str, usize>>> = runs
        .iter()
        .map(|(_, run)| {
            run.iter()
                .map(|(q, _)| {
                    let ranked = run.ranked(q, ScorePrecision::F64).unwrap_or_default();
                    let by_doc = ranked
                        .into_iter()
                        .enumerate()
                        .map(|(i, d)| (d.doc_id.as_str(), i + 1))
                        .collect();
                    (q, by_doc)
                })
                .collect()
        })
        .collect();
    let mut report = StageReport::new("round_trip", items.len());
    let mut kept = Vec::new();
    'items: for item in items {
        for (r, (name, _)) in ranks.iter().zip(&runs) {
            let Some(by_doc) = r.get(item.query_id.as_str()) else {
                report.drop(format!("not in {name}"));
                continue 'items;
            };
            match by_doc.get(item.source.as_str()) {
                Some(&rank) if rank <= config.top_k => {}
                _ => {
                    report.drop(format!("source below top {} of {name}", config.top_k));
                    continue 'items;
                }
            }
        }
        kept.push(item);
    }
    report.kept = kept.len();
    Ok((kept, report))
}
