//! The `listwise_distillation` recipe (paper B, arXiv 2502.19712; `../shared/docs/METHODS.md`,
//! B): synthetic queries filtered by retrievers and a teacher, and a listwise KL loss from the
//! teacher's scores, against InfoNCE on the very same lists (the paper's finding: InfoNCE on
//! synthetic queries often hurts a strong model, listwise distillation helps).
//!
//! ```text
//! generate    synthetic queries for sampled passages (typed LLM queries, or inverse cloze)
//! candidates  BM25 and the base model's exact search, top `candidates.depth` per query
//! filter      round trip (the source passage in every run's top 20), RRF fusion into lists,
//!             the teacher's scores (a cross-encoder, or a bi-encoder) with its first required
//!             to be the source, the percentile cut (drop the bottom quarter, normalise, keep
//!             the best); split into train and dev
//! train       listwise KL + 0.1 x InfoNCE on the teacher's scores (`train`)
//! baseline    InfoNCE on the same lists, the source passage as the positive (`baseline`)
//! evaluate    base, `infonce` and the distilled student (`adapted`) on every split with
//!             qrels, and on noised test queries
//! ```

use std::path::Path;

use burn::tensor::Device;
use densify_core::Progress;

use crate::adapt::{
    RecipeReport, candidates_stage, config_text, evaluate_stage_and_report, filter_stage,
    generate_stage, open_run, train_student,
};
use crate::config::RecipeConfig;
use crate::driver::{Driver, Stage, StageOutcome};
use crate::error::Result;
use crate::evaluate::{Candidate, qrels_splits};

/// Runs listwise distillation as [`crate::run_recipe`] does.
pub(crate) fn run(
    config: &RecipeConfig,
    config_file: &Path,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<RecipeReport> {
    let (dataset, mut driver) = open_run(config, config_file)?;
    let out = &config.output;
    let mut stages = Vec::new();
    stages.push((
        "generate",
        generate_stage(&mut driver, config, &dataset, progress)?,
    ));
    stages.push((
        "candidates",
        candidates_stage(&mut driver, config, device, progress)?,
    ));
    stages.push((
        "filter",
        filter_stage(&mut driver, config, device, progress)?,
    ));
    let train = config.resolved_train();
    stages.push((
        "train",
        training_stage(&mut driver, "train", &train, config, device, progress)?,
    ));
    let mut models = vec![Candidate {
        name: "base".into(),
        folder: config.model.clone(),
        corpus_embeddings: Some(out.join("candidates/base_corpus.embeddings")),
    }];
    if let Some(baseline) = config.resolved_baseline() {
        stages.push((
            "baseline",
            training_stage(&mut driver, "baseline", &baseline, config, device, progress)?,
        ));
        models.push(Candidate {
            name: "infonce".into(),
            folder: best_or_final(&baseline, "baseline", out),
            corpus_embeddings: None,
        });
    }
    let adapted = best_or_final(&train, "train", out);
    models.push(Candidate {
        name: "adapted".into(),
        folder: adapted.clone(),
        corpus_embeddings: None,
    });
    let splits = if config.evaluate.splits.is_empty() {
        qrels_splits(&dataset)?
    } else {
        config.evaluate.splits.clone()
    };
    evaluate_stage_and_report(
        &mut driver,
        config,
        &dataset,
        &models,
        &splits,
        stages,
        adapted,
        device,
        progress,
    )
}

/// The model a training stage hands on: the best dev model when it evaluates on dev, else
/// the final one.
fn best_or_final(train: &densify_train::TrainConfig, name: &str, out: &Path) -> std::path::PathBuf {
    out.join(name).join(if train.eval.is_some() {
        "best"
    } else {
        "final"
    })
}

/// One training stage on the filter stage's lists (and its dev lists when `train.eval` is
/// set), from the base model into the run's `name` folder.
fn training_stage(
    driver: &mut Driver,
    name: &'static str,
    train: &densify_train::TrainConfig,
    config: &RecipeConfig,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<StageOutcome> {
    let filtered = config.output.join("filter");
    let mut inputs = vec![
        ("model".to_owned(), config.model.clone()),
        ("corpus".to_owned(), filtered.join("corpus.jsonl")),
        ("train".to_owned(), filtered.join("train.jsonl")),
    ];
    let (last, best) = match name {
        "train" => (
            "train/final/model.safetensors",
            "train/best/model.safetensors",
        ),
        _ => (
            "baseline/final/model.safetensors",
            "baseline/best/model.safetensors",
        ),
    };
    let mut outputs = vec![last];
    if train.eval.is_some() {
        inputs.push(("dev".to_owned(), filtered.join("dev.jsonl")));
        outputs.push(best);
    }
    driver.run(
        Stage {
            name,
            config: config_text(train),
            inputs,
            outputs,
            resumable: true,
        },
        progress,
        |folder, resume, counts, progress| {
            train_student(train, device, folder, resume, counts, progress)
        },
    )
}
