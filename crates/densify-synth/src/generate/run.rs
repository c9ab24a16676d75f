//! What query and document runs share: the summary, seeded sampling in corpus order, and
//! resuming from the JSONL of an earlier run.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::clean::DropReason;
use densify_core::Progress;

use super::documents::DocumentRow;
use super::queries::QueryRow;
use crate::error::Result;
use crate::generator::Generated;
use crate::jsonl_store::{JsonlStore, Recovered};
use crate::pool::run_concurrently;

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
    pub(super) fn count(&mut self, group: &str, dropped: Option<DropReason>) {
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

pub(super) fn sample_in_order<T>(items: &[T], max: Option<usize>, seed: u64) -> Vec<&T> {
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

/// A row of a generation run's JSONL.
pub(super) trait GeneratedRow: Serialize + serde::de::DeserializeOwned {
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
pub(super) type ReadRows<R> = (JsonlStore, Vec<R>, Recovered, Vec<String>);

/// The rows of a generation run's JSONL (see [`JsonlStore::open`]), each id once: a row whose
/// id is on an earlier line is left out, with a message naming the file, its line and the
/// first line.
pub(super) fn read_rows<R: GeneratedRow>(path: &Path) -> Result<ReadRows<R>> {
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
pub(super) struct ResumedRun<R> {
    pub(super) store: JsonlStore,
    pub(super) rows: Vec<R>,
    pub(super) summary: GenerationSummary,
    pub(super) started: Instant,
}

impl<R: GeneratedRow> ResumedRun<R> {
    /// Opens (or creates) `path`, cutting a torn last line off.
    pub(super) fn open(path: &Path) -> Result<Self> {
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
    pub(super) fn finish<J: Sync>(
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
