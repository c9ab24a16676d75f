//! `densify score`: teacher scores for every candidate of a training file.

use std::collections::HashMap;
use std::path::PathBuf;

use densify_train::example::read_examples;
use densify_train::mine::write_examples_no_leftover;
use densify_train::score::{Teacher, TeacherKind, check_texts, score_examples};

use crate::args::{CliResult, DeviceArgs, OutputArgs, positive_usize};
use crate::progress::bar;

/// What kind of model the teacher is.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Kind {
    /// A cross-encoder (one logit per pair).
    Cross,
    /// A bi-encoder (its similarity function).
    Bi,
}

/// Arguments of `densify score`.
#[derive(clap::Args)]
pub struct Args {
    /// The BEIR dataset whose corpus the candidates come from (name or folder).
    #[arg(long)]
    dataset: String,
    /// The training JSONL to score (e.g. from `densify mine`).
    #[arg(long)]
    examples: PathBuf,
    /// The teacher's model folder.
    #[arg(long)]
    teacher: PathBuf,
    /// The teacher's kind. A cross-encoder must have its classification head
    /// (`classifier.weight`); a bare encoder is refused (score with it as `--kind bi`).
    #[arg(long, value_enum, default_value_t = Kind::Cross)]
    kind: Kind,
    /// Max tokens of a (query, document) pair for a cross-encoder.
    #[arg(long, default_value_t = 512, value_parser = positive_usize)]
    max_length: usize,
    /// Pairs (cross-encoder) or texts (bi-encoder) per batch.
    #[arg(long, default_value_t = 32, value_parser = positive_usize)]
    batch_size: usize,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    device: DeviceArgs,
}

/// Runs `densify score`.
pub fn run(args: Args) -> CliResult {
    let device = args.device.device()?;
    let dataset = densify_data::Dataset::find(&args.dataset)?;
    let corpus_path = dataset.corpus_path();
    let mut inputs = vec![args.examples.clone(), corpus_path.clone()];
    inputs.extend(crate::args::model_files(&args.teacher));
    args.output.check(inputs.iter().map(PathBuf::as_path))?;
    let mut examples = read_examples(&args.examples)?;
    let texts: HashMap<String, String> = dataset.corpus_items()?.into_iter().collect();
    // Before the teacher loads: a document outside the corpus names the file and line.
    check_texts(&examples, &texts, &args.examples, &corpus_path)?;
    let kind = match args.kind {
        Kind::Cross => TeacherKind::CrossEncoder,
        Kind::Bi => TeacherKind::BiEncoder,
    };
    let teacher = Teacher::load(kind, &args.teacher, args.max_length, &device)?;
    let pairs: usize = examples.iter().map(|e| e.candidates.len()).sum();
    let progress = bar(pairs, "pairs");
    score_examples(
        &mut examples,
        &texts,
        &teacher,
        args.batch_size,
        &device,
        &mut |n| progress.set_position(n as u64),
    )?;
    progress.finish_and_clear();
    write_examples_no_leftover(&args.output.output, &examples)?;
    eprintln!(
        "score: {} examples, {pairs} pairs scored -> {}",
        examples.len(),
        args.output.output.display()
    );
    Ok(())
}
