//! Property tests of densify-noise: identity at p = 0, length bounds, special tokens preserved,
//! shuffles are permutations, observed rates match p, and determinism.

use densify::noise::{NoiseConfig, NoiseOp, NoiseRng, TokenVocab, WordVocab, noisy_queries};
use proptest::prelude::*;

fn vocab() -> TokenVocab {
    TokenVocab::bert_uncased()
}

/// A BERT-like sequence: [CLS] words [SEP] [PAD]..., with the odd special inside.
fn sequence() -> impl Strategy<Value = Vec<u32>> {
    (
        prop::collection::vec(prop_oneof![9 => 1000u32..30_000, 1 => Just(100u32)], 0..60),
        0usize..5,
    )
        .prop_map(|(body, pad)| {
            let mut s = vec![101];
            s.extend(body);
            s.push(102);
            s.extend(std::iter::repeat_n(0, pad));
            s
        })
}

fn op_with(kind: usize, p: f64) -> NoiseOp {
    match kind {
        0 => NoiseOp::Shuffle { p },
        1 => NoiseOp::Delete { p },
        2 => NoiseOp::Mask { p },
        3 => NoiseOp::Replace { p },
        _ => NoiseOp::Sequential { p },
    }
}

fn specials(tokens: &[u32], vocab: &TokenVocab) -> Vec<u32> {
    tokens
        .iter()
        .copied()
        .filter(|t| vocab.is_special(*t))
        .collect()
}

proptest! {
    #[test]
    fn p_zero_is_the_identity(tokens in sequence(), kind in 0usize..5, seed in any::<u64>()) {
        let out = op_with(kind, 0.0).apply_tokens(&tokens, &vocab(), &mut NoiseRng::new(seed, 0));
        prop_assert_eq!(out, tokens);
    }

    #[test]
    fn lengths_and_special_tokens_are_preserved(tokens in sequence(), kind in 0usize..5, p in 0.0f64..=1.0, seed in any::<u64>()) {
        let v = vocab();
        let out = op_with(kind, p).apply_tokens(&tokens, &v, &mut NoiseRng::new(seed, 1));
        // Specials keep their values and order; only the mask id may be added (by masking).
        let added_masks = out.iter().filter(|&&t| t == 103).count() - tokens.iter().filter(|&&t| t == 103).count();
        let out_specials: Vec<u32> = specials(&out, &v).into_iter().filter(|&t| t != 103).collect();
        let in_specials: Vec<u32> = specials(&tokens, &v).into_iter().filter(|&t| t != 103).collect();
        prop_assert_eq!(out_specials, in_specials);
        match kind {
            0 | 2 | 3 => {
                prop_assert_eq!(out.len(), tokens.len());
                for (a, b) in tokens.iter().zip(&out) {
                    if v.is_special(*a) { prop_assert_eq!(a, b); }
                }
                if kind == 3 { prop_assert_eq!(added_masks, 0); }
                if kind == 0 {
                    let (mut x, mut y) = (tokens.clone(), out.clone());
                    x.sort_unstable();
                    y.sort_unstable();
                    prop_assert_eq!(x, y, "a shuffle is a permutation");
                }
            }
            _ => {
                prop_assert!(out.len() <= tokens.len());
                prop_assert!(out.len() >= specials(&tokens, &v).len());
            }
        }
    }

    #[test]
    fn the_same_seed_and_index_give_the_same_noise(tokens in sequence(), kind in 0usize..5, seed in any::<u64>(), index in any::<u64>()) {
        let op = op_with(kind, 0.3);
        let a = op.apply_tokens(&tokens, &vocab(), &mut NoiseRng::new(seed, index));
        let b = op.apply_tokens(&tokens, &vocab(), &mut NoiseRng::new(seed, index));
        prop_assert_eq!(a, b);
    }
}

#[test]
fn observed_rates_match_p() {
    let v = vocab();
    let body: Vec<u32> = (0..400).map(|i| 2000 + i).collect();
    let mut tokens = vec![101];
    tokens.extend(&body);
    tokens.push(102);
    for p in [0.05, 0.1, 0.3] {
        let (mut masked, mut deleted, mut replaced, mut moved_max) =
            (0usize, 0usize, 0usize, 0usize);
        let draws = 250;
        for i in 0..draws {
            let mut rng = NoiseRng::new(11, i);
            masked += NoiseOp::Mask { p }
                .apply_tokens(&tokens, &v, &mut rng)
                .iter()
                .filter(|&&t| t == 103)
                .count();
            deleted += tokens.len()
                - NoiseOp::Delete { p }
                    .apply_tokens(&tokens, &v, &mut rng)
                    .len();
            let r = NoiseOp::Replace { p }.apply_tokens(&tokens, &v, &mut rng);
            replaced += r.iter().zip(&tokens).filter(|(a, b)| a != b).count();
            let s = NoiseOp::Shuffle { p }.apply_tokens(&tokens, &v, &mut rng);
            moved_max = moved_max.max(s.iter().zip(&tokens).filter(|(a, b)| a != b).count());
        }
        let total = (draws as usize * body.len()) as f64;
        for (name, count) in [("mask", masked), ("delete", deleted), ("replace", replaced)] {
            let rate = count as f64 / total;
            // 100,000 Bernoulli draws: standard deviation <= 0.0015; allow 4 of them.
            assert!(
                (rate - p).abs() < 0.006,
                "{name} at p = {p}: observed {rate}"
            );
        }
        assert!(
            moved_max > 0 && (moved_max as f64) < 3.0 * p * body.len() as f64,
            "shuffle moved {moved_max}"
        );
    }
}

#[test]
fn query_and_passage_streams_are_independent_of_batching() {
    let config = NoiseConfig {
        query: NoiseOp::Sequential { p: 0.3 },
        passage: NoiseOp::Delete { p: 0.3 },
        seed: 5,
    };
    let v = vocab();
    let tokens: Vec<u32> = [101].into_iter().chain(2000..2040).chain([102]).collect();
    let first = config.noisy_query(&tokens, &v, "q17");
    let _ = config.noisy_passage(&tokens, &v, "q16", 0); // other work in between changes nothing
    assert_eq!(config.noisy_query(&tokens, &v, "q17"), first);
    assert_ne!(
        config.noisy_passage(&tokens, &v, "q17", 0),
        config.noisy_passage(&tokens, &v, "q17", 1)
    );
}

#[test]
fn noisy_queries_are_reproducible_word_noise() {
    let words = WordVocab {
        mask_token: "[MASK]".into(),
        words: vec![],
    };
    let queries = [
        ("q1", "what causes the common cold"),
        ("q2", "vitamin d and bone density"),
    ];
    let a = noisy_queries(queries, &NoiseOp::Mask { p: 0.5 }, 3, &words);
    let b = noisy_queries(queries, &NoiseOp::Mask { p: 0.5 }, 3, &words);
    assert_eq!(a, b);
    assert_eq!(a[0].0, "q1");
    assert_eq!(a[1].1.split(' ').count(), 5);
    assert!(a.iter().any(|(_, t)| t.contains("[MASK]")));
}
