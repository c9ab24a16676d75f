//! Graded documents for real queries: which to ask for, the stored row, the queries sampled
//! and the run that writes them.

use std::collections::HashSet;
use std::path::Path;

use densify_data::Query;
use serde::{Deserialize, Serialize};

use crate::clean::{CleanConfig, DropReason, clean_document};
use densify_core::Progress;
use densify_core::config::InvalidField;

use super::run::{GenerationSummary, ResumedRun, sample_in_order};
use crate::error::{Result, SynthError};
use crate::generator::{Generator, Provenance};

/// Which documents to ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocumentGenerationConfig {
    /// Relevance levels, one document each per query. Default `[3, 2, 1, 0]` (paper C).
    pub levels: Vec<u8>,
    /// Queries taken (seeded sample); default: every query of the split.
    pub max_queries: Option<usize>,
    /// Seed of the query sample. Default 42.
    pub seed: u64,
}

impl Default for DocumentGenerationConfig {
    fn default() -> Self {
        Self {
            levels: vec![3, 2, 1, 0],
            max_queries: None,
            seed: 42,
        }
    }
}

/// One generated document (kept or dropped), as stored in `generated_documents.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentRow {
    /// The document id: `<query id>-L<level>`.
    pub id: String,
    /// The real query it was written for.
    pub query_id: String,
    /// That query's text.
    pub query: String,
    /// The relevance level asked for (3 perfectly relevant ... 0 irrelevant).
    pub level: u8,
    /// The cleaned text; empty when dropped.
    pub text: String,
    /// The answer as received.
    pub raw: Option<String>,
    /// Why it was dropped; absent when kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<DropReason>,
    /// What made it.
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// The queries documents are asked for: every query of the list, or a seeded sample in order.
pub fn sample_queries<'a>(
    queries: &'a [Query],
    config: &DocumentGenerationConfig,
) -> Vec<&'a Query> {
    sample_in_order(queries, config.max_queries, config.seed)
}

/// Writes one document per level for each query into `output`, resuming from what is there;
/// `progress` starts a piece `documents` over the requests still to make.
pub fn generate_documents(
    queries: &[&Query],
    generator: &dyn Generator,
    config: &DocumentGenerationConfig,
    clean: &CleanConfig,
    concurrency: usize,
    output: &Path,
    progress: &mut dyn Progress,
) -> Result<GenerationSummary> {
    if queries.is_empty() {
        return Err(SynthError::NothingToDo("no queries to write documents for"));
    }
    if let Some(bad) = config.levels.iter().find(|l| **l > 3) {
        return Err(SynthError::Setting {
            section: "documents",
            field: InvalidField::new(
                "levels",
                format!("holds {bad}, which is not a relevance level (0, 1, 2 or 3)"),
            ),
        });
    }
    if config.levels.is_empty() {
        return Err(SynthError::Setting {
            section: "documents",
            field: InvalidField::new("levels", "is empty: name at least one level (0 to 3)"),
        });
    }
    std::fs::create_dir_all(output).map_err(|e| SynthError::io(output, e))?;
    let run = ResumedRun::<DocumentRow>::open(&output.join("generated_documents.jsonl"))?;
    let done: HashSet<&str> = run.rows.iter().map(|r| r.id.as_str()).collect();
    let jobs: Vec<(&Query, u8, String)> = queries
        .iter()
        .flat_map(|q| {
            config
                .levels
                .iter()
                .map(move |&l| (*q, l, format!("{}-L{l}", q.id)))
        })
        .filter(|(_, _, id)| !done.contains(id.as_str()))
        .collect();
    drop(done);
    run.finish(
        &jobs,
        concurrency,
        &|(query, level, id)| generator.document(&query.text, *level, id),
        &mut |(query, level, id), generated| {
            let cleaned = match &generated.raw {
                None => Err(DropReason::Malformed),
                Some(raw) => clean_document(raw, clean),
            };
            DocumentRow {
                id: id.clone(),
                query_id: query.id.clone(),
                query: query.text.clone(),
                level: *level,
                dropped: cleaned.as_ref().err().copied(),
                text: cleaned.unwrap_or_default(),
                raw: generated.raw,
                provenance: generated.provenance,
            }
        },
        "documents",
        progress,
    )
}
