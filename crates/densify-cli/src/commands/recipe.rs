//! `densify recipe`: a recipe end to end from one TOML file, its manifest and its table.

use std::path::PathBuf;

use densify::core::Config;
use densify_recipe::{Manifest, RecipeConfig, RecipeKind};

use crate::args::{CliResult, DeviceArgs};
use crate::progress::Bars;

/// Arguments of `densify recipe`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: Option<What>,
    /// Print a complete, commented recipe file for this recipe (adapt, noisy_self_training,
    /// listwise_distillation, graded) and exit.
    #[arg(long, value_name = "NAME", value_parser = parse_kind)]
    print_config: Option<RecipeKind>,
}

#[derive(clap::Subcommand)]
enum What {
    /// Run (or resume) the recipe of a TOML file: stages already done with the same settings
    /// and inputs are skipped.
    Run {
        /// The recipe file.
        config: PathBuf,
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Show a run folder's stages: status, wall time, peak memory, counts, and its table.
    Status {
        /// The run folder (the recipe's `output`).
        dir: PathBuf,
    },
}

fn parse_kind(name: &str) -> Result<RecipeKind, String> {
    [
        RecipeKind::Adapt,
        RecipeKind::NoisySelfTraining,
        RecipeKind::ListwiseDistillation,
        RecipeKind::Graded,
    ]
    .into_iter()
    .find(|k| k.name() == name)
    .ok_or_else(|| {
        format!("unknown recipe `{name}`; the recipes are adapt, noisy_self_training, listwise_distillation, graded")
    })
}

/// Runs `densify recipe`.
pub fn run(args: Args) -> CliResult {
    if let Some(kind) = args.print_config {
        print!("{}", RecipeConfig::template(kind));
        return Ok(());
    }
    match args.what {
        Some(What::Run { config, device }) => {
            let recipe = RecipeConfig::from_file(&config)?;
            let device = device.device()?;
            let report =
                densify_recipe::run_recipe(&recipe, &config, &device, &mut Bars::default())?;
            eprintln!(
                "recipe {}: adapted model -> {}",
                recipe.recipe.name(),
                report.model.display()
            );
            print!("{}", report.table);
            Ok(())
        }
        Some(What::Status { dir }) => {
            if !dir.join(densify_recipe::manifest::MANIFEST).is_file() {
                return Err(densify_recipe::RecipeError::NoRun(dir).into());
            }
            let manifest = Manifest::read(&dir)?;
            println!("recipe {} in {}", manifest.recipe, dir.display());
            for line in densify_recipe::driver::status_lines(&manifest) {
                println!("  {line}");
            }
            let results = dir.join("evaluate/results.md");
            if results.is_file() {
                print!("{}", densify::core::read_regular_to_string(&results)?);
            }
            Ok(())
        }
        None => {
            Err("densify recipe: give `run FILE`, `status DIR` or `--print-config NAME`".into())
        }
    }
}
