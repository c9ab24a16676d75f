//! Queries for corpus passages: which to ask for, the stored row, the passages sampled and the
//! run that writes them.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use densify_data::Document;
use serde::{Deserialize, Serialize};

use crate::clean::{CleanConfig, DropReason, clean_query};
use densify_core::Progress;
use densify_core::config::InvalidField;

use super::run::{GenerationSummary, ResumedRun, sample_in_order};
use crate::error::{Result, SynthError};
use crate::generator::{Generator, Provenance};
use crate::passage::Passage;
use crate::query_type::QueryType;

/// Which queries to ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryGenerationConfig {
    /// Query types asked for per passage. Default: all six (paper B).
    pub types: Vec<QueryType>,
    /// Queries per passage and type. Default 1 (paper B).
    pub per_type: usize,
    /// Passages sampled from the corpus (seeded); default: every passage.
    pub max_passages: Option<usize>,
    /// Seed of the passage sample. Default 42.
    pub seed: u64,
}

impl Default for QueryGenerationConfig {
    fn default() -> Self {
        Self {
            types: QueryType::ALL.to_vec(),
            per_type: 1,
            max_passages: None,
            seed: 42,
        }
    }
}

/// One generated query (kept or dropped), as stored in `generated_queries.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRow {
    /// The query id: `<passage id>-<type>-<n>`.
    pub id: String,
    /// The passage it was written for.
    pub passage_id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: QueryType,
    /// The cleaned text; empty when dropped.
    pub text: String,
    /// The answer as received; `null` when the answer had no text.
    pub raw: Option<String>,
    /// Why it was dropped; absent when kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<DropReason>,
    /// What made it.
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// The passages queries are asked for: the whole corpus, or a seeded sample of it kept in
/// corpus order.
pub fn sample_passages(corpus: &[Document], config: &QueryGenerationConfig) -> Vec<Passage> {
    sample_in_order(corpus, config.max_passages, config.seed)
        .into_iter()
        .map(Passage::from)
        .collect()
}

/// Writes queries for `passages` into `output` (see the module docs), resuming from what is
/// there. `progress` starts a piece `queries` over the requests still to make and is advanced
/// on the caller's thread after each answer.
pub fn generate_queries(
    passages: &[Passage],
    generator: &dyn Generator,
    config: &QueryGenerationConfig,
    clean: &CleanConfig,
    concurrency: usize,
    output: &Path,
    progress: &mut dyn Progress,
) -> Result<GenerationSummary> {
    if passages.is_empty() {
        return Err(SynthError::NothingToDo(
            "the corpus holds no passages to write queries for",
        ));
    }
    if config.types.is_empty() {
        return Err(SynthError::Setting {
            section: "queries",
            field: InvalidField::new("types", "is empty: name at least one query type"),
        });
    }
    std::fs::create_dir_all(output).map_err(|e| SynthError::io(output, e))?;
    let run = ResumedRun::<QueryRow>::open(&output.join("generated_queries.jsonl"))?;
    let mut done: HashSet<&str> = HashSet::new();
    let mut seen_texts: HashMap<(String, QueryType), HashSet<String>> = HashMap::new();
    for row in &run.rows {
        done.insert(row.id.as_str());
        if row.dropped.is_none() {
            seen_texts
                .entry((row.passage_id.clone(), row.kind))
                .or_default()
                .insert(row.text.to_lowercase());
        }
    }
    let mut jobs: Vec<(&Passage, QueryType, String)> = Vec::new();
    for passage in passages {
        for &kind in &config.types {
            for n in 0..config.per_type {
                let id = format!("{}-{}-{n}", passage.id, kind.name());
                if !done.contains(id.as_str()) {
                    jobs.push((passage, kind, id));
                }
            }
        }
    }
    drop(done);
    run.finish(
        &jobs,
        concurrency,
        &|(passage, kind, id)| generator.query(passage, *kind, id),
        &mut |(passage, kind, id), generated| {
            let cleaned = match &generated.raw {
                None => Err(DropReason::Malformed),
                Some(raw) => clean_query(raw, *kind, clean),
            };
            let cleaned = cleaned.and_then(|text| {
                let seen = seen_texts.entry((passage.id.clone(), *kind)).or_default();
                if seen.insert(text.to_lowercase()) {
                    Ok(text)
                } else {
                    Err(DropReason::Duplicate)
                }
            });
            QueryRow {
                id: id.clone(),
                passage_id: passage.id.clone(),
                kind: *kind,
                dropped: cleaned.as_ref().err().copied(),
                text: cleaned.unwrap_or_default(),
                raw: generated.raw,
                provenance: generated.provenance,
            }
        },
        "queries",
        progress,
    )
}
