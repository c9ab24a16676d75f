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
    /// A value passed in is unusable (an empty corpus, an unknown id, a bad combination).
    #[error("{0}")]
    Invalid(String),
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
