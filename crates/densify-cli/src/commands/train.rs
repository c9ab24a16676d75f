//! `densify train`: fine-tune a bi-encoder as a TOML config says.

use std::path::PathBuf;

use densify::core::Config;
use densify_train::{TrainConfig, Trainer};

use crate::args::{CliResult, DeviceArgs};
use crate::progress::bar;

/// Arguments of `densify train`.
#[derive(clap::Args)]
pub struct Args {
    /// The run's configuration (TOML; every field of `--print-config` may be set, unknown fields
    /// are errors).
    #[arg(long, required_unless_present = "print_config")]
    config: Option<PathBuf>,
    /// Print the full resolved configuration (defaults included) and exit.
    #[arg(long)]
    print_config: bool,
    /// Continue from the newest checkpoint in the output folder.
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    device: DeviceArgs,
    /// Data parallel: further devices, comma-separated, that share each step with `--device`
    /// (each takes a shard of the batch; burn all-reduces the gradients). burn 0.22 has the
    /// collective on its CUDA backend only: a `--features cuda` build, `--device cuda:0
    /// --data-parallel cuda:1,cuda:2`.
    #[arg(long, value_delimiter = ',', value_parser = parse_data_parallel_device)]
    data_parallel: Vec<String>,
}

/// A `--data-parallel` device name, its errors naming that flag.
fn parse_data_parallel_device(name: &str) -> Result<String, String> {
    crate::args::parse_device_name(name).map_err(|e| e.replacen("--device", "--data-parallel", 1))
}

/// Runs `densify train`.
pub fn run(args: Args) -> CliResult {
    // `from_file` validates, with the file's line and field in its errors.
    let config = match &args.config {
        Some(path) => TrainConfig::from_file(path)?,
        None => TrainConfig::default(),
    };
    if args.print_config {
        print!("{}", config.to_toml_string());
        return Ok(());
    }
    let device = args.device.device()?;
    let mut trainer = Trainer::new(config.clone(), &device)?.resuming(args.resume);
    if let Some(path) = &args.config {
        // Errors name the file, and the run never writes its config copy over it.
        trainer = trainer.config_file(path);
    }
    if !args.data_parallel.is_empty() {
        let mut devices = vec![device];
        for name in &args.data_parallel {
            devices.push(densify::device::parse(name)?);
        }
        trainer = trainer.data_parallel(&devices)?;
    }
    let mut progress = None;
    let summary = trainer.run(&mut |report| {
        let bar = progress.get_or_insert_with(|| {
            let b = bar(report.last_step, "steps");
            b.set_position((report.step - 1) as u64);
            b
        });
        bar.set_position(report.step as u64);
        bar.set_message(format!("loss {:.4}", report.loss));
    })?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    // The loss only when one is known (a run found complete reads it from metrics.jsonl).
    let loss = if summary.final_loss.is_finite() {
        format!(", final loss {:.4}", summary.final_loss)
    } else {
        String::new()
    };
    let ndcg = summary
        .dev_ndcg
        .map(|n| format!(", dev nDCG@10 {n:.4}"))
        .unwrap_or_default();
    if summary.already_complete {
        eprintln!(
            "train: the run in {} is already complete at step {}{loss}{ndcg}; nothing trained \
             -> {}",
            config.output.display(),
            summary.steps,
            summary.final_model.display(),
        );
        if let Some((ndcg, best)) = &summary.best {
            eprintln!("train: best dev nDCG@10 {ndcg:.4} -> {}", best.display());
        }
        return Ok(());
    }
    eprintln!(
        "train: {} steps{} in {:.1} s{loss} -> {}{ndcg}",
        summary.steps,
        if summary.resumed_from > 0 {
            format!(" (resumed at {})", summary.resumed_from)
        } else {
            String::new()
        },
        summary.train_seconds,
        summary.final_model.display(),
    );
    if let Some((ndcg, best)) = &summary.best {
        eprintln!("train: best dev nDCG@10 {ndcg:.4} -> {}", best.display());
    }
    Ok(())
}
