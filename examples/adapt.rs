//! Label-free adaptation as a library call: the `adapt` recipe ([`densify::recipe`]) built in
//! code on a small slice, with the before/after table printed at the end.
//!
//! Inverse-cloze queries for 200 passages of a BEIR corpus (no LLM, no label), BM25 and the
//! base model's candidates, the hybrid teacher, and 10 steps of listwise distillation with
//! token noise; then the base and adapted models on the dataset's test split. On NQ-UTD (800
//! passages) it takes a few minutes on 2 CPU cores. A re-run with the same arguments finds
//! every stage up to date in the run folder's manifest and only prints the table.
//!
//! Run: `cargo run --release --example adapt -- MODEL_DIR DATASET OUT_DIR`, with MODEL_DIR a
//! sentence-transformers folder (`bash scripts/fetch_minilm.sh` prints all-MiniLM-L6-v2's) and
//! DATASET a BEIR folder with `qrels/test.tsv` (`../shared/data/nq-utd`).

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use densify::core::LineProgress;
use densify::recipe::{RecipeConfig, run_recipe};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, dataset, output] = args.as_slice() else {
        eprintln!("usage: adapt MODEL_DIR DATASET OUT_DIR");
        std::process::exit(2);
    };
    let mut config = RecipeConfig {
        model: PathBuf::from(model),
        dataset: dataset.clone(),
        output: PathBuf::from(output),
        ..RecipeConfig::default()
    };
    // The slice: 200 passages' queries, 10 steps of batch 8, test split only.
    config.generate.queries.max_passages = Some(200);
    config.train.batch_size = 8;
    config.train.max_steps = Some(10);
    config.evaluate.splits = vec!["test".into()];
    let device = Device::flex();
    let mut progress = LineProgress::default();
    match run_recipe(
        &config,
        Path::new("<examples/adapt.rs>"),
        &device,
        &mut progress,
    ) {
        Ok(report) => {
            for (stage, outcome) in &report.stages {
                println!("{stage}: {outcome:?}");
            }
            println!("\n{}", report.table);
            println!("adapted model: {}", report.model.display());
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
