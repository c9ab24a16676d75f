//! A local LLM server started and stopped by densify: llama.cpp's `llama-server` serving one
//! GGUF model on a free loopback port, for as long as a [`LocalServer`] lives.
//!
//! `scripts/fetch_llama_server.sh` builds the binary and fetches SmolLM2-135M-Instruct (GGUF)
//! and prints their paths (`DENSIFY_LLAMA_SERVER`, `DENSIFY_LLAMA_MODEL`). The server's
//! OpenAI-compatible API is at [`LocalServer::base_url`], for [`LlmConfig::base_url`].
//!
//! ```toml
//! binary = "/home/me/.cache/densify/llama.cpp/11434.0.0-avx2/llama-server"
//! model = "/home/me/.cache/densify/models/smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf"
//! slots = 4        # requests answered at once: match llm.concurrency
//! threads = 2
//! ```
//!
//! [`LlmConfig::base_url`]: crate::LlmConfig::base_url

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use densify_core::config::{Config, InvalidField, at_least_one};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SynthError};

/// Flags [`LocalServer::start`] sets itself, which `extra_args` may not repeat.
const MANAGED_FLAGS: [&str; 4] = ["-m", "--model", "--host", "--port"];

/// Lines of the server's log quoted in an error.
const LOG_TAIL_LINES: usize = 20;

/// How to start llama.cpp's `llama-server`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalServerConfig {
    /// llama.cpp's `llama-server` binary: a path, or a bare name looked up in `PATH`. Default
    /// `llama-server`. `scripts/fetch_llama_server.sh` builds one and prints its path.
    pub binary: PathBuf,
    /// The GGUF model it serves. Required (no default); `scripts/fetch_llama_server.sh`
    /// fetches SmolLM2-135M-Instruct.
    pub model: PathBuf,
    /// Context size in tokens, shared by the slots (`-c`). Default 8192.
    pub context: usize,
    /// Requests answered at once (`-np`); match `llm.concurrency`. Default 4.
    pub slots: usize,
    /// CPU threads (`-t`). Default 2.
    pub threads: usize,
    /// Seconds to wait for `/health` to answer 200 (the model loaded). Default 120.
    pub startup_timeout_s: u64,
    /// More arguments, appended as given (`["--api-key", "KEY"]`). `-m`, `--host` and
    /// `--port` are set by densify and refused here. Default none.
    pub extra_args: Vec<String>,
}

impl Default for LocalServerConfig {
    fn default() -> Self {
        Self {
            binary: PathBuf::from("llama-server"),
            model: PathBuf::new(),
            context: 8192,
            slots: 4,
            threads: 2,
            startup_timeout_s: 120,
            extra_args: Vec::new(),
        }
    }
}

impl Config for LocalServerConfig {
    fn validate(&self) -> std::result::Result<(), InvalidField> {
        if self.binary.as_os_str().is_empty() {
            return Err(InvalidField::new(
                "binary",
                "is required (llama.cpp's llama-server)",
            ));
        }
        if self.model.as_os_str().is_empty() {
            return Err(InvalidField::new("model", "is required (a GGUF file)"));
        }
        at_least_one("context", self.context as u64)?;
        at_least_one("slots", self.slots as u64)?;
        at_least_one("threads", self.threads as u64)?;
        at_least_one("startup_timeout_s", self.startup_timeout_s)?;
        if self.context < self.slots {
            return Err(InvalidField::new(
                "context",
                format!(
                    "{} tokens cannot be shared by {} slots",
                    self.context, self.slots
                ),
            ));
        }
        if let Some(flag) = self.extra_args.iter().find(|a| {
            let name = a.split('=').next().unwrap_or(a);
            MANAGED_FLAGS.contains(&name)
        }) {
            return Err(InvalidField::new(
                "extra_args",
                format!(
                    "`{flag}` is set by densify (the model is `model`, the address is a free loopback port)"
                ),
            ));
        }
        Ok(())
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `binary` as a file: itself when it names a folder too, else the first match in `PATH`.
fn resolve_binary(binary: &Path) -> Option<PathBuf> {
    if binary.components().count() > 1 {
        return Some(binary.to_path_buf()).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|p| p.is_file())
}

/// The last lines of the log, for an error.
fn log_tail(log: &Path) -> String {
    let bytes = std::fs::read(log).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// A running `llama-server` on `127.0.0.1`, stopped (SIGKILL, then reaped) when dropped.
///
/// When `DENSIFY_TEST_PID_DIR` is set (`.ci/run` sets it), its PID is kept in
/// `<dir>/llama-server-<pid>.pid` while it runs, so a CI run whose process was killed before
/// the drop can stop exactly the servers it started.
#[derive(Debug)]
pub struct LocalServer {
    child: Child,
    port: u16,
    log: PathBuf,
    pid_file: Option<PathBuf>,
    stopped: bool,
}

impl LocalServer {
    /// Starts `llama-server -m MODEL --host 127.0.0.1 --port P -c CONTEXT -np SLOTS -t THREADS
    /// --no-webui EXTRA..` on a free port, its output in `log_dir/llama-server-P.log` (the
    /// folder is created), and waits until `/health` answers 200.
    ///
    /// Errors: the config is invalid, the binary or the model is missing, the process cannot
    /// be started, it exits before it is healthy, or it is not healthy within
    /// `startup_timeout_s`; the last two quote the log's end. A server that was started is
    /// stopped before the error returns.
    pub fn start(config: &LocalServerConfig, log_dir: &Path) -> Result<Self> {
        config.validate().map_err(|field| SynthError::Setting {
            section: "local server",
            field,
        })?;
        let binary =
            resolve_binary(&config.binary).ok_or_else(|| SynthError::ServerBinaryMissing {
                path: config.binary.clone(),
            })?;
        if !config.model.is_file() {
            return Err(SynthError::ServerModelMissing {
                path: config.model.clone(),
            });
        }
        std::fs::create_dir_all(log_dir).map_err(|e| SynthError::io(log_dir, e))?;
        let spawn_error = |source| SynthError::ServerSpawn {
            binary: binary.clone(),
            source,
        };
        let port = free_port().map_err(|e| {
            spawn_error(std::io::Error::new(
                e.kind(),
                format!("no free loopback port: {e}"),
            ))
        })?;
        let log = log_dir.join(format!("llama-server-{port}.log"));
        let file = std::fs::File::create(&log).map_err(|e| SynthError::io(&log, e))?;
        let stderr = file.try_clone().map_err(|e| SynthError::io(&log, e))?;
        let child = Command::new(&binary)
            .arg("-m")
            .arg(&config.model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["-c", &config.context.to_string()])
            .args(["-np", &config.slots.to_string()])
            .args(["-t", &config.threads.to_string()])
            .arg("--no-webui")
            .args(&config.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(spawn_error)?;
        // From here on, an early return drops the server, which stops it.
        let mut server = Self {
            child,
            port,
            log,
            pid_file: None,
            stopped: false,
        };
        if let Some(dir) = std::env::var_os("DENSIFY_TEST_PID_DIR") {
            let pid = server.pid();
            let path = Path::new(&dir).join(format!("llama-server-{pid}.pid"));
            std::fs::write(&path, pid.to_string()).map_err(|e| SynthError::io(&path, e))?;
            server.pid_file = Some(path);
        }
        server.wait_healthy(Duration::from_secs(config.startup_timeout_s))?;
        Ok(server)
    }

    fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        let health = format!("{}/health", self.root());
        let started = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.stopped = true;
                    return Err(SynthError::ServerExited {
                        status: status.to_string(),
                        tail: log_tail(&self.log),
                        log: self.log.clone(),
                    });
                }
                Ok(None) => {}
                Err(e) => return Err(SynthError::io(&self.log, e)),
            }
            if agent.get(&health).call().is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            if started.elapsed() >= timeout {
                return Err(SynthError::ServerNotHealthy {
                    port: self.port,
                    seconds: timeout.as_secs(),
                    tail: log_tail(&self.log),
                    log: self.log.clone(),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log file (standard output and error).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// `http://127.0.0.1:PORT`.
    pub fn root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The OpenAI-compatible base URL, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.root())
    }

    /// Stops the server now (SIGKILL), reaps it and removes its PID file. Dropping the server
    /// does the same; stopping twice does nothing more.
    pub fn stop(&mut self) {
        if !self.stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.stopped = true;
        }
        if let Some(path) = self.pid_file.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "densify-synth-local-server-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn valid() -> LocalServerConfig {
        LocalServerConfig {
            model: PathBuf::from("model.gguf"),
            ..LocalServerConfig::default()
        }
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = LocalServerConfig::default();
        assert_eq!(c.binary, PathBuf::from("llama-server"));
        assert_eq!((c.context, c.slots, c.threads), (8192, 4, 2));
        assert_eq!(c.startup_timeout_s, 120);
        assert!(c.extra_args.is_empty() && c.model.as_os_str().is_empty());
        let parsed =
            LocalServerConfig::from_toml_str("model = \"model.gguf\"\n", "s.toml").unwrap();
        assert_eq!(parsed, valid());
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(valid().validate(), Ok(()));
        let field = |c: LocalServerConfig| c.validate().unwrap_err().field;
        assert_eq!(field(LocalServerConfig::default()), "model");
        assert_eq!(
            field(LocalServerConfig {
                binary: PathBuf::new(),
                ..valid()
            }),
            "binary"
        );
        assert_eq!(
            field(LocalServerConfig {
                slots: 0,
                ..valid()
            }),
            "slots"
        );
        assert_eq!(
            field(LocalServerConfig {
                context: 0,
                ..valid()
            }),
            "context"
        );
        assert_eq!(
            field(LocalServerConfig {
                context: 2,
                slots: 4,
                ..valid()
            }),
            "context"
        );
        assert_eq!(
            field(LocalServerConfig {
                threads: 0,
                ..valid()
            }),
            "threads"
        );
        assert_eq!(
            field(LocalServerConfig {
                startup_timeout_s: 0,
                ..valid()
            }),
            "startup_timeout_s"
        );
        for flag in ["--port", "--port=8080", "-m", "--host"] {
            let e = LocalServerConfig {
                extra_args: vec![flag.into(), "x".into()],
                ..valid()
            }
            .validate()
            .unwrap_err();
            assert_eq!(e.field, "extra_args");
            assert!(e.message.contains(flag), "{e}");
        }
        let ok = LocalServerConfig {
            extra_args: vec!["--api-key".into(), "k".into()],
            ..valid()
        };
        assert_eq!(ok.validate(), Ok(()));
        let e = LocalServerConfig::from_toml_str("model = \"m\"\nslots = 0\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.toml") && e.contains("`slots`"), "{e}");
        let e = LocalServerConfig::from_toml_str("model = \"m\"\nslot = 2\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `slot`"), "{e}");
    }

    #[test]
    fn a_missing_binary_or_model_is_a_typed_error() {
        let dir = temp_dir("missing");
        let model = dir.join("model.gguf");
        std::fs::write(&model, b"not a model").unwrap();
        let missing = dir.join("no-such/llama-server");
        let e = LocalServer::start(
            &LocalServerConfig {
                binary: missing.clone(),
                model: model.clone(),
                ..LocalServerConfig::default()
            },
            &dir,
        )
        .unwrap_err();
        assert!(
            matches!(&e, SynthError::ServerBinaryMissing { path } if *path == missing),
            "{e}"
        );
        assert!(e.to_string().contains("fetch_llama_server.sh"), "{e}");
        let e = LocalServer::start(
            &LocalServerConfig {
                binary: PathBuf::from("densify-no-such-llama-server"),
                model: model.clone(),
                ..LocalServerConfig::default()
            },
            &dir,
        )
        .unwrap_err();
        assert!(matches!(e, SynthError::ServerBinaryMissing { .. }), "{e}");
        if cfg!(unix) && Path::new("/bin/sh").is_file() {
            let e = LocalServer::start(
                &LocalServerConfig {
                    binary: PathBuf::from("/bin/sh"),
                    model: dir.join("none.gguf"),
                    ..LocalServerConfig::default()
                },
                &dir,
            )
            .unwrap_err();
            assert!(matches!(e, SynthError::ServerModelMissing { .. }), "{e}");
        }
        let e = LocalServer::start(&LocalServerConfig::default(), &dir).unwrap_err();
        assert!(
            matches!(&e, SynthError::Setting { section: "local server", field } if field.field == "model"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_server_that_exits_or_never_answers_is_a_typed_error_quoting_its_log() {
        if !cfg!(unix) || !Path::new("/bin/sh").is_file() {
            return;
        }
        let dir = temp_dir("exits");
        // `/bin/sh -m FILE ...` runs FILE as a script: a stand-in for llama-server.
        let script = dir.join("script.gguf");
        std::fs::write(&script, "echo 'cannot load the model' >&2\nexit 3\n").unwrap();
        let config = LocalServerConfig {
            binary: PathBuf::from("/bin/sh"),
            model: script.clone(),
            startup_timeout_s: 30,
            ..LocalServerConfig::default()
        };
        let e = LocalServer::start(&config, &dir).unwrap_err();
        let message = e.to_string();
        assert!(
            matches!(&e, SynthError::ServerExited { status, .. } if status.contains('3')),
            "{message}"
        );
        assert!(message.contains("cannot load the model"), "{message}");
        std::fs::write(&script, "echo loading\nexec sleep 30\n").unwrap();
        let started = Instant::now();
        let e = LocalServer::start(
            &LocalServerConfig {
                startup_timeout_s: 1,
                ..config
            },
            &dir,
        )
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        let message = e.to_string();
        assert!(
            matches!(&e, SynthError::ServerNotHealthy { seconds: 1, .. }),
            "{message}"
        );
        assert!(
            message.contains("loading") && message.contains("startup_timeout_s"),
            "{message}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
