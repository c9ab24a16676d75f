//! The `graded` recipe (SyCL, arXiv 2503.23239; `../shared/docs/METHODS.md`, C): instead of
//! queries for passages, an LLM writes documents at several relevance levels for the real
//! queries of the labelled split, and the student learns the levels' order with the
//! list-wise Wasserstein loss.
//!
//! ```text
//! generate  one document per level of `generate.documents.levels` (3 perfectly relevant ...
//!           0 irrelevant) for each sampled query of `graded.split`, by an LLM (a `[server]`
//!           the stage starts and stops, or `generate.llm.base_url`); resumed from its JSONL
//! lists     graded: each query's documents, the levels as labels (complete lists only);
//!           binary: each document of level >= 2 as the positive of an InfoNCE example
//!           against those below 2; mixed (`graded.mix`): the graded list with the query's
//!           real positive at level 3 and `graded.bm25_negatives` BM25 negatives at level 1;
//!           the texts are the dataset's corpus and the documents together
//! train     the `train` table (Wasserstein) on the graded lists
//! baseline  the `baseline` table (InfoNCE) on the binary lists
//! mixed     the `train` table on the mixed lists (when `graded.mix`)
//! evaluate  base, `infonce`, `graded` (and `mixed`) on every split with qrels but the
//!           labelled one, and on noised test queries
//! ```
//!
//! Only the labelled split's queries get documents, so no test query is written for.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use burn::tensor::Device;
use densify_core::{Config, InvalidField, Progress};
use densify_data::{Dataset, Document, Query};
use densify_eval::bm25::Bm25Index;
use densify_synth::{GeneratorKind, LocalServer};
use densify_train::example::{
    Candidate as ListItem, TrainingExample, read_examples, write_examples,
};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::adapt::{
    RecipeReport, RetryLines, config_text, evaluate_stage_and_report, generate_config_text,
    open_run, server_inputs, start_server, train_student,
};
use crate::config::RecipeConfig;
use crate::driver::{Counts, Stage};
use crate::error::{RecipeError, Result};
use crate::evaluate::{Candidate, evaluation_splits};

/// How the `graded` recipe picks its queries and builds its lists (SyCL's settings where it
/// has them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GradedListsConfig {
    /// The labelled split whose queries get documents (and whose real positives the mixed
    /// lists add); never evaluated. Default `train`.
    pub split: String,
    /// Also train the "synthetic + real" student. Default true (SyCL's best setting).
    pub mix: bool,
    /// BM25 negatives per mixed list, at level 1. Default 2 (SyCL).
    pub bm25_negatives: usize,
    /// They are drawn at random from BM25's top this many non-relevant documents. Default
    /// 1000 (SyCL).
    pub bm25_depth: usize,
    /// Seed of the draw. Default 42.
    pub seed: u64,
}

impl Default for GradedListsConfig {
    fn default() -> Self {
        Self {
            split: "train".into(),
            mix: true,
            bm25_negatives: 2,
            bm25_depth: 1000,
            seed: 42,
        }
    }
}

impl Config for GradedListsConfig {
    fn validate(&self) -> std::result::Result<(), InvalidField> {
        if self.split.is_empty() {
            return Err(InvalidField::new("split", "is required"));
        }
        densify_core::config::at_least_one("bm25_depth", self.bm25_depth as u64)?;
        if self.bm25_negatives > self.bm25_depth {
            return Err(InvalidField::new(
                "bm25_negatives",
                format!(
                    "is {}, more than `bm25_depth` ({}) can give",
                    self.bm25_negatives, self.bm25_depth
                ),
            ));
        }
        Ok(())
    }
}

/// The size of the binary baseline's lists for `levels`: one positive and every level below 2.
pub fn binary_list_size(levels: &[u8]) -> usize {
    1 + levels.iter().filter(|&&l| l < 2).count()
}

/// Runs the graded recipe as [`crate::run_recipe`] does.
pub(crate) fn run(
    config: &RecipeConfig,
    config_file: &Path,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<RecipeReport> {
    // Checked before any work: documents need an LLM.
    if config.server.is_none() && config.generate.resolved_kind() != GeneratorKind::Openai {
        return Err(RecipeError::NeedsLlm {
            config: config_file.to_path_buf(),
            recipe: config.recipe.name().to_owned(),
        });
    }
    let (dataset, mut driver) = open_run(config, config_file)?;
    let graded = config.graded.clone().unwrap_or_default();
    let out = &config.output;
    let mut stages = Vec::new();
    let role = |r: &str| r.to_owned();
    let generated = out.join("generate");
    let labelled = graded.split.clone();

    // 1. Graded documents for the labelled split's queries.
    let outcome = driver.run(
        Stage {
            name: "generate",
            config: config_text(&(generate_config_text(config), &labelled)),
            inputs: [
                (role("queries"), dataset.queries_path()),
                (format!("qrels/{labelled}"), dataset.qrels_path(&labelled)),
            ]
            .into_iter()
            .chain(server_inputs(config))
            .collect(),
            outputs: vec![
                "generate/generated_documents.jsonl",
                "generate/corpus.jsonl",
                "generate/train.jsonl",
            ],
            resumable: true,
        },
        progress,
        |folder, _, counts, progress| {
            generate(&dataset, config, &labelled, folder, counts, progress)
        },
    )?;
    stages.push(("generate".into(), outcome));

    // 2. The graded, binary and mixed lists over the corpus and the documents.
    let outcome = driver.run(
        Stage {
            name: "lists",
            config: config_text(&(
                &graded,
                &config.generate.documents.levels,
                &config.candidates.bm25,
            )),
            inputs: vec![
                (role("corpus"), dataset.corpus_path()),
                (format!("qrels/{labelled}"), dataset.qrels_path(&labelled)),
                (role("documents"), generated.join("corpus.jsonl")),
                (role("lists"), generated.join("train.jsonl")),
            ],
            outputs: vec![
                "lists/corpus.jsonl",
                "lists/graded.jsonl",
                "lists/binary.jsonl",
                "lists/mixed.jsonl",
            ],
            resumable: false,
        },
        progress,
        |folder, _, counts, progress| {
            build_lists(
                &dataset, config, &graded, &generated, folder, counts, progress,
            )
        },
    )?;
    stages.push(("lists".into(), outcome));

    // 3-5. The Wasserstein student, its InfoNCE baseline, the synthetic + real student.
    let mut trainings = vec![("train", config.resolved_train(), "lists/graded.jsonl")];
    if let Some(baseline) = config.resolved_baseline() {
        trainings.push(("baseline", baseline, "lists/binary.jsonl"));
    }
    if let Some(mixed) = config.resolved_mixed() {
        trainings.push(("mixed", mixed, "lists/mixed.jsonl"));
    }
    for (name, train, lists) in &trainings {
        let last = format!("{name}/final/model.safetensors");
        let outcome = driver.run(
            Stage {
                name,
                config: config_text(train),
                inputs: vec![
                    (role("model"), config.model.clone()),
                    (role("corpus"), out.join("lists/corpus.jsonl")),
                    (role("lists"), out.join(lists)),
                ],
                outputs: vec![last.as_str()],
                resumable: true,
            },
            progress,
            |folder, resume, counts, progress| {
                train_student(train, device, folder, resume, counts, progress)
            },
        )?;
        stages.push((name.to_string(), outcome));
    }

    // 6. Base, the baseline and the students on the splits the queries did not come from.
    let splits = evaluation_splits(config, &dataset, Some(&labelled))?;
    let mut models = vec![Candidate {
        name: "base".into(),
        folder: config.model.clone(),
        corpus_embeddings: None,
    }];
    for (name, _, _) in &trainings {
        models.push(Candidate {
            name: match *name {
                "train" => "graded",
                "baseline" => "infonce",
                _ => "mixed",
            }
            .into(),
            folder: out.join(name).join("final"),
            corpus_embeddings: None,
        });
    }
    evaluate_stage_and_report(
        &mut driver,
        config,
        &dataset,
        &models,
        &splits,
        stages,
        out.join("train/final"),
        device,
        progress,
    )
}

fn generate(
    dataset: &Dataset,
    config: &RecipeConfig,
    split: &str,
    folder: &Path,
    counts: &mut Counts,
    progress: &mut dyn Progress,
) -> Result<()> {
    let server = start_server(config, folder, progress)?;
    let generate = config.resolved_generate(server.as_ref().map(LocalServer::base_url));
    let retries = RetryLines::new();
    let report = densify_synth::generate_document_dataset(
        dataset,
        &generate,
        split,
        folder,
        retries.sink(),
        progress,
    );
    drop(server);
    retries.note_all(progress);
    let report = report?;
    let summary = &report.summary;
    counts.insert("queries".into(), report.queries as f64);
    counts.insert("requested".into(), summary.requested as f64);
    counts.insert("resumed".into(), summary.resumed as f64);
    counts.insert("kept".into(), summary.total_kept() as f64);
    counts.insert("dropped".into(), summary.total_dropped() as f64);
    counts.insert("lists".into(), report.lists as f64);
    counts.insert("llm_requests".into(), report.requests as f64);
    progress.note(&format!(
        "generate: {} documents kept of {} for {} queries, {} lists",
        summary.total_kept(),
        summary.requested,
        report.queries,
        report.lists
    ));
    Ok(())
}

/// The binary baseline's examples from one graded list: each document of level >= 2 the
/// positive against every document below 2.
fn binary_examples(list: &TrainingExample) -> Vec<TrainingExample> {
    let level = |c: &ListItem| c.label.unwrap_or(0.0);
    let negatives: Vec<ListItem> = list
        .candidates
        .iter()
        .filter(|c| level(c) < 2.0)
        .map(|c| ListItem {
            positive: false,
            label: None,
            ..c.clone()
        })
        .collect();
    list.candidates
        .iter()
        .filter(|c| level(c) >= 2.0)
        .map(|p| TrainingExample {
            id: format!("{}#{}", list.id, p.doc_id),
            query_id: list.query_id.clone(),
            query: list.query.clone(),
            candidates: std::iter::once(ListItem {
                positive: true,
                label: None,
                ..p.clone()
            })
            .chain(negatives.iter().cloned())
            .collect(),
            line: 0,
        })
        .collect()
}

/// The mixed list of SyCL's "synthetic + real": the real positive at level 3 first, the
/// graded documents, then the BM25 negatives at level 1. Positive means level 3.
fn mixed_example(list: &TrainingExample, real: &str, negatives: &[String]) -> TrainingExample {
    let item = |doc_id: &str, label: f64| ListItem {
        doc_id: doc_id.to_owned(),
        positive: label >= 3.0,
        teacher: None,
        label: Some(label),
    };
    let mut candidates = vec![item(real, 3.0)];
    candidates.extend(
        list.candidates
            .iter()
            .map(|c| item(&c.doc_id, c.label.unwrap_or(0.0))),
    );
    candidates.extend(negatives.iter().map(|d| item(d, 1.0)));
    TrainingExample {
        candidates,
        line: 0,
        ..list.clone()
    }
}

#[allow(clippy::too_many_arguments)]
fn build_lists(
    dataset: &Dataset,
    config: &RecipeConfig,
    graded: &GradedListsConfig,
    generated: &Path,
    folder: &Path,
    counts: &mut Counts,
    progress: &mut dyn Progress,
) -> Result<()> {
    let levels = &config.generate.documents.levels;
    let lists = read_examples(generated.join("train.jsonl"))?;
    let (complete, partial): (Vec<_>, Vec<_>) = lists
        .into_iter()
        .partition(|l| l.candidates.len() == levels.len());
    counts.insert("graded_lists".into(), complete.len() as f64);
    counts.insert("incomplete_lists".into(), partial.len() as f64);
    if complete.is_empty() {
        return Err(RecipeError::Empty {
            stage: "lists",
            message: format!(
                "no query kept a document at every level of {levels:?} ({} lists had some \
                 dropped; see generate/generated_documents.jsonl)",
                partial.len()
            ),
        });
    }
    let binary: Vec<TrainingExample> = complete.iter().flat_map(binary_examples).collect();
    counts.insert("binary_examples".into(), binary.len() as f64);

    // The texts: the dataset's corpus and the documents (ids `<query>-L<level>`; one that is
    // also a corpus id is an error rather than a silent overwrite).
    let mut corpus = dataset.corpus()?;
    let ids: HashSet<String> = corpus.iter().map(|d| d.id.clone()).collect();
    let documents: Vec<Document> = densify_data::beir::read_corpus(generated.join("corpus.jsonl"))?;
    if let Some(clash) = documents.iter().find(|d| ids.contains(&d.id)) {
        return Err(RecipeError::DuplicateId {
            file: generated.join("corpus.jsonl"),
            id: clash.id.clone(),
        });
    }
    let mut mixed = Vec::new();
    if graded.mix {
        let qrels = dataset.qrels(&graded.split)?;
        progress.start("BM25 negatives", Some(complete.len() as u64));
        // The corpus read above, not read again (`candidates.bm25` is validated with the file).
        let texts: Vec<String> = corpus.iter().map(Document::full_text).collect();
        let index = Bm25Index::build(
            corpus
                .iter()
                .zip(&texts)
                .map(|(d, t)| (d.id.as_str(), t.as_str())),
            config.candidates.bm25,
        );
        let mut rng = rand::rngs::StdRng::seed_from_u64(graded.seed);
        let mut without_positive = 0usize;
        for (i, list) in complete.iter().enumerate() {
            progress.set(i as u64);
            let judged: HashMap<&str, i32> = qrels
                .query(&list.query_id)
                .map(|q| q.iter().map(|(d, g)| (d.as_str(), *g)).collect())
                .unwrap_or_default();
            // The real positive: the highest grade, then the smallest id, for a stable choice.
            let Some(real) = judged
                .iter()
                .filter(|(_, g)| **g > 0)
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(d, _)| (*d).to_owned())
            else {
                without_positive += 1;
                continue;
            };
            let mut pool: Vec<String> = index
                .search(&list.query, graded.bm25_depth)
                .into_iter()
                .filter(|d| !judged.contains_key(d.doc_id.as_str()))
                .map(|d| d.doc_id)
                .collect();
            if pool.len() < graded.bm25_negatives {
                without_positive += 1;
                continue;
            }
            pool.shuffle(&mut rng);
            pool.truncate(graded.bm25_negatives);
            mixed.push(mixed_example(list, &real, &pool));
        }
        progress.finish();
        counts.insert("mixed_lists".into(), mixed.len() as f64);
        counts.insert("mixed_skipped".into(), without_positive as f64);
    }
    corpus.extend(documents);
    let queries: Vec<Query> = densify_data::beir::read_queries(generated.join("queries.jsonl"))?;
    densify_data::beir::write_corpus(folder.join("corpus.jsonl"), &corpus)?;
    densify_data::beir::write_queries(folder.join("queries.jsonl"), &queries)?;
    write_examples(folder.join("graded.jsonl"), &complete)?;
    write_examples(folder.join("binary.jsonl"), &binary)?;
    write_examples(folder.join("mixed.jsonl"), &mixed)?;
    progress.note(&format!(
        "lists: {} graded, {} binary, {} mixed",
        complete.len(),
        binary.len(),
        mixed.len()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graded_list() -> TrainingExample {
        let item = |id: &str, level: f64| ListItem {
            doc_id: id.into(),
            positive: level == 3.0,
            teacher: None,
            label: Some(level),
        };
        TrainingExample {
            id: "q1".into(),
            query_id: "q1".into(),
            query: "what cures scurvy".into(),
            candidates: vec![
                item("q1-L3", 3.0),
                item("q1-L2", 2.0),
                item("q1-L1", 1.0),
                item("q1-L0", 0.0),
            ],
            line: 0,
        }
    }

    #[test]
    fn each_level_two_or_more_is_a_positive_against_the_levels_below_two() {
        let binary = binary_examples(&graded_list());
        let ids: Vec<Vec<(&str, bool)>> = binary
            .iter()
            .map(|e| {
                e.candidates
                    .iter()
                    .map(|c| (c.doc_id.as_str(), c.positive))
                    .collect()
            })
            .collect();
        assert_eq!(
            ids,
            vec![
                vec![("q1-L3", true), ("q1-L1", false), ("q1-L0", false)],
                vec![("q1-L2", true), ("q1-L1", false), ("q1-L0", false)],
            ]
        );
        assert_eq!(binary[0].id, "q1#q1-L3");
        assert!(
            binary
                .iter()
                .flat_map(|e| &e.candidates)
                .all(|c| c.label.is_none())
        );
        assert_eq!(binary_list_size(&[3, 2, 1, 0]), 3);
        assert_eq!(binary_list_size(&[3, 0]), 2);
    }

    #[test]
    fn the_mixed_list_adds_the_real_positive_at_three_and_bm25_negatives_at_one() {
        let mixed = mixed_example(&graded_list(), "d7", &["d1".into(), "d2".into()]);
        let got: Vec<(&str, f64, bool)> = mixed
            .candidates
            .iter()
            .map(|c| (c.doc_id.as_str(), c.label.unwrap(), c.positive))
            .collect();
        assert_eq!(
            got,
            vec![
                ("d7", 3.0, true),
                ("q1-L3", 3.0, true),
                ("q1-L2", 2.0, false),
                ("q1-L1", 1.0, false),
                ("q1-L0", 0.0, false),
                ("d1", 1.0, false),
                ("d2", 1.0, false),
            ]
        );
    }

    #[test]
    fn the_lists_config_names_its_bad_field() {
        let e = GradedListsConfig {
            bm25_negatives: 5,
            bm25_depth: 3,
            ..GradedListsConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("bm25_negatives"), "{e}");
        assert!(GradedListsConfig::default().validate().is_ok());
    }
}
