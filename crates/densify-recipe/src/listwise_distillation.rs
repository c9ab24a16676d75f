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
    RecipeReport, candidates_stage, evaluate_stage_and_report, filter_stage, generate_stage,
    list_training_stage, open_run,
};
use crate::config::RecipeConfig;
use crate::error::Result;
use crate::evaluate::{Candidate, evaluation_splits};

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
        "generate".into(),
        generate_stage(&mut driver, config, &dataset, progress)?,
    ));
    stages.push((
        "candidates".into(),
        candidates_stage(&mut driver, config, device, progress)?,
    ));
    stages.push((
        "filter".into(),
        filter_stage(&mut driver, config, device, progress)?,
    ));
    let (outcome, adapted) = list_training_stage(
        &mut driver,
        "train",
        &config.resolved_train(),
        device,
        progress,
    )?;
    stages.push(("train".into(), outcome));
    let mut models = vec![Candidate {
        name: "base".into(),
        folder: config.model.clone(),
        corpus_embeddings: Some(out.join("candidates/base_corpus.embeddings")),
    }];
    if let Some(baseline) = config.resolved_baseline() {
        let (outcome, folder) =
            list_training_stage(&mut driver, "baseline", &baseline, device, progress)?;
        stages.push(("baseline".into(), outcome));
        models.push(Candidate {
            name: "infonce".into(),
            folder,
            corpus_embeddings: None,
        });
    }
    models.push(Candidate {
        name: "adapted".into(),
        folder: adapted.clone(),
        corpus_embeddings: None,
    });
    let splits = evaluation_splits(config, &dataset, None)?;
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
