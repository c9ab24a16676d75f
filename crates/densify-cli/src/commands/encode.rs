//! `densify encode`: a dataset's corpus or queries to an embeddings file.

use std::path::PathBuf;
use std::time::Instant;

use clap::ValueEnum;
use densify_model::Side;

use crate::args::{CliResult, DatasetArgs, ModelArgs, OutputArgs};

/// What `densify encode` embeds.
#[derive(Clone, Copy, ValueEnum)]
pub enum What {
    /// The corpus, as passages.
    Corpus,
    /// The split's queries.
    Queries,
}

/// Arguments of `densify encode`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DatasetArgs,
    /// What to embed: the corpus (as passages) or the split's queries.
    #[arg(long, value_enum)]
    what: What,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs `densify encode`.
pub fn run(args: Args) -> CliResult {
    let device = args.model.device.device()?;
    let dataset = args.data.open()?;
    let mut inputs = args.data.input_files(&dataset);
    inputs.extend(args.model.input_files());
    args.output.check(inputs.iter().map(PathBuf::as_path))?;
    let model = args.model.load(&device)?;
    let started = Instant::now();
    let (items, side, label) = match args.what {
        What::Corpus => (dataset.corpus_items()?, Side::Passage, "corpus"),
        What::Queries => {
            let (queries, _) = dataset.split_queries(&args.data.split)?;
            (
                queries.into_iter().map(|q| (q.id, q.text)).collect(),
                Side::Query,
                "queries",
            )
        }
    };
    let embeddings = args.model.encode(&model, &items, side, &device, label)?;
    embeddings.write(&args.output.output)?;
    eprintln!(
        "encode: {} {label} x {} -> {} ({:.1} s)",
        embeddings.len(),
        embeddings.dim(),
        args.output.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
