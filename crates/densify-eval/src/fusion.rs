//! Reciprocal rank fusion of several runs (Cormack, Clarke and Buettcher, SIGIR 2009).

use std::collections::HashMap;

use densify_core::config::{Config, InvalidField};
use serde::{Deserialize, Serialize};

use densify_data::run::{Run, ScorePrecision, ScoredDoc, rank};

/// Reciprocal rank fusion parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RrfConfig {
    /// The rank constant k in `1 / (k + rank)`. Default 60 (the paper's value).
    pub k: f64,
    /// Keep the best `depth` documents per query after fusion. Default 1000.
    pub depth: usize,
}

impl Default for RrfConfig {
    fn default() -> Self {
        Self {
            k: 60.0,
            depth: 1000,
        }
    }
}

impl Config for RrfConfig {
    fn validate(&self) -> Result<(), InvalidField> {
        densify_core::config::non_negative("k", self.k)?;
        if self.depth == 0 {
            return Err(InvalidField::new("depth", "must be at least 1, found 0"));
        }
        Ok(())
    }
}

densify_core::setters!(RrfConfig {
    k: f64,
    depth: usize
});

/// Fuses runs: a document's score is the sum over runs of `1 / (k + rank)`, with each run ranked
/// as trec_eval ranks it (ranks from 1). A query present in any run is in the result.
pub fn reciprocal_rank_fusion(runs: &[&Run], config: RrfConfig) -> Run {
    let mut fused: HashMap<&str, HashMap<&str, f64>> = HashMap::new();
    for run in runs {
        for (query, docs) in run.iter() {
            let scores = fused.entry(query).or_default();
            for (i, doc) in rank(docs, ScorePrecision::F64).into_iter().enumerate() {
                *scores.entry(doc.doc_id.as_str()).or_default() +=
                    1.0 / (config.k + (i + 1) as f64);
            }
        }
    }
    let mut out = Run::new();
    for (query, scores) in fused {
        let mut docs: Vec<ScoredDoc> = scores
            .into_iter()
            .map(|(doc_id, score)| ScoredDoc {
                doc_id: doc_id.to_owned(),
                score,
            })
            .collect();
        docs.sort_by(|a, b| densify_data::run::trec_order(a, b, ScorePrecision::F64));
        docs.truncate(config.depth);
        out.set_query(query, docs);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    #[test]
    fn fuses_by_reciprocal_rank() {
        let mut a = Run::new();
        a.push("q", "x", 3.0);
        a.push("q", "y", 2.0);
        let mut b = Run::new();
        b.push("q", "y", 10.0);
        b.push("q", "z", 1.0);
        let fused = reciprocal_rank_fusion(&[&a, &b], RrfConfig::default());
        let ranked = fused.ranked("q", ScorePrecision::F64).unwrap();
        // y: 1/62 + 1/61; x: 1/61; z: 1/62.
        assert_eq!(ranked[0].doc_id, "y");
        assert_abs_diff_eq!(ranked[0].score, 1.0 / 62.0 + 1.0 / 61.0, epsilon = 1e-15);
        assert_eq!(ranked[1].doc_id, "x");
        assert_eq!(ranked[2].doc_id, "z");
    }
}
