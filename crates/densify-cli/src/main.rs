//! `densify`: the command-line front of the densify libraries. One file per command under
//! `commands/`, the argument groups several commands share in `args.rs`; the work itself is
//! library code.

mod args;
mod commands;
mod malloc;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Train and evaluate dense retrievers and rerankers.
#[derive(Parser)]
#[command(name = "densify", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate a TREC run against qrels exactly as trec_eval / pytrec_eval do.
    Eval(commands::eval::Args),
    /// Rank a BEIR dataset's queries with BM25 and write a TREC run (the lexical baseline).
    Bm25(commands::bm25::Args),
    /// Exact top-k search of query embeddings against corpus embeddings; writes a TREC run.
    Search(commands::search::Args),
    /// Fuse several TREC runs with reciprocal rank fusion.
    Fuse(commands::fuse::Args),
    /// Write word-level noisy copies of a split's queries (robustness evaluation).
    NoiseQueries(commands::noise_queries::Args),
    /// Embed a dataset's corpus or queries with a bi-encoder into an embeddings file.
    Encode(commands::encode::Args),
    /// Zero-shot dense retrieval: embed corpus and queries, exact search, TREC run (and scores).
    Dense(commands::dense::Args),
    /// Datasets: `densify data download NAME` fetches a published BEIR dataset.
    Data(commands::data::Args),
    /// Hard negatives from a retriever's run, written as training examples (JSONL).
    Mine(commands::mine::Args),
    /// Teacher scores (cross-encoder or bi-encoder) for every candidate of a training JSONL.
    Score(commands::score::Args),
    /// Rescore a run's top k with a cross-encoder, a bi-encoder or the hybrid BM25 + bi-encoder
    /// teacher, written as a TREC run.
    Rerank(commands::rerank::Args),
    /// Fine-tune a bi-encoder as a TOML config says (`--print-config` shows every field).
    Train(commands::train::Args),
    /// Synthetic data from an LLM: `generate queries` for a corpus, `generate documents` for queries.
    Generate(commands::generate::Args),
    /// Filter synthetic queries: round trip, fusion, teacher top-1, percentile cut, train/dev split.
    Filter(commands::filter::Args),
    /// A recipe end to end from one TOML (`recipe run FILE`, `recipe status DIR`,
    /// `recipe --print-config adapt`), resumable at any point.
    Recipe(commands::recipe::Args),
}

fn main() -> ExitCode {
    malloc::keep_freed_memory_for_reuse();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(args) => commands::eval::run(args),
        Command::Bm25(args) => commands::bm25::run(args),
        Command::Search(args) => commands::search::run(args),
        Command::Fuse(args) => commands::fuse::run(args),
        Command::NoiseQueries(args) => commands::noise_queries::run(args),
        Command::Encode(args) => commands::encode::run(args),
        Command::Dense(args) => commands::dense::run(args),
        Command::Data(args) => commands::data::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Mine(args) => commands::mine::run(args),
        Command::Score(args) => commands::score::run(args),
        Command::Rerank(args) => commands::rerank::run(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::Filter(args) => commands::filter::run(args),
        Command::Recipe(args) => commands::recipe::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
