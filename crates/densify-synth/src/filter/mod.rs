//! Filter stages for synthetic queries (paper B's pipeline), each a small serde-configured step
//! that keeps some queries, drops the rest with a counted reason, and prints both:
//!
//! | stage (`type`) | keeps a query when |
//! |---|---|
//! | `round_trip` | its source passage is in the top `k` of every given retriever run |
//! | `fuse` | reciprocal rank fusion of the runs gives it at least `min_candidates` candidates (which become its list) |
//! | `teacher` | (after scoring its list with a cross- or bi-encoder teacher) the teacher ranks the source passage first |
//! | `percentile_cut` | its top teacher score is at or above the group's `drop_below` percentile; scores are then min-max normalised with the `low`/`high` percentiles, clipped to [0, 1], and the list cut to `keep` |
//!
//! The stages run in the order written (`[[stages]]` in TOML), after which the survivors are
//! split into train and dev by query id ([`split`]). The input is a BEIR dataset whose qrels
//! name each query's source passage (what `densify generate queries` writes).
//!
//! Drops by reason are the stages' verdicts on good inputs. Inputs that do not belong to the
//! dataset are errors instead, naming the file, line and id: a source passage (qrels) or a
//! run's document (`round_trip`, `fuse`) that is not in the corpus.

pub mod fuse;
pub mod percentile;
pub mod round_trip;
pub mod split;
pub mod teacher;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use densify_core::config::{Config, InvalidField};
use densify_data::{Candidate, TrainingExample};
use densify_data::{Dataset, Qrels};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SynthError};

pub use fuse::FuseConfig;
pub use percentile::PercentileCutConfig;
pub use round_trip::RoundTripConfig;
pub use split::SplitConfig;
pub use teacher::TeacherConfig;

/// One filter stage, chosen by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FilterStage {
    /// Source passage in every retriever's top k.
    RoundTrip(RoundTripConfig),
    /// Candidate lists by reciprocal rank fusion.
    Fuse(FuseConfig),
    /// Teacher scores; source passage ranked first.
    Teacher(TeacherConfig),
    /// Percentile cut, normalisation, top-n list.
    PercentileCut(PercentileCutConfig),
}

impl FilterStage {
    /// The stage's name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::RoundTrip(_) => "round_trip",
            Self::Fuse(_) => "fuse",
            Self::Teacher(_) => "teacher",
            Self::PercentileCut(_) => "percentile_cut",
        }
    }
}

/// A filter pipeline: stages, then the train/dev split.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterConfig {
    /// The stages, in order. Default: none (only the split).
    pub stages: Vec<FilterStage>,
    /// The train/dev split of the survivors.
    pub split: SplitConfig,
}

impl Config for FilterConfig {
    fn validate(&self) -> std::result::Result<(), InvalidField> {
        for (i, stage) in self.stages.iter().enumerate() {
            let within = format!("stages[{i}]");
            match stage {
                FilterStage::RoundTrip(c) => c.validate(),
                FilterStage::Fuse(c) => c.validate(),
                FilterStage::Teacher(c) => c.validate(),
                FilterStage::PercentileCut(c) => c.validate(),
            }
            .map_err(|e| e.within(&within))?;
        }
        let fused = self
            .stages
            .iter()
            .position(|s| matches!(s, FilterStage::Fuse(_)));
        for (i, stage) in self.stages.iter().enumerate() {
            let needs_list = matches!(
                stage,
                FilterStage::Teacher(_) | FilterStage::PercentileCut(_)
            );
            if needs_list && fused.is_none_or(|f| f > i) {
                return Err(InvalidField::new(
                    format!("stages[{i}]"),
                    format!(
                        "`{}` needs candidate lists: put a `fuse` stage before it",
                        stage.name()
                    ),
                ));
            }
            if matches!(stage, FilterStage::PercentileCut(_))
                && !self.stages[..i]
                    .iter()
                    .any(|s| matches!(s, FilterStage::Teacher(_)))
            {
                return Err(InvalidField::new(
                    format!("stages[{i}]"),
                    "`percentile_cut` needs teacher scores: put a `teacher` stage before it",
                ));
            }
        }
        self.split.validate().map_err(|e| e.within("split"))
    }
}

/// A synthetic query on its way through the stages.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterItem {
    /// The query id.
    pub query_id: String,
    /// The query text.
    pub query: String,
    /// The group percentiles are taken within (the query type; `all` when unknown).
    pub group: String,
    /// The passage the query was written for.
    pub source: String,
    /// The candidate list (empty until `fuse`).
    pub candidates: Vec<Candidate>,
}

impl FilterItem {
    /// The item as a training example (source passage positive).
    pub fn to_example(&self) -> TrainingExample {
        TrainingExample {
            id: self.query_id.clone(),
            query_id: self.query_id.clone(),
            query: self.query.clone(),
            candidates: self.candidates.clone(),
            line: 0,
        }
    }
}

/// What a stage kept and dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StageReport {
    /// The stage.
    pub stage: String,
    /// Queries in.
    pub input: usize,
    /// Queries kept.
    pub kept: usize,
    /// Queries dropped, by reason.
    pub dropped: BTreeMap<String, usize>,
    /// Lists the `fuse` stage gave their source passage (`insert_source`).
    pub inserted_sources: usize,
}

impl StageReport {
    fn new(stage: &str, input: usize) -> Self {
        Self {
            stage: stage.into(),
            input,
            ..Default::default()
        }
    }

    fn drop(&mut self, reason: impl Into<String>) {
        *self.dropped.entry(reason.into()).or_default() += 1;
    }
}

impl std::fmt::Display for StageReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<15} {:>6} in  {:>6} kept",
            self.stage, self.input, self.kept
        )?;
        if !self.dropped.is_empty() {
            let reasons: Vec<String> = self
                .dropped
                .iter()
                .map(|(r, n)| format!("{n} {r}"))
                .collect();
            write!(f, "  dropped: {}", reasons.join(", "))?;
        }
        if self.inserted_sources > 0 {
            write!(f, "  source passage inserted: {}", self.inserted_sources)?;
        }
        Ok(())
    }
}

/// Reads the queries to filter from a BEIR dataset: `split`'s qrels name each query's source
/// passage (exactly one judged-relevant passage per query); the group is the query's
/// `metadata.type`, else `all`. `texts` is the dataset's corpus (id -> text): a source passage
/// that is not in it is an error naming the qrels file, its line and the id (the qrels and
/// the corpus do not belong together; such a query would train on a missing document).
pub fn load_items(
    dataset: &Dataset,
    split: &str,
    texts: &HashMap<String, String>,
) -> Result<Vec<FilterItem>> {
    let (queries, qrels) = dataset.split_queries(split)?;
    let qrels_path = dataset.qrels_path(split);
    let mut items = Vec::with_capacity(queries.len());
    for q in queries {
        let judged = qrels.query(&q.id).map(|m| {
            let mut v: Vec<&String> = m.iter().filter(|(_, g)| **g > 0).map(|(d, _)| d).collect();
            v.sort();
            v
        });
        let source = match judged.as_deref() {
            Some([one]) => (*one).clone(),
            other => {
                return Err(SynthError::SourceNotUnique {
                    path: dataset.root().to_path_buf(),
                    query: q.id.clone(),
                    split: split.to_owned(),
                    found: other.map_or(0, <[&String]>::len),
                });
            }
        };
        if !texts.contains_key(&source) {
            let message = format!(
                "query `{}`: its source passage `{source}` is not in the corpus ({}); the \
                 qrels and the corpus do not belong together",
                q.id,
                dataset.corpus_path().display()
            );
            return Err(
                match densify_data::corpus_check::judgement_line(&qrels_path, &q.id, &source) {
                    Some(line) => SynthError::Parse {
                        path: qrels_path.clone(),
                        line,
                        message,
                    },
                    None => SynthError::QrelsOutsideCorpus {
                        path: qrels_path.clone(),
                        message,
                    },
                },
            );
        }
        let group = q
            .metadata
            .as_ref()
            .and_then(|m| m.get("type"))
            .and_then(|t| t.as_str())
            .unwrap_or("all")
            .to_owned();
        items.push(FilterItem {
            query_id: q.id,
            query: q.text,
            group,
            source,
            candidates: Vec::new(),
        });
    }
    Ok(items)
}

/// Everything a stage may need besides its config.
pub struct FilterContext<'a> {
    /// The corpus texts (id -> text the model sees).
    pub texts: &'a HashMap<String, String>,
    /// The corpus file (named in errors about documents that are not in it).
    pub corpus_path: &'a Path,
    /// The device teachers run on.
    pub device: &'a burn::tensor::Device,
    /// Each long stage's progress (the teacher: a piece over the pairs it scores).
    pub progress: &'a mut dyn densify_core::Progress,
}

/// Reads a stage's run file, checking that every document it names is in the corpus (an error
/// naming the run file, its line and the id otherwise).
pub(crate) fn read_run(path: &Path, context: &FilterContext<'_>) -> Result<densify_data::Run> {
    let run = densify_data::Run::from_file(path)?;
    densify_data::corpus_check::check_run_in_corpus(&run, path, context.corpus_path, |d| {
        context.texts.contains_key(d)
    })?;
    Ok(run)
}

/// Runs the stages over `items` in order, returning the survivors and one report per stage.
pub fn run_stages(
    mut items: Vec<FilterItem>,
    stages: &[FilterStage],
    context: &mut FilterContext<'_>,
) -> Result<(Vec<FilterItem>, Vec<StageReport>)> {
    let mut reports = Vec::new();
    for stage in stages {
        let (kept, report) = match stage {
            FilterStage::RoundTrip(c) => round_trip::apply(items, c, context)?,
            FilterStage::Fuse(c) => fuse::apply(items, c, context)?,
            FilterStage::Teacher(c) => teacher::apply(items, c, context)?,
            FilterStage::PercentileCut(c) => percentile::apply(items, c),
        };
        items = kept;
        reports.push(report);
    }
    Ok((items, reports))
}

/// Writes the filtered set: `train.jsonl` and `dev.jsonl` in the training-list schema (`densify_data::training_example`) (when the
/// items have lists), and a BEIR dataset (the corpus of `dataset` followed by
/// `extra_documents`, such as positives made for the lists, the surviving queries,
/// `qrels/train.tsv` and `qrels/dev.tsv` judging each query's source passage 1).
pub fn write_filtered(
    items: &[FilterItem],
    dataset: &Dataset,
    extra_documents: &[densify_data::Document],
    split: &SplitConfig,
    output: &Path,
) -> Result<(usize, usize)> {
    if items.is_empty() {
        return Err(SynthError::NothingKept {
            path: output.to_path_buf(),
            what: "no query survived the filters (see the stage reports)",
        });
    }
    let (train, dev) = split::split(items, split);
    std::fs::create_dir_all(output.join("qrels")).map_err(|e| SynthError::io(output, e))?;
    let mut corpus = dataset.corpus()?;
    corpus.extend_from_slice(extra_documents);
    densify_data::beir::write_corpus(output.join("corpus.jsonl"), &corpus)?;
    let queries: Vec<densify_data::Query> = items
        .iter()
        .map(|i| densify_data::Query {
            id: i.query_id.clone(),
            text: i.query.clone(),
            metadata: Some(serde_json::json!({"type": i.group, "passage_id": i.source})),
        })
        .collect();
    densify_data::beir::write_queries(output.join("queries.jsonl"), &queries)?;
    for (name, part) in [("train", &train), ("dev", &dev)] {
        let mut qrels = Qrels::new();
        for i in part.iter() {
            qrels.insert(&i.query_id, &i.source, 1);
        }
        if !qrels.is_empty() {
            qrels.write_beir(output.join("qrels").join(format!("{name}.tsv")))?;
        }
        if part.iter().all(|i| !i.candidates.is_empty()) && !part.is_empty() {
            let examples: Vec<TrainingExample> = part.iter().map(|i| i.to_example()).collect();
            densify_data::training_example::write_examples(
                output.join(format!("{name}.jsonl")),
                &examples,
            )?;
        }
    }
    Ok((train.len(), dev.len()))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn dataset(name: &str, qrels: &str) -> (PathBuf, Dataset, HashMap<String, String>) {
        let dir =
            std::env::temp_dir().join(format!("densify-filter-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("qrels")).unwrap();
        std::fs::write(
            dir.join("corpus.jsonl"),
            "{\"_id\": \"d1\", \"text\": \"one\"}\n{\"_id\": \"d2\", \"text\": \"two\"}\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("queries.jsonl"),
            "{\"_id\": \"q1\", \"text\": \"first\"}\n{\"_id\": \"q2\", \"text\": \"second\"}\n",
        )
        .unwrap();
        std::fs::write(dir.join("qrels").join("train.tsv"), qrels).unwrap();
        let dataset = Dataset::open(&dir).unwrap();
        let texts = dataset.corpus_items().unwrap().into_iter().collect();
        (dir, dataset, texts)
    }

    #[test]
    fn a_source_or_a_run_document_outside_the_corpus_names_the_file_line_and_id() {
        let (dir, dataset, texts) = dataset(
            "corpus",
            "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\tgone\t1\n",
        );
        let err = load_items(&dataset, "train", &texts)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train.tsv:3: query `q2`: its source passage `gone` is not in the corpus"),
            "{err}"
        );

        std::fs::write(
            dir.join("qrels").join("train.tsv"),
            "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n",
        )
        .unwrap();
        let items = load_items(&dataset, "train", &texts).unwrap();
        assert_eq!(items.len(), 2);
        let run = dir.join("run.trec");
        std::fs::write(&run, "q1 Q0 d1 1 2 t\nq1 Q0 d2 2 1 t\nq2 Q0 d9 1 3 t\n").unwrap();
        let corpus_path = dataset.corpus_path();
        let device = burn::tensor::Device::flex();
        let mut progress = densify_core::NoProgress;
        let mut context = FilterContext {
            texts: &texts,
            corpus_path: &corpus_path,
            device: &device,
            progress: &mut progress,
        };
        let fuse = [FilterStage::Fuse(FuseConfig {
            runs: vec![run.clone()],
            k: 60.0,
            depth: 10,
            min_candidates: 1,
            insert_source: false,
        })];
        let err = run_stages(items.clone(), &fuse, &mut context)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("run.trec:3: query `q2`: document `d9` is not in the corpus"),
            "{err}"
        );
        let round_trip = [FilterStage::RoundTrip(RoundTripConfig {
            runs: vec![run],
            top_k: 1,
        })];
        let err = run_stages(items, &round_trip, &mut context)
            .unwrap_err()
            .to_string();
        assert!(err.contains("run.trec:3:") && err.contains("`d9`"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
