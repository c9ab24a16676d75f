//! Real queries without labels, in place of synthetic ones (`adapt`'s `[queries]` table):
//! users often hold a query log for their corpus but no relevance judgements. The queries
//! take the generate stage's place: each gets a provisional source passage, BM25's first
//! document, so the candidate and filter stages run unchanged (BM25's first is always among
//! the fused candidates); the teacher stage then moves the positive to the teacher's own first
//! ([`relabel_by_teacher`]), so no judgement, given or guessed, is trained on.
//!
//! Training on the target domain's real queries with a teacher's scores is the pseudo-labelling
//! setting of domain adaptation for retrieval (GPL, Wang et al., NAACL 2022, trains on
//! generated queries because it assumes none; with a log there is no need to generate).
//!
//! # Queries file
//! Either a BEIR `queries.jsonl` (`{"_id": "q1", "text": "..."}`) or a TSV of `id<TAB>text`,
//! one query a line.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use densify_core::{Config, InvalidField};
use densify_data::{Dataset, Qrels, Query};
use densify_eval::bm25::Bm25Index;
use densify_train::TrainingExample;
use serde::{Deserialize, Serialize};

use crate::driver::Counts;
use crate::error::{RecipeError, Result};

/// Where the unlabelled queries come from: exactly one of `file` and `split`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UnlabelledQueriesConfig {
    /// A queries file (BEIR JSONL, or `id<TAB>text` lines). Default none.
    pub file: Option<PathBuf>,
    /// The queries of this split of the dataset, their texts only (the split's qrels name
    /// which queries belong to it and are not read otherwise). Default none.
    pub split: Option<String>,
    /// Use at most this many queries (the first ones). Default: all.
    pub max_queries: Option<usize>,
}

impl Config for UnlabelledQueriesConfig {
    fn validate(&self) -> std::result::Result<(), InvalidField> {
        match (&self.file, &self.split) {
            (Some(_), Some(_)) => Err(InvalidField::new(
                "split",
                "give either `file` or `split`, not both",
            )),
            (None, None) => Err(InvalidField::new(
                "file",
                "is required (or `split`, a split of the dataset whose query texts are used)",
            )),
            _ => {
                if self.max_queries == Some(0) {
                    return Err(InvalidField::new("max_queries", "must be at least 1"));
                }
                Ok(())
            }
        }
    }
}

impl UnlabelledQueriesConfig {
    /// The queries, read from the file or the dataset's split, at most `max_queries`.
    pub fn read(&self, dataset: &Dataset) -> Result<Vec<Query>> {
        let mut queries = match (&self.file, &self.split) {
            (Some(file), _) => read_queries_file(file)?,
            (None, Some(split)) => dataset.split_queries(split)?.0,
            (None, None) => Vec::new(),
        };
        if let Some(max) = self.max_queries {
            queries.truncate(max);
        }
        Ok(queries)
    }
}

/// A BEIR `queries.jsonl`, or `id<TAB>text` lines (errors name the file and line).
fn read_queries_file(path: &Path) -> Result<Vec<Query>> {
    let is_jsonl = path
        .extension()
        .is_some_and(|e| e == "jsonl" || e == "json");
    if is_jsonl {
        return Ok(densify_data::beir::read_queries(path)?);
    }
    let mut queries = Vec::new();
    let mut seen = HashSet::new();
    densify_data::lines::for_each_line(path, |line, text| {
        if text.trim().is_empty() {
            return Ok(());
        }
        let Some((id, query)) = text.split_once('\t') else {
            return Err(densify_data::DataError::parse(
                path,
                line,
                "expected `id<TAB>text` (or give a .jsonl file of BEIR queries)",
            ));
        };
        let (id, query) = (id.trim(), query.trim());
        if id.is_empty() || query.is_empty() {
            return Err(densify_data::DataError::parse(
                path,
                line,
                "the id and the text must not be empty",
            ));
        }
        if !seen.insert(id.to_owned()) {
            return Err(densify_data::DataError::parse(
                path,
                line,
                format!("query id `{id}` appears twice"),
            ));
        }
        queries.push(Query {
            id: id.to_owned(),
            text: query.to_owned(),
            metadata: None,
        });
        Ok(())
    })?;
    Ok(queries)
}

/// The generate stage for unlabelled queries: `corpus.jsonl` (the dataset's whole corpus),
/// `queries.jsonl` and `qrels/train.tsv` with BM25's first document as each query's
/// provisional source, written to `folder`. Queries BM25 finds nothing for are dropped.
pub fn write_queries_dataset(
    dataset: &Dataset,
    config: &UnlabelledQueriesConfig,
    bm25: densify_eval::bm25::Bm25Config,
    folder: &Path,
    counts: &mut Counts,
) -> Result<()> {
    let queries = config.read(dataset)?;
    if queries.is_empty() {
        return Err(RecipeError::Empty {
            stage: "generate",
            message: "the `[queries]` table gives no query".into(),
        });
    }
    let index = Bm25Index::for_dataset(dataset, bm25)?;
    let run = index.search_queries(&queries, 1);
    let mut qrels = Qrels::new();
    let mut kept = Vec::with_capacity(queries.len());
    for q in queries.iter() {
        if let Some(first) = run.query(&q.id).and_then(|docs| docs.first()) {
            qrels.insert(&q.id, &first.doc_id, 1);
            kept.push(q.clone());
        }
    }
    counts.insert("requested".into(), queries.len() as f64);
    counts.insert("queries".into(), kept.len() as f64);
    counts.insert("dropped".into(), (queries.len() - kept.len()) as f64);
    let corpus = dataset.corpus()?;
    Dataset::create(folder, &corpus, &kept, &[("train", &qrels)])?;
    Ok(())
}

/// Makes each list's positive the candidate the teacher scores highest (the first of equal
/// scores), in place of the provisional source. Returns how many lists changed positive.
pub fn relabel_by_teacher(examples: &mut [TrainingExample], scores: &[Vec<f64>]) -> usize {
    let mut changed = 0;
    for (e, s) in examples.iter_mut().zip(scores) {
        let Some(best) = s
            .iter()
            .enumerate()
            .fold(None::<(usize, f64)>, |best, (i, &v)| match best {
                Some((_, b)) if b >= v => best,
                _ => Some((i, v)),
            })
            .map(|(i, _)| i)
        else {
            continue;
        };
        if !e.candidates[best].positive {
            changed += 1;
        }
        for (i, c) in e.candidates.iter_mut().enumerate() {
            c.positive = i == best;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use densify_train::Candidate;

    fn candidate(id: &str, positive: bool) -> Candidate {
        Candidate {
            doc_id: id.into(),
            positive,
            teacher: None,
            label: None,
        }
    }

    #[test]
    fn the_teachers_first_becomes_the_positive() {
        let mut examples = vec![
            TrainingExample {
                id: "q1".into(),
                query_id: "q1".into(),
                query: "q".into(),
                candidates: vec![
                    candidate("a", true),
                    candidate("b", false),
                    candidate("c", false),
                ],
                line: 1,
            },
            TrainingExample {
                id: "q2".into(),
                query_id: "q2".into(),
                query: "q".into(),
                candidates: vec![candidate("a", true), candidate("b", false)],
                line: 2,
            },
        ];
        // q1: "c" scores highest; q2: a tie keeps the first, already the positive.
        let changed = relabel_by_teacher(&mut examples, &[vec![0.2, 0.5, 0.9], vec![0.7, 0.7]]);
        assert_eq!(changed, 1);
        let positives = |e: &TrainingExample| -> Vec<bool> {
            e.candidates.iter().map(|c| c.positive).collect()
        };
        assert_eq!(positives(&examples[0]), [false, false, true]);
        assert_eq!(positives(&examples[1]), [true, false]);
    }

    #[test]
    fn a_tsv_queries_file_names_its_bad_line() {
        let dir = std::env::temp_dir().join(format!("densify-unlabelled-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("queries.tsv");
        std::fs::write(&path, "q1\twhat is x\n\nq2 no tab here\n").unwrap();
        let e = read_queries_file(&path).unwrap_err().to_string();
        assert!(e.contains("queries.tsv") && e.contains(":3"), "{e}");
        std::fs::write(&path, "q1\twhat is x\nq1\tagain\n").unwrap();
        let e = read_queries_file(&path).unwrap_err().to_string();
        assert!(e.contains("appears twice"), "{e}");
        std::fs::write(&path, "q1\twhat is x\nq2\t what is y \n").unwrap();
        let queries = read_queries_file(&path).unwrap();
        assert_eq!(queries.len(), 2);
        assert_eq!(queries[1].text, "what is y");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn exactly_one_source_of_queries() {
        let both = UnlabelledQueriesConfig {
            file: Some("q.tsv".into()),
            split: Some("train".into()),
            max_queries: None,
        };
        assert_eq!(both.validate().unwrap_err().field, "split");
        assert_eq!(
            UnlabelledQueriesConfig::default()
                .validate()
                .unwrap_err()
                .field,
            "file"
        );
    }
}
