//! SyCL's graded documents and Wasserstein loss as a library call ([`densify::recipe`]) on a
//! small slice: a llama.cpp server the recipe starts and stops writes documents at levels 3,
//! 2, 1 and 0 for 20 labelled queries; the student learns the levels' order with the
//! Wasserstein list loss, beside the binary InfoNCE baseline (positive = level >= 2) and the
//! synthetic + real mix; then the four models on the dataset's test split. About 5 minutes
//! on 2 CPU cores with SmolLM2-135M-Instruct.
//!
//! Run: `eval "$(bash scripts/fetch_llama_server.sh)"`, then `cargo run --release --example
//! graded_wasserstein -- MODEL_DIR DATASET OUT_DIR`, with DATASET a BEIR folder with
//! `qrels/train.tsv` and `qrels/test.tsv` (`../shared/data/scifact`); the server and GGUF
//! come from `DENSIFY_LLAMA_SERVER` and `DENSIFY_LLAMA_MODEL`.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use densify::core::LineProgress;
use densify::recipe::{RecipeConfig, RecipeKind, run_recipe};
use densify::synth::LocalServerConfig;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, dataset, output] = args.as_slice() else {
        eprintln!("usage: graded_wasserstein MODEL_DIR DATASET OUT_DIR");
        std::process::exit(2);
    };
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                eprintln!(
                    "{name} is not set: run `eval \"$(bash scripts/fetch_llama_server.sh)\"`"
                );
                std::process::exit(2);
            })
    };
    let mut config = RecipeConfig {
        model: PathBuf::from(model),
        dataset: dataset.clone(),
        output: PathBuf::from(output),
        server: Some(LocalServerConfig {
            binary: var("DENSIFY_LLAMA_SERVER"),
            model: var("DENSIFY_LLAMA_MODEL"),
            ..LocalServerConfig::default()
        }),
        ..RecipeConfig::defaults(RecipeKind::Graded)
    };
    // The slice: 20 queries, 5 steps of batch 4 for each student, test split only.
    config.generate.documents.max_queries = Some(20);
    config.train.batch_size = 4;
    config.train.max_steps = Some(5);
    if let Some(baseline) = config.baseline.as_mut() {
        baseline.batch_size = 4;
        baseline.max_steps = Some(5);
    }
    config.evaluate.splits = vec!["test".into()];
    match run_recipe(
        &config,
        Path::new("<examples/graded_wasserstein.rs>"),
        &Device::flex(),
        &mut LineProgress::default(),
    ) {
        Ok(report) => {
            println!("{}", report.table);
            println!("Wasserstein student: {}", report.model.display());
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
