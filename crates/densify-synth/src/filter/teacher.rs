//! Teacher scoring and the teacher top-1 filter: every candidate of a query's list is scored
//! by a cross-encoder (or bi-encoder) teacher, and the query is kept only if the teacher ranks
//! its source passage first (paper B, after reranking the fused list).

use std::path::PathBuf;

use densify_core::config::InvalidField;
pub use densify_model::teacher::TeacherKind;
use densify_model::teacher::{Teacher, score_examples};
use serde::{Deserialize, Serialize};

use super::{FilterContext, FilterItem, StageReport};
use crate::error::Result;

/// Settings of the teacher stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeacherConfig {
    /// The teacher's folder (Hugging Face layout). Required.
    pub model: PathBuf,
    /// `cross_encoder` (default; the folder must hold a trained classification head,
    /// `classifier.weight`: a bare encoder is refused) or `bi_encoder`.
    #[serde(default = "default_kind")]
    pub kind: TeacherKind,
    /// Longest (query, passage) pair of a cross-encoder in tokens. Default 512.
    #[serde(default = "default_max_length")]
    pub max_length: usize,
    /// Pairs (or texts) per forward pass. Default 32.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Drop queries whose source passage is not the teacher's first. Default true.
    #[serde(default = "default_true")]
    pub require_top1: bool,
}

fn default_kind() -> TeacherKind {
    TeacherKind::CrossEncoder
}
fn default_max_length() -> usize {
    512
}
fn default_batch() -> usize {
    32
}
fn default_true() -> bool {
    true
}

impl TeacherConfig {
    pub(crate) fn validate(&self) -> std::result::Result<(), InvalidField> {
        if self.batch_size == 0 {
            return Err(InvalidField::new(
                "batch_size",
                "must be at least 1, found 0",
            ));
        }
        if self.max_length == 0 {
            return Err(InvalidField::new(
                "max_length",
                "must be at least 1, found 0",
            ));
        }
        Ok(())
    }
}

/// Scores the items' lists and, with `require_top1`, keeps those whose source is first.
pub fn apply(
    items: Vec<FilterItem>,
    config: &TeacherConfig,
    context: &mut FilterContext<'_>,
) -> Result<(Vec<FilterItem>, StageReport)> {
    let teacher = Teacher::load(
        config.kind,
        &config.model,
        config.max_length,
        context.device,
    )?;
    let mut examples: Vec<_> = items.iter().map(FilterItem::to_example).collect();
    let pairs: usize = examples.iter().map(|e| e.candidates.len()).sum();
    let progress = &mut *context.progress;
    progress.start("teacher: scoring pairs", Some(pairs as u64));
    let scored = score_examples(
        &mut examples,
        context.texts,
        &teacher,
        config.batch_size,
        context.device,
        &mut |n| progress.set(n as u64),
    );
    progress.finish();
    scored?;
    let mut report = StageReport::new("teacher", items.len());
    let mut kept = Vec::new();
    for (mut item, example) in items.into_iter().zip(examples) {
        item.candidates = example.candidates;
        if config.require_top1 {
            let source = item.candidates.iter().find(|c| c.doc_id == item.source);
            let Some(source_score) = source.and_then(|c| c.teacher) else {
                report.drop("source not in the list");
                continue;
            };
            let beaten = item.candidates.iter().any(|c| {
                c.doc_id != item.source && c.teacher.unwrap_or(f64::NEG_INFINITY) > source_score
            });
            if beaten {
                report.drop("source not the teacher's first");
                continue;
            }
        }
        kept.push(item);
    }
    report.kept = kept.len();
    Ok((kept, report))
}
