//! Relevance judgements (qrels): reading TREC and BEIR formats, writing both.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use crate::error::{DataError, Result, write_file};
use crate::lines::for_each_line;

/// Graded relevance judgements: query id -> document id -> grade.
///
/// Grades follow trec_eval: a document is relevant when its grade is >= 1; 0 and negative grades
/// are judged non-relevant. Queries are kept in id order so every output is deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Qrels {
    queries: BTreeMap<String, HashMap<String, i32>>,
}

impl Qrels {
    /// An empty set of judgements.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the grade of `doc_id` for `query_id`, returning the previous grade if there was one.
    pub fn insert(&mut self, query_id: &str, doc_id: &str, grade: i32) -> Option<i32> {
        self.queries
            .entry(query_id.to_owned())
            .or_default()
            .insert(doc_id.to_owned(), grade)
    }

    /// The judgements of one query.
    pub fn query(&self, query_id: &str) -> Option<&HashMap<String, i32>> {
        self.queries.get(query_id)
    }

    /// All queries with their judgements, in query-id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &HashMap<String, i32>)> {
        self.queries.iter().map(|(q, d)| (q.as_str(), d))
    }

    /// The judged query ids, in order.
    pub fn query_ids(&self) -> impl Iterator<Item = &str> {
        self.queries.keys().map(String::as_str)
    }

    /// Number of judged queries.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// True when no query is judged.
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    /// Number of judgements over all queries.
    pub fn judgement_count(&self) -> usize {
        self.queries.values().map(HashMap::len).sum()
    }

    /// Reads a qrels file in either format, detected from its first line:
    ///
    /// - TREC: `query-id iteration doc-id grade`, whitespace separated;
    /// - BEIR: `query-id<TAB>corpus-id<TAB>score` with an optional header line starting with
    ///   `query-id`.
    ///
    /// A malformed line, a grade that is not an integer, a document judged twice for one query
    /// or a file without any judgement is an error naming the file and line.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut qrels = Self::new();
        let mut first_line_of: HashMap<(String, String), usize> = HashMap::new();
        let mut format: Option<usize> = None;
        for_each_line(path, |number, line| {
            if line.trim().is_empty() {
                return Ok(());
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let expected = *format.get_or_insert(fields.len());
            if number == 1 && fields.first() == Some(&"query-id") {
                return Ok(()); // BEIR header
            }
            let (query, doc, grade) = match (expected, fields.len()) {
                (4, 4) => (fields[0], fields[2], fields[3]),
                (3, 3) => (fields[0], fields[1], fields[2]),
                (3 | 4, found) => {
                    return Err(DataError::parse(
                        path,
                        number,
                        format!(
                            "expected {expected} fields ({}), found {found}",
                            if expected == 4 {
                                "TREC qrels: query-id iteration doc-id grade"
                            } else {
                                "BEIR qrels: query-id corpus-id score"
                            }
                        ),
                    ));
                }
                (other, _) => {
                    return Err(DataError::parse(
                        path,
                        number,
                        format!(
                            "expected 4 fields (TREC: query-id iteration doc-id grade) or 3 \
                             (BEIR: query-id corpus-id score), found {other}"
                        ),
                    ));
                }
            };
            let grade: i32 = grade.parse().map_err(|_| {
                let digits = grade.strip_prefix(['-', '+']).unwrap_or(grade);
                let message = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    format!(
                        "the grade `{grade}` is out of range (it must fit in a 32-bit signed \
                         integer, {} to {})",
                        i32::MIN,
                        i32::MAX
                    )
                } else {
                    format!("the grade must be an integer, found `{grade}`")
                };
                DataError::parse(path, number, message)
            })?;
            if let Some(first) = first_line_of.insert((query.to_owned(), doc.to_owned()), number) {
                return Err(DataError::parse(
                    path,
                    number,
                    format!(
                        "document `{doc}` is judged twice for query `{query}` (first on line {first})"
                    ),
                ));
            }
            qrels.insert(query, doc, grade);
            Ok(())
        })?;
        if qrels.is_empty() {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
                what: "judgement",
            });
        }
        Ok(qrels)
    }

    /// Writes the judgements in TREC format (`query-id 0 doc-id grade`), sorted by query then
    /// document id, atomically.
    pub fn write_trec(&self, path: impl AsRef<Path>) -> Result<()> {
        self.write_sorted(path.as_ref(), None, |query, doc, grade| {
            format!("{query} 0 {doc} {grade}")
        })
    }

    /// Writes the judgements as a BEIR qrels file (`query-id<TAB>corpus-id<TAB>score` after that
    /// header), sorted by query then document id, atomically.
    pub fn write_beir(&self, path: impl AsRef<Path>) -> Result<()> {
        self.write_sorted(
            path.as_ref(),
            Some("query-id\tcorpus-id\tscore"),
            |query, doc, grade| format!("{query}\t{doc}\t{grade}"),
        )
    }

    fn write_sorted(
        &self,
        path: &Path,
        header: Option<&str>,
        line: impl Fn(&str, &str, i32) -> String,
    ) -> Result<()> {
        write_file(path, |out| {
            if let Some(header) = header {
                writeln!(out, "{header}")?;
            }
            for (query, docs) in &self.queries {
                let mut docs: Vec<_> = docs.iter().collect();
                docs.sort();
                for (doc, grade) in docs {
                    writeln!(out, "{}", line(query, doc, *grade))?;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("densify-qrels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_beir_and_trec_formats() {
        let beir = write(
            "b.tsv",
            "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\nq2\td1\t0\n",
        );
        let trec = write("t.txt", "q1 0 d1 1\nq1 0 d2 2\nq2 0 d1 0\n");
        let a = Qrels::from_file(beir).unwrap();
        let b = Qrels::from_file(trec).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
        assert_eq!(a.judgement_count(), 3);
        assert_eq!(a.query("q1").unwrap()["d2"], 2);
    }

    #[test]
    fn rejects_bad_grade_duplicate_and_empty() {
        let bad = write("bad.tsv", "q1 0 d1 1\nq1 0 d2 1.5\n");
        let err = Qrels::from_file(&bad).unwrap_err().to_string();
        assert!(
            err.contains("bad.tsv:2") && err.contains("integer"),
            "{err}"
        );
        let dup = write("dup.tsv", "q1 0 d1 1\nq1 0 d1 2\n");
        let err = Qrels::from_file(&dup).unwrap_err().to_string();
        assert!(err.contains("dup.tsv:2") && err.contains("line 1"), "{err}");
        let fields = write("fields.tsv", "q1 0 d1 1\nq1 d1\n");
        let err = Qrels::from_file(&fields).unwrap_err().to_string();
        assert!(
            err.contains("fields.tsv:2") && err.contains("expected 4 fields"),
            "{err}"
        );
        let empty = write("empty.tsv", "query-id\tcorpus-id\tscore\n");
        assert!(matches!(
            Qrels::from_file(&empty),
            Err(DataError::Empty { .. })
        ));
    }
}
