//! Batches in which no text appears twice, as sentence-transformers'
//! `BatchSamplers.NO_DUPLICATES` builds them (`NoDuplicatesBatchSampler`, the sampler its docs
//! recommend for `MultipleNegativesRankingLoss`): walking the epoch's order, an example joins
//! the batch being filled unless one of its texts (the query or a list item) is already in it;
//! a skipped example stays at its place for the next batch, and each new batch walks the
//! remaining examples from the start. In-batch negatives are then never copies of a positive.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

/// A text's key: its 64-bit hash (two different texts colliding in one batch would only move
/// an example to a later batch).
pub(crate) fn text_key(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// `order` cut into batches of at most `batch_size` examples whose `keys` (one set per
/// example, indexed by example) do not meet. Every example of `order` is in exactly one
/// batch; the last batches may be short (sentence-transformers keeps them unless
/// `drop_last`).
pub(crate) fn no_duplicate_batches(
    order: &[usize],
    keys: &[Vec<u64>],
    batch_size: usize,
) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut remaining: Vec<usize> = order.to_vec();
    let mut batches = Vec::new();
    while !remaining.is_empty() {
        let mut seen: HashSet<u64> = HashSet::new();
        let mut batch = Vec::with_capacity(batch_size);
        let mut taken = vec![false; remaining.len()];
        for (slot, &i) in remaining.iter().enumerate() {
            if keys[i].iter().any(|k| seen.contains(k)) {
                continue;
            }
            seen.extend(keys[i].iter().copied());
            batch.push(i);
            taken[slot] = true;
            if batch.len() == batch_size {
                break;
            }
        }
        remaining = remaining
            .into_iter()
            .zip(taken)
            .filter(|(_, t)| !t)
            .map(|(i, _)| i)
            .collect();
        batches.push(batch);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clashing_example_waits_for_the_next_batch_at_its_place() {
        // Examples 0 and 1 share the text "a"; 3 and 4 share "d".
        let texts = [
            vec!["q0", "a"],
            vec!["q1", "a"],
            vec!["q2", "b"],
            vec!["q3", "d"],
            vec!["q4", "d"],
            vec!["q5", "e"],
        ];
        let keys: Vec<Vec<u64>> = texts
            .iter()
            .map(|t| t.iter().map(|s| text_key(s)).collect())
            .collect();
        let order = [0, 1, 2, 3, 4, 5];
        // Batch 1 walks 0, skips 1 (a), takes 2 and 3 (full at 3). Batch 2 walks the rest from
        // the start: 1, 4 (d is free again), 5.
        assert_eq!(
            no_duplicate_batches(&order, &keys, 3),
            vec![vec![0, 2, 3], vec![1, 4, 5]]
        );
        // Batches of 2: [0, 2], then [1, 3], then [4, 5].
        assert_eq!(
            no_duplicate_batches(&order, &keys, 2),
            vec![vec![0, 2], vec![1, 3], vec![4, 5]]
        );
        // Every example once, whatever the order.
        let order = [5, 4, 3, 2, 1, 0];
        let batches = no_duplicate_batches(&order, &keys, 4);
        assert_eq!(batches, vec![vec![5, 4, 2, 1], vec![3, 0]]);
    }

    #[test]
    fn examples_that_clash_with_every_other_end_in_batches_of_their_own() {
        let keys: Vec<Vec<u64>> = (0..3).map(|_| vec![text_key("same")]).collect();
        assert_eq!(
            no_duplicate_batches(&[2, 0, 1], &keys, 8),
            vec![vec![2], vec![0], vec![1]]
        );
        assert!(no_duplicate_batches(&[], &keys, 8).is_empty());
    }
}
