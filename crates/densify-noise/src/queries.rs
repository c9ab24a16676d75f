//! Noisy copies of a dataset's queries, for the robustness evaluation of noisy self-training
//! (evaluate a retriever on shuffled, deleted, masked or replaced queries).

use crate::ops::NoiseOp;
use crate::rng::NoiseRng;
use crate::vocab::WordVocab;

/// Applies `op` at word level to every `(id, text)` query; query `i` uses stream `i` of `seed`,
/// so the result is the same whatever the order or number of queries processed before it.
pub fn noisy_queries<'a>(
    queries: impl IntoIterator<Item = (&'a str, &'a str)>,
    op: &NoiseOp,
    seed: u64,
    vocab: &WordVocab,
) -> Vec<(String, String)> {
    queries
        .into_iter()
        .map(|(id, text)| {
            (
                id.to_owned(),
                op.apply_words(text, vocab, &mut NoiseRng::keyed(seed, id)),
            )
        })
        .collect()
}
