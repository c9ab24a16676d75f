//! `densify bm25`: the lexical baseline over a BEIR dataset.

use std::path::{Path, PathBuf};
use std::time::Instant;

use densify::core::Config;
use densify_data::{Qrels, Query};
use densify_eval::bm25::{Bm25Config, Bm25Index};

use crate::args::{CliResult, DatasetArgs, OutputArgs, print_default_evaluation};
use crate::progress::spinner;

/// Arguments of `densify bm25`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DatasetArgs,
    /// Documents kept per query.
    #[arg(long, default_value_t = 1000)]
    k: usize,
    /// BM25 term-frequency saturation (>= 0).
    #[arg(long, default_value_t = 0.9)]
    k1: f64,
    /// BM25 length normalisation, in [0, 1].
    #[arg(long, default_value_t = 0.4)]
    b: f64,
    #[command(flatten)]
    output: OutputArgs,
    /// Evaluate the run on the split's qrels (nDCG@10, Recall@100, MAP, MRR) afterwards.
    #[arg(long)]
    evaluate: bool,
    /// Search these queries (a BEIR queries.jsonl, e.g. from `densify noise-queries`) instead
    /// of the dataset's own; only those judged in the split are used (none is an error).
    #[arg(long)]
    queries: Option<PathBuf>,
}

/// Runs `densify bm25`.
pub fn run(args: Args) -> CliResult {
    let config = Bm25Config::new().with_k1(args.k1).with_b(args.b);
    config
        .validate()
        .map_err(|e| format!("--{}: {}", e.field, e.message))?;
    if args.k == 0 {
        return Err("--k: must be at least 1".into());
    }
    let dataset = args.data.open()?;
    let mut inputs = args.data.input_files(&dataset);
    inputs.extend(args.queries.clone());
    args.output.check(inputs.iter().map(PathBuf::as_path))?;
    let split = &args.data.split;
    // Queries read before the corpus is indexed, so a wrong file or split fails at once.
    let (queries, qrels, missing) = match &args.queries {
        None => {
            let (queries, qrels) = dataset.split_queries(split)?;
            (queries, qrels, 0)
        }
        Some(path) => {
            let qrels = dataset.qrels(split)?;
            let file = densify_data::beir::read_queries(path)?;
            let (queries, unjudged, missing) =
                judged_queries(file, &qrels, path, &dataset.qrels_path(split), split)?;
            if unjudged > 0 {
                eprintln!(
                    "note: {unjudged} queries of {} are not judged in split `{split}` and are \
                     left out",
                    path.display()
                );
            }
            (queries, qrels, missing)
        }
    };
    let started = Instant::now();
    let bar = spinner("reading and indexing the corpus");
    let index = Bm25Index::for_dataset(&dataset, config)?;
    bar.set_message("searching");
    let run = index.search_queries(&queries, args.k);
    if run.iter().all(|(_, docs)| docs.is_empty()) {
        bar.finish_and_clear();
        return Err(format!(
            "none of the {} queries shares a term with the corpus ({}, {} documents): the run \
             would be empty",
            queries.len(),
            dataset.corpus_path().display(),
            index.len()
        )
        .into());
    }
    run.write_trec(&args.output.output, "densify-bm25")?;
    bar.finish_and_clear();
    if let (Some(path), true) = (&args.queries, missing > 0) {
        eprintln!(
            "note: {missing} of the {} queries judged in {} are not in {}; the run (and \
             --evaluate) cover the other {}",
            qrels.len(),
            dataset.qrels_path(split).display(),
            path.display(),
            queries.len()
        );
    }
    eprintln!(
        "BM25: {} documents, {} {} queries, top {} -> {} ({:.1} s)",
        index.len(),
        queries.len(),
        args.data.split,
        args.k,
        args.output.output.display(),
        started.elapsed().as_secs_f64()
    );
    if args.evaluate {
        print_default_evaluation(&qrels, &run)?;
    }
    Ok(())
}

/// The queries of a `--queries` file (`path`) judged in a split whose judgements are `qrels`
/// (read from `qrels_path`), as the flag documents (a file of every split's queries is fine),
/// with how many of the file's queries were left out as unjudged and how many judged queries
/// the file lacks. A file with no judged query is an error: the run would be empty.
fn judged_queries(
    queries: Vec<Query>,
    qrels: &Qrels,
    path: &Path,
    qrels_path: &Path,
    split: &str,
) -> Result<(Vec<Query>, usize, usize), String> {
    let total = queries.len();
    let first = queries.first().map(|q| q.id.clone()).unwrap_or_default();
    let judged: Vec<Query> = queries
        .into_iter()
        .filter(|q| qrels.query(&q.id).is_some())
        .collect();
    if judged.is_empty() {
        return Err(format!(
            "--queries {}: none of its {total} queries is judged in {} (split `{split}`; the \
             first is `{first}`): a run over no query would be empty (is it the right split, or \
             the right dataset?)",
            path.display(),
            qrels_path.display()
        ));
    }
    let unjudged = total - judged.len();
    let missing = qrels.len().saturating_sub(judged.len());
    Ok((judged, unjudged, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: &str) -> Query {
        Query {
            id: id.into(),
            text: format!("text of {id}"),
            metadata: None,
        }
    }

    #[test]
    fn only_judged_queries_are_searched_and_none_is_an_error() {
        let mut qrels = Qrels::new();
        qrels.insert("q1", "d1", 1);
        qrels.insert("q2", "d2", 1);
        qrels.insert("q3", "d3", 1);
        let select = |ids: Vec<&str>| {
            judged_queries(
                ids.into_iter().map(query).collect(),
                &qrels,
                Path::new("noisy.jsonl"),
                Path::new("qrels/test.tsv"),
                "test",
            )
        };
        // Two of the three judged queries: kept, one missing.
        let (kept, unjudged, missing) = select(vec!["q1", "q3"]).unwrap();
        assert_eq!(
            kept.iter().map(|q| q.id.as_str()).collect::<Vec<_>>(),
            ["q1", "q3"]
        );
        assert_eq!((unjudged, missing), (0, 1));
        // Other splits' queries are left out, as the flag says.
        let (kept, unjudged, missing) = select(vec!["q1", "x", "q2", "y"]).unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!((unjudged, missing), (2, 1));
        assert_eq!(
            select(vec!["x", "y"]).unwrap_err(),
            "--queries noisy.jsonl: none of its 2 queries is judged in qrels/test.tsv (split \
             `test`; the first is `x`): a run over no query would be empty (is it the right \
             split, or the right dataset?)"
        );
    }
}
