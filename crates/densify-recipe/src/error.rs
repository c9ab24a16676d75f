//! The recipe driver's errors: the stages' own, and the driver's at its boundaries.

use std::path::{Path, PathBuf};

/// What can go wrong in a recipe run.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// The recipe file (or a table of it) is invalid.
    #[error(transparent)]
    Config(#[from] densify_core::ConfigError),
    /// A dataset, run or qrels file.
    #[error(transparent)]
    Data(#[from] densify_data::DataError),
    /// The model.
    #[error(transparent)]
    Model(#[from] densify_model::ModelError),
    /// Evaluation.
    #[error(transparent)]
    Eval(#[from] densify_eval::EvalError),
    /// Training, mining or teacher scoring.
    #[error(transparent)]
    Train(#[from] densify_train::TrainError),
    /// Generation or filtering.
    #[error(transparent)]
    Synth(#[from] densify_synth::SynthError),
    /// Query noise.
    #[error(transparent)]
    Noise(#[from] densify_noise::NoiseError),
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `manifest.json` is not a densify manifest.
    #[error("{path}: not a densify recipe manifest ({message}); move it away to start afresh")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// `results.json` of an evaluate stage is not what that stage writes.
    #[error("{path}: not an evaluate stage's results ({message}); delete it to evaluate again")]
    Results {
        /// The results file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A recipe that has an LLM write text, with no LLM configured.
    #[error(
        "{config}: recipe `{recipe}` has an LLM write its documents: add a [server] table \
         (`binary` = llama-server, `model` = a GGUF file; scripts/fetch_llama_server.sh gives \
         both), or set `generate.llm.base_url` (or OPENAI_BASE_URL)"
    )]
    NeedsLlm {
        /// The recipe file.
        config: PathBuf,
        /// The recipe.
        recipe: String,
    },
    /// A generated document has the id of a corpus document.
    #[error("{file}: generated document `{id}` has the id of a corpus document")]
    DuplicateId {
        /// The generated corpus.
        file: PathBuf,
        /// The id.
        id: String,
    },
    /// A split the recipe file names is not in the dataset.
    #[error(
        "{config}: `{field}` is `{split}`, but {dataset} has no qrels/{split}.tsv (its splits \
         with qrels: {splits})"
    )]
    NoSuchSplit {
        /// The recipe file.
        config: PathBuf,
        /// The field (`iterate.dev_split`).
        field: &'static str,
        /// The split named.
        split: String,
        /// The dataset folder.
        dataset: PathBuf,
        /// The splits it has, comma-separated.
        splits: String,
    },
    /// A stage's inputs gave it nothing to work on.
    #[error("stage `{stage}`: {message}")]
    Empty {
        /// The stage.
        stage: &'static str,
        /// What was missing.
        message: String,
    },
    /// `densify recipe status` on a folder with no manifest.
    #[error("{0}: no manifest.json here (not a recipe run folder)")]
    NoRun(PathBuf),
}

/// A `Result` whose error is [`RecipeError`].
pub type Result<T> = std::result::Result<T, RecipeError>;

impl RecipeError {
    /// An [`RecipeError::Io`] for `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
