//! `densify score`: teacher scores for every candidate of a training file.

use std::path::PathBuf;

use densify_train::score::{TeacherKind, TeacherSource, score_file};

use crate::args::{CliResult, DeviceArgs, OutputArgs, positive_usize};
use crate::progress::Bars;

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
    let mut inputs = vec![args.examples.clone(), corpus_path];
    inputs.extend(crate::args::model_files(&args.teacher));
    args.output.check(inputs.iter().map(PathBuf::as_path))?;
    let teacher = TeacherSource {
        kind: match args.kind {
            Kind::Cross => TeacherKind::CrossEncoder,
            Kind::Bi => TeacherKind::BiEncoder,
        },
        dir: &args.teacher,
        max_length: args.max_length,
    };
    let mut progress = Bars::default();
    let scored = score_file(
        &dataset,
        &args.examples,
        teacher,
        args.batch_size,
        &device,
        &args.output.output,
        &mut progress,
    );
    densify::core::Progress::finish(&mut progress);
    let (examples, pairs) = scored?;
    eprintln!(
        "score: {examples} examples, {pairs} pairs scored -> {}",
        args.output.output.display()
    );
    Ok(())
}
