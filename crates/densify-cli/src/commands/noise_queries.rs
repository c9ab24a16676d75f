//! `densify noise-queries`: word-level noisy copies of a split's queries.

use densify_data::Query;
use densify_noise::{NoiseOp, WordVocab, noisy_queries};
use std::path::PathBuf;

use crate::args::{CliResult, DatasetArgs, OutputArgs};

/// Arguments of `densify noise-queries`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DatasetArgs,
    /// The noise operator as JSON, e.g. '{"type": "delete", "p": 0.1}' (types: identity,
    /// shuffle, delete, mask, replace, sequential, sequence).
    #[arg(long)]
    op: String,
    /// Seed of the random streams (each query's stream is keyed by its id).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The string `mask` writes.
    #[arg(long, default_value = "[MASK]")]
    mask_token: String,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs `densify noise-queries`.
pub fn run(args: Args) -> CliResult {
    let op: NoiseOp = serde_json::from_str(&args.op).map_err(|e| format!("--op: {e}"))?;
    op.validate().map_err(|e| format!("--op: {e}"))?;
    let dataset = args.data.open()?;
    let inputs = args.data.input_files(&dataset);
    args.output.check(inputs.iter().map(PathBuf::as_path))?;
    let (queries, _) = dataset.split_queries(&args.data.split)?;
    // `replace` draws from the words of the split's own queries.
    let vocab = WordVocab::from_texts(&args.mask_token, queries.iter().map(|q| q.text.as_str()));
    let noisy = noisy_queries(
        queries.iter().map(|q| (q.id.as_str(), q.text.as_str())),
        &op,
        args.seed,
        &vocab,
    );
    let written: Vec<Query> = noisy
        .into_iter()
        .map(|(id, text)| Query {
            id,
            text,
            metadata: None,
        })
        .collect();
    densify_data::beir::write_queries(&args.output.output, &written)?;
    eprintln!(
        "{} noisy {} queries ({}) -> {}",
        written.len(),
        args.data.split,
        op.name(),
        args.output.output.display()
    );
    Ok(())
}
