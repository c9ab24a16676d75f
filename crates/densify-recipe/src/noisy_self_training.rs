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
//! `iterate` repeats candidates -> finetune with the student as the next teacher (the
//! stages of iteration k > 1 are `candidates-k`, `lists-k`, `pretrain-k`, `finetune-k`); with
//! `iterate.dev_split` a `dev-k` stage scores each iteration's student there (`dev-0` the
//! labels-only teacher), the loop stops after the first student no better than its teacher,
//! and the best student is the adapted model.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use densify_core::Progress;
use densify_data::{Dataset, Embeddings, Run};
use densify_eval::search::{ExactSearchConfig, search_embeddings};
use densify_model::{BiEncoder, Side};
use densify_train::example::{TrainingExample, pairs_from_qrels, write_examples};
use densify_train::mine;

use crate::adapt::{
    RecipeReport, config_text, evaluate_stage_and_report, generate_stage, open_run_checked,
    train_student,
};
use crate::config::{EvaluateConfig, RecipeConfig};
use crate::driver::{Counts, Driver, Stage, StageOutcome};
use crate::error::{RecipeError, Result};
use crate::evaluate::{Candidate, evaluate_models, evaluation_splits, qrels_splits};

/// The stage (and folder) names of iteration `k` (1-based): the first iteration's are the
/// one-iteration recipe's (`candidates`, ...), later ones carry `-k`.
struct IterationStages {
    candidates: String,
    lists: String,
    pretrain: String,
    finetune: String,
    dev: String,
}

impl IterationStages {
    fn new(k: usize) -> Self {
        let name = |stage: &str| {
            if k == 1 {
                stage.to_owned()
            } else {
                format!("{stage}-{k}")
            }
        };
        Self {
            candidates: name("candidates"),
            lists: name("lists"),
            pretrain: name("pretrain"),
            finetune: name("finetune"),
            dev: format!("dev-{k}"),
        }
    }
}

/// One iteration's student: its folder, its dev figure and the corpus embeddings its dev
/// stage made (reused as the next teacher's and in the evaluation).
struct Student {
    iteration: usize,
    folder: PathBuf,
    dev_ndcg: Option<f64>,
    corpus_embeddings: Option<PathBuf>,
}

/// Runs noisy self-training as [`crate::run_recipe`] does.
pub(crate) fn run(
    config: &RecipeConfig,
    config_file: &Path,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<RecipeReport> {
    let iterate = config.iterate.clone().unwrap_or_default();
    let (dataset, mut driver) = open_run_checked(config, config_file, |dataset| {
        check_dev_split(dataset, iterate.dev_split.as_deref(), config_file)
    })?;
    let out = &config.output;
    let mut stages = Vec::new();
    let role = |r: &str| r.to_owned();
    let labels_model = out.join("teacher/final");

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
    stages.push(("teacher".into(), outcome));

    // 2. Synthetic queries, as `adapt` makes them; the same for every iteration.
    stages.push((
        "generate".into(),
        generate_stage(&mut driver, config, &dataset, progress)?,
    ));

    // 3-6 per iteration: candidates, lists, pretrain, finetune (and the student's dev figure).
    let mut teacher = labels_model.clone();
    let mut teacher_corpus: Option<PathBuf> = None;
    let mut teacher_dev: Option<f64> = None;
    let mut students: Vec<Student> = Vec::new();
    for k in 1..=iterate.max_iterations {
        let names = IterationStages::new(k);
        let student = run_iteration(
            &mut driver,
            config,
            &dataset,
            &names,
            &teacher,
            teacher_corpus.as_deref(),
            device,
            &mut stages,
            progress,
        )?;
        let mut student = Student {
            iteration: k,
            folder: student,
            dev_ndcg: None,
            corpus_embeddings: None,
        };
        if let Some(dev) = &iterate.dev_split {
            if k == 1 {
                let (outcome, ndcg, _) = dev_stage(
                    &mut driver,
                    config,
                    &dataset,
                    "dev-0",
                    &labels_model,
                    Some(&out.join("candidates/teacher_corpus.embeddings")),
                    dev,
                    device,
                    progress,
                )?;
                stages.push(("dev-0".into(), outcome));
                teacher_dev = Some(ndcg);
            }
            let (outcome, ndcg, embeddings) = dev_stage(
                &mut driver,
                config,
                &dataset,
                &names.dev,
                &student.folder,
                None,
                dev,
                device,
                progress,
            )?;
            stages.push((names.dev.clone(), outcome));
            student.dev_ndcg = Some(ndcg);
            student.corpus_embeddings = Some(embeddings);
            let before = students
                .last()
                .and_then(|s| s.dev_ndcg)
                .or(teacher_dev)
                .unwrap_or(f64::NEG_INFINITY);
            progress.note(&format!(
                "iteration {k}: the student's {dev} nDCG@10 {ndcg:.4}, its teacher's {before:.4}"
            ));
            let improved = ndcg > before;
            teacher_corpus.clone_from(&student.corpus_embeddings);
            teacher.clone_from(&student.folder);
            students.push(student);
            if !improved {
                if k < iterate.max_iterations {
                    progress.note(&format!(
                        "iteration {k}: no better than its teacher on {dev}: no further iteration"
                    ));
                }
                break;
            }
        } else {
            teacher.clone_from(&student.folder);
            students.push(student);
        }
    }
    let kept = kept_student(&students);
    if let (Some(dev), Some(teacher_dev)) = (&iterate.dev_split, teacher_dev)
        && students[kept].dev_ndcg.is_some_and(|s| s <= teacher_dev)
    {
        progress.note(&format!(
            "no student is above the labels-only teacher on {dev} ({teacher_dev:.4}): \
             the teacher's soft labels do not help here"
        ));
    }

    // 7. Base, labels only, and the students on the splits the labels did not come from; the
    // kept student is `adapted`, any other `iteration-k`.
    let splits = evaluation_splits(config, &dataset, Some(&labelled))?;
    let mut models = vec![
        Candidate {
            name: "base".into(),
            folder: config.model.clone(),
            corpus_embeddings: None,
        },
        Candidate {
            name: "labels".into(),
            folder: labels_model,
            corpus_embeddings: Some(out.join("candidates/teacher_corpus.embeddings")),
        },
    ];
    for (i, s) in students.iter().enumerate() {
        models.push(Candidate {
            name: if i == kept {
                "adapted".into()
            } else {
                format!("iteration-{}", s.iteration)
            },
            folder: s.folder.clone(),
            corpus_embeddings: s.corpus_embeddings.clone(),
        });
    }
    evaluate_stage_and_report(
        &mut driver,
        config,
        &dataset,
        &models,
        &splits,
        stages,
        students[kept].folder.clone(),
        device,
        progress,
    )
}

/// The student kept: the best on the dev split (the first of equals), else the last.
fn kept_student(students: &[Student]) -> usize {
    let mut kept = students.len() - 1;
    if students.iter().all(|s| s.dev_ndcg.is_some()) {
        for (i, s) in students.iter().enumerate() {
            if s.dev_ndcg > students[kept].dev_ndcg
                || (s.dev_ndcg == students[kept].dev_ndcg && i < kept)
            {
                kept = i;
            }
        }
    }
    kept
}

/// `iterate.dev_split` must be a split of the dataset with qrels: checked before any work.
fn check_dev_split(dataset: &Dataset, dev: Option<&str>, config_file: &Path) -> Result<()> {
    let Some(dev) = dev else { return Ok(()) };
    let splits = qrels_splits(dataset)?;
    if splits.iter().any(|s| s == dev) {
        return Ok(());
    }
    Err(RecipeError::NoSuchSplit {
        config: config_file.to_path_buf(),
        field: "iterate.dev_split",
        split: dev.to_owned(),
        dataset: dataset.root().to_path_buf(),
        splits: splits.join(", "),
    })
}

/// One iteration's candidates, lists, pretrain and finetune stages with `teacher` (whose
/// corpus embeddings, when an earlier stage made them, are `teacher_corpus`); returns the
/// fine-tuned student's folder.
#[allow(clippy::too_many_arguments)]
fn run_iteration(
    driver: &mut Driver,
    config: &RecipeConfig,
    dataset: &Dataset,
    names: &IterationStages,
    teacher: &Path,
    teacher_corpus: Option<&Path>,
    device: &Device,
    stages: &mut Vec<(String, StageOutcome)>,
    progress: &mut dyn Progress,
) -> Result<PathBuf> {
    let out = &config.output;
    let role = |r: &str| r.to_owned();
    let synthetic = out.join("generate");
    let labelled = config.resolved_supervised(&config.model, "teacher").split;

    // The teacher's own candidates.
    let run_output = format!("{}/dense.trec", names.candidates);
    let embeddings_output = format!("{}/teacher_corpus.embeddings", names.candidates);
    let mut inputs = vec![
        (role("corpus"), synthetic.join("corpus.jsonl")),
        (role("queries"), synthetic.join("queries.jsonl")),
        (role("qrels"), synthetic.join("qrels/train.tsv")),
        (role("teacher"), teacher.to_path_buf()),
    ];
    if let Some(cached) = teacher_corpus {
        inputs.push((role("teacher_corpus"), cached.to_path_buf()));
    }
    let outcome = driver.run(
        Stage {
            name: &names.candidates,
            config: config_text(&config.candidates),
            inputs,
            outputs: vec![run_output.as_str(), embeddings_output.as_str()],
            resumable: false,
        },
        progress,
        |folder, _, counts, progress| {
            teacher_candidates(
                &synthetic,
                teacher,
                teacher_corpus,
                config,
                device,
                folder,
                counts,
                progress,
            )
        },
    )?;
    stages.push((names.candidates.clone(), outcome));

    // Lists with the teacher's soft labels.
    let mine_config = mined_with_scores(config);
    let run_path = out.join(&run_output);
    let lists_output = format!("{}/train.jsonl", names.lists);
    let outcome = driver.run(
        Stage {
            name: &names.lists,
            config: config_text(&mine_config),
            inputs: vec![
                (role("queries"), synthetic.join("queries.jsonl")),
                (role("qrels"), synthetic.join("qrels/train.tsv")),
                (role("run"), run_path.clone()),
            ],
            outputs: vec![lists_output.as_str()],
            resumable: false,
        },
        progress,
        |folder, _, counts, progress| {
            mine_lists(
                &synthetic,
                &run_path,
                &mine_config,
                folder,
                counts,
                progress,
            )
        },
    )?;
    stages.push((names.lists.clone(), outcome));

    // The student's noisy pre-training, from the base model each iteration.
    let pretrain = config.resolved_pretrain_in(&names.pretrain, &names.lists);
    let pretrain_output = format!("{}/final/model.safetensors", names.pretrain);
    let outcome = driver.run(
        Stage {
            name: &names.pretrain,
            config: config_text(&pretrain),
            inputs: vec![
                (role("model"), config.model.clone()),
                (role("corpus"), synthetic.join("corpus.jsonl")),
                (role("lists"), out.join(&lists_output)),
            ],
            outputs: vec![pretrain_output.as_str()],
            resumable: true,
        },
        progress,
        |folder, resume, counts, progress| {
            train_student(&pretrain, device, folder, resume, counts, progress)
        },
    )?;
    stages.push((names.pretrain.clone(), outcome));

    // Its fine-tune on the labels.
    let pretrained = out.join(&names.pretrain).join("final");
    let finetune = config.resolved_supervised(&pretrained, &names.finetune);
    let finetune_output = format!("{}/final/model.safetensors", names.finetune);
    let outcome = driver.run(
        Stage {
            name: &names.finetune,
            config: config_text(&finetune),
            inputs: vec![
                (role("model"), pretrained.clone()),
                (role("corpus"), dataset.corpus_path()),
                (format!("qrels/{labelled}"), dataset.qrels_path(&labelled)),
            ],
            outputs: vec![finetune_output.as_str()],
            resumable: true,
        },
        progress,
        |folder, resume, counts, progress| {
            train_student(&finetune, device, folder, resume, counts, progress)
        },
    )?;
    stages.push((names.finetune.clone(), outcome));
    Ok(out.join(&names.finetune).join("final"))
}

/// A `dev-k` stage: `model`'s nDCG@10 on the dev split, its corpus embeddings kept
/// (`corpus.embeddings`, or read from `cached` when an earlier stage made them with this
/// model). Returns the outcome, the figure and the embeddings' path.
#[allow(clippy::too_many_arguments)]
fn dev_stage(
    driver: &mut Driver,
    config: &RecipeConfig,
    dataset: &Dataset,
    name: &str,
    model: &Path,
    cached: Option<&Path>,
    dev: &str,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<(StageOutcome, f64, PathBuf)> {
    let evaluate = EvaluateConfig {
        splits: vec![dev.to_owned()],
        noise_p: 0.0,
        ..config.evaluate.clone()
    };
    let results = format!("{name}/results.json");
    let own_embeddings = format!("{name}/corpus.embeddings");
    let mut inputs = vec![
        ("model".to_owned(), model.to_path_buf()),
        ("corpus".to_owned(), dataset.corpus_path()),
        (format!("qrels/{dev}"), dataset.qrels_path(dev)),
    ];
    if let Some(cached) = cached {
        inputs.push(("model_corpus".to_owned(), cached.to_path_buf()));
    }
    let mut outputs = vec![results.as_str()];
    if cached.is_none() {
        outputs.push(own_embeddings.as_str());
    }
    let outcome = driver.run(
        Stage {
            name,
            config: config_text(&(&evaluate, dev)),
            inputs,
            outputs,
            resumable: false,
        },
        progress,
        |folder, _, counts, progress| {
            let embeddings = match cached {
                Some(path) => path.to_path_buf(),
                None => {
                    let path = folder.join("corpus.embeddings");
                    let encoder = BiEncoder::load(model, device, |_| {})?;
                    let corpus = dataset.corpus_items()?;
                    crate::evaluate::encode(
                        &encoder,
                        &corpus,
                        Side::Passage,
                        evaluate.batch_size,
                        device,
                        progress,
                        &format!("{name}: corpus"),
                    )?
                    .write(&path)?;
                    path
                }
            };
            let candidate = Candidate {
                name: name.to_owned(),
                folder: model.to_path_buf(),
                corpus_embeddings: Some(embeddings),
            };
            let rows = evaluate_models(
                dataset,
                &[candidate],
                &evaluate.splits,
                &evaluate,
                device,
                progress,
            )?;
            for r in &rows {
                counts.insert(format!("{}_ndcg10", r.split), r.ndcg_at_10);
            }
            let json = serde_json::to_string_pretty(&rows).expect("rows serialise") + "\n";
            crate::adapt::write(&folder.join("results.json"), json.as_bytes())
        },
    )?;
    let rows = crate::evaluate::read_results(&config.output.join(&results))?;
    let ndcg = rows.first().map_or(0.0, |r| r.ndcg_at_10);
    let embeddings = match cached {
        Some(path) => path.to_path_buf(),
        None => config.output.join(&own_embeddings),
    };
    Ok((outcome, ndcg, embeddings))
}

/// The `mine` table with `output_scores` on: the teacher's run scores are the soft labels.
fn mined_with_scores(config: &RecipeConfig) -> densify_train::MineConfig {
    let mut mine = config.mine.clone().unwrap_or_default();
    mine.output_scores = true;
    mine
}

/// The teacher's exact search of the corpus for every synthetic query; its corpus embeddings
/// are kept for the evaluation.
#[allow(clippy::too_many_arguments)]
fn teacher_candidates(
    synthetic: &Path,
    teacher: &Path,
    cached: Option<&Path>,
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
    // The synthetic corpus is the dataset's, in its order (the generate stage exports it
    // whole), so a dev stage's embeddings of the real corpus by this model serve as they are;
    // they are used only when their ids are the corpus's, in order.
    let reused = cached.map(Embeddings::read).transpose()?.filter(|e| {
        e.len() == corpus.len() && e.ids().iter().zip(&corpus).all(|(a, (b, _))| a == b)
    });
    let corpus_embeddings = match reused {
        Some(e) => e,
        None => crate::evaluate::encode(
            &model,
            &corpus,
            Side::Passage,
            batch,
            device,
            progress,
            "teacher: corpus",
        )?,
    };
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
