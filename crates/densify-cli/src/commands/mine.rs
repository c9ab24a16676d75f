//! `densify mine`: hard negatives from a retriever's run, written as training examples.

use std::path::PathBuf;

use densify::core::Config;
use densify_train::mine::{PairsFrom, mine_dataset};
use densify_train::{MineConfig, Sampling};

use crate::args::{CliResult, DatasetArgs, OutputArgs};

/// How negatives are sampled.
#[derive(Clone, Copy, clap::ValueEnum)]
enum SamplingArg {
    Top,
    Random,
}

/// Arguments of `densify mine`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DatasetArgs,
    /// The (query, positive) pairs as training JSONL; default: one pair per judged-relevant
    /// qrel of --split (use `--split train`).
    #[arg(long)]
    examples: Option<PathBuf>,
    /// The retriever's TREC run over the dataset's corpus (e.g. from `densify dense` or `bm25`).
    #[arg(long)]
    run: PathBuf,
    #[command(flatten)]
    output: OutputArgs,
    /// All options as a TOML file (flags below override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Survivors skipped from the top, after the filters.
    #[arg(long)]
    range_min: Option<usize>,
    /// Deepest run rank considered.
    #[arg(long)]
    range_max: Option<usize>,
    /// Keep candidates scoring at most the positive's score minus this.
    #[arg(long, allow_hyphen_values = true)]
    absolute_margin: Option<f64>,
    /// Keep candidates scoring at most positive − |positive| × this.
    #[arg(long)]
    relative_margin: Option<f64>,
    /// Keep candidates scoring at most this.
    #[arg(long, allow_hyphen_values = true)]
    max_score: Option<f64>,
    /// Keep candidates scoring at least this.
    #[arg(long, allow_hyphen_values = true)]
    min_score: Option<f64>,
    /// Negatives per pair.
    #[arg(long)]
    num_negatives: Option<usize>,
    /// How negatives are picked.
    #[arg(long, value_enum)]
    sampling: Option<SamplingArg>,
    /// Seed of random sampling.
    #[arg(long)]
    seed: Option<u64>,
    /// Keep a candidate whose id equals the query's.
    #[arg(long)]
    keep_identical_ids: bool,
    /// Write the run's scores as teacher scores.
    #[arg(long)]
    output_scores: bool,
    /// Keep pairs with fewer negatives than asked.
    #[arg(long)]
    keep_incomplete: bool,
}

/// Runs `densify mine`.
pub fn run(args: Args) -> CliResult {
    let mut config = match &args.config {
        Some(path) => MineConfig::from_file(path)?,
        None => MineConfig::default(),
    };
    macro_rules! set {
        ($($field:ident),*) => {$(if let Some(v) = args.$field { config.$field = v; })*};
    }
    set!(range_min, range_max, num_negatives, seed);
    macro_rules! set_some {
        ($($field:ident),*) => {$(if args.$field.is_some() { config.$field = args.$field; })*};
    }
    set_some!(absolute_margin, relative_margin, max_score, min_score);
    if let Some(s) = args.sampling {
        config.sampling = match s {
            SamplingArg::Top => Sampling::Top,
            SamplingArg::Random => Sampling::Random,
        };
    }
    config.ignore_identical_ids &= !args.keep_identical_ids;
    config.output_scores |= args.output_scores;
    config.keep_incomplete |= args.keep_incomplete;
    config
        .validate()
        .map_err(|invalid| format!("--{}: {}", invalid.field.replace('_', "-"), invalid.message))?;

    let dataset = args.data.open()?;
    let corpus = dataset.corpus_path();
    let dataset_inputs = args.data.input_files(&dataset);
    let mut inputs = vec![args.run.as_path(), corpus.as_path()];
    match &args.examples {
        Some(e) => inputs.push(e.as_path()),
        None => inputs.extend(dataset_inputs.iter().map(PathBuf::as_path)),
    }
    args.output.check(inputs)?;
    let pairs = match &args.examples {
        Some(path) => PairsFrom::File(path),
        None => PairsFrom::Split(&args.data.split),
    };
    let report = mine_dataset(&dataset, pairs, &args.run, &config, &args.output.output)?;
    eprintln!(
        "mine: {} pairs -> {} examples with {} negatives -> {} (dropped: {} with fewer than {} \
         negatives; {} queries not in the run; {} without a positive in the run, so no margin)",
        report.pairs,
        report.written,
        report.negatives,
        args.output.output.display(),
        report.incomplete,
        config.num_negatives,
        report.not_in_run,
        report.no_positive_score
    );
    Ok(())
}
