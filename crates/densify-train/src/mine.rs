//! Hard-negative mining from any retriever's run (`densify mine`), with the options of
//! sentence-transformers' `mine_hard_negatives` that make sense over a run.
//!
//! For each (query, positive) pair, in this order:
//! 1. the query's ranked list in the run, cut to ranks `1..=range_max`;
//! 2. the query's judged positives (all of them, from every pair of the query) and, with
//!    `ignore_identical_ids`, a document whose id is the query's own, are removed;
//! 3. `max_score` / `min_score` keep scores in range; `absolute_margin` keeps a candidate only
//!    when `score <= positive - margin`, `relative_margin` when
//!    `score <= positive - |positive| · margin`, where `positive` is the lowest run score of
//!    the query's positives (as sentence-transformers does); a query none of whose positives is
//!    in the run has no such score, and its candidates skip the margin filters (counted);
//! 4. the first `range_min` survivors are skipped (false negatives crowd the very top);
//! 5. `num_negatives` are taken: the best (`top`) or a seeded random sample (`random`, seeded by
//!    the seed and the pair's id, so runs repeat);
//! 6. a pair with fewer negatives than asked is dropped unless `keep_incomplete`.
//!
//! The output is one training example per kept pair: the positive first, then the negatives
//! best first, with the run's scores as `teacher` when `output_scores` (and the positive's
//! score is known). The run is read once; memory is the run plus the output.
//!
//! Every document a mined list holds comes from the run or the pairs, so both are checked
//! against the corpus before mining ([`check_run_in_corpus`], [`check_examples_in_corpus`]):
//! a run over another corpus is an error naming the run file, its line and the id, never a
//! training list naming documents the trainer cannot find. [`write_examples_no_leftover`]
//! writes the output without leaving a temporary behind on any failure.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use densify_core::{Config, InvalidField};
use densify_data::Run;
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::example::{Candidate, TrainingExample};

/// How negatives are picked among the candidates that pass the filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// The highest-ranked.
    Top,
    /// A seeded random sample.
    Random,
}

/// Options of [`mine`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MineConfig {
    /// Survivors skipped from the top (after the filters). Default 0.
    pub range_min: usize,
    /// Deepest run rank considered. Default 100.
    pub range_max: usize,
    /// Keep `score <= positive − margin`. Default none.
    pub absolute_margin: Option<f64>,
    /// Keep `score <= positive − |positive| · margin`. Default none.
    pub relative_margin: Option<f64>,
    /// Keep `score <= max_score`. Default none.
    pub max_score: Option<f64>,
    /// Keep `score >= min_score`. Default none.
    pub min_score: Option<f64>,
    /// Negatives per pair. Default 1.
    pub num_negatives: usize,
    /// How negatives are picked. Default `top`.
    pub sampling: Sampling,
    /// Seed of `random` sampling. Default 42.
    pub seed: u64,
    /// Drop a candidate whose id is the query's. Default true.
    pub ignore_identical_ids: bool,
    /// Write the run's scores as the examples' `teacher` scores. Default false.
    pub output_scores: bool,
    /// Keep pairs with fewer negatives than `num_negatives`. Default false (dropped, as
    /// sentence-transformers' n-tuple output does).
    pub keep_incomplete: bool,
}

impl Default for MineConfig {
    fn default() -> Self {
        Self {
            range_min: 0,
            range_max: 100,
            absolute_margin: None,
            relative_margin: None,
            max_score: None,
            min_score: None,
            num_negatives: 1,
            sampling: Sampling::Top,
            seed: 42,
            ignore_identical_ids: true,
            output_scores: false,
            keep_incomplete: false,
        }
    }
}

densify_core::setters!(MineConfig {
    range_min: usize,
    range_max: usize,
    absolute_margin: Option<f64>,
    relative_margin: Option<f64>,
    max_score: Option<f64>,
    min_score: Option<f64>,
    num_negatives: usize,
    sampling: Sampling,
    seed: u64,
    ignore_identical_ids: bool,
    output_scores: bool,
    keep_incomplete: bool,
});

impl Config for MineConfig {
    fn validate(&self) -> std::result::Result<(), InvalidField> {
        if self.num_negatives == 0 {
            return Err(InvalidField::new(
                "num_negatives",
                "must be at least 1, found 0",
            ));
        }
        if self.range_max == 0 || self.range_min >= self.range_max {
            return Err(InvalidField::new(
                "range_max",
                format!(
                    "must be at least 1 and above range_min ({}), found {}",
                    self.range_min, self.range_max
                ),
            ));
        }
        for (field, value) in [
            ("absolute_margin", self.absolute_margin),
            ("relative_margin", self.relative_margin),
            ("max_score", self.max_score),
            ("min_score", self.min_score),
        ] {
            if let Some(v) = value.filter(|v| !v.is_finite()) {
                return Err(InvalidField::new(
                    field,
                    format!("must be finite, found {v}"),
                ));
            }
        }
        if let Some(m) = self.relative_margin.filter(|m| !(0.0..=1.0).contains(m)) {
            return Err(InvalidField::new(
                "relative_margin",
                format!("must be in [0, 1], found {m}"),
            ));
        }
        Ok(())
    }
}

/// Counts of a mining pass, for the summary a command prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MineReport {
    /// Pairs read.
    pub pairs: usize,
    /// Examples written.
    pub written: usize,
    /// Pairs dropped for having fewer negatives than asked.
    pub incomplete: usize,
    /// Pairs whose query is not in the run (dropped, or kept without negatives).
    pub not_in_run: usize,
    /// Pairs whose query has no positive in the run (margin filters skipped).
    pub no_positive_score: usize,
    /// Negatives written in all.
    pub negatives: usize,
}

/// Mines negatives for `pairs` (examples whose candidates are their positives) from `run`.
pub fn mine(
    pairs: &[TrainingExample],
    run: &Run,
    config: &MineConfig,
) -> (Vec<TrainingExample>, MineReport) {
    let mut positives: HashMap<&str, HashSet<&str>> = HashMap::new();
    for pair in pairs {
        for c in pair.candidates.iter().filter(|c| c.positive) {
            positives
                .entry(pair.query_id.as_str())
                .or_default()
                .insert(c.doc_id.as_str());
        }
    }
    let mut report = MineReport {
        pairs: pairs.len(),
        ..MineReport::default()
    };
    let mut out = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let judged = positives.get(pair.query_id.as_str());
        let is_positive = |doc: &str| judged.is_some_and(|j| j.contains(doc));
        let mut ranked: Vec<(&str, f64)> = run
            .query(&pair.query_id)
            .unwrap_or(&[])
            .iter()
            .map(|d| (d.doc_id.as_str(), d.score))
            .collect();
        if ranked.is_empty() {
            report.not_in_run += 1;
        }
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(a.0)));
        ranked.truncate(config.range_max);
        let positive_score = ranked
            .iter()
            .filter(|(d, _)| is_positive(d))
            .map(|&(_, s)| s)
            .reduce(f64::min);
        if positive_score.is_none() && !ranked.is_empty() {
            report.no_positive_score += 1;
        }
        let survivors: Vec<(&str, f64)> = ranked
            .into_iter()
            .filter(|&(doc, score)| {
                let excluded =
                    is_positive(doc) || (config.ignore_identical_ids && doc == pair.query_id);
                !excluded
                    && config.max_score.is_none_or(|m| score <= m)
                    && config.min_score.is_none_or(|m| score >= m)
                    && positive_score.is_none_or(|p| {
                        config.absolute_margin.is_none_or(|m| score <= p - m)
                            && config
                                .relative_margin
                                .is_none_or(|m| score <= p - p.abs() * m)
                    })
            })
            .skip(config.range_min)
            .collect();
        let chosen: Vec<(&str, f64)> = match config.sampling {
            Sampling::Top => survivors.into_iter().take(config.num_negatives).collect(),
            Sampling::Random => {
                let mut rng =
                    rand_chacha::ChaCha8Rng::seed_from_u64(config.seed ^ fnv1a(pair.id.as_bytes()));
                let mut picked: Vec<(usize, (&str, f64))> = survivors
                    .into_iter()
                    .enumerate()
                    .collect::<Vec<_>>()
                    .choose_multiple(&mut rng, config.num_negatives)
                    .copied()
                    .collect();
                picked.sort_by_key(|(rank, _)| *rank);
                picked.into_iter().map(|(_, c)| c).collect()
            }
        };
        if chosen.len() < config.num_negatives && !config.keep_incomplete {
            report.incomplete += 1;
            continue;
        }
        let Some(positive) = pair.candidates.iter().find(|c| c.positive) else {
            continue;
        };
        let scores = config.output_scores && positive_score.is_some();
        let own_score = run
            .query(&pair.query_id)
            .and_then(|docs| docs.iter().find(|d| d.doc_id == positive.doc_id))
            .map(|d| d.score);
        let scores = scores && own_score.is_some();
        let mut candidates = vec![Candidate {
            doc_id: positive.doc_id.clone(),
            positive: true,
            teacher: own_score.filter(|_| scores),
            label: None,
        }];
        report.negatives += chosen.len();
        candidates.extend(chosen.into_iter().map(|(doc, score)| Candidate {
            doc_id: doc.to_owned(),
            positive: false,
            teacher: scores.then_some(score),
            label: None,
        }));
        report.written += 1;
        out.push(TrainingExample {
            id: pair.id.clone(),
            query_id: pair.query_id.clone(),
            query: pair.query.clone(),
            candidates,
            line: 0,
        });
    }
    (out, report)
}

/// Where the (query, positive) pairs of [`mine_dataset`] come from.
#[derive(Debug, Clone, Copy)]
pub enum PairsFrom<'a> {
    /// One pair per judged-relevant qrel of this split of the dataset.
    Split(&'a str),
    /// A training JSONL file whose candidates are the positives.
    File(&'a Path),
}

/// `densify mine` as one call: reads the pairs and `run_path`, checks that every document
/// either names is in `dataset`'s corpus (an error naming the file and line otherwise, before
/// mining), mines as `config` says and writes the examples to `output` atomically. An error,
/// with nothing written, when no pair is kept.
pub fn mine_dataset(
    dataset: &densify_data::Dataset,
    pairs: PairsFrom<'_>,
    run_path: &Path,
    config: &MineConfig,
    output: &Path,
) -> Result<MineReport> {
    config.validate().map_err(|field| TrainError::Setting {
        section: "mine",
        field,
    })?;
    let corpus = dataset.corpus_path();
    let (pairs, pairs_source) = match pairs {
        PairsFrom::File(path) => (crate::example::read_examples(path)?, path.to_path_buf()),
        PairsFrom::Split(split) => (
            crate::example::pairs_from_qrels(dataset, split)?,
            dataset.qrels_path(split),
        ),
    };
    let run = Run::from_file(run_path)?;
    // Every document of a mined list comes from the pairs or the run: both must be the
    // corpus's, or the training file would name documents the trainer cannot find.
    let ids = corpus_ids(&corpus)?;
    check_examples_in_corpus(&pairs, &pairs_source, &corpus, |d| ids.contains(d))?;
    check_run_in_corpus(&run, run_path, &corpus, |d| ids.contains(d))?;
    drop(ids);
    let (examples, report) = mine(&pairs, &run, config);
    if examples.is_empty() {
        return Err(TrainError::NothingMined {
            output: output.to_path_buf(),
            report,
            wanted: config.num_negatives,
        });
    }
    write_examples_no_leftover(output, &examples)?;
    Ok(report)
}

pub use densify_data::corpus_check::{
    check_examples_in_corpus, check_run_in_corpus, corpus_ids, judgement_line,
};

/// Writes `examples` as training JSONL, leaving neither a changed destination nor a temporary
/// behind on any failure: densify-data's [`densify_data::training_example::write_examples`].
pub fn write_examples_no_leftover(path: &Path, examples: &[TrainingExample]) -> Result<()> {
    Ok(crate::example::write_examples(path, examples)?)
}

/// FNV-1a of `bytes` (a stable per-pair seed component).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(q: &str, d: &str) -> TrainingExample {
        TrainingExample {
            id: format!("{q}#{d}"),
            query_id: q.into(),
            query: "text".into(),
            candidates: vec![Candidate {
                doc_id: d.into(),
                positive: true,
                teacher: None,
                label: None,
            }],
            line: 0,
        }
    }

    fn run() -> Run {
        let mut run = Run::new();
        // q1: p1 is a positive at rank 2 (score 8); p2 is also a positive (not in the run).
        for (d, s) in [
            ("a", 9.0),
            ("p1", 8.0),
            ("q1", 7.5),
            ("b", 7.0),
            ("c", 5.0),
            ("d", 1.0),
        ] {
            run.push("q1", d, s);
        }
        run
    }

    #[test]
    fn filters_apply_in_the_documented_order() {
        let pairs = [pair("q1", "p1"), pair("q1", "p2"), pair("q9", "x")];
        // Plain: positives and the query's own id removed, best first.
        let (out, report) = mine(&pairs, &run(), &MineConfig::new().with_num_negatives(2));
        assert_eq!(report.written, 2);
        assert_eq!(report.not_in_run, 1);
        assert_eq!(report.incomplete, 1);
        let ids: Vec<&str> = out[0]
            .candidates
            .iter()
            .map(|c| c.doc_id.as_str())
            .collect();
        assert_eq!(ids, ["p1", "a", "b"]);
        assert_eq!(out[1].candidates[0].doc_id, "p2");

        // Absolute margin 1.5 against the positive's 8: scores <= 6.5 -> c, d.
        let (out, _) = mine(
            &pairs[..1],
            &run(),
            &MineConfig::new()
                .with_absolute_margin(Some(1.5))
                .with_num_negatives(2),
        );
        let ids: Vec<&str> = out[0]
            .candidates
            .iter()
            .map(|c| c.doc_id.as_str())
            .collect();
        assert_eq!(ids, ["p1", "c", "d"]);
        // Relative margin 0.2: <= 8 - 1.6 = 6.4; range_min 1 skips c; scores written.
        let (out, _) = mine(
            &pairs[..1],
            &run(),
            &MineConfig::new()
                .with_relative_margin(Some(0.2))
                .with_range_min(1)
                .with_output_scores(true),
        );
        assert_eq!(out[0].candidates[1].doc_id, "d");
        assert_eq!(out[0].candidates[0].teacher, Some(8.0));
        assert_eq!(out[0].candidates[1].teacher, Some(1.0));
        // range_max 2 keeps ranks 1-2 (a, p1): one negative.
        let (out, _) = mine(&pairs[..1], &run(), &MineConfig::new().with_range_max(2));
        assert_eq!(out[0].candidates[1].doc_id, "a");
        // Random sampling repeats for a seed and keeps rank order.
        let config = MineConfig::new()
            .with_sampling(Sampling::Random)
            .with_num_negatives(2);
        let (a, _) = mine(&pairs[..1], &run(), &config);
        let (b, _) = mine(&pairs[..1], &run(), &config);
        assert_eq!(a, b);
        assert_eq!(a[0].candidates.len(), 3);
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("densify-mine-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_run_or_pair_outside_the_corpus_names_its_file_and_line() {
        let dir = temp("corpus");
        let run_path = dir.join("run.trec");
        std::fs::write(
            &run_path,
            "q1 Q0 a 1 9 t\nq1 Q0 p1 2 8 t\nq2 Q0 b 1 3 t\nq2 Q0 gone 2 2 t\n",
        )
        .unwrap();
        let run = Run::from_file(&run_path).unwrap();
        let corpus = Path::new("corpus.jsonl");
        let ids: HashSet<&str> = ["a", "b", "p1", "x"].into_iter().collect();
        let err = check_run_in_corpus(&run, &run_path, corpus, |d| ids.contains(d))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "run.trec:4: query `q2`: document `gone` is not in the corpus (corpus.jsonl)"
            ),
            "{err}"
        );
        let all: HashSet<&str> = ["a", "b", "p1", "gone"].into_iter().collect();
        check_run_in_corpus(&run, &run_path, corpus, |d| all.contains(d)).unwrap();

        // Pairs from a training JSONL carry their line.
        let mut pairs = vec![pair("q1", "p1"), pair("q2", "nope")];
        pairs[1].line = 7;
        let err = check_examples_in_corpus(&pairs, Path::new("pairs.jsonl"), corpus, |d| {
            ids.contains(d)
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(
                "pairs.jsonl:7: `candidates[0].doc_id`: document `nope` is not in the corpus"
            ),
            "{err}"
        );
        // Pairs from qrels: the judgement's line is looked up (BEIR header on line 1).
        let qrels = dir.join("train.tsv");
        std::fs::write(
            &qrels,
            "query-id\tcorpus-id\tscore\nq1\tp1\t1\nq2\tnope\t1\n",
        )
        .unwrap();
        pairs[1].line = 0;
        let err = check_examples_in_corpus(&pairs, &qrels, corpus, |d| ids.contains(d))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "train.tsv:3: query `q2`: the judged document `nope` is not in the corpus"
            ),
            "{err}"
        );
        assert_eq!(judgement_line(&qrels, "q1", "p1"), Some(2));
        assert_eq!(judgement_line(&qrels, "q1", "nope"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_output_is_written_whole_and_a_failure_leaves_no_temporary() {
        let dir = temp("write");
        let path = dir.join("mined.jsonl");
        write_examples_no_leftover(&path, &[pair("q1", "p1")]).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            written,
            "{\"id\":\"q1#p1\",\"query_id\":\"q1\",\"query\":\"text\",\"candidates\":[{\"doc_id\":\"p1\",\"positive\":true}]}\n"
        );
        // A rename that fails (the destination is a non-empty folder): the error names the
        // output and only the folder is left.
        let blocked = dir.join("blocked");
        std::fs::create_dir_all(blocked.join("inside")).unwrap();
        let err = write_examples_no_leftover(&blocked, &[pair("q1", "p1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("blocked"), "{err}");
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["blocked", "mined.jsonl"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_options_name_the_field() {
        let err = MineConfig::from_toml_str("range_min = 5\nrange_max = 5\n", "mine.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mine.toml:2") && err.contains("range_max"),
            "{err}"
        );
        let err = MineConfig::from_toml_str("relative_margin = 1.5\n", "mine.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("relative_margin"), "{err}");
    }
}
