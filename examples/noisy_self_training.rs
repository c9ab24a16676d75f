//! Paper A's noisy self-training as a library call ([`densify::recipe`]) on a small slice: a
//! teacher fine-tuned on the dataset's labelled train split, inverse-cloze queries for 200
//! passages, the teacher's soft labels over its mined lists (the source passage and 7
//! negatives), a student pre-trained on them with sequential token noise (p = 0.1) and
//! fine-tuned on the labels, then base, labels-only teacher and student on the test split.
//! About 15 minutes on 2 CPU cores on SciFact with all-MiniLM-L6-v2 (encoding the corpus for
//! candidates and evaluation is most of it).
//!
//! Run: `cargo run --release --example noisy_self_training -- MODEL_DIR DATASET OUT_DIR`, with
//! MODEL_DIR a sentence-transformers folder (`bash scripts/fetch_minilm.sh` prints
//! all-MiniLM-L6-v2's) and DATASET a BEIR folder with `qrels/train.tsv` and `qrels/test.tsv`
//! (`../shared/data/scifact`). A re-run with the same arguments finds every stage up to date.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use densify::core::LineProgress;
use densify::recipe::{RecipeConfig, RecipeKind, run_recipe};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, dataset, output] = args.as_slice() else {
        eprintln!("usage: noisy_self_training MODEL_DIR DATASET OUT_DIR");
        std::process::exit(2);
    };
    let mut config = RecipeConfig {
        model: PathBuf::from(model),
        dataset: dataset.clone(),
        output: PathBuf::from(output),
        ..RecipeConfig::defaults(RecipeKind::NoisySelfTraining)
    };
    // The slice: 200 passages' queries; 20 steps of the labelled teacher and of the student's
    // fine-tune, 10 of its noisy pre-training; test split only.
    config.generate.queries.max_passages = Some(200);
    if let Some(supervised) = config.supervised.as_mut() {
        supervised.max_steps = Some(20);
    }
    config.train.batch_size = 8;
    config.train.max_steps = Some(10);
    config.evaluate.splits = vec!["test".into()];
    match run_recipe(
        &config,
        Path::new("<examples/noisy_self_training.rs>"),
        &Device::flex(),
        &mut LineProgress::default(),
    ) {
        Ok(report) => {
            for (stage, outcome) in &report.stages {
                println!("{stage}: {outcome:?}");
            }
            println!("\n{}", report.table);
            println!("student: {}", report.model.display());
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
