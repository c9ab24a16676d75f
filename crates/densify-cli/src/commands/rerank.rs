//! `densify rerank`: a run's top k rescored by a cross-encoder, a bi-encoder or the label-free
//! hybrid teacher (BM25 + the bi-encoder), written as a TREC run.

use std::collections::HashMap;
use std::path::PathBuf;

use densify::core::Progress;
use densify_data::corpus_check::check_run_in_corpus;
use densify_data::{Embeddings, Run};
use densify_model::BiEncoder;
use densify_train::hybrid::{HybridTeacher, HybridTeacherConfig};
use densify_train::rerank::{Reranker, rerank_run};
use densify_train::score::{Teacher, TeacherKind};

use crate::args::{
    CliResult, DatasetArgs, DeviceArgs, OutputArgs, positive_usize, print_default_evaluation,
};
use crate::progress::Bars;

/// What rescores the candidates.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    /// A cross-encoder (one logit per pair; `BertForSequenceClassification` with one label).
    Cross,
    /// A bi-encoder (its similarity function).
    Bi,
    /// BM25 and the bi-encoder `--model`, min-max normalised per query and mixed.
    Hybrid,
}

/// Arguments of `densify rerank`.
#[derive(clap::Args)]
pub struct Args {
    /// The reranker's folder (Hugging Face / sentence-transformers layout); for `hybrid`, the
    /// bi-encoder mixed with BM25.
    #[arg(long)]
    model: PathBuf,
    /// What the model is.
    #[arg(long, value_enum, default_value_t = Kind::Cross)]
    kind: Kind,
    #[command(flatten)]
    data: DatasetArgs,
    /// The first stage's TREC run over the dataset's corpus.
    #[arg(long)]
    run: PathBuf,
    /// Documents of each query rescored (and kept).
    #[arg(long, default_value_t = 100, value_parser = positive_usize)]
    depth: usize,
    /// Max tokens of a (query, document) pair for a cross-encoder.
    #[arg(long, default_value_t = 512, value_parser = positive_usize)]
    max_length: usize,
    /// Pairs (cross-encoder) or texts (bi-encoder) per batch.
    #[arg(long, default_value_t = 32, value_parser = positive_usize)]
    batch_size: usize,
    /// `hybrid`: the weight of the normalised BM25 score (the bi-encoder gets 1 minus it).
    #[arg(long, default_value_t = 0.5)]
    bm25_weight: f64,
    /// `hybrid`: the corpus's passage embeddings by `--model` (from `densify encode`), looked
    /// up instead of encoding the candidates again.
    #[arg(long)]
    corpus_embeddings: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
    /// Evaluate the reranked run on the split's qrels afterwards.
    #[arg(long)]
    evaluate: bool,
    #[command(flatten)]
    device: DeviceArgs,
}

/// Runs `densify rerank`.
pub fn run(args: Args) -> CliResult {
    if args.kind != Kind::Hybrid && args.corpus_embeddings.is_some() {
        return Err("--corpus-embeddings: only `--kind hybrid` uses them".into());
    }
    let device = args.device.device()?;
    let dataset = args.data.open()?;
    let mut inputs = args.data.input_files(&dataset);
    inputs.push(args.run.clone());
    inputs.extend(args.corpus_embeddings.clone());
    inputs.extend(crate::args::model_files(&args.model));
    args.output.check(inputs.iter().map(PathBuf::as_path))?;
    let (queries, qrels) = dataset.split_queries(&args.data.split)?;
    let texts: HashMap<String, String> = dataset.corpus_items()?.into_iter().collect();
    let run = Run::from_file(&args.run)?;
    // Before any model loads: a run over another corpus names its file, line and document.
    check_run_in_corpus(&run, &args.run, &dataset.corpus_path(), |d| {
        texts.contains_key(d)
    })?;
    let mut progress = Bars::default();
    let started = std::time::Instant::now();
    let reranked = match args.kind {
        Kind::Cross | Kind::Bi => {
            let kind = if args.kind == Kind::Cross {
                TeacherKind::CrossEncoder
            } else {
                TeacherKind::BiEncoder
            };
            let teacher = Teacher::load(kind, &args.model, args.max_length, &device)?;
            rerank_run(
                &queries,
                &run,
                args.depth,
                Reranker::Model(&teacher),
                &texts,
                args.batch_size,
                &device,
                &mut progress,
            )
        }
        Kind::Hybrid => {
            let model = BiEncoder::load(&args.model, &device, |_| {})?;
            let config = HybridTeacherConfig {
                bm25_weight: args.bm25_weight,
                ..HybridTeacherConfig::default()
            };
            let cached = match &args.corpus_embeddings {
                Some(path) => Some(Embeddings::read(path)?),
                None => None,
            };
            let hybrid = HybridTeacher::new(&texts, &model, cached.as_ref(), &config)
                .map_err(|e| format!("--bm25-weight: {e}"))?;
            rerank_run(
                &queries,
                &run,
                args.depth,
                Reranker::Hybrid(&hybrid),
                &texts,
                args.batch_size,
                &device,
                &mut progress,
            )
        }
    };
    progress.finish();
    let (reranked, report) = reranked?;
    reranked.write_trec(&args.output.output, "densify-rerank")?;
    eprintln!(
        "rerank: {} queries, {} pairs (top {}) -> {} ({:.1} s){}",
        report.queries,
        report.pairs,
        args.depth,
        args.output.output.display(),
        started.elapsed().as_secs_f64(),
        if report.not_in_run > 0 {
            format!(
                "; {} queries of the split not in the run",
                report.not_in_run
            )
        } else {
            String::new()
        }
    );
    if args.evaluate {
        print_default_evaluation(&qrels, &reranked)?;
    }
    Ok(())
}
