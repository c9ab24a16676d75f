//! Zero-shot dense retrieval with all-MiniLM-L6-v2 (cosine, exact search) against
//! sentence-transformers' figures on this machine (`scripts/st_reference.py scifact`):
//!
//! - NQ-UTD test (800 documents, 80 queries; CI): nDCG@10 0.7824;
//! - SciFact test (5,183 documents, max length 256; minutes on 2 cores, so ignored in CI and run
//!   by `scripts/scifact_zero_shot.sh`): nDCG@10 0.6451.
//!
//! Encoding runs on the default CPU backend through the library path the CLI's `dense` uses.

mod common;

use burn::tensor::Device;
use densify::data::Dataset;
use densify::eval::search::{ExactSearchConfig, search_embeddings};
use densify::eval::{EvalConfig, Measure, evaluate};
use densify::model::{BiEncoder, Side};

/// nDCG@10 and Recall@100 of the zero-shot run on `name`'s test split.
fn zero_shot(name: &str, max_length: Option<usize>) -> (f64, f64) {
    let device = Device::flex();
    let model = BiEncoder::load(common::minilm_dir(), &device, |s| {
        if let Some(n) = max_length {
            s.passage_max_length = n;
            s.query_max_length = n;
        }
    })
    .unwrap();
    let dataset = Dataset::find(name).unwrap();
    let corpus = model
        .encode_items(
            &dataset.corpus_items().unwrap(),
            Side::Passage,
            32,
            &device,
            &mut |_| {},
        )
        .unwrap();
    let (queries, qrels) = dataset.split_queries("test").unwrap();
    let items: Vec<(String, String)> = queries.into_iter().map(|q| (q.id, q.text)).collect();
    let queries = model
        .encode_items(&items, Side::Query, 32, &device, &mut |_| {})
        .unwrap();
    let config = ExactSearchConfig::new().with_similarity(model.settings.similarity);
    let run = search_embeddings(&queries, &corpus, config, &device).unwrap();
    let e = evaluate(
        &qrels,
        &run,
        &[Measure::NdcgCut(10), Measure::Recall(100)],
        EvalConfig::default(),
    )
    .unwrap();
    let (ndcg, recall) = (
        e.mean(Measure::NdcgCut(10)).unwrap(),
        e.mean(Measure::Recall(100)).unwrap(),
    );
    println!("densify {name} test: nDCG@10 {ndcg:.4}, Recall@100 {recall:.4}");
    (ndcg, recall)
}

#[test]
fn nq_utd_zero_shot_ndcg_matches_sentence_transformers() {
    /// sentence-transformers 6.2.0 on this machine.
    const SENTENCE_TRANSFORMERS_NDCG10: f64 = 0.7824;
    let (ndcg, _) = zero_shot("nq-utd", None);
    assert!(
        (ndcg - SENTENCE_TRANSFORMERS_NDCG10).abs() <= 0.002,
        "nDCG@10 {ndcg}, sentence-transformers {SENTENCE_TRANSFORMERS_NDCG10}"
    );
}

#[test]
#[ignore = "encodes the 5,183-document SciFact corpus (about 9 minutes on 2 cores): scripts/scifact_zero_shot.sh"]
fn scifact_zero_shot_ndcg_matches_sentence_transformers() {
    /// sentence-transformers 6.2.0 on this machine.
    const SENTENCE_TRANSFORMERS_NDCG10: f64 = 0.6451;
    let (ndcg, _) = zero_shot("scifact", Some(256));
    assert!(
        (ndcg - SENTENCE_TRANSFORMERS_NDCG10).abs() <= 0.002,
        "nDCG@10 {ndcg}, sentence-transformers {SENTENCE_TRANSFORMERS_NDCG10}"
    );
}
