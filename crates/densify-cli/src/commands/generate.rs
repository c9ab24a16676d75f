//! `densify generate queries|documents`: synthetic queries for a corpus, or graded documents
//! for a split's queries, from an OpenAI-compatible LLM (or, for queries, the inverse-cloze
//! baseline when no server is configured). Resumable: re-running skips what is written.

use std::path::{Path, PathBuf};

use densify::core::Config;
use densify_data::Dataset;
use densify_synth::config::GeneratorKind;
use densify_synth::{QueryType, SynthConfig};

use crate::args::CliResult;
use densify::core::Progress;

use crate::progress::Bars;

/// Arguments of `densify generate`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Queries for the corpus's passages (types, few-shot and filters: docs/synthetic-data.md).
    Queries(Common),
    /// One document per relevance level (3, 2, 1, 0) for each query of a split.
    Documents(Common),
}

#[derive(clap::Args)]
struct Common {
    /// The BEIR dataset (name or folder) whose corpus (queries) or split (documents) is used.
    #[arg(long, required_unless_present = "print_config")]
    dataset: Option<String>,
    /// The qrels split whose queries get documents (`documents` only).
    #[arg(long, default_value = "train")]
    split: String,
    /// The output folder (created; an existing one is resumed).
    #[arg(long, required_unless_present = "print_config")]
    output: Option<PathBuf>,
    /// The run's configuration (TOML or JSON; `--print-config` shows every field).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the full resolved configuration and exit.
    #[arg(long)]
    print_config: bool,
    /// Overrides `llm.base_url`.
    #[arg(long)]
    base_url: Option<String>,
    /// Overrides `llm.concurrency`.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: Option<u32>,
    /// Overrides `queries.max_passages` (or `documents.max_queries`).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// Overrides `queries.types` (comma-separated: question,claim,title,keywords,web,random).
    #[arg(long, value_delimiter = ',', value_parser = parse_type)]
    types: Vec<QueryType>,
}

fn parse_type(s: &str) -> Result<QueryType, String> {
    QueryType::from_name(s).ok_or_else(|| {
        format!(
            "unknown query type `{s}`; the types are question, claim, title, keywords, web, random"
        )
    })
}

/// Runs `densify generate`.
pub fn run(args: Args) -> CliResult {
    match args.what {
        What::Queries(c) => run_common(c, false),
        What::Documents(c) => run_common(c, true),
    }
}

fn run_common(args: Common, documents: bool) -> CliResult {
    let mut config = match &args.config {
        Some(path) => SynthConfig::from_file(path)?,
        None => SynthConfig::default(),
    };
    if let Some(url) = &args.base_url {
        config.llm.base_url = Some(url.clone());
    }
    if let Some(n) = args.concurrency {
        config.llm.concurrency = n as usize;
    }
    if let Some(n) = args.limit {
        config.queries.max_passages = Some(n as usize);
        config.documents.max_queries = Some(n as usize);
    }
    if !args.types.is_empty() {
        config.queries.types = args.types.clone();
    }
    config
        .validate()
        .map_err(|e| format!("configuration: {e}"))?;
    if args.print_config {
        print!("{}", config.to_toml_string());
        return Ok(());
    }
    let (Some(dataset), Some(output)) = (&args.dataset, &args.output) else {
        unreachable!("clap requires --dataset and --output without --print-config")
    };
    let dataset = Dataset::find(dataset)?;
    refuse_dataset_folder(&dataset, output)?;
    if !documents {
        return run_queries(&dataset, &config, output);
    }
    run_documents(&dataset, &config, &args.split, output)
}

/// `densify generate documents`: the library's one call, with a progress bar and retry lines.
fn run_documents(dataset: &Dataset, config: &SynthConfig, split: &str, output: &Path) -> CliResult {
    eprintln!(
        "generate: documents with model `{}`, {} request(s) at once",
        config.llm.model, config.llm.concurrency
    );
    let mut progress = Bars::default();
    let retries = progress.line_sink("retry: ");
    let report = densify_synth::generate_document_dataset(
        dataset,
        config,
        split,
        output,
        retries,
        &mut progress,
    );
    progress.finish();
    let rows = output.join("generated_documents.jsonl");
    let report = report.map_err(|e| {
        format!("{e}\n(every answer received before the failure is kept in {}; run the same command again to resume)", rows.display())
    })?;
    eprint!("{}", report.summary);
    eprintln!("  {} to {}", report.http, report.generator);
    eprintln!(
        "generate: {} graded list(s) -> {}",
        report.lists,
        output.join("train.jsonl").display()
    );
    Ok(())
}

/// `densify generate queries`: the library's one call, with a progress bar and retry lines.
fn run_queries(dataset: &Dataset, config: &SynthConfig, output: &Path) -> CliResult {
    let mut progress = Bars::default();
    if config.resolved_kind() == GeneratorKind::InverseCloze {
        eprintln!(
            "generate: no LLM configured (llm.base_url / OPENAI_BASE_URL): inverse-cloze pseudo-queries"
        );
    } else {
        eprintln!(
            "generate: LLM model `{}`, {} request(s) at once",
            config.llm.model, config.llm.concurrency
        );
    }
    let retries = progress.line_sink("retry: ");
    let report =
        densify_synth::generate_query_dataset(dataset, config, output, retries, &mut progress);
    progress.finish();
    let rows = output.join("generated_queries.jsonl");
    let report = report.map_err(|e| {
        format!("{e}\n(every answer received before the failure is kept in {}; run the same command again to resume)", rows.display())
    })?;
    eprint!("{}", report.summary);
    if let Some(http) = &report.http {
        eprintln!("  {http} to {}", report.generator);
    }
    eprintln!(
        "generate: {} queries -> BEIR dataset {}",
        report.exported,
        output.display()
    );
    Ok(())
}

/// The output folder must not be the input dataset's own folder (its corpus would be replaced).
pub fn refuse_dataset_folder(dataset: &Dataset, output: &Path) -> CliResult {
    densify_synth::query_dataset::refuse_dataset_folder(dataset, output)
        .map_err(|e| format!("--output {e}").into())
}
