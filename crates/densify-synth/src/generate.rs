//! Generation runs: queries for corpus passages and graded documents for real queries, written
//! as resumable JSONL with provenance and exported as a BEIR dataset.
//!
//! # Output folder
//!
//! | file | content |
//! |---|---|
//! | `generated_queries.jsonl` / `generated_documents.jsonl` | one row per request: kept or dropped, raw and cleaned text, provenance |
//! | `corpus.jsonl`, `queries.jsonl`, `qrels/train.tsv` | the BEIR dataset of the kept rows |
//! | `train.jsonl` (documents only) | one graded list per query, in the training-list schema (`densify_data::training_example`) |
//!
//! Re-running with the same output skips every request already in the JSONL (kept or dropped),
//! so an interrupted run resumes where it stopped; the BEIR files are rewritten atomically from
//! the whole JSONL at the end of each run. A row whose id is already on an earlier line (two
//! runs appending to one folder, a hand edit) is skipped, counted once and reported against
//! the JSONL with its line ([`GenerationSummary::duplicates`]). When no row is kept, no BEIR
//! file (and no `qrels/` folder) is written.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use densify_data::{Candidate, TrainingExample};
use densify_data::{Document, Qrels, Query};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::clean::{CleanConfig, DropReason, clean_document, clean_query};
use densify_core::Progress;
use densify_core::config::InvalidField;

use crate::error::{Result, SynthError};
use crate::generator::{Generated, Generator, Provenance};
use crate::jsonl_store::{JsonlStore, Recovered};
use crate::passage::Passage;
use crate::pool::run_concurrently;
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

/// Counts of a generation run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GenerationSummary {
    /// Requests sent in this run.
    pub requested: usize,
    /// Rows found from earlier runs (skipped).
    pub resumed: usize,
    /// Bytes of a torn last line cut off on reopening.
    pub torn_bytes: usize,
    /// Kept rows per group (query type, or `level N`), earlier runs included.
    pub kept: BTreeMap<String, usize>,
    /// Dropped rows per group and reason, earlier runs included.
    pub dropped: BTreeMap<String, BTreeMap<String, usize>>,
    /// Rows of the JSONL skipped because their id is on an earlier line, one message each
    /// (`out/generated_queries.jsonl:7: row `d1-title-0` repeats line 3; ...`).
    pub duplicates: Vec<String>,
    /// Seconds of this run.
    pub seconds: f64,
}

impl GenerationSummary {
    fn count(&mut self, group: &str, dropped: Option<DropReason>) {
        match dropped {
            None => *self.kept.entry(group.to_owned()).or_default() += 1,
            Some(r) => {
                *self
                    .dropped
                    .entry(group.to_owned())
                    .or_default()
                    .entry(r.name().to_owned())
                    .or_default() += 1
            }
        }
    }

    /// Rows kept in all.
    pub fn total_kept(&self) -> usize {
        self.kept.values().sum()
    }

    /// Rows dropped in all.
    pub fn total_dropped(&self) -> usize {
        self.dropped.values().flat_map(|m| m.values()).sum()
    }
}

impl std::fmt::Display for GenerationSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} request(s) in {:.1} s ({:.2}/s); {} row(s) resumed from earlier runs{}",
            self.requested,
            self.seconds,
            self.requested as f64 / self.seconds.max(1e-9),
            self.resumed,
            if self.torn_bytes > 0 {
                format!(
                    " (a torn last line of {} bytes was cut off)",
                    self.torn_bytes
                )
            } else {
                String::new()
            }
        )?;
        let groups: HashSet<&String> = self.kept.keys().chain(self.dropped.keys()).collect();
        let mut groups: Vec<&String> = groups.into_iter().collect();
        groups.sort();
        for g in groups {
            let kept = self.kept.get(g).copied().unwrap_or(0);
            let dropped = self.dropped.get(g);
            let n: usize = dropped.map(|d| d.values().sum()).unwrap_or(0);
            write!(f, "  {g:<10} kept {kept:>6}  dropped {n:>5}")?;
            if let Some(d) = dropped.filter(|d| !d.is_empty()) {
                let reasons: Vec<String> = d.iter().map(|(r, n)| format!("{r} {n}")).collect();
                write!(f, " ({})", reasons.join(", "))?;
            }
            writeln!(f)?;
        }
        const SHOWN: usize = 10;
        for message in self.duplicates.iter().take(SHOWN) {
            writeln!(f, "  {message}")?;
        }
        if self.duplicates.len() > SHOWN {
            writeln!(
                f,
                "  ... and {} more repeated row(s)",
                self.duplicates.len() - SHOWN
            )?;
        }
        Ok(())
    }
}

/// The passages queries are asked for: the whole corpus, or a seeded sample of it kept in
/// corpus order.
pub fn sample_passages(corpus: &[Document], config: &QueryGenerationConfig) -> Vec<Passage> {
    sample_in_order(corpus, config.max_passages, config.seed)
        .into_iter()
        .map(Passage::from)
        .collect()
}

fn sample_in_order<T>(items: &[T], max: Option<usize>, seed: u64) -> Vec<&T> {
    match max {
        Some(n) if n < items.len() => {
            let mut order: Vec<usize> = (0..items.len()).collect();
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
            let mut chosen = order[..n].to_vec();
            chosen.sort_unstable();
            chosen.into_iter().map(|i| &items[i]).collect()
        }
        _ => items.iter().collect(),
    }
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

/// A row of a generation run's JSONL.
trait GeneratedRow: Serialize + serde::de::DeserializeOwned {
    /// The row's id (one request).
    fn id(&self) -> &str;
    /// The group the summary counts it in (query type, or `level N`).
    fn group(&self) -> String;
    /// Why cleaning dropped it, if it did.
    fn dropped(&self) -> Option<DropReason>;
}

impl GeneratedRow for QueryRow {
    fn id(&self) -> &str {
        &self.id
    }
    fn group(&self) -> String {
        self.kind.name().to_owned()
    }
    fn dropped(&self) -> Option<DropReason> {
        self.dropped
    }
}

impl GeneratedRow for DocumentRow {
    fn id(&self) -> &str {
        &self.id
    }
    fn group(&self) -> String {
        format!("level {}", self.level)
    }
    fn dropped(&self) -> Option<DropReason> {
        self.dropped
    }
}

/// What [`read_rows`] gives: the store, the rows, what reopening found, and one message per
/// repeated row.
type ReadRows<R> = (JsonlStore, Vec<R>, Recovered, Vec<String>);

/// The rows of a generation run's JSONL (see [`JsonlStore::open`]), each id once: a row whose
/// id is on an earlier line is left out, with a message naming the file, its line and the
/// first line.
fn read_rows<R: GeneratedRow>(path: &Path) -> Result<ReadRows<R>> {
    let (store, numbered, recovered) = JsonlStore::open_numbered::<R>(path)?;
    let mut first_line: HashMap<String, usize> = HashMap::new();
    let mut rows = Vec::with_capacity(numbered.len());
    let mut duplicates = Vec::new();
    for (line, row) in numbered {
        match first_line.entry(row.id().to_owned()) {
            Entry::Occupied(first) => duplicates.push(format!(
                "{}:{line}: row `{}` repeats line {}; the later row is skipped and counted once",
                path.display(),
                row.id(),
                first.get()
            )),
            Entry::Vacant(slot) => {
                slot.insert(line);
                rows.push(row);
            }
        }
    }
    Ok((store, rows, recovered, duplicates))
}

/// A generation run over its JSONL: the rows of earlier runs (counted in the summary), then
/// this run's requests, each row appended (one whole-line write) as its answer arrives.
struct ResumedRun<R> {
    store: JsonlStore,
    rows: Vec<R>,
    summary: GenerationSummary,
    started: Instant,
}

impl<R: GeneratedRow> ResumedRun<R> {
    /// Opens (or creates) `path`, cutting a torn last line off.
    fn open(path: &Path) -> Result<Self> {
        let started = Instant::now();
        let (store, rows, recovered, duplicates) = read_rows::<R>(path)?;
        let mut summary = GenerationSummary {
            resumed: rows.len(),
            torn_bytes: recovered.torn_bytes,
            duplicates,
            ..Default::default()
        };
        for row in &rows {
            summary.count(&row.group(), row.dropped());
        }
        Ok(Self {
            store,
            rows,
            summary,
            started,
        })
    }

    /// Runs `generate` for every job on `concurrency` threads and appends `row_of` each
    /// answer. The file is synced whatever happens; the first error is returned after.
    fn finish<J: Sync>(
        self,
        jobs: &[J],
        concurrency: usize,
        generate: &(dyn Fn(&J) -> Result<Generated> + Sync),
        row_of: &mut dyn FnMut(&J, Generated) -> R,
        label: &str,
        progress: &mut dyn Progress,
    ) -> Result<GenerationSummary> {
        let Self {
            mut store,
            mut summary,
            started,
            ..
        } = self;
        let total = jobs.len();
        progress.start(label, Some(total as u64));
        let mut finished = 0;
        let result = run_concurrently(
            total,
            concurrency,
            &|i| generate(&jobs[i]),
            &mut |i, generated| {
                let row = row_of(&jobs[i], generated);
                store.append(&row)?;
                summary.count(&row.group(), row.dropped());
                summary.requested += 1;
                finished += 1;
                progress.set(finished as u64);
                Ok(())
            },
        );
        progress.finish();
        store.sync()?;
        summary.seconds = started.elapsed().as_secs_f64();
        result?;
        Ok(summary)
    }
}

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

fn write_beir(output: &Path, corpus: &[Document], queries: &[Query], qrels: &Qrels) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, passage: &str) -> QueryRow {
        QueryRow {
            id: id.into(),
            passage_id: passage.into(),
            kind: QueryType::Question,
            text: "a query".into(),
            raw: Some("a query".into()),
            dropped: None,
            provenance: Provenance {
                generator: "test".into(),
                model: String::new(),
                template: String::new(),
                template_hash: String::new(),
                seed: 1,
            },
        }
    }

    #[test]
    fn export_refuses_a_passage_that_is_not_in_the_corpus() {
        let dir = std::env::temp_dir().join(format!("densify-export-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rows = dir.join("generated_queries.jsonl");
        let lines: Vec<String> = [row("q1", "d1"), row("q2", "gone")]
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        std::fs::write(&rows, lines.join("\n") + "\n").unwrap();
        let corpus = vec![Document {
            id: "d1".into(),
            title: String::new(),
            text: "text".into(),
            metadata: None,
        }];
        let e = export_queries(&rows, &corpus, &dir)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("passage `gone`, which is not in the corpus"),
            "{e}"
        );
        assert!(!dir.join("queries.jsonl").exists(), "nothing is written");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn fresh(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("densify-gen-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn corpus() -> Vec<Document> {
        vec![Document {
            id: "d1".into(),
            title: String::new(),
            text: "text".into(),
            metadata: None,
        }]
    }

    #[test]
    fn with_no_kept_row_nothing_is_written() {
        let dir = fresh("none-kept");
        let rows = dir.join("generated_queries.jsonl");
        let mut dropped = row("q1", "d1");
        dropped.dropped = Some(DropReason::TooLong);
        dropped.text = String::new();
        std::fs::write(&rows, serde_json::to_string(&dropped).unwrap() + "\n").unwrap();
        let out = dir.join("out");
        let e = export_queries(&rows, &corpus(), &out)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no row was kept") && e.contains("nothing was written"),
            "{e}"
        );
        assert!(!out.exists(), "no corpus.jsonl, no qrels/");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_repeated_row_is_reported_against_its_file_and_line_and_counted_once() {
        let dir = fresh("repeated");
        let rows = dir.join("generated_queries.jsonl");
        let lines: Vec<String> = [row("q1", "d1"), row("q2", "d1"), row("q1", "d1")]
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        std::fs::write(&rows, lines.join("\n") + "\n").unwrap();
        let run = ResumedRun::<QueryRow>::open(&rows).unwrap();
        assert_eq!(run.rows.len(), 2);
        assert_eq!(run.summary.resumed, 2);
        assert_eq!(run.summary.total_kept(), 2, "q1 is counted once");
        assert_eq!(run.summary.duplicates.len(), 1);
        let message = &run.summary.duplicates[0];
        assert!(
            message.contains("generated_queries.jsonl:3: row `q1` repeats line 1"),
            "{message}"
        );
        assert!(run.summary.to_string().contains(message.as_str()));
        drop(run);
        // The export keeps the first row: no duplicate query id in queries.jsonl.
        let n = export_queries(&rows, &corpus(), &dir).unwrap();
        assert_eq!(n, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn samples_are_seeded_and_keep_corpus_order() {
        let items: Vec<usize> = (0..100).collect();
        let a = sample_in_order(&items, Some(10), 42);
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(a, sample_in_order(&items, Some(10), 42));
        assert_ne!(a, sample_in_order(&items, Some(10), 43));
        assert_eq!(sample_in_order(&items, Some(1000), 1).len(), 100);
    }

    #[test]
    fn the_summary_counts_kept_and_dropped_rows_per_group() {
        let mut s = GenerationSummary::default();
        s.count("question", None);
        s.count("question", Some(DropReason::TooLong));
        s.count("title", Some(DropReason::TooLong));
        assert_eq!((s.total_kept(), s.total_dropped()), (1, 2));
        let text = s.to_string();
        assert!(
            text.contains("question   kept      1  dropped     1 (too_long 1)"),
            "{text}"
        );
    }
}
