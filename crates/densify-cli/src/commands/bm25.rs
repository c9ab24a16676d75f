//! `densify bm25`: the lexical baseline over a BEIR dataset.

use std::path::PathBuf;
use std::time::Instant;

use densify::core::Config;
use densify_eval::bm25::{Bm25Config, Bm25Index};

use crate::args::{CliResult, DatasetArgs, OutputArgs, print_default_evaluation};
use crate::progress::spinner;

/// Arguments of `densify bm25`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DatasetArgs,
    /// Documents kept per query.
    #[arg(long, default_value_t = 1000)]
    k: usize,
    /// BM25 term-frequency saturation (>= 0).
    #[arg(long, default_value_t = 0.9)]
    k1: f64,
    /// BM25 length normalisation, in [0, 1].
    #[arg(long, default_value_t = 0.4)]
    b: f64,
    #[command(flatten)]
    output: OutputArgs,
    /// Evaluate the run on the split's qrels (nDCG@10, Recall@100, MAP, MRR) afterwards.
    #[arg(long)]
    evaluate: bool,
    /// Search these queries (a BEIR queries.jsonl, e.g. from `densify noise-queries`) instead
    /// of the dataset's own; only those judged in the split are used.
    #[arg(long)]
    queries: Option<PathBuf>,
}

/// Runs `densify bm25`.
pub fn run(args: Args) -> CliResult {
    let config = Bm25Config::new().with_k1(args.k1).with_b(args.b);
    config
        .validate()
        .map_err(|e| format!("--{}: {}", e.field, e.message))?;
    if args.k == 0 {
        return Err("--k: must be at least 1".into());
    }
    let dataset = args.data.open()?;
    let mut inputs = vec![dataset.corpus_path(), dataset.queries_path()];
    inputs.extend(args.queries.clone());
    args.output.check(inputs.iter().map(PathBuf::as_path))?;
    let started = Instant::now();
    let bar = spinner("reading and indexing the corpus");
    let index = Bm25Index::for_dataset(&dataset, config)?;
    bar.set_message("searching");
    let (mut queries, qrels) = dataset.split_queries(&args.data.split)?;
    if let Some(path) = &args.queries {
        queries = densify_data::beir::read_queries(path)?
            .into_iter()
            .filter(|q| qrels.query(&q.id).is_some())
            .collect();
    }
    let run = index.search_queries(&queries, args.k);
    run.write_trec(&args.output.output, "densify-bm25")?;
    bar.finish_and_clear();
    eprintln!(
        "BM25: {} documents, {} {} queries, top {} -> {} ({:.1} s)",
        index.len(),
        queries.len(),
        args.data.split,
        args.k,
        args.output.output.display(),
        started.elapsed().as_secs_f64()
    );
    if args.evaluate {
        print_default_evaluation(&qrels, &run)?;
    }
    Ok(())
}
