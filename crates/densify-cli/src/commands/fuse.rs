//! `densify fuse`: reciprocal rank fusion of runs.

use std::path::PathBuf;

use densify::core::Config;
use densify_eval::Run;
use densify_eval::fusion::{RrfConfig, reciprocal_rank_fusion};

use crate::args::{CliResult, OutputArgs};

/// Arguments of `densify fuse`.
#[derive(clap::Args)]
pub struct Args {
    /// A TREC run to fuse; repeat for each run.
    #[arg(long = "run", required = true)]
    runs: Vec<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
    /// The RRF rank constant (>= 0).
    #[arg(long, default_value_t = 60.0)]
    k: f64,
    /// Documents kept per query.
    #[arg(long, default_value_t = 1000)]
    depth: usize,
}

/// Runs `densify fuse`.
pub fn run(args: Args) -> CliResult {
    let config = RrfConfig::new().with_k(args.k).with_depth(args.depth);
    config
        .validate()
        .map_err(|e| format!("--{}: {}", e.field, e.message))?;
    args.output.check(args.runs.iter().map(PathBuf::as_path))?;
    let runs = args
        .runs
        .iter()
        .map(Run::from_file)
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&Run> = runs.iter().collect();
    reciprocal_rank_fusion(&refs, config).write_trec(&args.output.output, "densify-rrf")?;
    Ok(())
}
