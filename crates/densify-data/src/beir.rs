//! BEIR datasets: `corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`, read as streams, and
//! named datasets found on a search path.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use std::io::Write;

use crate::error::{DataError, Result, write_file};
use crate::lines::for_each_line;
use crate::qrels::Qrels;

/// A corpus document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document id (`_id`).
    pub id: String,
    /// The title; empty when the record has none.
    pub title: String,
    /// The body text.
    pub text: String,
    /// Any `metadata` object of the record, kept as it was.
    pub metadata: Option<serde_json::Value>,
}

impl Document {
    /// The text a model sees: `title + " " + text` when the title is non-empty, else `text`
    /// (BEIR's convention).
    pub fn full_text(&self) -> String {
        if self.title.is_empty() {
            self.text.clone()
        } else {
            format!("{} {}", self.title, self.text)
        }
    }
}

/// A query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The query id (`_id`).
    pub id: String,
    /// The query text.
    pub text: String,
    /// Any `metadata` object of the record, kept as it was.
    pub metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawRecord {
    #[serde(rename = "_id")]
    id: Option<serde_json::Value>,
    title: Option<String>,
    text: Option<String>,
    metadata: Option<serde_json::Value>,
}

/// Replaces Python's non-standard JSON constants (`NaN`, `Infinity`, `-Infinity`), which
/// Python's `json` module writes and reads, with `null` wherever they stand outside a string.
fn python_constants_to_null(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if in_string {
            in_string = c != '"' || escaped;
            escaped = c == '\\' && !escaped;
        } else if c == '"' {
            in_string = true;
        } else if let Some(token) = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t))
        {
            out.push_str("null");
            rest = &rest[token.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Parses one JSONL record (standard JSON, or Python's `json` with NaN/Infinity constants).
fn parse_record(path: &Path, number: usize, line: &str) -> Result<(String, RawRecord)> {
    let mut record: RawRecord = serde_json::from_str(line)
        .or_else(|first| serde_json::from_str(&python_constants_to_null(line)).map_err(|_| first))
        .map_err(|e| {
            DataError::parse(
                path,
                number,
                format!("not a JSON object with string fields: {e}"),
            )
        })?;
    let id = match record.id.take() {
        Some(serde_json::Value::String(id)) => id,
        Some(serde_json::Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(other) => {
            return Err(DataError::parse(
                path,
                number,
                format!("`_id` must be a string or an integer, found {other}"),
            ));
        }
        None => {
            return Err(DataError::parse(
                path,
                number,
                "the record has no `_id` field",
            ));
        }
    };
    if record.text.is_none() {
        return Err(DataError::parse(
            path,
            number,
            format!("record `{id}` has no `text` field"),
        ));
    }
    Ok((id, record))
}

/// Calls `each` for every document of a BEIR `corpus.jsonl`, streaming the file.
///
/// A line that is not JSON, a record without `_id` or `text`, or an id seen twice is an error
/// naming the file and line; blank lines are skipped.
pub fn for_each_document(path: &Path, mut each: impl FnMut(Document) -> Result<()>) -> Result<()> {
    let mut seen = HashSet::new();
    let mut count = 0usize;
    for_each_line(path, |number, line| {
        if line.trim().is_empty() {
            return Ok(());
        }
        let (id, record) = parse_record(path, number, line)?;
        if !seen.insert(id.clone()) {
            return Err(DataError::parse(
                path,
                number,
                format!("document id `{id}` appears twice"),
            ));
        }
        count += 1;
        each(Document {
            id,
            title: record.title.unwrap_or_default(),
            text: record.text.unwrap_or_default(),
            metadata: record.metadata,
        })
    })?;
    if count == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            what: "document",
        });
    }
    Ok(())
}

/// Reads a whole BEIR corpus into memory (see [`for_each_document`] for the checks).
pub fn read_corpus(path: impl AsRef<Path>) -> Result<Vec<Document>> {
    let mut docs = Vec::new();
    for_each_document(path.as_ref(), |d| {
        docs.push(d);
        Ok(())
    })?;
    Ok(docs)
}

/// Reads a BEIR `queries.jsonl` (same checks as the corpus).
pub fn read_queries(path: impl AsRef<Path>) -> Result<Vec<Query>> {
    let path = path.as_ref();
    let mut queries = Vec::new();
    let mut seen = HashSet::new();
    for_each_line(path, |number, line| {
        if line.trim().is_empty() {
            return Ok(());
        }
        let (id, record) = parse_record(path, number, line)?;
        if !seen.insert(id.clone()) {
            return Err(DataError::parse(
                path,
                number,
                format!("query id `{id}` appears twice"),
            ));
        }
        queries.push(Query {
            id,
            text: record.text.unwrap_or_default(),
            metadata: record.metadata,
        });
        Ok(())
    })?;
    if queries.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            what: "query",
        });
    }
    Ok(queries)
}

/// One JSONL record: `_id`, then `title` (corpus only), `text`, and `metadata` when present.
fn record(
    id: &str,
    title: Option<&str>,
    text: &str,
    metadata: Option<&serde_json::Value>,
) -> String {
    let mut record = serde_json::Map::new();
    record.insert("_id".into(), id.into());
    if let Some(title) = title {
        record.insert("title".into(), title.into());
    }
    record.insert("text".into(), text.into());
    if let Some(m) = metadata {
        record.insert("metadata".into(), m.clone());
    }
    serde_json::Value::Object(record).to_string()
}

/// Writes queries as BEIR `queries.jsonl` (`_id`, `text`, and `metadata` when present),
/// atomically. Duplicate ids are refused.
pub fn write_queries(path: impl AsRef<Path>, queries: &[Query]) -> Result<()> {
    let path = path.as_ref();
    refuse_duplicates(path, queries.iter().map(|q| q.id.as_str()), "query")?;
    write_file(path, |out| {
        for q in queries {
            writeln!(out, "{}", record(&q.id, None, &q.text, q.metadata.as_ref()))?;
        }
        Ok(())
    })
}

/// Writes documents as BEIR `corpus.jsonl` (`_id`, `title`, `text`, and `metadata` when
/// present), atomically. Duplicate ids are refused.
pub fn write_corpus(path: impl AsRef<Path>, documents: &[Document]) -> Result<()> {
    let path = path.as_ref();
    refuse_duplicates(path, documents.iter().map(|d| d.id.as_str()), "document")?;
    write_file(path, |out| {
        for d in documents {
            writeln!(
                out,
                "{}",
                record(&d.id, Some(&d.title), &d.text, d.metadata.as_ref())
            )?;
        }
        Ok(())
    })
}

fn refuse_duplicates<'a>(
    path: &Path,
    ids: impl Iterator<Item = &'a str>,
    what: &str,
) -> Result<()> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(DataError::Mismatch(format!(
                "{}: not written: {what} id `{id}` appears twice",
                path.display()
            )));
        }
    }
    Ok(())
}

/// The folders searched for a named dataset, in order: `$DENSIFY_DATA`, `./data`,
/// `../shared/data`.
pub fn dataset_search_path() -> Vec<PathBuf> {
    let mut path = Vec::new();
    if let Some(dir) = std::env::var_os("DENSIFY_DATA") {
        path.push(PathBuf::from(dir));
    }
    path.push(PathBuf::from("data"));
    path.push(PathBuf::from("../shared/data"));
    path
}

/// A BEIR dataset folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    root: PathBuf,
}

impl Dataset {
    /// Opens a dataset folder; it must hold `corpus.jsonl`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let corpus = root.join("corpus.jsonl");
        if !corpus.is_file() {
            return Err(DataError::io(
                &corpus,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "a BEIR dataset needs corpus.jsonl",
                ),
            ));
        }
        Ok(Self { root })
    }

    /// Finds a dataset by name (or path): an existing folder is used as it is; otherwise
    /// `<dir>/<name>` for each `dir` of [`dataset_search_path`].
    pub fn find(name: &str) -> Result<Self> {
        let direct = Path::new(name);
        if direct.join("corpus.jsonl").is_file() {
            return Self::open(direct);
        }
        let search = dataset_search_path();
        for dir in &search {
            let candidate = dir.join(name);
            if candidate.join("corpus.jsonl").is_file() {
                return Self::open(candidate);
            }
        }
        let searched: Vec<String> = search.iter().map(|d| d.display().to_string()).collect();
        Err(DataError::DatasetNotFound {
            name: name.to_owned(),
            searched: searched.join(", "),
        })
    }

    /// The dataset folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `corpus.jsonl`.
    pub fn corpus_path(&self) -> PathBuf {
        self.root.join("corpus.jsonl")
    }

    /// `queries.jsonl`.
    pub fn queries_path(&self) -> PathBuf {
        self.root.join("queries.jsonl")
    }

    /// `qrels/<split>.tsv`.
    pub fn qrels_path(&self, split: &str) -> PathBuf {
        self.root.join("qrels").join(format!("{split}.tsv"))
    }

    /// The corpus, whole.
    pub fn corpus(&self) -> Result<Vec<Document>> {
        read_corpus(self.corpus_path())
    }

    /// Writes a BEIR dataset folder (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`),
    /// each file atomically, and opens it. The folder is created when missing.
    pub fn create(
        root: impl Into<PathBuf>,
        corpus: &[Document],
        queries: &[Query],
        splits: &[(&str, &Qrels)],
    ) -> Result<Self> {
        let root = root.into();
        let qrels_dir = root.join("qrels");
        std::fs::create_dir_all(&qrels_dir).map_err(|e| DataError::io(&qrels_dir, e))?;
        write_corpus(root.join("corpus.jsonl"), corpus)?;
        write_queries(root.join("queries.jsonl"), queries)?;
        for (split, qrels) in splits {
            qrels.write_beir(qrels_dir.join(format!("{split}.tsv")))?;
        }
        Self::open(root)
    }

    /// The corpus as `(id, text)` pairs, the text as a model sees it ([`Document::full_text`]).
    pub fn corpus_items(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .corpus()?
            .into_iter()
            .map(|d| {
                let text = d.full_text();
                (d.id, text)
            })
            .collect())
    }

    /// The judgements of a split.
    pub fn qrels(&self, split: &str) -> Result<Qrels> {
        Qrels::from_file(self.qrels_path(split))
    }

    /// The queries judged in `split`'s qrels, in file order (BEIR keeps every split's queries in
    /// one file; a split is evaluated on its own qrels' queries only). An error when the qrels
    /// judge none of the file's queries ([`DataError::NoQueriesInSplit`]).
    pub fn split_queries(&self, split: &str) -> Result<(Vec<Query>, Qrels)> {
        let qrels = self.qrels(split)?;
        let queries: Vec<Query> = read_queries(self.queries_path())?
            .into_iter()
            .filter(|q| qrels.query(&q.id).is_some())
            .collect();
        if queries.is_empty() {
            return Err(DataError::NoQueriesInSplit {
                qrels: self.qrels_path(split),
                queries: self.queries_path(),
                judged: qrels.query_ids().count(),
            });
        }
        Ok((queries, qrels))
    }

    /// The files a command reading this dataset (and `split`'s qrels, when given) reads: the
    /// corpus, the queries and the qrels, for the guard that keeps outputs off inputs.
    pub fn input_files(&self, split: Option<&str>) -> Vec<PathBuf> {
        let mut files = vec![self.corpus_path(), self.queries_path()];
        files.extend(split.map(|s| self.qrels_path(s)));
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("densify-beir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_documents_with_title_and_metadata() {
        let path = write(
            "c.jsonl",
            "{\"_id\": \"d1\", \"title\": \"T\", \"text\": \"body\", \"metadata\": {\"url\": \"u\"}}\n\
             {\"_id\": 7, \"text\": \"no title\"}\n",
        );
        let docs = read_corpus(path).unwrap();
        assert_eq!(docs[0].full_text(), "T body");
        assert_eq!(docs[0].metadata.as_ref().unwrap()["url"], "u");
        assert_eq!(docs[1].id, "7");
        assert_eq!(docs[1].full_text(), "no title");
    }

    #[test]
    fn bad_records_name_file_and_line() {
        let cases = [
            (
                "json.jsonl",
                "{\"_id\": \"a\", \"text\": \"x\"}\nnot json\n",
                "json.jsonl:2",
                "JSON",
            ),
            ("id.jsonl", "{\"text\": \"x\"}\n", "id.jsonl:1", "_id"),
            ("text.jsonl", "{\"_id\": \"a\"}\n", "text.jsonl:1", "text"),
            (
                "float.jsonl",
                "{\"_id\": 1.5, \"text\": \"x\"}\n",
                "float.jsonl:1",
                "`_id` must be a string or an integer, found 1.5",
            ),
            (
                "dup.jsonl",
                "{\"_id\": \"a\", \"text\": \"x\"}\n{\"_id\": \"a\", \"text\": \"y\"}\n",
                "dup.jsonl:2",
                "twice",
            ),
        ];
        for (name, text, place, what) in cases {
            let err = read_corpus(write(name, text)).unwrap_err().to_string();
            assert!(err.contains(place) && err.contains(what), "{name}: {err}");
        }
    }

    #[test]
    fn accepts_python_json_constants_outside_strings() {
        let path = write(
            "nan.jsonl",
            r#"{"_id": "q", "text": "NaN \" Infinity", "metadata": {"a": NaN, "b": -Infinity}}"#,
        );
        let queries = read_queries(path).unwrap();
        assert_eq!(queries[0].text, "NaN \" Infinity");
        assert!(queries[0].metadata.as_ref().unwrap()["a"].is_null());
    }

    #[test]
    fn missing_dataset_says_where_to_put_it() {
        let err = Dataset::find("no-such-dataset-xyz")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no-such-dataset-xyz") && err.contains("DENSIFY_DATA"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod round_trip {
    use super::*;
    use proptest::prelude::*;

    fn id() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_.:-]{1,12}"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the writers write, the readers read back unchanged: a generated dataset is a
        /// BEIR dataset.
        #[test]
        fn writers_round_trip_with_readers(
            docs in prop::collection::btree_map(id(), ("\\PC{0,20}", "\\PC{0,40}\n?\\PC{0,10}"), 1..12),
            queries in prop::collection::btree_map(id(), "\\PC{0,30}", 1..8),
            grades in prop::collection::vec((0usize..8, 0usize..12, -1i32..4), 1..20),
        ) {
            let dir = std::env::temp_dir().join(format!(
                "densify-beir-rt-{}-{}",
                std::process::id(),
                docs.len() * 1000 + queries.len() * 10 + grades.len()
            ));
            let corpus: Vec<Document> = docs
                .iter()
                .map(|(id, (title, text))| Document {
                    id: id.clone(),
                    title: title.clone(),
                    text: text.clone(),
                    metadata: None,
                })
                .collect();
            let query_list: Vec<Query> = queries
                .iter()
                .map(|(id, text)| Query { id: id.clone(), text: text.clone(), metadata: Some(serde_json::json!({"n": 1})) })
                .collect();
            let mut qrels = Qrels::new();
            for (q, d, g) in &grades {
                let q = &query_list[q % query_list.len()].id;
                let d = &corpus[d % corpus.len()].id;
                qrels.insert(q, d, *g);
            }
            let dataset = Dataset::create(&dir, &corpus, &query_list, &[("test", &qrels)]).unwrap();
            prop_assert_eq!(dataset.corpus().unwrap(), corpus);
            prop_assert_eq!(read_queries(dataset.queries_path()).unwrap(), query_list);
            prop_assert_eq!(dataset.qrels("test").unwrap(), qrels);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn duplicate_ids_are_refused_and_nothing_is_written() {
        let dir = std::env::temp_dir().join(format!("densify-beir-dup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("queries.jsonl");
        let q = Query {
            id: "a".into(),
            text: "x".into(),
            metadata: None,
        };
        let err = write_queries(&path, &[q.clone(), q])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`a` appears twice"), "{err}");
        assert!(!path.exists());
    }
}
