//! `densify eval`: a run against qrels, as trec_eval computes it.

use std::path::PathBuf;

use densify_eval::{Averaging, EvalConfig, Qrels, Run, ScorePrecision, evaluate, parse_measures};

use crate::args::CliResult;

/// Arguments of `densify eval`.
#[derive(clap::Args)]
pub struct Args {
    /// Relevance judgements: TREC qrels (`qid iter docid grade`) or BEIR tsv (`query-id
    /// corpus-id score`, optional header).
    #[arg(long)]
    qrels: PathBuf,
    /// The run to evaluate, TREC format (`qid Q0 docid rank score tag`).
    #[arg(long)]
    run: PathBuf,
    /// A measure as trec_eval names it: ndcg, ndcg_cut.10, recall.100, P.10, map, map_cut.100,
    /// recip_rank, recip_rank.10 (MRR@10), success.1; comma lists (ndcg_cut.5,10) and bare
    /// names (trec_eval's default cutoffs) work. Repeat the flag for several. Default:
    /// ndcg_cut.10, recall.100, map, recip_rank, P.10.
    #[arg(short = 'm', long = "measure")]
    measures: Vec<String>,
    /// Also print every query's values (trec_eval -q).
    #[arg(short = 'q', long)]
    per_query: bool,
    /// Average over every qrels query, missing ones counted as 0 (trec_eval -c). Default: over
    /// queries in both the run and the qrels.
    #[arg(short = 'c', long)]
    complete: bool,
    /// Print JSON (full precision) instead of trec_eval's three-column text.
    #[arg(long)]
    json: bool,
    /// Compare scores as f64. Default: round to f32 first, as pytrec_eval does, so its ties are
    /// reproduced.
    #[arg(long)]
    full_precision: bool,
}

/// Runs `densify eval`.
pub fn run(args: Args) -> CliResult {
    let measures = parse_measures(&args.measures)?;
    let qrels = Qrels::from_file(&args.qrels)?;
    let run = Run::from_file(&args.run)?;
    // Under -c every judged query would count as 0 and the figures would look like a result.
    if run.iter().all(|(q, _)| qrels.query(q).is_none()) {
        return Err(format!(
            "--run {}: none of its {} queries is judged in --qrels {} (the first is `{}`): \
             there is nothing to evaluate (is it the run of this dataset and split?)",
            args.run.display(),
            run.len(),
            args.qrels.display(),
            run.iter().next().map_or("", |(q, _)| q)
        )
        .into());
    }
    let config = EvalConfig {
        precision: if args.full_precision {
            ScorePrecision::F64
        } else {
            ScorePrecision::F32
        },
        averaging: if args.complete {
            Averaging::AllQrels
        } else {
            Averaging::RunAndQrels
        },
    };
    let evaluation = evaluate(&qrels, &run, &measures, config)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&evaluation.to_json(args.per_query))?
        );
    } else {
        print!("{}", evaluation.to_trec_text(args.per_query));
    }
    Ok(())
}
