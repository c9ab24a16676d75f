//! The `adapt` recipe: a retriever adapted to a corpus with no labels at all.
//!
//! ```text
//! generate    synthetic queries for sampled passages (an LLM, or inverse cloze without one;
//!             with a `[server]` table, a llama.cpp server started and stopped for the stage)
//! candidates  BM25 and the base model's exact search over the corpus, top `depth` per query
//! filter      the filter stages (RRF fusion of both runs into lists, the source passage as
//!             positive; round trip or cuts when configured), split into train and dev
//! teacher     the hybrid teacher's scores on every list (BM25 and the base model, normalised
//!             per list and mixed), with its ceiling check on the dev lists
//! train       listwise distillation with token noise from the base model
//! evaluate    base and adapted model on every split with qrels, and on noised test queries
//! ```
//!
//! The dev split is synthetic (no label is used anywhere); the evaluation's qrels only score.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use densify_core::{Config, Progress};
use densify_data::Dataset;
use densify_eval::bm25::Bm25Index;
use densify_eval::search::{ExactSearchConfig, search_embeddings};
use densify_eval::{Measure, Qrels, Run, ScoredDoc, evaluate};
use densify_model::{BiEncoder, Side};
use densify_synth::filter::{FilterContext, FilterStage, load_items, run_stages, write_filtered};
use densify_synth::{FewShotSource, GeneratorKind, LocalServer};
use densify_train::example::{read_examples, write_examples};
use densify_train::hybrid::{HybridTeacher, combine};
use densify_train::{Trainer, TrainingExample};
use serde::Serialize;

use crate::config::{RecipeConfig, RecipeKind, UnlabelledQueriesConfig};
use crate::driver::{Counts, Driver, Stage, StageOutcome};
use crate::error::{RecipeError, Result};
use crate::evaluate::{Candidate, ResultRow, evaluation_splits, markdown_table};

/// What a run of a recipe gives.
#[derive(Debug, Clone)]
pub struct RecipeReport {
    /// Each stage and how it ended in this invocation.
    pub stages: Vec<(String, StageOutcome)>,
    /// The before/after table's rows.
    pub results: Vec<ResultRow>,
    /// The table as Markdown (also in `evaluate/results.md`).
    pub table: String,
    /// The adapted model's folder.
    pub model: PathBuf,
}

impl RecipeReport {
    /// Each stage's name and outcome, borrowed (to compare with a list of names).
    pub fn outcomes(&self) -> Vec<(&str, StageOutcome)> {
        self.stages.iter().map(|(n, o)| (n.as_str(), *o)).collect()
    }
}

/// A stage configuration as the manifest hashes it: every resolved value, so a default that
/// changes between versions changes the hash.
pub(crate) fn config_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("a configuration serialises")
}

/// Runs the recipe of `config` (read from `config_file`, for messages) on `device`, skipping
/// the stages the run folder's manifest shows up to date.
pub fn run_recipe(
    config: &RecipeConfig,
    config_file: &Path,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<RecipeReport> {
    match config.recipe {
        RecipeKind::Adapt => {}
        RecipeKind::NoisySelfTraining => {
            return crate::noisy_self_training::run(config, config_file, device, progress);
        }
        RecipeKind::ListwiseDistillation => {
            return crate::listwise_distillation::run(config, config_file, device, progress);
        }
        RecipeKind::Graded => {
            return crate::graded::run(config, config_file, device, progress);
        }
    }
    let (dataset, mut driver) = open_run(config, config_file)?;
    let out = &config.output;
    let mut stages = Vec::new();
    let candidates = out.join("candidates");
    let filtered = out.join("filter");

    let role = |r: &str| r.to_owned();

    // 1. Synthetic queries.
    stages.push((
        "generate".into(),
        generate_stage(&mut driver, config, &dataset, progress)?,
    ));

    // 2. BM25 and dense candidates.
    stages.push((
        "candidates".into(),
        candidates_stage(&mut driver, config, device, progress)?,
    ));

    // 3. Filter stages into lists, split into train and dev.
    stages.push((
        "filter".into(),
        filter_stage(&mut driver, config, device, progress)?,
    ));

    // 4. The hybrid teacher, and its ceiling check on the dev lists.
    let outcome = driver.run(
        Stage {
            name: "teacher",
            config: config_text(&config.teacher.clone().unwrap_or_default()),
            inputs: vec![
                (role("corpus"), filtered.join("corpus.jsonl")),
                (role("masked"), filtered.join("masked.tsv")),
                (role("train"), filtered.join("train.jsonl")),
                (role("dev"), filtered.join("dev.jsonl")),
                (role("model"), config.model.clone()),
                (
                    role("base_corpus"),
                    candidates.join("base_corpus.embeddings"),
                ),
            ],
            outputs: vec!["teacher/train.jsonl", "teacher/dev.jsonl"],
            resumable: false,
        },
        progress,
        |folder, _, counts, progress| {
            score_lists(&filtered, config, device, folder, counts, progress)
        },
    )?;
    stages.push(("teacher".into(), outcome));

    // 5. The student.
    let (outcome, adapted) = list_training_stage(
        &mut driver,
        "train",
        &config.resolved_train(),
        device,
        progress,
    )?;
    stages.push(("train".into(), outcome));

    // 6. Before and after.
    let splits = evaluation_splits(config, &dataset, None)?;
    let models = vec![
        Candidate {
            name: "base".into(),
            folder: config.model.clone(),
            corpus_embeddings: Some(candidates.join("base_corpus.embeddings")),
        },
        Candidate {
            name: "adapted".into(),
            folder: adapted.clone(),
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
        adapted,
        device,
        progress,
    )
}

/// A student trained on lists, as `adapt` and `listwise_distillation` run it: the stage's
/// inputs are the resolved `train`'s own (its model, its dataset's corpus, its lists and, with a
/// dev evaluation, its dev lists). Returns how the stage ended and the model it hands on: the
/// best dev model when it evaluates on dev, else the final one.
pub(crate) fn list_training_stage(
    driver: &mut Driver,
    name: &'static str,
    train: &densify_train::TrainConfig,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<(StageOutcome, PathBuf)> {
    let mut inputs = vec![
        ("model".to_owned(), train.model.clone()),
        (
            "corpus".to_owned(),
            Path::new(&train.dataset).join("corpus.jsonl"),
        ),
    ];
    inputs.extend(train.examples.clone().map(|e| ("train".to_owned(), e)));
    let last = format!("{name}/final/model.safetensors");
    let best = format!("{name}/best/model.safetensors");
    let mut outputs = vec![last.as_str()];
    if let Some(eval) = &train.eval {
        inputs.extend(eval.examples.clone().map(|e| ("dev".to_owned(), e)));
        outputs.push(best.as_str());
    }
    let outcome = driver.run(
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
    )?;
    let handed_on = if train.eval.is_some() {
        "best"
    } else {
        "final"
    };
    Ok((outcome, train.output.join(handed_on)))
}

/// Checks `config` (errors name `config_file`), finds its dataset, refuses a run folder that
/// holds what the run reads, and opens the run folder's manifest: what every recipe does
/// before its first stage.
pub(crate) fn open_run(config: &RecipeConfig, config_file: &Path) -> Result<(Dataset, Driver)> {
    open_run_checked(config, config_file, |_| Ok(()))
}

/// [`open_run`] with a recipe's own check of the dataset, run after the configuration's and
/// before anything is written.
pub(crate) fn open_run_checked(
    config: &RecipeConfig,
    config_file: &Path,
    check: impl FnOnce(&Dataset) -> Result<()>,
) -> Result<(Dataset, Driver)> {
    config
        .validate()
        .map_err(|invalid| densify_core::ConfigError::Invalid {
            path: config_file.to_path_buf(),
            line: None,
            invalid,
        })?;
    let dataset = Dataset::find(&config.dataset)?;
    check(&dataset)?;
    let out = &config.output;
    densify_core::refuse_folder_holding_inputs(
        out,
        [config.model.as_path(), dataset.root(), config_file],
    )
    .map_err(|e| RecipeError::io(out, e))?;
    let driver = Driver::open(out, config.recipe.name())?;
    Ok((dataset, driver))
}

/// The `candidates` stage of `adapt` and `listwise_distillation`: BM25 and the base model's
/// exact search for the synthetic queries, and the base model's corpus embeddings.
pub(crate) fn candidates_stage(
    driver: &mut Driver,
    config: &RecipeConfig,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<StageOutcome> {
    let synthetic = config.output.join("generate");
    let role = |r: &str| r.to_owned();
    driver.run(
        Stage {
            name: "candidates",
            config: config_text(&config.candidates),
            inputs: vec![
                (role("corpus"), synthetic.join("corpus.jsonl")),
                (role("queries"), synthetic.join("queries.jsonl")),
                (role("qrels"), synthetic.join("qrels/train.tsv")),
                (role("model"), config.model.clone()),
            ],
            outputs: vec![
                "candidates/bm25.trec",
                "candidates/dense.trec",
                "candidates/base_corpus.embeddings",
            ],
            resumable: false,
        },
        progress,
        |folder, _, counts, progress| {
            retrieve_candidates(&synthetic, config, device, folder, counts, progress)
        },
    )
}

/// The `filter` stage of `adapt` and `listwise_distillation`: the filter stages over the
/// synthetic queries into lists, split into train and dev. Every run a stage reads (the
/// candidates' or the user's own) and every teacher model is an input.
pub(crate) fn filter_stage(
    driver: &mut Driver,
    config: &RecipeConfig,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<StageOutcome> {
    let synthetic = config.output.join("generate");
    let role = |r: &str| r.to_owned();
    let filter = config.resolved_filter();
    let mut inputs = vec![
        (role("corpus"), synthetic.join("corpus.jsonl")),
        (role("queries"), synthetic.join("queries.jsonl")),
        (role("qrels"), synthetic.join("qrels/train.tsv")),
    ];
    for (i, stage) in filter.stages.iter().enumerate() {
        let runs: &[PathBuf] = match stage {
            FilterStage::Fuse(f) => &f.runs,
            FilterStage::RoundTrip(r) => &r.runs,
            _ => &[],
        };
        for (j, run) in runs.iter().enumerate() {
            inputs.push((format!("stages[{i}].runs[{j}]"), run.clone()));
        }
        if let FilterStage::Teacher(t) = stage {
            inputs.push((format!("stages[{i}].model"), t.model.clone()));
        }
    }
    let mask = removes_queries_from_sources(config);
    driver.run(
        Stage {
            name: "filter",
            config: config_text(&(&filter, mask)),
            inputs,
            outputs: vec![
                "filter/corpus.jsonl",
                "filter/train.jsonl",
                "filter/dev.jsonl",
                "filter/queries.jsonl",
                "filter/masked.tsv",
            ],
            resumable: false,
        },
        progress,
        |folder, _, counts, progress| {
            filter_lists(&synthetic, &filter, mask, device, folder, counts, progress)
        },
    )
}

/// The `generate` stage every recipe runs: synthetic queries for the dataset's passages into
/// `generate/`.
pub(crate) fn generate_stage(
    driver: &mut Driver,
    config: &RecipeConfig,
    dataset: &Dataset,
    progress: &mut dyn Progress,
) -> Result<StageOutcome> {
    if let Some(queries) = &config.queries {
        return unlabelled_queries_stage(driver, config, queries, dataset, progress);
    }
    driver.run(
        Stage {
            name: "generate",
            config: generate_config_text(config),
            inputs: [("corpus".to_owned(), dataset.corpus_path())]
                .into_iter()
                .chain(server_inputs(config))
                .chain(few_shot_inputs(config, dataset)?)
                .collect(),
            outputs: vec![
                "generate/corpus.jsonl",
                "generate/queries.jsonl",
                "generate/qrels/train.tsv",
            ],
            resumable: true,
        },
        progress,
        |folder, _, counts, progress| generate(dataset, config, folder, counts, progress),
    )
}

/// `adapt`'s generate stage with `[queries]`: the given queries with BM25's first document as
/// their provisional source ([`crate::unlabelled_queries`]).
fn unlabelled_queries_stage(
    driver: &mut Driver,
    config: &RecipeConfig,
    queries: &UnlabelledQueriesConfig,
    dataset: &Dataset,
    progress: &mut dyn Progress,
) -> Result<StageOutcome> {
    let mut inputs = vec![("corpus".to_owned(), dataset.corpus_path())];
    match (&queries.file, &queries.split) {
        (Some(file), _) => inputs.push(("queries".to_owned(), file.clone())),
        (None, Some(split)) => {
            inputs.push(("queries".to_owned(), dataset.queries_path()));
            inputs.push((format!("qrels/{split}"), dataset.qrels_path(split)));
        }
        (None, None) => {}
    }
    driver.run(
        Stage {
            name: "generate",
            config: config_text(&(queries, &config.candidates.bm25)),
            inputs,
            outputs: vec![
                "generate/corpus.jsonl",
                "generate/queries.jsonl",
                "generate/qrels/train.tsv",
            ],
            resumable: false,
        },
        progress,
        |folder, _, counts, progress| {
            progress
                .note("generate: unlabelled queries, BM25's first document as provisional source");
            crate::unlabelled_queries::write_queries_dataset(
                dataset,
                queries,
                config.candidates.bm25,
                folder,
                counts,
            )
        },
    )
}

/// The `evaluate` stage every recipe ends with (`models` on `splits`; each model folder an
/// input, the first, `base`, as `model`, and each cached corpus embedding as
/// `{name}_corpus`), then the run's report with `stages` and the `adapted` model.
#[allow(clippy::too_many_arguments)]
pub(crate) fn evaluate_stage_and_report(
    driver: &mut Driver,
    config: &RecipeConfig,
    dataset: &Dataset,
    models: &[Candidate],
    splits: &[String],
    mut stages: Vec<(String, StageOutcome)>,
    adapted: PathBuf,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<RecipeReport> {
    let mut inputs = Vec::new();
    for (i, m) in models.iter().enumerate() {
        let role = if i == 0 {
            "model".to_owned()
        } else {
            m.name.clone()
        };
        inputs.push((role, m.folder.clone()));
    }
    inputs.push(("corpus".to_owned(), dataset.corpus_path()));
    for m in models {
        if let Some(embeddings) = &m.corpus_embeddings {
            inputs.push((format!("{}_corpus", m.name), embeddings.clone()));
        }
    }
    for split in splits {
        inputs.push((format!("qrels/{split}"), dataset.qrels_path(split)));
    }
    let outcome = driver.run(
        Stage {
            name: "evaluate",
            config: config_text(&(&config.evaluate, splits)),
            inputs,
            outputs: vec!["evaluate/results.json", "evaluate/results.md"],
            resumable: false,
        },
        progress,
        |folder, _, counts, progress| {
            crate::evaluate::evaluate_stage(
                dataset,
                models,
                splits,
                &config.evaluate,
                device,
                folder,
                counts,
                progress,
            )
        },
    )?;
    stages.push(("evaluate".into(), outcome));
    let results = crate::evaluate::read_results(&config.output.join("evaluate/results.json"))?;
    Ok(RecipeReport {
        stages,
        table: markdown_table(&results),
        results,
        model: adapted,
    })
}

/// The generate stage's configuration as the manifest hashes it. The generator is hashed as
/// resolved: `auto` becomes an LLM when OPENAI_BASE_URL is set, and rows of one generator are
/// never resumed by another. With a `[server]` table the server's settings (binary, model and
/// the rest) are hashed instead of its URL, whose port is new each run, so a re-run with the
/// same settings is up to date.
pub(crate) fn generate_config_text(config: &RecipeConfig) -> String {
    match &config.server {
        Some(server) => {
            let generate = config.resolved_generate(None);
            config_text(&(&generate, format!("{:?}", generate.resolved_kind()), server))
        }
        None => config_text(&(
            &config.generate,
            format!("{:?}", config.generate.resolved_kind()),
            config
                .generate
                .llm
                .base_url
                .clone()
                .or_else(|| std::env::var("OPENAI_BASE_URL").ok()),
        )),
    }
}

/// The retry lines an LLM client logs from its worker threads during a generate stage, kept
/// until the stage's progress bar is done and then noted in order (`retry: ...`): the
/// [`Progress`] a stage draws on is not shared with those threads.
pub(crate) struct RetryLines {
    sender: std::sync::mpsc::Sender<String>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl RetryLines {
    pub(crate) fn new() -> Self {
        let (sender, lines) = std::sync::mpsc::channel();
        Self { sender, lines }
    }

    /// The callback to give the client (`OpenAiClient::set_log`, `generate_query_dataset`).
    pub(crate) fn sink(&self) -> impl Fn(&str) + Send + Sync + 'static {
        let sender = self.sender.clone();
        move |line| {
            let _ = sender.send(line.to_owned());
        }
    }

    /// Notes every line logged so far.
    pub(crate) fn note_all(self, progress: &mut dyn Progress) {
        for line in self.lines.try_iter() {
            progress.note(&format!("retry: {line}"));
        }
    }
}

/// The files of the recipe's `[server]` a generate stage depends on by content, not only by
/// the paths its configuration text names: the GGUF model and, when `binary` is a path rather
/// than a name looked up in `PATH`, the binary. A new model written over the same path re-runs
/// generation.
pub(crate) fn server_inputs(config: &RecipeConfig) -> Vec<(String, PathBuf)> {
    let Some(server) = &config.server else {
        return Vec::new();
    };
    let mut inputs = vec![("server_model".to_owned(), server.model.clone())];
    if server.binary.components().count() > 1 {
        inputs.push(("server_binary".to_owned(), server.binary.clone()));
    }
    inputs
}

/// The files the generate stage's few-shot pool is drawn from, so that new examples re-run
/// generation and the manifest records, by content, which examples the prompts could use: the
/// `few_shot_pool` file, or the corpus, queries and qrels of `few_shot_split` (of
/// `few_shot_dataset` when named, else of the dataset generated for); none without a pool or
/// when inverse cloze writes the queries.
pub(crate) fn few_shot_inputs(
    config: &RecipeConfig,
    dataset: &Dataset,
) -> Result<Vec<(String, PathBuf)>> {
    let generate = config.resolved_generate(None);
    if generate.resolved_kind() != GeneratorKind::Openai {
        return Ok(Vec::new());
    }
    Ok(match generate.few_shot_source(dataset)? {
        FewShotSource::Pool(path) => vec![("few_shot_pool".to_owned(), path.to_path_buf())],
        FewShotSource::Split { dataset, split } => vec![
            ("few_shot_corpus".to_owned(), dataset.corpus_path()),
            ("few_shot_queries".to_owned(), dataset.queries_path()),
            (format!("few_shot_qrels/{split}"), dataset.qrels_path(split)),
        ],
        FewShotSource::None => Vec::new(),
    })
}

pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    densify_core::write_atomic(path, bytes).map_err(|e| RecipeError::io(path, e))
}

/// The recipe's `[server]`, started for a generate stage (its log in `folder`); `None`
/// without one. Dropping it stops it.
pub(crate) fn start_server(
    config: &RecipeConfig,
    folder: &Path,
    progress: &mut dyn Progress,
) -> Result<Option<LocalServer>> {
    let Some(server) = &config.server else {
        return Ok(None);
    };
    progress.note(&format!(
        "generate: starting llama-server ({})",
        server.model.display()
    ));
    let server = LocalServer::start(server, folder)?;
    progress.note(&format!(
        "generate: llama-server at {} (log {})",
        server.base_url(),
        server.log().display()
    ));
    Ok(Some(server))
}

fn generate(
    dataset: &Dataset,
    config: &RecipeConfig,
    folder: &Path,
    counts: &mut Counts,
    progress: &mut dyn Progress,
) -> Result<()> {
    // A `[server]` runs for this stage only: dropped, so stopped, when the stage returns,
    // whether it succeeded or not.
    let server = start_server(config, folder, progress)?;
    let generate = config.resolved_generate(server.as_ref().map(LocalServer::base_url));
    let retries = RetryLines::new();
    let report =
        densify_synth::generate_query_dataset(dataset, &generate, folder, retries.sink(), progress);
    drop(server);
    retries.note_all(progress);
    let report = report?;
    counts.insert("requested".into(), report.summary.requested as f64);
    counts.insert("resumed".into(), report.summary.resumed as f64);
    counts.insert("kept".into(), report.summary.total_kept() as f64);
    counts.insert("dropped".into(), report.summary.total_dropped() as f64);
    counts.insert("queries".into(), report.exported as f64);
    counts.insert("llm_requests".into(), report.requests as f64);
    progress.note(&format!(
        "generate: {} queries ({}) -> {}",
        report.exported,
        report.generator,
        folder.display()
    ));
    Ok(())
}

fn retrieve_candidates(
    synthetic: &Path,
    config: &RecipeConfig,
    device: &Device,
    folder: &Path,
    counts: &mut Counts,
    progress: &mut dyn Progress,
) -> Result<()> {
    let dataset = Dataset::open(synthetic)?;
    let (queries, _) = dataset.split_queries("train")?;
    let depth = config.candidates.depth;
    progress.start("BM25 candidates", None);
    let index = Bm25Index::for_dataset(&dataset, config.candidates.bm25)?;
    let bm25 = index.search_queries(&queries, depth);
    progress.finish();
    bm25.write_trec(folder.join("bm25.trec"), "densify-bm25")?;
    let model = BiEncoder::load(&config.model, device, |_| {})?;
    let corpus = dataset.corpus_items()?;
    let corpus_embeddings = crate::evaluate::encode(
        &model,
        &corpus,
        Side::Passage,
        config.candidates.batch_size,
        device,
        progress,
        "base model: corpus",
    )?;
    corpus_embeddings.write(folder.join("base_corpus.embeddings"))?;
    let items: Vec<(String, String)> = queries
        .iter()
        .map(|q| (q.id.clone(), q.text.clone()))
        .collect();
    let query_embeddings = crate::evaluate::encode(
        &model,
        &items,
        Side::Query,
        config.candidates.batch_size,
        device,
        progress,
        "base model: synthetic queries",
    )?;
    let search = ExactSearchConfig::new()
        .with_k(depth)
        .with_similarity(model.settings.similarity);
    let dense = search_embeddings(&query_embeddings, &corpus_embeddings, search, device)?;
    dense.write_trec(folder.join("dense.trec"), "densify-dense")?;
    counts.insert("queries".into(), queries.len() as f64);
    counts.insert("corpus".into(), corpus.len() as f64);
    Ok(())
}

/// True when the queries are inverse cloze's and the filter stage pairs each with its passage
/// minus the query ([`densify_synth::remove_query`]); resolved as the generate stage resolves
/// its generator.
fn removes_queries_from_sources(config: &RecipeConfig) -> bool {
    config.queries.is_none()
        && config.server.is_none()
        && config.generate.resolved_kind() == GeneratorKind::InverseCloze
        && config.generate.inverse_cloze.remove_from_source
}

/// The header of `filter/masked.tsv`: one row per masked positive.
const MASKED_HEADER: &str = "masked_id\tsource_id\tquery_id";

/// Replaces each item's source passage (its positive) by a new document: the passage minus
/// the query's words, with id `{source}#ict-{query_id}`. Items whose passage would keep too
/// few words keep it whole. Returns the new documents.
fn mask_sources(
    items: &mut [densify_synth::filter::FilterItem],
    texts: &HashMap<String, String>,
) -> Vec<(densify_data::Document, String, String)> {
    let mut masked = Vec::new();
    for item in items.iter_mut() {
        let Some(text) = texts
            .get(&item.source)
            .and_then(|passage| densify_synth::remove_query(passage, &item.query))
        else {
            continue;
        };
        let id = format!("{}#ict-{}", item.source, item.query_id);
        for c in item
            .candidates
            .iter_mut()
            .filter(|c| c.doc_id == item.source)
        {
            c.doc_id = id.clone();
        }
        let source = std::mem::replace(&mut item.source, id.clone());
        masked.push((
            densify_data::Document {
                id,
                title: String::new(),
                text,
                metadata: Some(serde_json::json!({ "masked_from": source })),
            },
            source,
            item.query_id.clone(),
        ));
    }
    masked
}

fn filter_lists(
    synthetic: &Path,
    filter: &densify_synth::FilterConfig,
    mask: bool,
    device: &Device,
    folder: &Path,
    counts: &mut Counts,
    progress: &mut dyn Progress,
) -> Result<()> {
    let dataset = Dataset::open(synthetic)?;
    let texts: HashMap<String, String> = dataset.corpus_items()?.into_iter().collect();
    let corpus_path = dataset.corpus_path();
    let items = load_items(&dataset, "train", &texts)?;
    counts.insert("queries".into(), items.len() as f64);
    let mut context = FilterContext {
        texts: &texts,
        corpus_path: &corpus_path,
        device,
        progress: &mut *progress,
    };
    let (mut kept, reports) = run_stages(items, &filter.stages, &mut context)?;
    for report in &reports {
        progress.note(&format!("  {report}"));
        counts.insert(format!("kept_after_{}", report.stage), report.kept as f64);
    }
    let masked = if mask {
        mask_sources(&mut kept, &texts)
    } else {
        Vec::new()
    };
    // The masked positives join the corpus the student trains on, and `masked.tsv` names
    // them, so the teacher keeps them out of BM25's statistics (they are not the user's
    // documents) and nothing downstream mistakes them for corpus passages.
    let documents: Vec<densify_data::Document> =
        masked.iter().map(|(doc, _, _)| doc.clone()).collect();
    let (train, dev) = write_filtered(&kept, &dataset, &documents, &filter.split, folder)?;
    let mut tsv = String::from(MASKED_HEADER) + "\n";
    for (doc, source, query) in &masked {
        tsv.push_str(&format!("{}\t{source}\t{query}\n", doc.id));
    }
    write(&folder.join("masked.tsv"), tsv.as_bytes())?;
    counts.insert("masked_positives".into(), masked.len() as f64);
    if dev == 0 || !folder.join("dev.jsonl").is_file() {
        return Err(RecipeError::Empty {
            stage: "filter",
            message: format!(
                "no dev list among the {} kept queries: the teacher's ceiling check and the \
                 student's dev loss need some (raise `filter.split.dev_fraction` or \
                 `generate.queries.max_passages`)",
                kept.len()
            ),
        });
    }
    counts.insert("train_lists".into(), train as f64);
    counts.insert("dev_lists".into(), dev as f64);
    Ok(())
}

/// nDCG@10 of ranking each list by `scores`, judged by its positives.
fn list_ndcg(examples: &[TrainingExample], scores: &[Vec<f64>]) -> Result<f64> {
    let mut qrels = Qrels::new();
    let mut run = Run::new();
    for (e, s) in examples.iter().zip(scores) {
        for c in e.candidates.iter().filter(|c| c.positive) {
            qrels.insert(&e.id, &c.doc_id, 1);
        }
        let docs = e
            .candidates
            .iter()
            .zip(s)
            .map(|(c, &score)| ScoredDoc {
                doc_id: c.doc_id.clone(),
                score,
            })
            .collect();
        run.set_query(&e.id, docs);
    }
    let evaluation = evaluate(&qrels, &run, &[Measure::NdcgCut(10)], Default::default())?;
    Ok(evaluation.mean(Measure::NdcgCut(10)).unwrap_or(0.0))
}

fn score_lists(
    filtered: &Path,
    config: &RecipeConfig,
    device: &Device,
    folder: &Path,
    counts: &mut Counts,
    progress: &mut dyn Progress,
) -> Result<()> {
    let dataset = Dataset::open(filtered)?;
    let mut texts: HashMap<String, String> = dataset.corpus_items()?.into_iter().collect();
    let masked = read_masked_ids(&filtered.join("masked.tsv"))?;
    let extra: HashMap<String, String> = masked
        .iter()
        .filter_map(|id| texts.remove_entry(id))
        .collect();
    let model = BiEncoder::load(&config.model, device, |_| {})?;
    // The base model's corpus embeddings from the candidates stage, not encoded again.
    let cached = config.output.join("candidates/base_corpus.embeddings");
    let corpus_embeddings = if cached.is_file() {
        Some(densify_data::Embeddings::read(&cached)?)
    } else {
        None
    };
    let teacher_config = config.teacher.clone().unwrap_or_default();
    let hybrid = HybridTeacher::new(&texts, &model, corpus_embeddings.as_ref(), &teacher_config)?
        .with_extra_documents(&extra);
    for part in ["train", "dev"] {
        let mut examples = read_examples(filtered.join(format!("{part}.jsonl")))?;
        let total: usize = examples.iter().map(|e| 1 + e.candidates.len()).sum();
        progress.start(&format!("teacher: {part} lists"), Some(total as u64));
        let signals = hybrid.signals(&examples, device, &mut |n| progress.set(n as u64))?;
        progress.finish();
        let teacher: Vec<Vec<f64>> = signals
            .iter()
            .map(|(l, d)| combine(l, d, teacher_config.bm25_weight))
            .collect();
        if config.queries.is_some() {
            // Unlabelled queries: the positive is the teacher's first, not BM25's guess. No
            // judgement is left to check the teacher against.
            let changed = crate::unlabelled_queries::relabel_by_teacher(&mut examples, &teacher);
            counts.insert(format!("{part}_relabelled"), changed as f64);
            if part == "dev" {
                progress.note(
                    "teacher: unlabelled queries have no judgements, so there is no ceiling check",
                );
            }
        } else if part == "dev" {
            // The ceiling check: does the teacher rank the dev lists better than the base
            // model it is meant to improve?
            let lexical: Vec<Vec<f64>> = signals.iter().map(|(l, _)| l.clone()).collect();
            let dense: Vec<Vec<f64>> = signals.iter().map(|(_, d)| d.clone()).collect();
            let (t, b, l) = (
                list_ndcg(&examples, &teacher)?,
                list_ndcg(&examples, &dense)?,
                list_ndcg(&examples, &lexical)?,
            );
            counts.insert("dev_ndcg10_teacher".into(), t);
            counts.insert("dev_ndcg10_base".into(), b);
            counts.insert("dev_ndcg10_bm25".into(), l);
            progress.note(&format!(
                "teacher: dev lists nDCG@10 {t:.4} (base model {b:.4}, BM25 {l:.4})"
            ));
            if t <= b {
                progress.note(
                    "teacher: warning: the teacher does not rank the synthetic dev lists better \
                     than the base model; distilling it may not help (try another \
                     `teacher.bm25_weight`, or a cross-encoder teacher)",
                );
            }
        }
        for (e, scores) in examples.iter_mut().zip(&teacher) {
            for (c, &t) in e.candidates.iter_mut().zip(scores) {
                c.teacher = Some(t);
            }
        }
        write_examples(folder.join(format!("{part}.jsonl")), &examples)?;
        counts.insert(format!("{part}_lists"), examples.len() as f64);
    }
    Ok(())
}

/// The masked positives' ids from `filter/masked.tsv` (its first column, after the header).
fn read_masked_ids(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| RecipeError::io(path, e))?;
    let mut lines = text.lines();
    if lines.next() != Some(MASKED_HEADER) {
        return Err(RecipeError::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("line 1: expected the header `{MASKED_HEADER}`"),
            ),
        ));
    }
    Ok(lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').next().unwrap_or(l).to_owned())
        .collect())
}

pub(crate) fn train_student(
    train: &densify_train::TrainConfig,
    device: &Device,
    folder: &Path,
    resume: bool,
    counts: &mut Counts,
    progress: &mut dyn Progress,
) -> Result<()> {
    // A run killed before its first complete checkpoint has nothing to resume from: start
    // afresh. One killed while saving `final/` may have left it half written: the trainer
    // exports it again from the last checkpoint (the same weights).
    let has_checkpoint = densify_train::checkpoint::latest(&folder.join("checkpoints")).is_some();
    if resume && !has_checkpoint {
        std::fs::remove_dir_all(folder).map_err(|e| RecipeError::io(folder, e))?;
        std::fs::create_dir_all(folder).map_err(|e| RecipeError::io(folder, e))?;
    }
    let last = folder.join("final");
    if resume && has_checkpoint && last.exists() {
        std::fs::remove_dir_all(&last).map_err(|e| RecipeError::io(&last, e))?;
    }
    let trainer = Trainer::new(train.clone(), device)?.resuming(resume && has_checkpoint);
    let mut started = false;
    let summary = trainer.run(&mut |report| {
        if !started {
            progress.start("training", Some(report.last_step as u64));
            started = true;
        }
        progress.set(report.step as u64);
    })?;
    if started {
        progress.finish();
    }
    counts.insert("steps".into(), summary.steps as f64);
    counts.insert("final_loss".into(), summary.final_loss);
    counts.insert("train_seconds".into(), summary.train_seconds);
    if let Some(ndcg) = summary.dev_ndcg {
        counts.insert("dev_ndcg10".into(), ndcg);
    }
    progress.note(&format!(
        "train: {} steps in {:.1} s, final loss {:.4}",
        summary.steps, summary.train_seconds, summary.final_loss
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use densify_synth::LocalServerConfig;

    fn with_server(model: &str) -> RecipeConfig {
        RecipeConfig {
            server: Some(LocalServerConfig {
                binary: PathBuf::from("/opt/llama/llama-server"),
                model: PathBuf::from(model),
                ..LocalServerConfig::default()
            }),
            ..RecipeConfig::default()
        }
    }

    #[test]
    fn inverse_cloze_positives_are_replaced_by_their_passage_minus_the_query() {
        use densify_synth::filter::FilterItem;
        use densify_train::example::Candidate;
        let candidate = |id: &str, positive| Candidate {
            doc_id: id.into(),
            positive,
            teacher: None,
            label: None,
        };
        let item = |qid: &str, query: &str, source: &str| FilterItem {
            query_id: qid.into(),
            query: query.into(),
            group: "all".into(),
            source: source.into(),
            candidates: vec![candidate("d2", false), candidate(source, true)],
        };
        let texts: HashMap<String, String> = [
            (
                "d1",
                "Scurvy kills sailors. It was cured by lemons on long voyages at sea.",
            ),
            ("d2", "Short text. Too short"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        let mut items = vec![
            item("q1", "Scurvy kills sailors.", "d1"),
            // Removing it would leave 2 words: d2 stays whole.
            item("q2", "Short text.", "d2"),
        ];
        let masked = mask_sources(&mut items, &texts);
        assert_eq!(masked.len(), 1);
        let (doc, source, query) = &masked[0];
        assert_eq!(
            (doc.id.as_str(), source.as_str(), query.as_str()),
            ("d1#ict-q1", "d1", "q1")
        );
        assert_eq!(doc.text, "It was cured by lemons on long voyages at sea.");
        assert_eq!(items[0].source, "d1#ict-q1");
        assert_eq!(items[0].candidates[1].doc_id, "d1#ict-q1");
        assert!(items[0].candidates[1].positive);
        assert_eq!(items[0].candidates[0].doc_id, "d2");
        assert_eq!(items[1].source, "d2");
        assert_eq!(items[1].candidates[1].doc_id, "d2");
    }

    #[test]
    fn a_masked_list_without_its_header_is_refused_with_the_file_and_line() {
        let dir = std::env::temp_dir().join(format!("densify-masked-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("masked.tsv");
        std::fs::write(&path, format!("{MASKED_HEADER}\nd1#ict-q1\td1\tq1\n\n")).unwrap();
        assert_eq!(read_masked_ids(&path).unwrap(), ["d1#ict-q1"]);
        std::fs::write(&path, "d1#ict-q1\td1\tq1\n").unwrap();
        let e = read_masked_ids(&path).unwrap_err().to_string();
        assert!(
            e.contains("masked.tsv") && e.contains("line 1") && e.contains("masked_id"),
            "{e}"
        );
        let e = read_masked_ids(&dir.join("absent.tsv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent.tsv"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn masking_follows_the_resolved_generator() {
        let mut config = RecipeConfig::default();
        config.generate.generator = GeneratorKind::InverseCloze;
        assert!(removes_queries_from_sources(&config));
        config.generate.inverse_cloze.remove_from_source = false;
        assert!(!removes_queries_from_sources(&config));
        assert!(!removes_queries_from_sources(&with_server("a.gguf")));
    }

    #[test]
    fn a_local_server_is_hashed_by_its_settings_not_its_url() {
        let a = generate_config_text(&with_server("a.gguf"));
        assert_eq!(a, generate_config_text(&with_server("a.gguf")));
        assert!(
            a.contains("/opt/llama/llama-server") && a.contains("a.gguf"),
            "{a}"
        );
        assert!(a.contains("\"Openai\""), "{a}");
        assert!(!a.contains("127.0.0.1"), "{a}");
        assert_ne!(a, generate_config_text(&with_server("b.gguf")));
        let mut slots = with_server("a.gguf");
        slots.server.as_mut().unwrap().slots = 2;
        assert_ne!(a, generate_config_text(&slots));
        assert_ne!(a, generate_config_text(&RecipeConfig::default()));
    }

    #[test]
    fn the_few_shot_pool_is_an_input_by_content() {
        let data = densify_testkit::shared_data();
        let scifact = Dataset::open(data.join("scifact")).unwrap();
        // Inverse cloze reads no pool.
        let mut config = RecipeConfig::default();
        config.generate.few_shot_split = Some("train".into());
        assert!(few_shot_inputs(&config, &scifact).unwrap().is_empty());
        // An LLM with the dataset's own train pairs: its queries and qrels too.
        let mut config = with_server("a.gguf");
        config.generate.few_shot_split = Some("train".into());
        let inputs = few_shot_inputs(&config, &scifact).unwrap();
        assert_eq!(
            inputs,
            [
                ("few_shot_corpus".to_owned(), scifact.corpus_path()),
                ("few_shot_queries".to_owned(), scifact.queries_path()),
                (
                    "few_shot_qrels/train".to_owned(),
                    scifact.qrels_path("train")
                ),
            ]
        );
        // Another dataset's pairs: that dataset's files.
        config.generate.few_shot_dataset = Some(data.join("nq-utd").display().to_string());
        config.generate.few_shot_split = Some("test".into());
        let inputs = few_shot_inputs(&config, &scifact).unwrap();
        assert_eq!(
            inputs[2].1,
            data.join("nq-utd").join("qrels").join("test.tsv")
        );
        // A pool file: the file.
        config.generate.few_shot_pool = Some(PathBuf::from("pool.jsonl"));
        config.generate.few_shot_split = None;
        config.generate.few_shot_dataset = None;
        assert_eq!(
            few_shot_inputs(&config, &scifact).unwrap(),
            [("few_shot_pool".to_owned(), PathBuf::from("pool.jsonl"))]
        );
        // A few-shot dataset that is not there: an error naming it before any work.
        config.generate.few_shot_pool = None;
        config.generate.few_shot_split = Some("test".into());
        config.generate.few_shot_dataset = Some("no-such-dataset".into());
        let err = few_shot_inputs(&config, &scifact).unwrap_err().to_string();
        assert!(err.contains("no-such-dataset"), "{err}");
    }

    #[test]
    fn a_local_servers_model_and_binary_are_inputs_by_content() {
        assert!(server_inputs(&RecipeConfig::default()).is_empty());
        let inputs = server_inputs(&with_server("a.gguf"));
        assert_eq!(
            inputs,
            [
                ("server_model".to_owned(), PathBuf::from("a.gguf")),
                (
                    "server_binary".to_owned(),
                    PathBuf::from("/opt/llama/llama-server")
                ),
            ]
        );
        let mut on_path = with_server("a.gguf");
        on_path.server.as_mut().unwrap().binary = PathBuf::from("llama-server");
        assert_eq!(server_inputs(&on_path).len(), 1);
    }
}
