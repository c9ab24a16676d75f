//! Zero-shot SciFact test retrieval with all-MiniLM-L6-v2 (max length 256, cosine, exact
//! search): nDCG@10 within 0.002 of sentence-transformers on this machine
//! (`scripts/st_reference.py scifact`: 0.6451). Encodes the 5,183-document corpus on the
//! default CPU backend, so it takes minutes.

mod common;

use burn::tensor::Device;
use densify::eval::beir::Dataset;
use densify::eval::embeddings::Embeddings;
use densify::eval::search::{ExactSearchConfig, search_embeddings};
use densify::eval::{EvalConfig, Measure, evaluate};
use densify::model::{BiEncoder, Side};

/// sentence-transformers 6.2.0 on this machine (`scripts/st_reference.py scifact`).
const SENTENCE_TRANSFORMERS_NDCG10: f64 = 0.6451;

#[test]
fn scifact_zero_shot_ndcg_matches_sentence_transformers() {
    let device = Device::flex();
    let model = BiEncoder::load(common::minilm_dir(), &device, |s| {
        s.passage_max_length = 256;
        s.query_max_length = 256;
    })
    .unwrap();
    let dataset = Dataset::find("scifact").unwrap();
    let corpus = dataset.corpus().unwrap();
    let texts: Vec<String> = corpus.iter().map(|d| d.full_text()).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let values = model
        .encode(&refs, Side::Passage, 32, &device, &mut |_| {})
        .unwrap();
    let corpus = Embeddings::new(
        corpus.into_iter().map(|d| d.id).collect(),
        model.dim(),
        values,
    )
    .unwrap();
    let (queries, qrels) = dataset.split_queries("test").unwrap();
    let refs: Vec<&str> = queries.iter().map(|q| q.text.as_str()).collect();
    let values = model
        .encode(&refs, Side::Query, 32, &device, &mut |_| {})
        .unwrap();
    let queries = Embeddings::new(
        queries.into_iter().map(|q| q.id).collect(),
        model.dim(),
        values,
    )
    .unwrap();
    let run = search_embeddings(&queries, &corpus, ExactSearchConfig::default(), &device).unwrap();
    let e = evaluate(
        &qrels,
        &run,
        &[Measure::NdcgCut(10), Measure::Recall(100)],
        EvalConfig::default(),
    )
    .unwrap();
    let ndcg = e.mean(Measure::NdcgCut(10)).unwrap();
    println!(
        "densify SciFact test: nDCG@10 {ndcg:.4}, Recall@100 {:.4}",
        e.mean(Measure::Recall(100)).unwrap()
    );
    assert!(
        (ndcg - SENTENCE_TRANSFORMERS_NDCG10).abs() <= 0.002,
        "nDCG@10 {ndcg}, sentence-transformers {SENTENCE_TRANSFORMERS_NDCG10}"
    );
}
