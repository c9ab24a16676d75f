//! The train/dev split of synthetic queries by query id (paper B: 90/10, seed 42): the sorted
//! ids are shuffled with the seed and the first `dev_fraction` of them go to dev, so a query
//! and its list never land on both sides.

use densify_core::config::InvalidField;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::FilterItem;

/// Settings of the split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitConfig {
    /// Share of queries in dev. Default 0.1.
    pub dev_fraction: f64,
    /// Shuffle seed. Default 42.
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            dev_fraction: 0.1,
            seed: 42,
        }
    }
}

impl SplitConfig {
    pub(crate) fn validate(&self) -> std::result::Result<(), InvalidField> {
        densify_core::config::probability("dev_fraction", self.dev_fraction)
    }
}

/// Splits `items` into (train, dev), each in input order.
pub fn split<'a>(
    items: &'a [FilterItem],
    config: &SplitConfig,
) -> (Vec<&'a FilterItem>, Vec<&'a FilterItem>) {
    let mut ids: Vec<&str> = items.iter().map(|i| i.query_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.shuffle(&mut ChaCha8Rng::seed_from_u64(config.seed));
    let n_dev = (ids.len() as f64 * config.dev_fraction).round() as usize;
    let dev: std::collections::HashSet<&str> = ids[..n_dev].iter().copied().collect();
    items
        .iter()
        .partition(|i| !dev.contains(i.query_id.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_percent_by_id_seeded_and_disjoint() {
        let items: Vec<FilterItem> = (0..50)
            .map(|i| FilterItem {
                query_id: format!("q{i}"),
                query: String::new(),
                group: "all".into(),
                source: "d".into(),
                candidates: vec![],
            })
            .collect();
        let (train, dev) = split(&items, &SplitConfig::default());
        assert_eq!((train.len(), dev.len()), (45, 5));
        let again = split(&items, &SplitConfig::default()).1;
        assert_eq!(dev, again);
        let other = split(
            &items,
            &SplitConfig {
                seed: 7,
                ..Default::default()
            },
        )
        .1;
        assert_ne!(dev, other);
        assert!(
            dev.iter()
                .all(|d| !train.iter().any(|t| t.query_id == d.query_id))
        );
    }
}
