//! Errors of training: bad inputs named by file, line and field; faults named by step.

use std::path::PathBuf;

/// Everything that can stop a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A data file could not be read or is malformed.
    #[error(transparent)]
    Data(#[from] densify_data::DataError),
    /// The model could not be loaded or saved.
    #[error(transparent)]
    Model(#[from] densify_model::ModelError),
    /// A configuration is invalid.
    #[error(transparent)]
    Config(#[from] densify_core::ConfigError),
    /// Evaluation failed.
    #[error(transparent)]
    Eval(#[from] densify_eval::EvalError),
    /// A file or folder could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A checkpoint could not be written or read back.
    #[error("{path}: {message}")]
    Checkpoint {
        /// The checkpoint folder.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The loss became NaN or infinite; the last good checkpoint is kept.
    #[error(
        "step {step}: the loss is {loss} (examples {examples}); training stopped, the last good \
         checkpoint is kept"
    )]
    NonFiniteLoss {
        /// The 1-based optimizer step.
        step: usize,
        /// The loss value.
        loss: f64,
        /// The ids of the batch's examples, joined by ", ".
        examples: String,
    },
    /// An example lacks a target its loss reads (a positive, teacher scores, labels: the
    /// loss's [`densify_loss::LossConfig::requirements`]); found before the first step.
    #[error("{}: {}", example_place(.file, .line, .example), missing_message(.missing, .loss))]
    MissingTarget {
        /// The examples' file (training or dev JSONL, or the qrels split pairs come from).
        file: PathBuf,
        /// The example's 1-based line (0 for examples built from qrels).
        line: usize,
        /// The example's id.
        example: String,
        /// The loss, as its config's `type` names it.
        loss: &'static str,
        /// What the example lacks.
        missing: MissingTarget,
    },
    /// An input of the run (the model, the examples) lies in the output folder the run writes.
    #[error("{config}: `{field}`: {source}")]
    InputInOutput {
        /// The train config file.
        config: PathBuf,
        /// The config field naming the input.
        field: &'static str,
        /// What holds what (from `densify_core::refuse_folder_holding_inputs`).
        source: std::io::Error,
    },
    /// The train config file is the copy of the resolved configuration the run writes into
    /// its output folder, and rewriting it would change it.
    #[error(
        "{config}: this file is where the run writes its resolved configuration (`output` = \
         {output}), and rewriting it would change it (comments, order, defaults): keep the \
         config file outside the output folder, or set another `output`"
    )]
    ConfigInOutput {
        /// The train config file.
        config: PathBuf,
        /// The output folder.
        output: PathBuf,
    },
    /// The output folder holds an earlier run that has no checkpoint to resume from.
    #[error(
        "{output} holds an earlier run ({found}) and no checkpoint to resume it from, so \
         training would replace it: set another `output`, or delete {output} to train afresh"
    )]
    EarlierRun {
        /// The output folder.
        output: PathBuf,
        /// What is there (`final/, metrics.jsonl`).
        found: String,
    },
    /// A checkpoint's `state.json` does not fit the run being resumed.
    #[error("{path}: `{field}` is {found}, {problem}")]
    CheckpointState {
        /// The `state.json` file.
        path: PathBuf,
        /// The field at fault.
        field: &'static str,
        /// Its value.
        found: String,
        /// Why it does not fit, and what to do.
        problem: String,
    },
    /// A max length of the train config exceeds the model's position table.
    #[error(
        "{config}: `{field}` {value}{note} exceeds the model's max_position_embeddings {max} \
         ({model}); set it to at most {max}"
    )]
    LengthBeyondModel {
        /// The train config file.
        config: PathBuf,
        /// The config field.
        field: &'static str,
        /// Its value.
        value: usize,
        /// `" (the default)"` when the field is not set, else empty.
        note: &'static str,
        /// The model's `max_position_embeddings`.
        max: usize,
        /// The model's `config.json`.
        model: PathBuf,
    },
    /// Corpus embeddings given to the hybrid teacher lack a candidate's document.
    #[error(
        "hybrid teacher: document `{doc_id}` has no row in the corpus embeddings given (were they \
         made from this corpus?)"
    )]
    MissingEmbedding {
        /// The document.
        doc_id: String,
    },
    /// A setting of a configuration built in code is out of range.
    #[error("{section}: {field}")]
    Setting {
        /// The configuration (`mine`).
        section: &'static str,
        /// The field and what is wrong with it.
        field: densify_core::InvalidField,
    },
    /// A run to rerank has a list for none of the split's queries.
    #[error(
        "rerank: none of the {queries} queries has a list in the run (is it a run of this split?)"
    )]
    NoQueryInRun {
        /// Queries of the split.
        queries: usize,
    },
    /// Mining kept no pair, so nothing was written.
    #[error(
        "{}: no pair kept ({} pairs, {} with fewer than {wanted} negatives, {} queries not in the \
         run); nothing written", output.display(), report.pairs, report.incomplete, report.not_in_run
    )]
    NothingMined {
        /// The output that was not written.
        output: PathBuf,
        /// The pass's counts.
        report: crate::mine::MineReport,
        /// `num_negatives`.
        wanted: usize,
    },
    /// The training examples' file holds none.
    #[error("{file}: no training examples")]
    NoExamples {
        /// The examples' file (or the qrels split pairs come from).
        file: PathBuf,
    },
    /// An example names a document its corpus lacks.
    #[error("{place}: document `{doc_id}` is not in {corpus}")]
    DocumentNotInCorpus {
        /// `file:line`, or `file (example `id`)`, or `example `id``.
        place: String,
        /// The document.
        doc_id: String,
        /// Which corpus (`the corpus of scifact`).
        corpus: String,
    },
    /// An example has fewer candidates than `list_size`.
    #[error("{place}: {candidates} candidates, fewer than list_size = {list_size}")]
    ListTooShort {
        /// `file:line`, or `file (example `id`)`.
        place: String,
        /// The example's candidates.
        candidates: usize,
        /// The configured `list_size`.
        list_size: usize,
    },
    /// A noise setting does not fit the model's vocabulary (a mask op for a tokenizer
    /// without `[MASK]`).
    #[error("noise.{side}: {source}")]
    NoiseVocab {
        /// `query` or `passage`.
        side: &'static str,
        /// What does not fit.
        source: densify_noise::NoiseError,
    },
    /// The configured loss could not be built.
    #[error("loss: {0}")]
    Loss(#[from] densify_loss::LossError),
    /// The output folder holds checkpoints and the run was not asked to resume them.
    #[error(
        "{checkpoints} holds checkpoints of an earlier run: pass --resume to continue it, or \
         choose another output folder"
    )]
    CheckpointsWithoutResume {
        /// The checkpoints folder.
        checkpoints: PathBuf,
    },
    /// The background data loader stopped without an error of its own (it panicked).
    #[error("the data loader thread stopped")]
    LoaderStopped,
    /// The first step's loss is not finite, so it has no gradients to report.
    #[error("the loss is {0}")]
    LossNotFinite(f64),
    /// GradCache was configured for a data parallel run.
    #[error("grad_cache_mini_batch: GradCache is not combined with data parallel training")]
    GradCacheWithDataParallel,
    /// Data parallel training was given fewer than two devices.
    #[error("data parallel training needs at least two devices, got {0}")]
    TooFewDevices(usize),
    /// A device is listed twice for data parallel training.
    #[error("data parallel devices must be distinct: {0} is listed twice")]
    DeviceListedTwice(String),
    /// A device without burn's collective all-reduce was given for data parallel training.
    #[error(
        "data parallel training needs burn's collective all-reduce, which burn 0.22 implements \
         on its CUDA backend only (a build with --features cuda, devices cuda:N): {0} has none"
    )]
    NoCollective(String),
    /// A batch has fewer examples than the devices it is split across.
    #[error("a batch of {batch} examples cannot be split across {devices} devices")]
    BatchSmallerThanDevices {
        /// Examples in the batch.
        batch: usize,
        /// Devices.
        devices: usize,
    },
}

/// What an example lacks for its loss ([`TrainError::MissingTarget`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingTarget {
    /// No candidate is marked `positive`.
    Positive,
    /// No teacher scores.
    Teacher,
    /// No labels.
    Labels,
}

/// The message for an example that lacks `missing`, under `loss`.
fn missing_message(missing: &MissingTarget, loss: &str) -> String {
    match missing {
        MissingTarget::Positive => format!(
            "no candidate is marked `positive`; the loss `{loss}` needs a positive on every \
             example"
        ),
        MissingTarget::Teacher => format!(
            "the loss `{loss}` needs teacher scores on every example; this one has none \
             (`densify score` adds them)"
        ),
        MissingTarget::Labels => {
            format!("the loss `{loss}` needs labels on every example; this one has none")
        }
    }
}

/// `file:line`, or `file (example `id`)` for an example read from no line.
fn example_place(file: &std::path::Path, line: &usize, example: &str) -> String {
    if *line > 0 {
        format!("{}:{line}", file.display())
    } else {
        format!("{} (example `{example}`)", file.display())
    }
}

/// A `Result` whose error is [`TrainError`].
pub type Result<T> = std::result::Result<T, TrainError>;

impl TrainError {
    /// A [`TrainError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_targets_name_file_line_and_loss() {
        let missing = |line, missing| TrainError::MissingTarget {
            file: PathBuf::from("train.jsonl"),
            line,
            example: "q7".into(),
            loss: "kl_distillation",
            missing,
        };
        assert_eq!(
            missing(17, MissingTarget::Teacher).to_string(),
            "train.jsonl:17: the loss `kl_distillation` needs teacher scores on every example; \
             this one has none (`densify score` adds them)"
        );
        assert_eq!(
            missing(0, MissingTarget::Positive).to_string(),
            "train.jsonl (example `q7`): no candidate is marked `positive`; the loss \
             `kl_distillation` needs a positive on every example"
        );
        assert_eq!(
            missing(3, MissingTarget::Labels).to_string(),
            "train.jsonl:3: the loss `kl_distillation` needs labels on every example; this one \
             has none"
        );
        let e = TrainError::LengthBeyondModel {
            config: PathBuf::from("train.toml"),
            field: "query_max_length",
            value: 1000,
            note: "",
            max: 512,
            model: PathBuf::from("m/config.json"),
        };
        assert_eq!(
            e.to_string(),
            "train.toml: `query_max_length` 1000 exceeds the model's max_position_embeddings 512 \
             (m/config.json); set it to at most 512"
        );
    }
}
