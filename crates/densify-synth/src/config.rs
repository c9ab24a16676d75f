//! The one config of a generation run (`densify generate --config synth.toml`).
//!
//! ```toml
//! generator = "openai"          # or "inverse_cloze"; default "auto": openai when a base URL
//!                               # is set here or in OPENAI_BASE_URL, else inverse_cloze
//! few_shot_split = "train"      # few-shot pool: the dataset's own labelled pairs
//! # few_shot_dataset = "nq-utd"  # ... or another dataset's (the target's labels unread)
//! [llm]
//! base_url = "http://127.0.0.1:8080/v1"
//! temperature = 0.8
//! [queries]
//! types = ["question", "claim", "title", "keywords", "web", "random"]
//! max_passages = 500
//! ```

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use densify_core::config::{Config, InvalidField};
use densify_data::Dataset;
use serde::{Deserialize, Serialize};

use crate::clean::CleanConfig;
use crate::error::{Result, SynthError};
use crate::few_shot::FewShotPool;
use crate::generate::{DocumentGenerationConfig, QueryGenerationConfig};
use crate::generator::{LlmGenerator, PromptConfig};
use crate::inverse_cloze::{InverseClozeConfig, InverseClozeGenerator};
use crate::openai::{LlmConfig, OpenAiClient};

/// Which generator writes the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeneratorKind {
    /// `openai` when a base URL is configured (here or in `OPENAI_BASE_URL`), else
    /// `inverse_cloze`.
    #[default]
    Auto,
    /// An OpenAI-compatible server.
    Openai,
    /// Sentences cut from the passage (no LLM).
    InverseCloze,
}

/// Where a run's few-shot examples are read from ([`SynthConfig::few_shot_source`]).
#[derive(Debug, Clone, PartialEq)]
pub enum FewShotSource<'a> {
    /// A JSONL pool file (`few_shot_pool`).
    Pool(&'a Path),
    /// The judged pairs of a BEIR split (`few_shot_split`, of `few_shot_dataset` when named).
    Split {
        /// The dataset the split belongs to.
        dataset: Cow<'a, Dataset>,
        /// The split.
        split: &'a str,
    },
    /// No examples: zero-shot prompts.
    None,
}

/// A generation run's settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynthConfig {
    /// The generator. Default `auto`.
    pub generator: GeneratorKind,
    /// The server and sampling settings (for `openai`).
    pub llm: LlmConfig,
    /// Templates, passage cut and few-shot count.
    pub prompts: PromptConfig,
    /// A JSONL few-shot pool ([`crate::few_shot`]). Default none.
    pub few_shot_pool: Option<PathBuf>,
    /// Use the dataset's labelled (passage, query) pairs of this split as the few-shot pool
    /// (paper A's use of the task's labelled data). Default none: zero-shot prompts unless
    /// `few_shot_pool` is set.
    pub few_shot_split: Option<String>,
    /// The BEIR dataset (a name or folder, as `--dataset` takes) whose `few_shot_split` is the
    /// pool. Default none: the dataset generated for. Another dataset's labelled pairs leave
    /// the target's labels unread, as InPars' fixed MS MARCO examples do (arXiv 2202.05144):
    /// label-free adaptation (`few_shot_dataset = "nq-utd"`, `few_shot_split = "test"`).
    pub few_shot_dataset: Option<String>,
    /// Settings of the `inverse_cloze` generator.
    pub inverse_cloze: InverseClozeConfig,
    /// Which queries to ask for.
    pub queries: QueryGenerationConfig,
    /// Which documents to ask for.
    pub documents: DocumentGenerationConfig,
    /// Output cleaning and length limits.
    pub clean: CleanConfig,
}

impl Config for SynthConfig {
    fn validate(&self) -> std::result::Result<(), InvalidField> {
        self.llm.validate().map_err(|e| e.within("llm"))?;
        if self.few_shot_pool.is_some() && self.few_shot_split.is_some() {
            return Err(InvalidField::new(
                "few_shot_split",
                "give either few_shot_pool or few_shot_split, not both",
            ));
        }
        if self.few_shot_dataset.is_some() && self.few_shot_split.is_none() {
            return Err(InvalidField::new(
                "few_shot_dataset",
                "names the dataset few_shot_split is read from; give few_shot_split too",
            ));
        }
        if self.queries.per_type == 0 {
            return Err(InvalidField::new(
                "queries.per_type",
                "must be at least 1, found 0",
            ));
        }
        if self.queries.types.is_empty() {
            return Err(InvalidField::new(
                "queries.types",
                "name at least one query type",
            ));
        }
        if let Some(l) = self.documents.levels.iter().find(|l| **l > 3) {
            return Err(InvalidField::new(
                "documents.levels",
                format!("{l} is not a relevance level (0, 1, 2 or 3)"),
            ));
        }
        if self.prompts.max_passage_chars == 0 {
            return Err(InvalidField::new(
                "prompts.max_passage_chars",
                "must be at least 1, found 0",
            ));
        }
        if self.clean.min_query_chars > self.clean.max_query_chars {
            return Err(InvalidField::new(
                "clean.min_query_chars",
                "is above clean.max_query_chars",
            ));
        }
        Ok(())
    }
}

impl SynthConfig {
    /// The generator the config resolves to (see [`GeneratorKind::Auto`]).
    pub fn resolved_kind(&self) -> GeneratorKind {
        match self.generator {
            GeneratorKind::Auto if self.llm.resolved_base_url().is_some() => GeneratorKind::Openai,
            GeneratorKind::Auto => GeneratorKind::InverseCloze,
            other => other,
        }
    }

    /// Where the few-shot pool comes from: the configured file, else a split of
    /// `few_shot_dataset` (found by name or folder) or of `dataset`, else nowhere.
    pub fn few_shot_source<'a>(&'a self, dataset: &'a Dataset) -> Result<FewShotSource<'a>> {
        Ok(match (&self.few_shot_pool, &self.few_shot_split) {
            (Some(path), _) => FewShotSource::Pool(path),
            (None, Some(split)) => FewShotSource::Split {
                dataset: match &self.few_shot_dataset {
                    Some(name) => Cow::Owned(Dataset::find(name)?),
                    None => Cow::Borrowed(dataset),
                },
                split,
            },
            (None, None) => FewShotSource::None,
        })
    }

    /// The few-shot pool, read from [`Self::few_shot_source`].
    pub fn few_shot_pool(&self, dataset: &Dataset) -> Result<FewShotPool> {
        match self.few_shot_source(dataset)? {
            FewShotSource::Pool(path) => FewShotPool::from_jsonl(path),
            FewShotSource::Split { dataset, split } => FewShotPool::from_dataset(&dataset, split),
            FewShotSource::None => Ok(FewShotPool::default()),
        }
    }

    /// Builds the LLM generator (templates checked, pool loaded).
    pub fn llm_generator(&self, dataset: &Dataset) -> Result<LlmGenerator> {
        let client = OpenAiClient::new(self.llm.clone())?;
        LlmGenerator::new(client, self.prompts.clone(), self.few_shot_pool(dataset)?)
    }

    /// Builds the inverse-cloze generator.
    pub fn inverse_cloze_generator(&self) -> InverseClozeGenerator {
        InverseClozeGenerator::new(self.inverse_cloze)
    }

    /// Checks that the resolved generator can write documents.
    pub fn require_llm(&self, what: &str) -> Result<()> {
        if self.resolved_kind() != GeneratorKind::Openai {
            return Err(SynthError::NeedsLlm { what: what.into() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query_type::QueryType;

    fn write_dataset(root: &std::path::Path, docs: &[(&str, &str)], pairs: &[(&str, &str, &str)]) {
        std::fs::create_dir_all(root.join("qrels")).unwrap();
        let corpus: String = docs
            .iter()
            .map(|(id, text)| {
                format!("{{\"_id\": \"{id}\", \"title\": \"\", \"text\": \"{text}\"}}\n")
            })
            .collect();
        std::fs::write(root.join("corpus.jsonl"), corpus).unwrap();
        let queries: String = pairs
            .iter()
            .map(|(id, text, _)| format!("{{\"_id\": \"{id}\", \"text\": \"{text}\"}}\n"))
            .collect();
        std::fs::write(root.join("queries.jsonl"), queries).unwrap();
        let qrels: String = pairs
            .iter()
            .map(|(q, _, d)| format!("{q}\t{d}\t1\n"))
            .collect();
        std::fs::write(
            root.join("qrels/test.tsv"),
            format!("query-id\tcorpus-id\tscore\n{qrels}"),
        )
        .unwrap();
    }

    #[test]
    fn few_shot_examples_come_from_another_dataset_when_named() {
        let dir = densify_testkit::fresh_dir("synth-config", "few-shot-dataset");
        let target = dir.join("target");
        let other = dir.join("other");
        write_dataset(
            &target,
            &[("t1", "target passage")],
            &[("tq", "target query", "t1")],
        );
        write_dataset(
            &other,
            &[("o1", "other passage one"), ("o2", "other passage two")],
            &[
                ("oq1", "who wrote one", "o1"),
                ("oq2", "who wrote two", "o2"),
            ],
        );
        let target_set = Dataset::open(&target).unwrap();
        let mut config = SynthConfig {
            few_shot_split: Some("test".into()),
            ..SynthConfig::default()
        };
        // Without few_shot_dataset: the target's own single pair.
        assert_eq!(config.few_shot_pool(&target_set).unwrap().len(), 1);
        config.few_shot_dataset = Some(other.display().to_string());
        config.validate().unwrap();
        let pool = config.few_shot_pool(&target_set).unwrap();
        assert_eq!(pool.len(), 2);
        let drawn = pool.draw(QueryType::Question, "target passage", 3, 42, "t1");
        assert!(drawn.iter().all(|e| e.passage.starts_with("other passage")));
        assert!(drawn.iter().all(|e| e.query.starts_with("who wrote")));
        // A dataset that is not there: an error naming it, not an empty pool.
        config.few_shot_dataset = Some(dir.join("missing").display().to_string());
        let err = config.few_shot_pool(&target_set).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn few_shot_dataset_needs_a_split() {
        let config = SynthConfig {
            few_shot_dataset: Some("nq-utd".into()),
            ..SynthConfig::default()
        };
        let err = config.validate().unwrap_err();
        assert!(err.to_string().contains("few_shot_dataset"), "{err}");
    }
}
