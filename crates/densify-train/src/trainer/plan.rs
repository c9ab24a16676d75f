//! Which examples each optimizer step reads: epoch `e`'s order is a permutation seeded by
//! `(seed, e)`, cut into consecutive batches of at most `batch_size` examples (and, with a
//! token budget, at most that many padded tokens), and `accumulation` consecutive batches of an
//! epoch make one optimizer step. The whole plan is known before the first step, so the
//! schedule knows its length and a resumed run reads the same batches.

use rand::SeedableRng;
use rand::seq::SliceRandom;

/// One optimizer step: its epoch and its batches of example indices (one per accumulated
/// batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedStep {
    pub epoch: usize,
    pub batches: Vec<Vec<usize>>,
}

/// The widths an example pads a batch to, in tokens: its query (0 for a cross-encoder, whose
/// queries are inside the pairs) and its longest list item (passage or pair).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExampleWidth {
    pub query: usize,
    pub item: usize,
}

/// How a run's examples are cut into steps.
#[derive(Debug, Clone)]
pub(crate) struct StepPlanner<'a> {
    pub examples: usize,
    pub epochs: usize,
    pub seed: u64,
    pub batch_size: usize,
    pub accumulation: usize,
    pub list_size: usize,
    /// `(each example's widths, max padded tokens per batch)`.
    pub budget: Option<(&'a [ExampleWidth], usize)>,
    /// Each example's text keys: batches never hold one text twice
    /// ([`super::no_duplicates`]); cut again by the budget when there is one.
    pub distinct: Option<&'a [Vec<u64>]>,
}

impl StepPlanner<'_> {
    /// Every step of the run, in order.
    pub fn plan(&self) -> Vec<PlannedStep> {
        let accumulation = self.accumulation.max(1);
        let mut steps = Vec::new();
        for epoch in 0..self.epochs {
            let order = epoch_order(self.examples, self.seed, epoch);
            let batches = self.batches(&order);
            for group in batches.chunks(accumulation) {
                steps.push(PlannedStep {
                    epoch,
                    batches: group.to_vec(),
                });
            }
        }
        steps
    }

    /// `order` cut into batches: without duplicate texts when `distinct` is set, then by
    /// [`StepPlanner::cut`].
    fn batches(&self, order: &[usize]) -> Vec<Vec<usize>> {
        match self.distinct {
            Some(keys) => super::no_duplicates::no_duplicate_batches(order, keys, self.batch_size)
                .iter()
                .flat_map(|batch| self.cut(batch))
                .collect(),
            None => self.cut(order),
        }
    }

    /// `order` cut into batches: `batch_size` examples each (the last may be short, as Hugging
    /// Face's trainer does not drop it), or fewer where the next example would take the
    /// batch's padded tokens past the budget. An example over the budget on its own is a batch
    /// of one.
    fn cut(&self, order: &[usize]) -> Vec<Vec<usize>> {
        let Some((widths, max_tokens)) = self.budget else {
            return order
                .chunks(self.batch_size.max(1))
                .map(<[usize]>::to_vec)
                .collect();
        };
        let mut batches = Vec::new();
        let mut batch: Vec<usize> = Vec::new();
        let (mut query, mut item) = (0, 0);
        for &i in order {
            let w = widths[i];
            let (q, p) = (query.max(w.query), item.max(w.item));
            let tokens = padded_tokens(batch.len() + 1, self.list_size, q, p);
            if !batch.is_empty() && (batch.len() == self.batch_size || tokens > max_tokens) {
                batches.push(std::mem::take(&mut batch));
                (query, item) = (w.query, w.item);
            } else {
                (query, item) = (q, p);
            }
            batch.push(i);
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
        batches
    }
}

/// Padded tokens of a batch of `n` examples: `n` queries of width `query` and `n · list` items
/// of width `item`.
pub(crate) fn padded_tokens(n: usize, list: usize, query: usize, item: usize) -> usize {
    n * query + n * list * item
}

/// The example order of `epoch`: a permutation seeded by `(seed, epoch)`.
pub(crate) fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng =
        rand_chacha::ChaCha8Rng::seed_from_u64(mix(seed, epoch as u64 ^ 0x005e_ed0f_e90c));
    order.shuffle(&mut rng);
    order
}

/// Mixes a seed and a counter into a new seed (SplitMix64's finaliser).
pub(crate) fn mix(seed: u64, counter: u64) -> u64 {
    let mut z = seed ^ counter.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planner(budget: Option<(&[ExampleWidth], usize)>) -> StepPlanner<'_> {
        StepPlanner {
            examples: 10,
            epochs: 2,
            seed: 7,
            batch_size: 4,
            accumulation: 1,
            list_size: 2,
            budget,
            distinct: None,
        }
    }

    #[test]
    fn without_a_budget_steps_are_fixed_size_batches_of_each_epoch_s_permutation() {
        let steps = planner(None).plan();
        // 10 examples in batches of 4: 4, 4, 2 per epoch.
        let sizes: Vec<usize> = steps.iter().map(|s| s.batches[0].len()).collect();
        assert_eq!(sizes, [4, 4, 2, 4, 4, 2]);
        for epoch in 0..2 {
            let mut seen: Vec<usize> = steps
                .iter()
                .filter(|s| s.epoch == epoch)
                .flat_map(|s| s.batches[0].clone())
                .collect();
            assert_eq!(seen, epoch_order(10, 7, epoch));
            seen.sort_unstable();
            assert_eq!(seen, (0..10).collect::<Vec<_>>());
        }
        assert_ne!(epoch_order(10, 7, 0), epoch_order(10, 7, 1));

        let mut accumulated = planner(None);
        accumulated.accumulation = 2;
        let steps = accumulated.plan();
        // Per epoch: batches (4, 4) then (2): two optimizer steps.
        let shape: Vec<Vec<usize>> = steps
            .iter()
            .map(|s| s.batches.iter().map(Vec::len).collect())
            .collect();
        assert_eq!(shape, [vec![4, 4], vec![2], vec![4, 4], vec![2]]);
    }

    #[test]
    fn a_budget_bounds_each_batch_s_padded_tokens() {
        // Example i has a query of 10 tokens and items of 10 · (i + 1) tokens.
        let widths: Vec<ExampleWidth> = (0..10)
            .map(|i| ExampleWidth {
                query: 10,
                item: 10 * (i + 1),
            })
            .collect();
        let budget = 300;
        let steps = planner(Some((&widths, budget))).plan();
        for step in &steps {
            let batch = &step.batches[0];
            let q = batch.iter().map(|&i| widths[i].query).max().unwrap();
            let p = batch.iter().map(|&i| widths[i].item).max().unwrap();
            let tokens = padded_tokens(batch.len(), 2, q, p);
            // Over the budget only as a batch of one (example 9: 10 + 2·100 = 210 fits;
            // nothing here is over on its own).
            assert!(tokens <= budget, "{batch:?}: {tokens} tokens");
            assert!(batch.len() <= 4);
        }
        // Every example once per epoch, in the epoch's order.
        for epoch in 0..2 {
            let seen: Vec<usize> = steps
                .iter()
                .filter(|s| s.epoch == epoch)
                .flat_map(|s| s.batches[0].clone())
                .collect();
            assert_eq!(seen, epoch_order(10, 7, epoch));
        }
        // Hand-checked: two examples of items 50 and 60 pad to 2·10 + 4·60 = 260 ≤ 300, a
        // third of item ≤ 60 would be 3·10 + 6·60 = 390 > 300.
        assert_eq!(padded_tokens(2, 2, 10, 60), 260);
        assert!(steps.len() > 6, "the budget makes more, smaller batches");

        // An example over the budget alone is a batch of its own.
        let steps = planner(Some((&widths, 50))).plan();
        assert!(steps.iter().all(|s| s.batches[0].len() == 1));
        assert_eq!(steps.len(), 20);
    }

    #[test]
    fn no_duplicate_batches_keep_every_example_once_per_epoch() {
        // Examples 0-4 share one text, 5-9 have their own: no batch holds two of 0-4.
        let keys: Vec<Vec<u64>> = (0..10)
            .map(|i| vec![if i < 5 { 1 } else { 100 + i as u64 }])
            .collect();
        let mut p = planner(None);
        p.distinct = Some(&keys);
        let steps = p.plan();
        for epoch in 0..2 {
            let mut seen: Vec<usize> = steps
                .iter()
                .filter(|s| s.epoch == epoch)
                .flat_map(|s| s.batches[0].clone())
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..10).collect::<Vec<_>>());
        }
        for step in &steps {
            let shared = step.batches[0].iter().filter(|&&i| i < 5).count();
            assert!(shared <= 1, "{:?}", step.batches);
            assert!(step.batches[0].len() <= 4);
        }
        // Five examples that cannot share a batch need at least five batches an epoch.
        assert!(steps.iter().filter(|s| s.epoch == 0).count() >= 5);
    }
}
