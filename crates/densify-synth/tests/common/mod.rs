//! A real llama.cpp server for the tests: `llama-server` and SmolLM2-135M-Instruct as
//! `scripts/fetch_llama_server.sh` builds and fetches them (paths from `DENSIFY_LLAMA_SERVER`
//! and `DENSIFY_LLAMA_MODEL`, else the script's cache). Each test starts its own server on a
//! free loopback port (densify-synth's `LocalServer`) and the guard kills it when the test
//! ends, passing or failing.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use densify_synth::{LocalServer, LocalServerConfig};

/// The llama-server binary.
pub fn server_binary() -> PathBuf {
    densify_testkit::llama_server_binary()
}

/// The SmolLM2-135M-Instruct GGUF.
pub fn model_file() -> PathBuf {
    densify_testkit::llama_model()
}

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    densify_synth::local_server::free_port().unwrap()
}

/// A running llama-server (densify-synth's [`LocalServer`]: 4 slots, 2 threads, the log in
/// the test's folder); killed on drop, its PID kept in `$DENSIFY_TEST_PID_DIR` while it runs.
pub struct LlamaServer {
    server: LocalServer,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its log file.
    pub log: PathBuf,
}

impl LlamaServer {
    /// Starts a server with `extra` arguments and waits for `/health`; panics with the typed
    /// error's message (which quotes the log) when it does not come up.
    pub fn start(log_dir: &Path, extra: &[&str]) -> Self {
        let config = LocalServerConfig {
            binary: server_binary(),
            model: model_file(),
            extra_args: extra.iter().map(|a| a.to_string()).collect(),
            ..LocalServerConfig::default()
        };
        let server = LocalServer::start(&config, log_dir).unwrap_or_else(|e| panic!("{e}"));
        Self {
            port: server.port(),
            log: server.log().to_path_buf(),
            server,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn root(&self) -> String {
        self.server.root()
    }

    /// The OpenAI base URL (`.../v1`).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Kills the server now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        self.server.stop();
    }
}

/// A fresh temporary folder.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("densify-synth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The shared SciFact dataset.
pub fn scifact() -> densify_data::Dataset {
    let root = std::env::var_os("DENSIFY_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    densify_data::Dataset::open(root.join("scifact"))
        .expect("SciFact in ../shared/data (or DENSIFY_DATA)")
}

/// Serialises the tests of a file: each starts a server, and the machine has 2 cores.
pub static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes the lock even after another test failed while holding it.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
