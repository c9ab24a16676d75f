//! Errors of densify-synth: each names the file, line, field, request or server it is about.

use std::path::PathBuf;

/// What can go wrong while generating or filtering synthetic data.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A template is malformed, lacks a placeholder the task needs, or uses one it does not
    /// know.
    #[error("{origin}: {message}")]
    Template {
        /// The template file (or `built-in <name>`).
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A line of an input file is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The server refused the request for good (401, 403, 404, another 4xx): retrying would
    /// not help.
    #[error("{url}: the server answered {status}: {body}")]
    Refused {
        /// The endpoint.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// The server could not be reached or kept failing, after every retry.
    #[error("{url}: {message} (after {attempts} attempt(s))")]
    Unavailable {
        /// The endpoint.
        url: String,
        /// The last failure.
        message: String,
        /// Requests made.
        attempts: u32,
    },
    /// A local server's binary ([`crate::LocalServerConfig::binary`]) is not a file, nor a
    /// name found in `PATH`.
    #[error("{}: no llama-server binary there (run `eval \"$(bash scripts/fetch_llama_server.sh)\"` and use its DENSIFY_LLAMA_SERVER, or set `binary` to llama.cpp's llama-server)", path.display())]
    ServerBinaryMissing {
        /// The configured binary.
        path: PathBuf,
    },
    /// A local server's GGUF model is not a file.
    #[error("{}: no GGUF model file there (set `model`; scripts/fetch_llama_server.sh fetches SmolLM2-135M-Instruct)", path.display())]
    ServerModelMissing {
        /// The configured model.
        path: PathBuf,
    },
    /// A local server's process could not be started.
    #[error("{}: could not start llama-server: {source}", binary.display())]
    ServerSpawn {
        /// The binary.
        binary: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A local server exited before it answered `/health`.
    #[error("llama-server exited ({status}) before it was ready; the end of {}:\n{tail}", log.display())]
    ServerExited {
        /// How it exited (`exit status: 1`, `signal: 9`).
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The log's last lines.
        tail: String,
    },
    /// A local server did not answer `/health` with 200 in time.
    #[error("llama-server on port {port} was not ready within {seconds} s (raise `startup_timeout_s` for a large model or a slow disk); the end of {}:\n{tail}", log.display())]
    ServerNotHealthy {
        /// Its port on 127.0.0.1.
        port: u16,
        /// The timeout.
        seconds: u64,
        /// Its log file.
        log: PathBuf,
        /// The log's last lines.
        tail: String,
    },
    /// A configuration built in code (not read from a file, where [`SynthError::Config`] names
    /// the line) has a field out of range: `local server: `model` is required (a GGUF file)`.
    #[error("{section}: {field}")]
    Setting {
        /// The configuration (`llm`, `local server`).
        section: &'static str,
        /// The field and what is wrong with it.
        field: densify_core::config::InvalidField,
    },
    /// No OpenAI-compatible server is named: neither `llm.base_url` nor `OPENAI_BASE_URL`.
    #[error(
        "llm.base_url is not set and OPENAI_BASE_URL is empty: name an OpenAI-compatible server \
         (for example http://127.0.0.1:8080/v1)"
    )]
    NoBaseUrl,
    /// The server's base URL cannot be requested.
    #[error(
        "{origin} = `{url}` is not a usable base URL: it {problem}; it should look like \
         http://127.0.0.1:8080/v1"
    )]
    BadBaseUrl {
        /// Where it came from (`llm.base_url (or --base-url)`, `OPENAI_BASE_URL`).
        origin: &'static str,
        /// The URL.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A stage was asked to work on nothing: an empty corpus, no queries, no level.
    #[error("{0}")]
    NothingToDo(&'static str),
    /// Every row was dropped, so there is nothing to write; nothing was written.
    #[error("{}: {what}; nothing was written", path.display())]
    NothingKept {
        /// The output folder (or the input file whose rows were all dropped).
        path: PathBuf,
        /// What was dropped, and where the counts are.
        what: &'static str,
    },
    /// An output folder is the input dataset's own folder, whose corpus it would replace.
    #[error("{}: is the input dataset's folder; choose another folder", path.display())]
    OutputIsInput {
        /// The folder.
        path: PathBuf,
    },
    /// A row of a generation file names a passage the corpus does not hold.
    #[error("{}: query `{query}` was written for passage `{passage}`, which is not in the corpus", path.display())]
    PassageNotInCorpus {
        /// The generation file.
        path: PathBuf,
        /// The query's id.
        query: String,
        /// The passage's id.
        passage: String,
    },
    /// A qrels file judges a passage its corpus does not hold (where the judgement's line
    /// could not be found, so [`SynthError::Parse`] cannot name it).
    #[error("{}: {message}", path.display())]
    QrelsOutsideCorpus {
        /// The qrels file.
        path: PathBuf,
        /// The query, the passage and the corpus.
        message: String,
    },
    /// A synthetic query must have exactly one relevant passage (its source) in the qrels.
    #[error("{}: query `{query}` must have exactly one relevant passage (its source) in qrels/{split}.tsv, found {found}", path.display())]
    SourceNotUnique {
        /// The dataset folder.
        path: PathBuf,
        /// The query's id.
        query: String,
        /// The split.
        split: String,
        /// How many relevant passages it has.
        found: usize,
    },
    /// A few-shot source holds no usable example.
    #[error("{}: {what}", path.display())]
    NoFewShotExamples {
        /// The pool file or the dataset folder.
        path: PathBuf,
        /// Which pool, or which split.
        what: String,
    },
    /// A task needs an LLM, but the generator resolved to inverse cloze.
    #[error(
        "{what} needs an LLM: set llm.base_url in the config or OPENAI_BASE_URL (the inverse-cloze generator only writes queries)"
    )]
    NeedsLlm {
        /// The task.
        what: String,
    },
    /// A relevance level outside 0 to 3.
    #[error("relevance level {level} is not one of 0, 1, 2, 3")]
    UnknownLevel {
        /// The level asked for.
        level: u8,
    },
    /// The request to the server cannot be built (a malformed URL or header): no retry can
    /// help.
    #[error(
        "{url}: the request could not be made: {message} (check llm.base_url or OPENAI_BASE_URL, and llm.api_key or OPENAI_API_KEY); not retried"
    )]
    BadRequest {
        /// The endpoint.
        url: String,
        /// The client's error.
        message: String,
    },
    /// Reading a dataset failed.
    #[error(transparent)]
    Data(#[from] densify_data::DataError),
    /// A model could not be loaded or run.
    #[error(transparent)]
    Model(#[from] densify_model::ModelError),
    /// A configuration is invalid.
    #[error(transparent)]
    Config(#[from] densify_core::ConfigError),
}

impl SynthError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// densify-synth's result type.
pub type Result<T, E = SynthError> = std::result::Result<T, E>;
