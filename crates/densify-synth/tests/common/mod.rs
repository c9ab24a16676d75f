//! A real llama.cpp server for the tests: `llama-server` and SmolLM2-135M-Instruct as
//! `scripts/fetch_llama_server.sh` builds and fetches them (paths from `DENSIFY_LLAMA_SERVER`
//! and `DENSIFY_LLAMA_MODEL`, else the script's cache). Each test starts its own server on a
//! free loopback port and the guard kills it when the test ends, passing or failing.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn cache() -> PathBuf {
    std::env::var_os("DENSIFY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/densify")
        })
}

fn find(var: &str, fallback: impl Fn() -> Option<PathBuf>) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(fallback)
        .unwrap_or_else(|| {
            panic!("{var} is not set and the default cache has no file: run `eval $(bash scripts/fetch_llama_server.sh)` (as .ci/run does)")
        })
}

/// The llama-server binary.
pub fn server_binary() -> PathBuf {
    find("DENSIFY_LLAMA_SERVER", || {
        let root = cache().join("llama.cpp");
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .collect();
        dirs.sort();
        dirs.into_iter()
            .rev()
            .map(|d| d.join("llama-server"))
            .find(|p| p.is_file())
    })
}

/// The SmolLM2-135M-Instruct GGUF.
pub fn model_file() -> PathBuf {
    find("DENSIFY_LLAMA_MODEL", || {
        Some(cache().join("models/smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf"))
            .filter(|p| p.is_file())
    })
}

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running llama-server; killed on drop. When `DENSIFY_TEST_PID_DIR` is set (`.ci/run` sets
/// it), its PID is kept in `<dir>/llama-server-<pid>.pid` while it runs, so a run whose test
/// process was killed before the guard ran can stop exactly the servers its tests started.
pub struct LlamaServer {
    child: Child,
    pid_file: Option<PathBuf>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its log file.
    pub log: PathBuf,
}

impl LlamaServer {
    /// Starts a server (4 slots, 2 threads) and waits for `/health`.
    pub fn start(log_dir: &Path, extra: &[&str]) -> Self {
        let port = free_port();
        let log = log_dir.join(format!("llama-server-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(server_binary())
            .args(["-m"])
            .arg(model_file())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["-c", "8192", "-np", "4", "-t", "2", "--no-webui"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("start llama-server");
        let pid_file = std::env::var_os("DENSIFY_TEST_PID_DIR").map(|dir| {
            let path = Path::new(&dir).join(format!("llama-server-{}.pid", child.id()));
            std::fs::write(&path, child.id().to_string()).expect("write the server's PID file");
            path
        });
        let mut server = Self {
            child,
            pid_file,
            port,
            log,
        };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&mut self) {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "llama-server exited with {status}: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if let Ok(r) = agent.get(&format!("{}/health", self.root())).call()
                && r.status() == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "llama-server did not become healthy in 120 s; log {}",
            self.log.display()
        );
    }

    /// `http://127.0.0.1:PORT`.
    pub fn root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The OpenAI base URL (`.../v1`).
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.root())
    }

    /// Kills the server now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(path) = self.pid_file.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        self.kill();
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
