//! Training examples: a query and its candidate list, the file format every trainer, miner,
//! scorer and synthetic-data stage reads and writes.
//!
//! # JSONL schema (one example per line)
//!
//! ```json
//! {"id": "q1#0", "query_id": "q1", "query": "what causes scurvy",
//!  "candidates": [{"doc_id": "d7", "positive": true, "teacher": 7.1, "label": 3},
//!                 {"doc_id": "d2", "teacher": 1.2, "label": 0}]}
//! ```
//!
//! | field | required | meaning |
//! |---|---|---|
//! | `id` | no (default `query_id`) | the example's id: error messages, noise streams |
//! | `query_id` | yes | the query's id (string or integer) |
//! | `query` | yes | the query text |
//! | `candidates` | yes, non-empty | documents of the list, in order |
//! | `candidates[].doc_id` | yes | a corpus id |
//! | `candidates[].positive` | no (false) | a relevant document (InfoNCE's positive) |
//! | `candidates[].teacher` | no | a teacher's score (distillation); all or none per example |
//! | `candidates[].label` | no | graded relevance (list losses); all or none per example |
//!
//! Unknown fields are errors; numbers must be finite; a document may appear once per list.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use densify_core::config::strip_json_position;
use serde::{Deserialize, Serialize};

use crate::{DataError, Dataset, Result};

/// One candidate document of an example's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    /// The corpus id.
    #[serde(deserialize_with = "string_or_integer")]
    pub doc_id: String,
    /// Relevant to the query.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub positive: bool,
    /// A teacher's score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<f64>,
    /// Graded relevance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<f64>,
}

/// A query with its candidate list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingExample {
    /// The example's id (default: the query id).
    #[serde(default)]
    pub id: String,
    /// The query's id.
    #[serde(deserialize_with = "string_or_integer")]
    pub query_id: String,
    /// The query text.
    pub query: String,
    /// The candidate list.
    pub candidates: Vec<Candidate>,
    /// The 1-based line the example was read from (0 when built in code).
    #[serde(skip)]
    pub line: usize,
}

fn string_or_integer<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        S(String),
        I(i64),
    }
    match Id::deserialize(d) {
        Ok(Id::S(s)) => Ok(s),
        Ok(Id::I(i)) => Ok(i.to_string()),
        Err(_) => Err(serde::de::Error::custom("must be a string or an integer")),
    }
}

impl TrainingExample {
    /// The positives' positions in the list.
    pub fn positives(&self) -> impl Iterator<Item = usize> + '_ {
        self.candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.positive)
            .map(|(i, _)| i)
    }

    /// Checks the rules of the schema; the message names the field.
    fn check(&self) -> std::result::Result<(), String> {
        if self.candidates.is_empty() {
            return Err("`candidates` is empty".into());
        }
        let mut seen = HashSet::new();
        for (i, c) in self.candidates.iter().enumerate() {
            if !seen.insert(c.doc_id.as_str()) {
                return Err(format!(
                    "`candidates[{i}].doc_id`: `{}` appears twice in the list",
                    c.doc_id
                ));
            }
            for (name, value) in [("teacher", c.teacher), ("label", c.label)] {
                if let Some(v) = value.filter(|v| !v.is_finite()) {
                    return Err(format!(
                        "`candidates[{i}].{name}` must be finite, found {v}"
                    ));
                }
            }
        }
        for (name, count) in [
            (
                "teacher",
                self.candidates
                    .iter()
                    .filter(|c| c.teacher.is_some())
                    .count(),
            ),
            (
                "label",
                self.candidates.iter().filter(|c| c.label.is_some()).count(),
            ),
        ] {
            if count != 0 && count != self.candidates.len() {
                return Err(format!(
                    "`{name}` is given for {count} of {} candidates: give it for all or none",
                    self.candidates.len()
                ));
            }
        }
        Ok(())
    }
}

/// Reads a training JSONL file, validating every example (errors name the file, line and
/// field). Duplicate example ids are refused.
pub fn read_examples(path: impl AsRef<Path>) -> Result<Vec<TrainingExample>> {
    let path = path.as_ref();
    let mut out: Vec<TrainingExample> = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    crate::lines::for_each_line(path, |number, line| {
        if line.trim().is_empty() {
            return Ok(());
        }
        let mut example =
            parse_example(line).map_err(|message| DataError::parse(path, number, message))?;
        if example.id.is_empty() {
            example.id = example.query_id.clone();
        }
        example.line = number;
        example
            .check()
            .map_err(|message| DataError::parse(path, number, message))?;
        if let Some(first) = ids.insert(example.id.clone(), number) {
            return Err(DataError::parse(
                path,
                number,
                format!(
                    "example id `{}` is used twice (first on line {first})",
                    example.id
                ),
            ));
        }
        out.push(example);
        Ok(())
    })?;
    if out.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            what: "training example",
        });
    }
    Ok(out)
}

/// Parses one line; on failure, the message names the candidate at fault
/// (`candidates[2]: ...`), found by a second, slower pass over the line as a JSON value.
fn parse_example(line: &str) -> std::result::Result<TrainingExample, String> {
    let first = match serde_json::from_str::<TrainingExample>(line) {
        Ok(example) => return Ok(example),
        Err(e) => e,
    };
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| strip_json_position(&e.to_string()))?;
    let message = strip_json_position(&first.to_string());
    Err(match locate(&value, &message) {
        Some(field) => format!("`{field}`: {message}"),
        None => message,
    })
}

/// Which candidate a message is about, found by re-checking each candidate alone.
fn locate(value: &serde_json::Value, message: &str) -> Option<String> {
    let candidates = value.get("candidates")?.as_array()?;
    candidates.iter().enumerate().find_map(|(i, c)| {
        Candidate::deserialize(c)
            .err()
            .filter(|e| message.contains(&strip_json_position(&e.to_string())))
            .map(|_| format!("candidates[{i}]"))
    })
}

/// Writes examples as JSONL through densify-core's `AtomicFile`, leaving neither a changed
/// destination nor a temporary behind on any failure (a full disk, a failed fsync or rename).
///
/// The content is flushed while the writer is still held, so a failed write or flush (a full
/// disk) drops an uncommitted `AtomicFile`, whose `Drop` removes the temporary. Should the
/// commit itself fail (fsync, rename), this process's temporary of `path` is removed here as
/// well: a densify-core whose `AtomicFile::commit` takes its writer before the fsync and the
/// rename leaves it, as its `Drop` then sees a committed file.
pub fn write_examples(path: impl AsRef<Path>, examples: &[TrainingExample]) -> Result<()> {
    let path = path.as_ref();
    let mut bytes = Vec::new();
    for example in examples {
        serde_json::to_writer(&mut bytes, example).map_err(|e| DataError::io(path, e.into()))?;
        bytes.push(b'\n');
    }
    let mut file = densify_core::AtomicFile::create(path).map_err(|e| DataError::io(path, e))?;
    let written = file.write_all(&bytes).and_then(|()| file.flush());
    if let Err(e) = written {
        drop(file); // uncommitted: its Drop removes the temporary
        return Err(DataError::io(path, e));
    }
    if let Err(e) = file.commit() {
        remove_own_temporary(path);
        return Err(DataError::io(path, e));
    }
    Ok(())
}

/// Removes `.<name>.densify-tmp-<pid>` of this process (and of dead writers) beside `path`:
/// the temporary densify-core's `AtomicFile` names (see its module docs).
fn remove_own_temporary(path: &Path) {
    let (Some(name), Ok(folder)) = (path.file_name(), densify_core::output_folder(path)) else {
        return;
    };
    densify_core::remove_stale(
        &folder,
        &format!(".{}.densify-tmp-", name.to_string_lossy()),
    );
}

/// One example per judged-relevant (query, document) pair of a split (grade > 0), the
/// document as the only, positive candidate: the (anchor, positive) pairs of
/// sentence-transformers' `MultipleNegativesRankingLoss`. Ordered by query id, then document
/// id; ids are `query_id#doc_id`.
pub fn pairs_from_qrels(dataset: &Dataset, split: &str) -> Result<Vec<TrainingExample>> {
    let (queries, qrels) = dataset.split_queries(split)?;
    let mut out = Vec::new();
    let mut queries = queries;
    queries.sort_by(|a, b| a.id.cmp(&b.id));
    for query in queries {
        let Some(judged) = qrels.query(&query.id) else {
            continue;
        };
        let mut docs: Vec<&String> = judged
            .iter()
            .filter(|(_, g)| **g > 0)
            .map(|(d, _)| d)
            .collect();
        docs.sort();
        for doc in docs {
            out.push(TrainingExample {
                id: format!("{}#{doc}", query.id),
                query_id: query.id.clone(),
                query: query.text.clone(),
                candidates: vec![Candidate {
                    doc_id: doc.clone(),
                    positive: true,
                    teacher: None,
                    label: None,
                }],
                line: 0,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("densify-data-ex-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_the_documented_schema_and_round_trips() {
        let path = file(
            "ok.jsonl",
            "{\"query_id\": 5, \"query\": \"q\", \"candidates\": [{\"doc_id\": \"a\", \"positive\": true, \"teacher\": 2.5, \"label\": 3}, {\"doc_id\": 9, \"teacher\": 1, \"label\": 0}]}\n",
        );
        let examples = read_examples(&path).unwrap();
        assert_eq!(examples[0].id, "5");
        assert_eq!(examples[0].candidates[1].doc_id, "9");
        assert_eq!(examples[0].positives().collect::<Vec<_>>(), [0]);
        let again = file("again.jsonl", "");
        write_examples(&again, &examples).unwrap();
        let reread = read_examples(&again).unwrap();
        assert_eq!(reread[0].candidates, examples[0].candidates);
    }

    #[test]
    fn bad_examples_name_file_line_and_field() {
        let good = "{\"query_id\": \"q\", \"query\": \"x\", \"candidates\": [{\"doc_id\": \"a\", \"positive\": true}]}";
        let cases = [
            (
                "{\"query_id\": \"q\", \"query\": \"x\", \"candidates\": []}",
                "`candidates` is empty",
            ),
            (
                "{\"query_id\": \"q2\", \"query\": \"x\", \"candidates\": [{\"doc_id\": \"a\", \"teacher\": 1}, {\"doc_id\": \"b\"}]}",
                "`teacher` is given for 1 of 2 candidates",
            ),
            (
                "{\"query_id\": \"q3\", \"query\": \"x\", \"candidates\": [{\"doc_id\": \"a\"}, {\"doc_id\": \"a\"}]}",
                "`candidates[1].doc_id`: `a` appears twice",
            ),
            (
                "{\"query_id\": \"q4\", \"query\": \"x\", \"candidates\": [{\"doc_id\": \"a\", \"score\": 1}]}",
                "`candidates[0]`: unknown field `score`",
            ),
            (
                "{\"query_id\": \"q5\", \"query\": \"x\", \"candidates\": [{\"doc_id\": \"a\", \"teacher\": \"high\"}]}",
                "`candidates[0]`: invalid type",
            ),
            (
                "{\"query_id\": \"q\", \"query\": \"y\", \"candidates\": [{\"doc_id\": \"a\"}]}",
                "example id `q` is used twice (first on line 1)",
            ),
            ("{\"query\": \"x\"", "EOF"),
        ];
        for (i, (line, expected)) in cases.iter().enumerate() {
            let path = file(&format!("bad{i}.jsonl"), &format!("{good}\n{line}\n"));
            let err = read_examples(&path).unwrap_err().to_string();
            assert!(
                err.contains(&format!("bad{i}.jsonl:2: ")) && err.contains(expected),
                "{err}"
            );
        }
        let empty = file("empty.jsonl", "\n");
        assert!(
            read_examples(&empty)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
    }
}
