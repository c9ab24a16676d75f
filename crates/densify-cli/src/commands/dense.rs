//! `densify dense`: zero-shot dense retrieval over a BEIR dataset.

use std::path::PathBuf;
use std::time::Instant;

use densify_eval::search::{ExactSearchConfig, search_embeddings};
use densify_model::Side;

use crate::args::{CliResult, DatasetArgs, ModelArgs, OutputArgs, print_default_evaluation};

/// Arguments of `densify dense`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DatasetArgs,
    /// Documents kept per query.
    #[arg(long, default_value_t = 1000)]
    k: usize,
    /// Drop a hit whose document id equals the query id (BEIR's ignore_identical_ids).
    #[arg(long)]
    ignore_identical_ids: bool,
    #[command(flatten)]
    output: OutputArgs,
    /// Evaluate the run on the split's qrels afterwards.
    #[arg(long)]
    evaluate: bool,
}

/// Runs `densify dense`.
pub fn run(args: Args) -> CliResult {
    if args.k == 0 {
        return Err("--k: must be at least 1".into());
    }
    let device = args.model.device.device()?;
    let dataset = args.data.open()?;
    let mut inputs = args.data.input_files(&dataset);
    inputs.extend(args.model.input_files());
    args.output.check(inputs.iter().map(PathBuf::as_path))?;
    let model = args.model.load(&device)?;
    let started = Instant::now();
    let (queries, qrels) = dataset.split_queries(&args.data.split)?;
    let items = dataset.corpus_items()?;
    let corpus = args
        .model
        .encode(&model, &items, Side::Passage, &device, "corpus")?;
    let encoded = started.elapsed().as_secs_f64();
    let items: Vec<(String, String)> = queries.into_iter().map(|q| (q.id, q.text)).collect();
    let queries = args
        .model
        .encode(&model, &items, Side::Query, &device, "queries")?;
    let config = ExactSearchConfig::new()
        .with_k(args.k)
        .with_similarity(model.settings.similarity)
        .with_ignore_identical_ids(args.ignore_identical_ids);
    let run = search_embeddings(&queries, &corpus, config, &device)?;
    run.write_trec(&args.output.output, "densify-dense")?;
    eprintln!(
        "dense: {} documents ({:.1} docs/s), {} queries, {} similarity, top {} -> {} ({:.1} s)",
        corpus.len(),
        corpus.len() as f64 / encoded,
        queries.len(),
        model.settings.similarity.name(),
        args.k,
        args.output.output.display(),
        started.elapsed().as_secs_f64()
    );
    if args.evaluate {
        // The run in memory is the one written: no re-parse of the file.
        print_default_evaluation(&qrels, &run)?;
    }
    Ok(())
}
