//! Evaluation benchmark: 10,000 queries x 1,000 documents generated with a seed (20 relevant
//! documents per query, grades 1-2), evaluated on ndcg_cut.10, recall.100, map_cut.100 and
//! recip_rank. Prints parse and evaluate times and writes the files plus a JSON summary so
//! `scripts/bench_eval.py` can time pytrec_eval on the very same input.
//!
//! Run: `cargo run --release --example bench_eval -- [OUT_DIR]` (default `target/bench-eval`),
//! or `scripts/bench.sh` for the side-by-side comparison.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use densify::eval::{EvalConfig, Measure, Qrels, Run, evaluate};
use rand::{Rng, SeedableRng, seq::index::sample};
use rand_chacha::ChaCha8Rng;

const QUERIES: usize = 10_000;
const DOCS_PER_QUERY: usize = 1_000;
const RELEVANT_PER_QUERY: usize = 20;
const DOC_POOL: usize = 100_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/bench-eval".into()),
    );
    std::fs::create_dir_all(&out)?;
    let (qrels_path, run_path) = (out.join("qrels.txt"), out.join("run.trec"));

    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut qrels_text = String::new();
    let mut run_text = String::with_capacity(QUERIES * DOCS_PER_QUERY * 40);
    for q in 0..QUERIES {
        let picked = sample(&mut rng, DOC_POOL, DOCS_PER_QUERY);
        // The first 15 retrieved candidates and 5 unretrieved documents are relevant.
        for (i, d) in picked.iter().take(15).enumerate() {
            let _ = writeln!(qrels_text, "q{q} 0 d{d} {}", 1 + (i % 2));
        }
        let mut extra = 0;
        let mut d = 0;
        while extra < RELEVANT_PER_QUERY - 15 {
            if !picked.iter().any(|p| p == d) {
                let _ = writeln!(qrels_text, "q{q} 0 d{d} {}", 1 + (extra % 2));
                extra += 1;
            }
            d += 1;
        }
        for (rank, d) in picked.iter().enumerate() {
            let score: f64 = rng.random::<f64>() * 10.0;
            let _ = writeln!(run_text, "q{q} Q0 d{d} {} {score:.6} bench", rank + 1);
        }
    }
    std::fs::write(&qrels_path, qrels_text)?;
    std::fs::write(&run_path, run_text)?;

    let measures: Vec<Measure> = ["ndcg_cut.10", "recall.100", "map_cut.100", "recip_rank"]
        .iter()
        .map(|m| m.parse().unwrap())
        .collect();
    let start = Instant::now();
    let qrels = Qrels::from_file(&qrels_path)?;
    let run = Run::from_file(&run_path)?;
    let parse = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let evaluation = evaluate(&qrels, &run, &measures, EvalConfig::default())?;
    let eval = start.elapsed().as_secs_f64();

    println!("densify-eval: {QUERIES} queries x {DOCS_PER_QUERY} documents");
    println!("  parse     {parse:8.3} s");
    println!("  evaluate  {eval:8.3} s");
    println!("  total     {:8.3} s", parse + eval);
    let mut means = serde_json::Map::new();
    for m in &measures {
        let v = evaluation.mean(*m).unwrap();
        println!("  {:<12} {v:.6}", m.to_string());
        means.insert(m.to_string(), v.into());
    }
    let summary = serde_json::json!({
        "parse_s": parse, "evaluate_s": eval, "means": means,
        "qrels": qrels_path, "run": run_path,
    });
    std::fs::write(
        out.join("densify.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    Ok(())
}
