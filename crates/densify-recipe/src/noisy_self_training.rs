//! The `noisy_self_training` recipe (paper A, arXiv 2311.15563; `../shared/docs/METHODS.md`):
//! a teacher fine-tuned on the task's labels gives soft labels over its own hard negatives
//! for synthetic queries, and a student pre-trained on them with token noise, then fine-tuned
//! on the labels, beats the teacher.
//!
//! ```text
//! teacher     fine-tune `model` on the dataset's labelled split (`supervised`: InfoNCE)
//! generate    synthetic queries for sampled passages (an LLM, or inverse cloze without one)
//! candidates  the teacher's exact search of the corpus, top `candidates.depth` per query
//! lists       the source passage + `mine.num_negatives` teacher-mined negatives per query,
//!             the teacher's scores (from its run) the soft labels; a query whose source is
//!             outside the teacher's top `depth` is dropped (the teacher does not find it)
//! pretrain    the student, from `model`: KL(teacher || student) over each list, token noise
//!             on its inputs (`train`)
//! finetune    the pre-trained student on the labels (`supervised` again)
//! evaluate    base, the labels-only teacher (`labels`) and the student (`adapted`) on every
//!             split with qrels except the labelled one, and on noised test queries
//! ```
//!
//! The paper iterates with the student as the next teacher while a dev figure improves; this
//! driver runs one iteration.

use std::path::Path;

use burn::tensor::Device;
use densify_core::Progress;
use densify_data::{Dataset, Run};
use densify_eval::search::{ExactSearchConfig, search_embeddings};
use densify_model::{BiEncoder, Side};
use densify_train::example::{TrainingExample, pairs_from_qrels, write_examples};
use densify_train::mine;

use crate::adapt::{
    RecipeReport, config_text, evaluate_stage_and_report, generate_stage, open_run, train_student,
};
use crate::config::RecipeConfig;
use crate::driver::{Counts, Stage};
use crate::error::{RecipeError, Result};
use crate::evaluate::{Candidate, evaluation_splits};

/// Runs noisy self-training as [`crate::run_recipe`] does.
pub(crate) fn run(
    config: &RecipeConfig,
    config_file: &Path,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<RecipeReport> {
    let (dataset, mut driver) = open_run(config, config_file)?;
    let out = &config.output;
    let mut stages = Vec::new();
    let role = |r: &str| r.to_owned();
    let teacher_model = out.join("teacher/final");
    let synthetic = out.join("generate");

    // 1. The teacher: the base model fine-tuned on the labels.
    let supervised = config.resolved_supervised(&config.model, "teacher");
    let labelled = supervised.split.clone();
    let outcome = driver.run(
        Stage {
            name: "teacher",
            config: config_text(&supervised),
            inputs: vec![
                (role("model"), config.model.clone()),
                (role("corpus"), dataset.corpus_path()),
                (format!("qrels/{labelled}"), dataset.qrels_path(&labelled)),
            ],
            outputs: vec!["teacher/final/model.safetensors"],
            resumable: true,
        },
        progress,
        |folder, resume, counts, progress| {
            train_student(&supervised, device, folder, resume, counts, progress)
        },
    )?;
    stages.push(("teacher", outcome));

    // 2. Synthetic queries, as `adapt` makes them.
    stages.push((
        "generate",
        generate_stage(&mut driver, config, &dataset, progress)?,
    ));

    // 3. The teacher's own candidates.
    let outcome = driver.run(
        Stage {
            name: "candidates",
            config: config_text(&config.candidates),
            inputs: vec![
                (role("corpus"), synthetic.join("corpus.jsonl")),
                (role("queries"), synthetic.join("queries.jsonl")),
                (role("qrels"), synthetic.join("qrels/train.tsv")),
                (role("teacher"), teacher_model.clone()),
            ],
            outputs: vec![
                "candidates/dense.trec",
                "candidates/teacher_corpus.embeddings",
            ],
            resumable: false,
        },
        progress,
        |folder, _, counts, progress| {
            teacher_candidates(
                &synthetic,
                &teacher_model,
                config,
                device,
                folder,
                counts,
                progress,
            )
        },
    )?;
    stages.push(("candidates", outcome));

    // 4. Lists with the teacher's soft labels.
    let mine_config = mined_with_scores(config);
    let outcome = driver.run(
        Stage {
            name: "lists",
            config: config_text(&mine_config),
            inputs: vec![
                (role("queries"), synthetic.join("queries.jsonl")),
                (role("qrels"), synthetic.join("qrels/train.tsv")),
                (role("run"), out.join("candidates/dense.trec")),
            ],
            outputs: vec!["lists/train.jsonl"],
            resumable: false,
        },
        progress,
        |folder, _, counts, progress| {
            mine_lists(
                &synthetic,
                &out.join("candidates/dense.trec"),
                &mine_config,
                folder,
                counts,
                progress,
            )
        },
    )?;
    stages.push(("lists", outcome));

    // 5. The student's noisy pre-training.
    let pretrain = config.resolved_pretrain();
    let outcome = driver.run(
        Stage {
            name: "pretrain",
            config: config_text(&pretrain),
            inputs: vec![
                (role("model"), config.model.clone()),
                (role("corpus"), synthetic.join("corpus.jsonl")),
                (role("lists"), out.join("lists/train.jsonl")),
            ],
            outputs: vec!["pretrain/final/model.safetensors"],
            resumable: true,
        },
        progress,
        |folder, resume, counts, progress| {
            train_student(&pretrain, device, folder, resume, counts, progress)
        },
    )?;
    stages.push(("pretrain", outcome));

    // 6. Its fine-tune on the labels.
    let student = out.join("finetune/final");
    let finetune = config.resolved_supervised(&out.join("pretrain/final"), "finetune");
    let outcome = driver.run(
        Stage {
            name: "finetune",
            config: config_text(&finetune),
            inputs: vec![
                (role("model"), out.join("pretrain/final")),
                (role("corpus"), dataset.corpus_path()),
                (format!("qrels/{labelled}"), dataset.qrels_path(&labelled)),
            ],
            outputs: vec!["finetune/final/model.safetensors"],
            resumable: true,
        },
        progress,
        |folder, resume, counts, progress| {
            train_student(&finetune, device, folder, resume, counts, progress)
        },
    )?;
    stages.push(("finetune", outcome));

    // 7. Base, labels only, and the student, on the splits the labels did not come from.
    let splits = evaluation_splits(config, &dataset, Some(&labelled))?;
    let models = [
        Candidate {
            name: "base".into(),
            folder: config.model.clone(),
            corpus_embeddings: None,
        },
        Candidate {
            name: "labels".into(),
            folder: teacher_model,
            corpus_embeddings: Some(out.join("candidates/teacher_corpus.embeddings")),
        },
        Candidate {
            name: "adapted".into(),
            folder: student.clone(),
            corpus_embeddings: None,
        },
    ];
    evaluate_stage_and_report(
        &mut driver,
        config,
        &dataset,
        &models,
        &splits,
        stages,
        student,
        device,
        progress,
    )
}

/// The `mine` table with `output_scores` on: the teacher's run scores are the soft labels.
fn mined_with_scores(config: &RecipeConfig) -> densify_train::MineConfig {
    let mut mine = config.mine.clone().unwrap_or_default();
    mine.output_scores = true;
    mine
}

/// The teacher's exact search of the corpus for every synthetic query; its corpus embeddings
/// are kept for the evaluation.
fn teacher_candidates(
    synthetic: &Path,
    teacher: &Path,
    config: &RecipeConfig,
    device: &Device,
    folder: &Path,
    counts: &mut Counts,
    progress: &mut dyn Progress,
) -> Result<()> {
    let dataset = Dataset::open(synthetic)?;
    let (queries, _) = dataset.split_queries("train")?;
    let model = BiEncoder::load(teacher, device, |_| {})?;
    let corpus = dataset.corpus_items()?;
    let batch = config.candidates.batch_size;
    let corpus_embeddings = crate::evaluate::encode(
        &model,
        &corpus,
        Side::Passage,
        batch,
        device,
        progress,
        "teacher: corpus",
    )?;
    corpus_embeddings.write(folder.join("teacher_corpus.embeddings"))?;
    let items: Vec<(String, String)> = queries.into_iter().map(|q| (q.id, q.text)).collect();
    let query_embeddings = crate::evaluate::encode(
        &model,
        &items,
        Side::Query,
        batch,
        device,
        progress,
        "teacher: synthetic queries",
    )?;
    let search = ExactSearchConfig::new()
        .with_k(config.candidates.depth)
        .with_similarity(model.settings.similarity);
    let run = search_embeddings(&query_embeddings, &corpus_embeddings, search, device)?;
    run.write_trec(folder.join("dense.trec"), "densify-teacher")?;
    counts.insert("queries".into(), items.len() as f64);
    counts.insert("corpus".into(), corpus.len() as f64);
    Ok(())
}

/// Lists of the source passage and the teacher's hard negatives, every candidate carrying
/// the teacher's score; lists missing one (the source outside the teacher's run) are dropped.
fn mine_lists(
    synthetic: &Path,
    run_path: &Path,
    config: &densify_train::MineConfig,
    folder: &Path,
    counts: &mut Counts,
    progress: &mut dyn Progress,
) -> Result<()> {
    let dataset = Dataset::open(synthetic)?;
    let pairs = pairs_from_qrels(&dataset, "train")?;
    let run = Run::from_file(run_path)?;
    let (mined, report) = mine(&pairs, &run, config);
    let (kept, unscored): (Vec<TrainingExample>, Vec<TrainingExample>) = mined
        .into_iter()
        .partition(|e| e.candidates.iter().all(|c| c.teacher.is_some()));
    counts.insert("pairs".into(), report.pairs as f64);
    counts.insert("incomplete".into(), report.incomplete as f64);
    counts.insert("source_not_found".into(), unscored.len() as f64);
    counts.insert("lists".into(), kept.len() as f64);
    progress.note(&format!(
        "lists: {} of {} synthetic queries kept ({} with fewer than {} negatives, {} whose \
         source passage is outside the teacher's top {})",
        kept.len(),
        report.pairs,
        report.incomplete,
        config.num_negatives,
        unscored.len(),
        config.range_max
    ));
    if kept.is_empty() {
        return Err(RecipeError::Empty {
            stage: "lists",
            message: format!(
                "no synthetic query kept of {}: raise `candidates.depth` and `mine.range_max`, \
                 or lower `mine.num_negatives`",
                report.pairs
            ),
        });
    }
    write_examples(folder.join("train.jsonl"), &kept)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_teachers_scores_are_always_written() {
        let mut config = RecipeConfig::defaults(crate::RecipeKind::NoisySelfTraining);
        config.mine.as_mut().unwrap().output_scores = false;
        assert!(mined_with_scores(&config).output_scores);
        assert_eq!(mined_with_scores(&config).num_negatives, 7);
    }
}
