//! Exact search benchmark: a random 100,000 x 384 corpus (seeded), 1,000 queries, top 100, cosine,
//! on the default CPU backend (flex) or the one named by `--device`-like first argument
//! (`flex`, `ndarray`, `tch-cpu`, `wgpu` when compiled in).
//!
//! Run: `cargo run --release --example bench_search -- [DEVICE] [CORPUS_CHUNK] [host|device]`.

use std::time::Instant;

use burn::tensor::{Tensor, TensorData};
use densify::eval::search::{ExactSearchConfig, Selection, Similarity, top_k};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CORPUS: usize = 100_000;
const QUERIES: usize = 1_000;
const DIM: usize = 384;
const K: usize = 100;

fn random(rng: &mut ChaCha8Rng, rows: usize) -> Vec<f32> {
    (0..rows * DIM)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).cloned().unwrap_or_else(|| "flex".into());
    let chunk: usize = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(50_000);
    let selection = match args.get(3).map(String::as_str) {
        Some("host") => Selection::Host,
        Some("device") => Selection::Device,
        _ => Selection::Auto,
    };
    let config = ExactSearchConfig {
        k: K,
        similarity: Similarity::Cosine,
        corpus_chunk: chunk,
        selection,
        ..Default::default()
    };
    let device = densify::device::parse(&name).unwrap_or_else(|e| panic!("{e}"));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let corpus = Tensor::<2>::from_data(
        TensorData::new(random(&mut rng, CORPUS), [CORPUS, DIM]),
        &device,
    );
    let queries = Tensor::<2>::from_data(
        TensorData::new(random(&mut rng, QUERIES), [QUERIES, DIM]),
        &device,
    );
    // Warm-up (kernel compilation on GPU backends).
    let _ = top_k(queries.clone().narrow(0, 0, 8), corpus.clone(), &config);
    let start = Instant::now();
    let hits = top_k(queries, corpus, &config);
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(hits.len(), QUERIES);
    assert!(
        hits.iter()
            .all(|h| h.len() == K && h.windows(2).all(|w| w[0].1 >= w[1].1))
    );
    println!(
        "densify exact search ({name}, chunk {chunk}, {selection:?} selection): {QUERIES} queries x \
         {CORPUS} x {DIM}, top {K}: {seconds:.3} s ({:.0} queries/s)",
        QUERIES as f64 / seconds
    );
}
