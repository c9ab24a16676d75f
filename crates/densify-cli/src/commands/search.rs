//! `densify search`: exact top-k over embeddings files.

use std::path::PathBuf;
use std::time::Instant;

use densify::core::Config;
use densify_data::Embeddings;
use densify_eval::search::{ExactSearchConfig, search_embeddings};

use crate::args::{CliResult, DeviceArgs, OutputArgs, SimilarityArg};
use crate::progress::spinner;

/// Arguments of `densify search`.
#[derive(clap::Args)]
pub struct Args {
    /// Query embeddings (a densify embeddings safetensors file).
    #[arg(long)]
    queries: PathBuf,
    /// Corpus embeddings (same format and dimension).
    #[arg(long)]
    corpus: PathBuf,
    #[command(flatten)]
    output: OutputArgs,
    /// Documents kept per query.
    #[arg(long, default_value_t = 1000)]
    k: usize,
    /// Similarity function (use the model's: `similarity_fn_name` in its
    /// config_sentence_transformers.json).
    #[arg(long, value_enum, default_value_t = SimilarityArg::Cosine)]
    similarity: SimilarityArg,
    /// Drop a hit whose document id equals the query id (BEIR's ignore_identical_ids).
    #[arg(long)]
    ignore_identical_ids: bool,
    /// Corpus rows scored at once (bounds memory).
    #[arg(long, default_value_t = 50_000)]
    corpus_chunk: usize,
    #[command(flatten)]
    device: DeviceArgs,
}

/// Runs `densify search`.
pub fn run(args: Args) -> CliResult {
    let config = ExactSearchConfig::new()
        .with_k(args.k)
        .with_similarity(args.similarity.into())
        .with_corpus_chunk(args.corpus_chunk)
        .with_ignore_identical_ids(args.ignore_identical_ids);
    config
        .validate()
        .map_err(|e| format!("--{}: {}", e.field.replace('_', "-"), e.message))?;
    args.output
        .check([args.queries.as_path(), args.corpus.as_path()])?;
    let device = args.device.device()?;
    let queries = Embeddings::read(&args.queries)?;
    let corpus = Embeddings::read(&args.corpus)?;
    corpus.check_same_dim(&args.corpus, &queries, &args.queries)?;
    // A run over no query (or no document) would be an empty file and a success.
    for (flag, path, table, what) in [
        ("--queries", &args.queries, &queries, "query"),
        ("--corpus", &args.corpus, &corpus, "document"),
    ] {
        if table.is_empty() {
            return Err(format!(
                "{flag} {}: the embeddings file holds no {what} (0 rows): the run would be empty",
                path.display()
            )
            .into());
        }
    }
    let started = Instant::now();
    let bar = spinner(&format!(
        "searching {} queries in {} documents",
        queries.len(),
        corpus.len()
    ));
    let run = search_embeddings(&queries, &corpus, config, &device)?;
    run.write_trec(&args.output.output, "densify-exact")?;
    bar.finish_and_clear();
    eprintln!(
        "search: {} queries -> {} ({:.1} s)",
        run.len(),
        args.output.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
