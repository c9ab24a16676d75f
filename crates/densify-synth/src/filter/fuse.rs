//! Candidate lists by reciprocal rank fusion of several retrievers' runs (k = 60, Cormack et
//! al. 2009; paper B fuses three retrievers' top 100). Queries whose fused list is shorter than
//! `min_candidates` are dropped; the source passage is marked positive where it is in the list.
//! A run naming a document that is not in the corpus is an error (file, line, id): its
//! documents become training lists.

use std::path::PathBuf;

use densify_core::config::InvalidField;
use densify_data::Candidate;
use densify_data::Run;
use densify_data::run::ScorePrecision;
use densify_eval::fusion::{RrfConfig, reciprocal_rank_fusion};
use serde::{Deserialize, Serialize};

use super::{FilterContext, FilterItem, StageReport, read_run};
use crate::error::Result;

/// Settings of the fusion stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FuseConfig {
    /// TREC run files to fuse. Required by `densify filter`; a recipe fills in its own
    /// candidate runs when none is given.
    #[serde(default)]
    pub runs: Vec<PathBuf>,
    /// The rank constant. Default 60.
    #[serde(default = "default_k")]
    pub k: f64,
    /// Candidates kept per query after fusion. Default 100.
    #[serde(default = "default_depth")]
    pub depth: usize,
    /// Queries with fewer candidates are dropped. Default 20 (paper B's list size).
    #[serde(default = "default_min")]
    pub min_candidates: usize,
    /// When a query's source passage is not among its fused candidates, put it first in place
    /// of the last one, so every list has its positive (what GPL- and InPars-style training
    /// on generated queries assumes). Default false: paper B picks its positive with the
    /// teacher instead (its `teacher` stage).
    #[serde(default)]
    pub insert_source: bool,
}

fn default_k() -> f64 {
    60.0
}
fn default_depth() -> usize {
    100
}
fn default_min() -> usize {
    20
}

impl FuseConfig {
    pub(crate) fn validate(&self) -> std::result::Result<(), InvalidField> {
        if self.runs.is_empty() {
            return Err(InvalidField::new("runs", "name at least one run file"));
        }
        densify_core::config::non_negative("k", self.k)?;
        if self.depth == 0 {
            return Err(InvalidField::new("depth", "must be at least 1, found 0"));
        }
        if self.min_candidates > self.depth {
            return Err(InvalidField::new(
                "min_candidates",
                format!("{} is more than depth {}", self.min_candidates, self.depth),
            ));
        }
        Ok(())
    }
}

/// Sets each item's candidates to its fused list. Every run's documents must be in the
/// corpus (`context.texts`).
pub fn apply(
    items: Vec<FilterItem>,
    config: &FuseConfig,
    context: &FilterContext<'_>,
) -> Result<(Vec<FilterItem>, StageReport)> {
    let runs: Vec<Run> = config
        .runs
        .iter()
        .map(|p| read_run(p, context))
        .collect::<Result<_>>()?;
    let refs: Vec<&Run> = runs.iter().collect();
    let fused = reciprocal_rank_fusion(
        &refs,
        RrfConfig {
            k: config.k,
            depth: config.depth,
        },
    );
    let mut report = StageReport::new("fuse", items.len());
    let mut kept = Vec::new();
    for mut item in items {
        let ranked = fused
            .ranked(&item.query_id, ScorePrecision::F64)
            .unwrap_or_default();
        if ranked.len() < config.min_candidates {
            report.drop(format!("fewer than {} candidates", config.min_candidates));
            continue;
        }
        item.candidates = ranked
            .into_iter()
            .map(|d| Candidate {
                doc_id: d.doc_id.clone(),
                positive: d.doc_id == item.source,
                teacher: None,
                label: None,
            })
            .collect();
        if config.insert_source && !item.candidates.iter().any(|c| c.positive) {
            item.candidates.pop();
            item.candidates.insert(
                0,
                Candidate {
                    doc_id: item.source.clone(),
                    positive: true,
                    teacher: None,
                    label: None,
                },
            );
            report.inserted_sources += 1;
        }
        kept.push(item);
    }
    report.kept = kept.len();
    Ok((kept, report))
}
