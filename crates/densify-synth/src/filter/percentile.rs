//! The percentile cut and score normalisation of paper B: within each group (query type),
//! queries whose top teacher score is under the `drop_below` percentile are dropped; teacher
//! scores are min-max normalised with the `low` and `high` percentiles of the group's scores
//! and clipped to [0, 1]; each list keeps its `keep` best candidates, the best one positive.
//!
//! Percentiles interpolate linearly between order statistics (numpy's default).

use std::collections::BTreeMap;

use densify_core::config::InvalidField;
use serde::{Deserialize, Serialize};

use super::{FilterItem, StageReport};

/// Settings of the percentile stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PercentileCutConfig {
    /// Queries whose top teacher score is below this quantile of their group are dropped.
    /// Default 0.25 (paper B).
    pub drop_below: f64,
    /// The quantile that maps to 0. Default 0.01.
    pub low: f64,
    /// The quantile that maps to 1. Default 0.99.
    pub high: f64,
    /// Candidates kept per list (best teacher scores). Default 20 (paper B).
    pub keep: usize,
    /// Take percentiles per query type (default true) or over all queries.
    pub by_group: bool,
}

impl Default for PercentileCutConfig {
    fn default() -> Self {
        Self {
            drop_below: 0.25,
            low: 0.01,
            high: 0.99,
            keep: 20,
            by_group: true,
        }
    }
}

impl PercentileCutConfig {
    pub(crate) fn validate(&self) -> std::result::Result<(), InvalidField> {
        densify_core::config::probability("drop_below", self.drop_below)?;
        densify_core::config::probability("low", self.low)?;
        densify_core::config::probability("high", self.high)?;
        if self.low >= self.high {
            return Err(InvalidField::new(
                "low",
                format!("must be below high ({}), found {}", self.high, self.low),
            ));
        }
        if self.keep == 0 {
            return Err(InvalidField::new("keep", "must be at least 1, found 0"));
        }
        Ok(())
    }
}

/// The `q` quantile of `sorted` (ascending, non-empty), linearly interpolated.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn top_score(item: &FilterItem) -> f64 {
    item.candidates
        .iter()
        .filter_map(|c| c.teacher)
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Applies the cut, the normalisation and the list cut.
pub fn apply(
    items: Vec<FilterItem>,
    config: &PercentileCutConfig,
) -> (Vec<FilterItem>, StageReport) {
    let mut report = StageReport::new("percentile_cut", items.len());
    let mut groups: BTreeMap<String, Vec<FilterItem>> = BTreeMap::new();
    for item in items {
        if item.candidates.iter().any(|c| c.teacher.is_none()) {
            report.drop("no teacher scores");
            continue;
        }
        let key = if config.by_group {
            item.group.clone()
        } else {
            "all".into()
        };
        groups.entry(key).or_default().push(item);
    }
    let mut kept = Vec::new();
    for (_, group) in groups {
        let mut tops: Vec<f64> = group.iter().map(top_score).collect();
        tops.sort_by(f64::total_cmp);
        let threshold = quantile(&tops, config.drop_below);
        let survivors: Vec<FilterItem> = group
            .into_iter()
            .filter(|item| {
                let keep = top_score(item) >= threshold;
                if !keep {
                    report.drop(format!(
                        "top score below the {} quantile of its group",
                        config.drop_below
                    ));
                }
                keep
            })
            .collect();
        let mut all: Vec<f64> = survivors
            .iter()
            .flat_map(|i| i.candidates.iter().filter_map(|c| c.teacher))
            .collect();
        if all.is_empty() {
            continue;
        }
        all.sort_by(f64::total_cmp);
        let (lo, hi) = (quantile(&all, config.low), quantile(&all, config.high));
        for mut item in survivors {
            for c in &mut item.candidates {
                let s = c.teacher.unwrap_or(lo);
                let normalised = if hi > lo {
                    (s - lo) / (hi - lo)
                } else if s >= hi {
                    1.0
                } else {
                    0.0
                };
                c.teacher = Some(normalised.clamp(0.0, 1.0));
            }
            item.candidates.sort_by(|a, b| {
                b.teacher
                    .unwrap_or(0.0)
                    .total_cmp(&a.teacher.unwrap_or(0.0))
            });
            item.candidates.truncate(config.keep);
            for (i, c) in item.candidates.iter_mut().enumerate() {
                c.positive = i == 0;
            }
            kept.push(item);
        }
    }
    report.kept = kept.len();
    (kept, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use densify_data::Candidate;

    fn item(id: &str, group: &str, scores: &[f64]) -> FilterItem {
        FilterItem {
            query_id: id.into(),
            query: id.into(),
            group: group.into(),
            source: "d0".into(),
            candidates: scores
                .iter()
                .enumerate()
                .map(|(i, s)| Candidate {
                    doc_id: format!("d{i}"),
                    positive: false,
                    teacher: Some(*s),
                    label: None,
                })
                .collect(),
        }
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.25), 2.0);
        assert!((quantile(&v, 0.1) - 1.4).abs() < 1e-12);
        assert_eq!(quantile(&[7.0], 0.9), 7.0);
    }

    #[test]
    fn drops_low_top_scores_per_group_normalises_and_cuts() {
        // group a: tops 1, 2, 3, 4, 5 -> 0.25 quantile 2: q1 (top 1) dropped
        let items: Vec<FilterItem> = (1..=5)
            .map(|t| item(&format!("q{t}"), "a", &[t as f64, 0.0, -1.0]))
            .chain([item("z", "b", &[0.5, 0.5])])
            .collect();
        let config = PercentileCutConfig {
            keep: 2,
            ..Default::default()
        };
        let (kept, report) = apply(items, &config);
        assert_eq!(report.input, 6);
        assert_eq!(report.kept, 5);
        assert!(kept.iter().all(|i| i.query_id != "q1"));
        let q5 = kept.iter().find(|i| i.query_id == "q5").unwrap();
        assert_eq!(q5.candidates.len(), 2);
        assert!(q5.candidates[0].positive && !q5.candidates[1].positive);
        // group a's scores (q2..q5): -1 x4, 0 x4, 2..5: 1% -> -1, 99% -> 4.87
        let (lo, hi) = (
            -1.0,
            quantile(
                &[
                    -1.0, -1.0, -1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 3.0, 4.0, 5.0,
                ],
                0.99,
            ),
        );
        assert!(
            (lo - quantile(
                &[
                    -1.0, -1.0, -1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 3.0, 4.0, 5.0
                ],
                0.01
            ))
            .abs()
                < 1e-12
        );
        assert_eq!(q5.candidates[0].teacher, Some(1.0));
        assert!((q5.candidates[1].teacher.unwrap() - (0.0 - lo) / (hi - lo)).abs() < 1e-12);
        // group b: every score equal -> normalised to 1
        let z = kept.iter().find(|i| i.query_id == "z").unwrap();
        assert!(z.candidates.iter().all(|c| c.teacher == Some(1.0)));
    }
}
