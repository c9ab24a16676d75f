//! Retrieval runs: scored documents per query, TREC run files in and out, and trec_eval's
//! ranking order.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use rayon::prelude::*;

use crate::error::{DataError, Result, write_file};
use crate::lines::parse_blocks;

/// A query id, its documents and the line number of each.
type QueryLines = (String, Vec<ScoredDoc>, Vec<u32>);

/// One retrieved document and its score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredDoc {
    /// The document id.
    pub doc_id: String,
    /// The retrieval score; higher is better.
    pub score: f64,
}

/// How scores are compared when ranking.
///
/// pytrec_eval (and trec_eval up to 9.0.8) store scores as 32-bit floats, so two scores that
/// differ only beyond f32 precision tie there and are ordered by document id.
/// [`ScorePrecision::F32`] reproduces that; [`ScorePrecision::F64`] compares the scores as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScorePrecision {
    /// Round scores to f32 before comparing, as pytrec_eval does (the default).
    #[default]
    F32,
    /// Compare full f64 scores.
    F64,
}

/// Orders two scored documents as trec_eval ranks them: score descending, then document id
/// descending (byte-wise).
pub fn trec_order(a: &ScoredDoc, b: &ScoredDoc, precision: ScorePrecision) -> Ordering {
    let by_score = match precision {
        ScorePrecision::F32 => (b.score as f32).total_cmp(&(a.score as f32)),
        ScorePrecision::F64 => b.score.total_cmp(&a.score),
    };
    by_score.then_with(|| b.doc_id.as_bytes().cmp(a.doc_id.as_bytes()))
}

/// A retrieval run: for each query, the documents retrieved with their scores.
///
/// The stored order is the insertion order; [`Run::ranked`] gives trec_eval's ranking.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    queries: BTreeMap<String, Vec<ScoredDoc>>,
}

impl Run {
    /// An empty run.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a scored document to a query's list. Duplicates are not checked here; readers check
    /// them, and [`Run::from_file`] rejects them.
    pub fn push(&mut self, query_id: &str, doc_id: &str, score: f64) {
        if let Some(list) = self.queries.get_mut(query_id) {
            list.push(ScoredDoc {
                doc_id: doc_id.to_owned(),
                score,
            });
        } else {
            self.queries.insert(
                query_id.to_owned(),
                vec![ScoredDoc {
                    doc_id: doc_id.to_owned(),
                    score,
                }],
            );
        }
    }

    /// Replaces a query's whole list.
    pub fn set_query(&mut self, query_id: &str, docs: Vec<ScoredDoc>) {
        self.queries.insert(query_id.to_owned(), docs);
    }

    /// A query's documents in stored order.
    pub fn query(&self, query_id: &str) -> Option<&[ScoredDoc]> {
        self.queries.get(query_id).map(Vec::as_slice)
    }

    /// All queries with their documents, in query-id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[ScoredDoc])> {
        self.queries.iter().map(|(q, d)| (q.as_str(), d.as_slice()))
    }

    /// Number of queries.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// True when the run holds no query.
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    /// A query's documents in trec_eval's ranking order (see [`trec_order`]).
    pub fn ranked(&self, query_id: &str, precision: ScorePrecision) -> Option<Vec<&ScoredDoc>> {
        self.queries.get(query_id).map(|docs| rank(docs, precision))
    }

    /// Keeps only the best `k` documents of every query, in ranking order.
    pub fn truncate(&mut self, k: usize, precision: ScorePrecision) {
        for docs in self.queries.values_mut() {
            docs.sort_by(|a, b| trec_order(a, b, precision));
            docs.truncate(k);
        }
    }

    /// Reads a TREC run file: `query-id Q0 doc-id rank score tag` per line, whitespace
    /// separated. The rank column is ignored, as trec_eval ignores it.
    ///
    /// A line without six fields, a score that is not a finite number, a document listed twice
    /// for one query, or a file without any line is an error naming the file and line.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        // Each block gives its lists in first-seen order with the line number of every entry
        // (for messages); the lines of one query are usually contiguous, so the last list is
        // checked first.
        let blocks = parse_blocks(path, |first_line, text| {
            let mut lists: Vec<QueryLines> = Vec::new();
            let mut index: HashMap<&str, usize> = HashMap::new();
            let mut current = usize::MAX;
            for (offset, line) in text.lines().enumerate() {
                let number = first_line + offset;
                let mut fields = line.split_ascii_whitespace();
                let parts: [Option<&str>; 6] = std::array::from_fn(|_| fields.next());
                if parts[0].is_none() {
                    continue; // blank line
                }
                let [
                    Some(query),
                    Some(_),
                    Some(doc),
                    Some(_),
                    Some(score),
                    Some(_),
                ] = parts
                else {
                    let found = parts.iter().flatten().count();
                    return Err(DataError::parse(
                        path,
                        number,
                        format!(
                            "expected 6 fields (query-id Q0 doc-id rank score tag), found {found}"
                        ),
                    ));
                };
                if fields.next().is_some() {
                    let found = line.split_ascii_whitespace().count();
                    return Err(DataError::parse(
                        path,
                        number,
                        format!(
                            "expected 6 fields (query-id Q0 doc-id rank score tag), found {found}"
                        ),
                    ));
                }
                let score: f64 = match score.parse::<f64>() {
                    Ok(s) if s.is_finite() => s,
                    _ => {
                        return Err(DataError::parse(
                            path,
                            number,
                            format!("the score (field 5) must be a finite number, found `{score}`"),
                        ));
                    }
                };
                if current == usize::MAX || lists[current].0 != query {
                    current = *index.entry(query).or_insert_with(|| {
                        lists.push((query.to_owned(), Vec::new(), Vec::new()));
                        lists.len() - 1
                    });
                }
                let (_, docs, numbers) = &mut lists[current];
                docs.push(ScoredDoc {
                    doc_id: doc.to_owned(),
                    score,
                });
                numbers.push(number as u32);
            }
            Ok(lists)
        })?;
        // Merge the blocks in file order.
        let mut lists: Vec<QueryLines> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for block in blocks {
            for (query, docs, numbers) in block {
                match index.get(&query) {
                    Some(&i) => {
                        lists[i].1.extend(docs);
                        lists[i].2.extend(numbers);
                    }
                    None => {
                        index.insert(query.clone(), lists.len());
                        lists.push((query, docs, numbers));
                    }
                }
            }
        }
        if lists.is_empty() {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
                what: "run line",
            });
        }
        let chunk = lists
            .len()
            .div_ceil(rayon::current_num_threads().max(1))
            .max(1);
        let duplicate = lists.par_chunks(chunk).filter_map(first_duplicate).min();
        if let Some((number, first, doc, query)) = duplicate {
            return Err(DataError::parse(
                path,
                number as usize,
                format!(
                    "document `{doc}` is listed twice for query `{query}` (first on line {first})"
                ),
            ));
        }
        let mut run = Self::new();
        for (query, docs, _) in lists {
            run.queries.insert(query, docs);
        }
        Ok(run)
    }

    /// Writes the run in TREC format, each query's documents in ranking order with ranks from
    /// 1, atomically.
    pub fn write_trec(&self, path: impl AsRef<Path>, tag: &str) -> Result<()> {
        write_file(path.as_ref(), |out| {
            for (query, docs) in &self.queries {
                for (i, doc) in rank(docs, ScorePrecision::F64).into_iter().enumerate() {
                    writeln!(
                        out,
                        "{query} Q0 {} {} {} {tag}",
                        doc.doc_id,
                        i + 1,
                        doc.score
                    )?;
                }
            }
            Ok(())
        })
    }
}

/// The earliest repeated document of `lists`: (its line, the first line, doc id, query id).
fn first_duplicate(lists: &[QueryLines]) -> Option<(u32, u32, String, String)> {
    let mut seen: HashMap<&str, u32> = HashMap::new();
    let mut earliest: Option<(u32, u32, String, String)> = None;
    for (query, docs, numbers) in lists {
        seen.clear();
        seen.reserve(docs.len());
        for (doc, &number) in docs.iter().zip(numbers) {
            if let Some(first) = seen.insert(doc.doc_id.as_str(), number) {
                if earliest.as_ref().is_none_or(|e| number < e.0) {
                    earliest = Some((number, first, doc.doc_id.clone(), query.clone()));
                }
                break;
            }
        }
    }
    earliest
}

/// Sorts references to `docs` into trec_eval's ranking order.
pub fn rank(docs: &[ScoredDoc], precision: ScorePrecision) -> Vec<&ScoredDoc> {
    let mut ranked: Vec<&ScoredDoc> = docs.iter().collect();
    ranked.sort_unstable_by(|a, b| trec_order(a, b, precision));
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("densify-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn ranks_by_score_then_doc_id_descending() {
        let mut run = Run::new();
        run.push("q", "a", 1.0);
        run.push("q", "c", 2.0);
        run.push("q", "b", 1.0);
        let ids: Vec<_> = run
            .ranked("q", ScorePrecision::F64)
            .unwrap()
            .iter()
            .map(|d| d.doc_id.clone())
            .collect();
        assert_eq!(ids, ["c", "b", "a"]);
    }

    #[test]
    fn f32_precision_ties_scores_that_differ_beyond_f32() {
        let mut run = Run::new();
        run.push("q", "a", 0.100_000_000_1);
        run.push("q", "b", 0.1);
        let f32_order: Vec<_> = run
            .ranked("q", ScorePrecision::F32)
            .unwrap()
            .iter()
            .map(|d| d.doc_id.clone())
            .collect();
        let f64_order: Vec<_> = run
            .ranked("q", ScorePrecision::F64)
            .unwrap()
            .iter()
            .map(|d| d.doc_id.clone())
            .collect();
        assert_eq!(f32_order, ["b", "a"]);
        assert_eq!(f64_order, ["a", "b"]);
    }

    #[test]
    fn round_trips_through_trec_files() {
        let mut run = Run::new();
        run.push("q1", "d1", 0.5);
        run.push("q1", "d2", 1.25);
        run.push("q2", "d1", -3.0);
        let path = write("rt.trec", "");
        run.write_trec(&path, "densify").unwrap();
        let back = Run::from_file(&path).unwrap();
        assert_eq!(back.query("q1").unwrap()[0].doc_id, "d2");
        assert_eq!(back.len(), 2);
        assert_eq!(back.query("q2").unwrap()[0].score, -3.0);
    }

    #[test]
    fn rejects_malformed_lines() {
        let cases = [
            (
                "fields.trec",
                "q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2 0.4\n",
                "fields.trec:2",
                "expected 6 fields",
            ),
            (
                "score.trec",
                "q1 Q0 d1 1 high t\n",
                "score.trec:1",
                "finite number",
            ),
            (
                "nan.trec",
                "q1 Q0 d1 1 NaN t\n",
                "nan.trec:1",
                "finite number",
            ),
            (
                "dup.trec",
                "q1 Q0 d1 1 0.5 t\nq2 Q0 d1 1 0.5 t\nq1 Q0 d1 2 0.4 t\n",
                "dup.trec:3",
                "line 1",
            ),
            (
                "extra.trec",
                "q1 Q0 d1 1 0.5 t x\n",
                "extra.trec:1",
                "found 7",
            ),
        ];
        for (name, text, place, what) in cases {
            let err = Run::from_file(write(name, text)).unwrap_err().to_string();
            assert!(err.contains(place) && err.contains(what), "{name}: {err}");
        }
        let empty = write("empty.trec", "\n\n");
        assert!(matches!(
            Run::from_file(empty),
            Err(DataError::Empty { .. })
        ));
    }
}
