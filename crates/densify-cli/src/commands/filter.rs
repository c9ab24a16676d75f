//! `densify filter`: runs the filter stages of a config over a synthetic BEIR dataset and
//! writes the survivors (training lists, train/dev split, BEIR files).

use std::collections::HashMap;
use std::path::PathBuf;

use densify::core::Config;
use densify_data::Dataset;
use densify_synth::filter::{FilterConfig, FilterContext, load_items, run_stages, write_filtered};

use crate::args::{CliResult, DeviceArgs};
use crate::commands::generate::refuse_dataset_folder;

/// Arguments of `densify filter`.
#[derive(clap::Args)]
pub struct Args {
    /// The synthetic BEIR dataset (what `densify generate queries` wrote).
    #[arg(long, required_unless_present = "print_config")]
    dataset: Option<String>,
    /// Its qrels split naming each query's source passage.
    #[arg(long, default_value = "train")]
    split: String,
    /// The stages (TOML or JSON; `--print-config` shows the defaults).
    #[arg(long, required_unless_present = "print_config")]
    config: Option<PathBuf>,
    /// Print the resolved configuration and exit.
    #[arg(long)]
    print_config: bool,
    /// The output folder.
    #[arg(long, required_unless_present = "print_config")]
    output: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
}

/// Runs `densify filter`.
pub fn run(args: Args) -> CliResult {
    let config = match &args.config {
        Some(path) => FilterConfig::from_file(path)?,
        None => FilterConfig::default(),
    };
    if args.print_config {
        print!("{}", config.to_toml_string());
        return Ok(());
    }
    let (Some(dataset), Some(output)) = (&args.dataset, &args.output) else {
        unreachable!("clap requires --dataset, --config and --output without --print-config")
    };
    let device = args.device.device()?;
    let dataset = Dataset::find(dataset)?;
    refuse_dataset_folder(&dataset, output)?;
    let texts: HashMap<String, String> = dataset.corpus_items()?.into_iter().collect();
    let corpus_path = dataset.corpus_path();
    let items = load_items(&dataset, &args.split, &texts)?;
    let mut progress = crate::progress::Bars::default();
    let mut context = FilterContext {
        texts: &texts,
        corpus_path: &corpus_path,
        device: &device,
        progress: &mut progress,
    };
    eprintln!(
        "filter: {} queries from {}",
        items.len(),
        dataset.root().display()
    );
    let (kept, reports) = run_stages(items, &config.stages, &mut context)?;
    densify::core::Progress::finish(&mut progress);
    for report in &reports {
        eprintln!("  {report}");
    }
    let (train, dev) = write_filtered(&kept, &dataset, &[], &config.split, output)?;
    eprintln!(
        "filter: {} kept ({train} train, {dev} dev) -> {}",
        kept.len(),
        output.display()
    );
    Ok(())
}
