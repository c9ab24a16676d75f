//! `densify`: the command-line front of the densify libraries.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use densify::device;
use densify_eval::beir::Dataset;
use densify_eval::bm25::{Bm25Config, Bm25Index};
use densify_eval::embeddings::Embeddings;
use densify_eval::fusion::{RrfConfig, reciprocal_rank_fusion};
use densify_eval::search::{ExactSearchConfig, Similarity, search_embeddings};
use densify_eval::{Averaging, EvalConfig, Measure, Qrels, Run, ScorePrecision, evaluate};
use densify_model::{BiEncoder, Pooling, Side};
use densify_noise::{NoiseOp, WordVocab, noisy_queries};

/// Train and evaluate dense retrievers and rerankers.
#[derive(Parser)]
#[command(name = "densify", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate a TREC run against qrels exactly as trec_eval / pytrec_eval do.
    Eval(EvalArgs),
    /// Rank a BEIR dataset's queries with BM25 and write a TREC run (the lexical baseline).
    Bm25(Bm25Args),
    /// Exact top-k search of query embeddings against corpus embeddings; writes a TREC run.
    Search(SearchArgs),
    /// Fuse several TREC runs with reciprocal rank fusion.
    Fuse(FuseArgs),
    /// Write word-level noisy copies of a split's queries (robustness evaluation).
    NoiseQueries(NoiseQueriesArgs),
    /// Embed a dataset's corpus or queries with a bi-encoder into an embeddings file.
    Encode(EncodeArgs),
    /// Zero-shot dense retrieval: embed corpus and queries, exact search, TREC run (and scores).
    Dense(DenseArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum What {
    Corpus,
    Queries,
}

#[derive(Clone, Copy, ValueEnum)]
enum PoolingArg {
    Cls,
    Mean,
    Max,
}

/// Options shared by the commands that run a bi-encoder.
#[derive(clap::Args)]
struct ModelArgs {
    /// A Hugging Face / sentence-transformers model folder (config.json, model.safetensors,
    /// tokenizer.json), e.g. the output of scripts/fetch_minilm.sh.
    #[arg(long)]
    model: PathBuf,
    /// Texts per batch (batches hold texts of similar length).
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Max tokens per query. Default: the model's max_seq_length, else 512.
    #[arg(long)]
    query_max_length: Option<usize>,
    /// Max tokens per passage. Default: the model's max_seq_length, else 512.
    #[arg(long)]
    max_length: Option<usize>,
    /// Text put before every query (e5: "query: "). Default: the model's query prompt.
    #[arg(long)]
    query_prefix: Option<String>,
    /// Text put before every passage (e5: "passage: "). Default: the model's passage prompt.
    #[arg(long)]
    passage_prefix: Option<String>,
    /// Pooling. Default: the model's 1_Pooling/config.json, else mean.
    #[arg(long, value_enum)]
    pooling: Option<PoolingArg>,
    /// Compute device: cpu (= flex), flex, ndarray, tch-cpu, cuda:N, wgpu.
    #[arg(long, default_value = "cpu")]
    device: String,
}

#[derive(clap::Args)]
struct EncodeArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DatasetArgs,
    /// What to embed: the corpus (as passages) or the split's queries.
    #[arg(long, value_enum)]
    what: What,
    /// Where to write the embeddings (safetensors with ids).
    #[arg(long)]
    output: PathBuf,
}

#[derive(clap::Args)]
struct DenseArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DatasetArgs,
    /// Documents kept per query.
    #[arg(long, default_value_t = 1000)]
    k: usize,
    /// Drop a hit whose document id equals the query id (BEIR's ignore_identical_ids).
    #[arg(long)]
    ignore_identical_ids: bool,
    /// Where to write the TREC run.
    #[arg(long)]
    output: PathBuf,
    /// Evaluate the run on the split's qrels afterwards.
    #[arg(long)]
    evaluate: bool,
}

#[derive(clap::Args)]
struct NoiseQueriesArgs {
    #[command(flatten)]
    data: DatasetArgs,
    /// The noise operator as JSON, e.g. '{"type": "delete", "p": 0.1}' (types: identity,
    /// shuffle, delete, mask, replace, sequential, sequence).
    #[arg(long)]
    op: String,
    /// Seed of the random streams (query i uses stream i).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The string `mask` writes.
    #[arg(long, default_value = "[MASK]")]
    mask_token: String,
    /// Where to write the noisy queries (BEIR queries.jsonl).
    #[arg(long)]
    output: PathBuf,
}

/// The dataset and split a command reads.
#[derive(clap::Args)]
struct DatasetArgs {
    /// A BEIR dataset name (found in $DENSIFY_DATA, ./data or ../shared/data) or folder.
    #[arg(long)]
    dataset: String,
    /// The qrels split whose queries are used.
    #[arg(long, default_value = "test")]
    split: String,
}

#[derive(clap::Args)]
struct EvalArgs {
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

#[derive(clap::Args)]
struct Bm25Args {
    #[command(flatten)]
    data: DatasetArgs,
    /// Documents kept per query.
    #[arg(long, default_value_t = 1000)]
    k: usize,
    /// BM25 term-frequency saturation.
    #[arg(long, default_value_t = 0.9)]
    k1: f64,
    /// BM25 length normalisation.
    #[arg(long, default_value_t = 0.4)]
    b: f64,
    /// Where to write the TREC run.
    #[arg(long)]
    output: PathBuf,
    /// Evaluate the run on the split's qrels (nDCG@10, Recall@100, MAP, MRR) afterwards.
    #[arg(long)]
    evaluate: bool,
    /// Search these queries (a BEIR queries.jsonl, e.g. from `densify noise-queries`) instead
    /// of the dataset's own; only those judged in the split are used.
    #[arg(long)]
    queries: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum SimilarityArg {
    Cosine,
    Dot,
}

#[derive(clap::Args)]
struct SearchArgs {
    /// Query embeddings (a densify embeddings safetensors file).
    #[arg(long)]
    queries: PathBuf,
    /// Corpus embeddings (same format and dimension).
    #[arg(long)]
    corpus: PathBuf,
    /// Where to write the TREC run.
    #[arg(long)]
    output: PathBuf,
    /// Documents kept per query.
    #[arg(long, default_value_t = 1000)]
    k: usize,
    /// Similarity function.
    #[arg(long, value_enum, default_value_t = SimilarityArg::Cosine)]
    similarity: SimilarityArg,
    /// Drop a hit whose document id equals the query id (BEIR's ignore_identical_ids).
    #[arg(long)]
    ignore_identical_ids: bool,
    /// Corpus rows scored at once (bounds memory).
    #[arg(long, default_value_t = 50_000)]
    corpus_chunk: usize,
    /// Compute device: cpu (= flex), flex, ndarray, tch-cpu, cuda:N (libtorch), wgpu.
    #[arg(long, default_value = "cpu")]
    device: String,
}

#[derive(clap::Args)]
struct FuseArgs {
    /// A TREC run to fuse; repeat for each run.
    #[arg(long = "run", required = true)]
    runs: Vec<PathBuf>,
    /// Where to write the fused TREC run.
    #[arg(long)]
    output: PathBuf,
    /// The RRF rank constant.
    #[arg(long, default_value_t = 60.0)]
    k: f64,
    /// Documents kept per query.
    #[arg(long, default_value_t = 1000)]
    depth: usize,
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(args) => run_eval(args),
        Command::Bm25(args) => run_bm25(args),
        Command::Search(args) => run_search(args),
        Command::Fuse(args) => run_fuse(args),
        Command::NoiseQueries(args) => run_noise_queries(args),
        Command::Encode(args) => run_encode(args),
        Command::Dense(args) => run_dense(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

const DEFAULT_MEASURES: [&str; 5] = ["ndcg_cut.10", "recall.100", "map", "recip_rank", "P.10"];

fn parse_measures(names: &[String]) -> Result<Vec<Measure>, densify_eval::EvalError> {
    let names: Vec<&str> = if names.is_empty() {
        DEFAULT_MEASURES.to_vec()
    } else {
        names.iter().map(String::as_str).collect()
    };
    let mut measures = Vec::new();
    for name in names {
        for m in Measure::parse_list(name)? {
            if !measures.contains(&m) {
                measures.push(m);
            }
        }
    }
    Ok(measures)
}

fn run_eval(args: EvalArgs) -> CliResult {
    let measures = parse_measures(&args.measures)?;
    let qrels = Qrels::from_file(&args.qrels)?;
    let run = Run::from_file(&args.run)?;
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

fn spinner(message: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

fn load_bi_encoder(
    args: &ModelArgs,
    device: &burn::tensor::Device,
) -> Result<BiEncoder, densify_model::ModelError> {
    BiEncoder::load(&args.model, device, |s| {
        if let Some(n) = args.max_length {
            s.passage_max_length = n;
        }
        if let Some(n) = args.query_max_length.or(args.max_length) {
            s.query_max_length = n;
        }
        if let Some(p) = &args.query_prefix {
            s.query_prefix.clone_from(p);
        }
        if let Some(p) = &args.passage_prefix {
            s.passage_prefix.clone_from(p);
        }
        if let Some(p) = args.pooling {
            s.pooling = match p {
                PoolingArg::Cls => Pooling::Cls,
                PoolingArg::Mean => Pooling::Mean,
                PoolingArg::Max => Pooling::Max,
            };
        }
    })
}

/// Embeds `(id, text)` items on one side with a progress bar.
fn embed_with_progress(
    model: &BiEncoder,
    items: &[(String, String)],
    side: Side,
    args: &ModelArgs,
    device: &burn::tensor::Device,
    label: &str,
) -> Result<Embeddings, Box<dyn std::error::Error>> {
    let bar = indicatif::ProgressBar::new(items.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {pos}/{len} {per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    let texts: Vec<&str> = items.iter().map(|(_, t)| t.as_str()).collect();
    let values = model.encode(&texts, side, args.batch_size, device, &mut |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish();
    Ok(Embeddings::new(
        items.iter().map(|(i, _)| i.clone()).collect(),
        model.dim(),
        values,
    )?)
}

fn corpus_items(dataset: &Dataset) -> Result<Vec<(String, String)>, densify_eval::EvalError> {
    Ok(dataset
        .corpus()?
        .into_iter()
        .map(|d| (d.id.clone(), d.full_text()))
        .collect())
}

fn run_encode(args: EncodeArgs) -> CliResult {
    let device = device::parse(&args.model.device)?;
    let dataset = Dataset::find(&args.data.dataset)?;
    let model = load_bi_encoder(&args.model, &device)?;
    let started = Instant::now();
    let (items, side, label) = match args.what {
        What::Corpus => (corpus_items(&dataset)?, Side::Passage, "corpus"),
        What::Queries => {
            let (queries, _) = dataset.split_queries(&args.data.split)?;
            (
                queries.into_iter().map(|q| (q.id, q.text)).collect(),
                Side::Query,
                "queries",
            )
        }
    };
    let embeddings = embed_with_progress(&model, &items, side, &args.model, &device, label)?;
    embeddings.write(&args.output)?;
    eprintln!(
        "encode: {} {label} x {} -> {} ({:.1} s)",
        embeddings.len(),
        embeddings.dim(),
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run_dense(args: DenseArgs) -> CliResult {
    let device = device::parse(&args.model.device)?;
    let dataset = Dataset::find(&args.data.dataset)?;
    let model = load_bi_encoder(&args.model, &device)?;
    let started = Instant::now();
    let corpus = embed_with_progress(
        &model,
        &corpus_items(&dataset)?,
        Side::Passage,
        &args.model,
        &device,
        "corpus",
    )?;
    let encoded = started.elapsed().as_secs_f64();
    let (queries, qrels) = dataset.split_queries(&args.data.split)?;
    let items: Vec<(String, String)> = queries.into_iter().map(|q| (q.id, q.text)).collect();
    let queries =
        embed_with_progress(&model, &items, Side::Query, &args.model, &device, "queries")?;
    let config = ExactSearchConfig {
        k: args.k,
        similarity: match model.settings.similarity {
            densify_model::Similarity::Cosine => Similarity::Cosine,
            densify_model::Similarity::Dot => Similarity::Dot,
        },
        ignore_identical_ids: args.ignore_identical_ids,
        ..Default::default()
    };
    let run = search_embeddings(&queries, &corpus, config, &device)?;
    run.write_trec(&args.output, "densify-dense")?;
    eprintln!(
        "dense: {} documents ({:.1} docs/s), {} queries, top {} -> {} ({:.1} s)",
        corpus.len(),
        corpus.len() as f64 / encoded,
        queries.len(),
        args.k,
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    if args.evaluate {
        let written = Run::from_file(&args.output)?;
        let evaluation = evaluate(
            &qrels,
            &written,
            &parse_measures(&[])?,
            EvalConfig::default(),
        )?;
        print!("{}", evaluation.to_trec_text(false));
    }
    Ok(())
}

fn run_bm25(args: Bm25Args) -> CliResult {
    let dataset = Dataset::find(&args.data.dataset)?;
    let started = Instant::now();
    let bar = spinner("reading and indexing the corpus");
    let corpus = dataset.corpus()?;
    let texts: Vec<(String, String)> = corpus
        .iter()
        .map(|d| (d.id.clone(), d.full_text()))
        .collect();
    let index = Bm25Index::build(
        texts.iter().map(|(id, t)| (id.as_str(), t.as_str())),
        Bm25Config {
            k1: args.k1,
            b: args.b,
        },
    );
    bar.set_message("searching");
    let (mut queries, qrels) = dataset.split_queries(&args.data.split)?;
    if let Some(path) = &args.queries {
        queries = densify_eval::beir::read_queries(path)?
            .into_iter()
            .filter(|q| qrels.query(&q.id).is_some())
            .collect();
    }
    let pairs: Vec<(&str, &str)> = queries
        .iter()
        .map(|q| (q.id.as_str(), q.text.as_str()))
        .collect();
    let run = index.search_all(&pairs, args.k);
    run.write_trec(&args.output, "densify-bm25")?;
    bar.finish_and_clear();
    eprintln!(
        "BM25: {} documents, {} {} queries, top {} -> {} ({:.1} s)",
        index.len(),
        queries.len(),
        args.data.split,
        args.k,
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    if args.evaluate {
        let written = Run::from_file(&args.output)?;
        let measures = parse_measures(&[])?;
        let evaluation = evaluate(&qrels, &written, &measures, EvalConfig::default())?;
        print!("{}", evaluation.to_trec_text(false));
    }
    Ok(())
}

fn run_search(args: SearchArgs) -> CliResult {
    let device = device::parse(&args.device)?;
    let queries = Embeddings::read(&args.queries)?;
    let corpus = Embeddings::read(&args.corpus)?;
    corpus.check_same_dim(&args.corpus, &queries, &args.queries)?;
    let config = ExactSearchConfig {
        k: args.k,
        similarity: match args.similarity {
            SimilarityArg::Cosine => Similarity::Cosine,
            SimilarityArg::Dot => Similarity::Dot,
        },
        corpus_chunk: args.corpus_chunk,
        ignore_identical_ids: args.ignore_identical_ids,
        ..Default::default()
    };
    let started = Instant::now();
    let bar = spinner(&format!(
        "searching {} queries in {} documents",
        queries.len(),
        corpus.len()
    ));
    let run = search_embeddings(&queries, &corpus, config, &device)?;
    run.write_trec(&args.output, "densify-exact")?;
    bar.finish_and_clear();
    eprintln!(
        "search: {} queries -> {} ({:.1} s)",
        run.len(),
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run_fuse(args: FuseArgs) -> CliResult {
    let runs = args
        .runs
        .iter()
        .map(Run::from_file)
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&Run> = runs.iter().collect();
    let fused = reciprocal_rank_fusion(
        &refs,
        RrfConfig {
            k: args.k,
            depth: args.depth,
        },
    );
    fused.write_trec(&args.output, "densify-rrf")?;
    Ok(())
}

fn run_noise_queries(args: NoiseQueriesArgs) -> CliResult {
    let op: NoiseOp = serde_json::from_str(&args.op).map_err(|e| format!("--op: {e}"))?;
    op.validate().map_err(|e| format!("--op: {e}"))?;
    let dataset = Dataset::find(&args.data.dataset)?;
    let (queries, _) = dataset.split_queries(&args.data.split)?;
    let vocab = WordVocab {
        mask_token: args.mask_token,
        words: Vec::new(),
    };
    let noisy = noisy_queries(
        queries.iter().map(|q| (q.id.as_str(), q.text.as_str())),
        &op,
        args.seed,
        &vocab,
    );
    let written: Vec<densify_eval::beir::Query> = noisy
        .into_iter()
        .map(|(id, text)| densify_eval::beir::Query {
            id,
            text,
            metadata: None,
        })
        .collect();
    densify_eval::beir::write_queries(&args.output, &written)?;
    eprintln!(
        "{} noisy {} queries ({}) -> {}",
        written.len(),
        args.data.split,
        op.name(),
        args.output.display()
    );
    Ok(())
}
