//! The BEIR dataset (and for documents the training lists) written from a run's JSONL.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use densify_data::{Candidate, TrainingExample};
use densify_data::{Document, Qrels, Query};

use super::documents::DocumentRow;
use super::queries::QueryRow;
use super::run::read_rows;
use crate::error::{Result, SynthError};

/// Writes the BEIR dataset of the kept queries: `corpus.jsonl` (the `corpus` given),
/// `queries.jsonl` (with `type` and `passage_id` in `metadata`) and `qrels/train.tsv` (each
/// query judged 1 on its source passage). A row whose id is on an earlier line is skipped (the
/// run's summary reports it). With no kept row it is an error and nothing is written.
pub fn export_queries(rows_path: &Path, corpus: &[Document], output: &Path) -> Result<usize> {
    let (_, rows, _, _) = read_rows::<QueryRow>(rows_path)?;
    let ids: HashSet<&str> = corpus.iter().map(|d| d.id.as_str()).collect();
    let mut queries = Vec::new();
    let mut qrels = Qrels::new();
    for row in rows.iter().filter(|r| r.dropped.is_none()) {
        if !ids.contains(row.passage_id.as_str()) {
            return Err(SynthError::PassageNotInCorpus {
                path: rows_path.to_path_buf(),
                query: row.id.clone(),
                passage: row.passage_id.clone(),
            });
        }
        queries.push(Query {
            id: row.id.clone(),
            text: row.text.clone(),
            metadata: Some(serde_json::json!({"type": row.kind, "passage_id": row.passage_id})),
        });
        qrels.insert(&row.id, &row.passage_id, 1);
    }
    write_beir(output, corpus, &queries, &qrels)?;
    Ok(queries.len())
}

pub(super) fn write_beir(
    output: &Path,
    corpus: &[Document],
    queries: &[Query],
    qrels: &Qrels,
) -> Result<()> {
    // Checked before anything is written: no corpus, no empty `qrels/`.
    if queries.is_empty() {
        return Err(SynthError::NothingKept {
            path: output.to_path_buf(),
            what: "no row was kept, so there is no dataset to write (see the drop counts)",
        });
    }
    std::fs::create_dir_all(output.join("qrels")).map_err(|e| SynthError::io(output, e))?;
    densify_data::beir::write_corpus(output.join("corpus.jsonl"), corpus)?;
    densify_data::beir::write_queries(output.join("queries.jsonl"), queries)?;
    qrels.write_beir(output.join("qrels").join("train.tsv"))?;
    Ok(())
}

/// Writes the graded documents as a BEIR dataset (corpus of the kept documents, their queries,
/// `qrels/train.tsv` with the levels as grades) and as `train.jsonl`: one list per query with
/// at least two kept documents, ordered by level, `label` = level, the highest level
/// positive. Returns the number of lists. A row whose id is on an earlier line is skipped (the
/// run's summary reports it). With no kept row it is an error and nothing is written.
pub fn export_documents(rows_path: &Path, output: &Path) -> Result<usize> {
    let (_, rows, _, _) = read_rows::<DocumentRow>(rows_path)?;
    let mut by_query: BTreeMap<&str, Vec<&DocumentRow>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.dropped.is_none()) {
        by_query.entry(row.query_id.as_str()).or_default().push(row);
    }
    let mut corpus = Vec::new();
    let mut queries = Vec::new();
    let mut qrels = Qrels::new();
    let mut lists = Vec::new();
    for (query_id, mut docs) in by_query {
        docs.sort_by(|a, b| b.level.cmp(&a.level).then(a.id.cmp(&b.id)));
        queries.push(Query {
            id: query_id.to_owned(),
            text: docs[0].query.clone(),
            metadata: None,
        });
        for d in &docs {
            corpus.push(Document {
                id: d.id.clone(),
                title: String::new(),
                text: d.text.clone(),
                metadata: Some(serde_json::json!({"level": d.level, "query_id": d.query_id})),
            });
            qrels.insert(query_id, &d.id, i32::from(d.level));
        }
        if docs.len() >= 2 {
            let top = docs[0].level;
            lists.push(TrainingExample {
                id: query_id.to_owned(),
                query_id: query_id.to_owned(),
                query: docs[0].query.clone(),
                candidates: docs
                    .iter()
                    .map(|d| Candidate {
                        doc_id: d.id.clone(),
                        positive: d.level == top,
                        teacher: None,
                        label: Some(f64::from(d.level)),
                    })
                    .collect(),
                line: 0,
            });
        }
    }
    write_beir(output, &corpus, &queries, &qrels)?;
    densify_data::training_example::write_examples(output.join("train.jsonl"), &lists)?;
    Ok(lists.len())
}
