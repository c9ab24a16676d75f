//! Encoding benchmark: the SciFact corpus (5,183 documents, max length 256, batch 32) and its 300
//! test queries with all-MiniLM-L6-v2, printing documents/s. Peak memory: run it under
//! `/usr/bin/time -v`. `BENCH=1 scripts/backend_parity.sh BACKEND` runs it per backend;
//! `scripts/st_reference.py scifact` gives sentence-transformers' figure on the same machine.
//!
//! Run: `cargo run --release --example bench_encode -- [DEVICE] [MODEL_DIR] [N_DOCS]`
//! (DEVICE: a `--device` name: cpu/flex (default), ndarray, tch-cpu, cuda:N, wgpu when compiled in).

use std::time::Instant;

use densify::data::beir::Dataset;
use densify::model::{BiEncoder, Side};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).cloned().unwrap_or_else(|| "flex".into());
    let home = std::env::var("HOME").unwrap_or_default();
    let model_dir = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| format!("{home}/.cache/densify/models/all-MiniLM-L6-v2"));
    let limit: usize = args
        .get(3)
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    let device = densify::device::parse(&name).unwrap_or_else(|e| panic!("{e}"));
    let model = BiEncoder::load(&model_dir, &device, |s| {
        s.passage_max_length = 256;
        s.query_max_length = 256;
    })
    .expect("model folder (scripts/fetch_minilm.sh)");
    let dataset = Dataset::find("scifact").expect("../shared/data/scifact");
    let docs: Vec<String> = dataset
        .corpus()
        .unwrap()
        .iter()
        .take(limit)
        .map(|d| d.full_text())
        .collect();
    let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
    // Warm-up (kernel compilation and caches on GPU backends).
    let _ = model
        .encode(
            &refs[..refs.len().min(32)],
            Side::Passage,
            32,
            &device,
            &mut |_| {},
        )
        .unwrap();
    let start = Instant::now();
    let corpus = model
        .encode(&refs, Side::Passage, 32, &device, &mut |_| {})
        .unwrap();
    let corpus_s = start.elapsed().as_secs_f64();
    let (queries, _) = dataset.split_queries("test").unwrap();
    let texts: Vec<&str> = queries.iter().map(|q| q.text.as_str()).collect();
    let start = Instant::now();
    let q = model
        .encode(&texts, Side::Query, 32, &device, &mut |_| {})
        .unwrap();
    let queries_s = start.elapsed().as_secs_f64();
    assert!(corpus.iter().chain(&q).all(|v| v.is_finite()));
    println!(
        "densify {name}: {} documents in {corpus_s:.1} s = {:.1} docs/s; {} queries in {queries_s:.2} s",
        docs.len(),
        docs.len() as f64 / corpus_s,
        texts.len()
    );
}
