//! Property tests of the metrics: bounds, perfect rankings, and the tie-break.

use densify::eval::{EvalConfig, Measure, Qrels, Run, evaluate};
use proptest::prelude::*;

const MEASURES: [Measure; 6] = [
    Measure::Ndcg,
    Measure::NdcgCut(10),
    Measure::Recall(5),
    Measure::Map,
    Measure::RecipRank,
    Measure::Precision(3),
];

/// Up to 12 documents, each with an optional grade in -1..=3 and a score from a small set (so
/// ties are common).
fn query_strategy() -> impl Strategy<Value = Vec<(Option<i32>, u8)>> {
    prop::collection::vec((prop::option::of(-1i32..=3), 0u8..4), 1..12)
}

fn build(docs: &[(Option<i32>, u8)], order: &[usize]) -> (Qrels, Run) {
    let mut qrels = Qrels::new();
    let mut run = Run::new();
    qrels.insert("q", "judged-anchor", 0);
    for &i in order {
        let (grade, score) = docs[i];
        let id = format!("d{i:02}");
        if let Some(g) = grade {
            qrels.insert("q", &id, g);
        }
        run.push("q", &id, f64::from(score));
    }
    (qrels, run)
}

proptest! {
    #[test]
    fn values_lie_in_unit_interval(docs in query_strategy()) {
        let order: Vec<usize> = (0..docs.len()).collect();
        let (qrels, run) = build(&docs, &order);
        let e = evaluate(&qrels, &run, &MEASURES, EvalConfig::default()).unwrap();
        for m in MEASURES {
            let v = e.mean(m).unwrap();
            prop_assert!((0.0..=1.0 + 1e-12).contains(&v), "{m} = {v}");
        }
    }

    #[test]
    fn perfect_ranking_scores_one(grades in prop::collection::vec(1i32..=3, 1..15)) {
        let mut qrels = Qrels::new();
        let mut run = Run::new();
        for (i, &g) in grades.iter().enumerate() {
            qrels.insert("q", &format!("d{i}"), g);
            // Score by grade: a perfect (ideal) ordering.
            run.push("q", &format!("d{i}"), f64::from(g) + 0.001 * i as f64);
        }
        let measures = [Measure::Ndcg, Measure::NdcgCut(5), Measure::Map, Measure::RecipRank, Measure::Recall(1000)];
        let e = evaluate(&qrels, &run, &measures, EvalConfig::default()).unwrap();
        for m in measures {
            prop_assert!((e.mean(m).unwrap() - 1.0).abs() < 1e-12, "{m}");
        }
    }

    #[test]
    fn input_order_of_tied_documents_does_not_matter(docs in query_strategy(), seed in any::<u64>()) {
        // The tie-break is by doc id descending, so any permutation of the run's lines gives the
        // same values.
        let order: Vec<usize> = (0..docs.len()).collect();
        let mut shuffled = order.clone();
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let (qrels, a) = build(&docs, &order);
        let (_, b) = build(&docs, &shuffled);
        let ea = evaluate(&qrels, &a, &MEASURES, EvalConfig::default()).unwrap();
        let eb = evaluate(&qrels, &b, &MEASURES, EvalConfig::default()).unwrap();
        prop_assert_eq!(ea, eb);
    }

    #[test]
    fn ties_rank_the_higher_doc_id_first(n in 2usize..10, relevant in 0usize..10) {
        let relevant = relevant % n;
        let mut qrels = Qrels::new();
        let mut run = Run::new();
        for i in 0..n {
            run.push("q", &format!("d{i}"), 1.0);
        }
        qrels.insert("q", &format!("d{relevant}"), 1);
        let e = evaluate(&qrels, &run, &[Measure::RecipRank], EvalConfig::default()).unwrap();
        // d{n-1} ranks first, d0 last.
        let rank = n - relevant;
        prop_assert!((e.mean(Measure::RecipRank).unwrap() - 1.0 / rank as f64).abs() < 1e-12);
    }
}
