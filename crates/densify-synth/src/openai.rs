//! An OpenAI-compatible HTTP client (chat and completions endpoints) with a concurrency-safe
//! retry policy: exponential backoff with jitter on 429, 5xx, timeouts and connection errors,
//! honouring `Retry-After`; other 4xx answers (a refused key, an unknown model) fail at once.
//! The base URL is checked once, before any request ([`check_base_url`]: an `http://` or
//! `https://` scheme and a host), and a request that cannot even be built (a malformed URL or
//! header) fails at once: neither is retried.
//!
//! Works with llama.cpp's `llama-server`, vLLM, Ollama (`/v1`), TGI's Messages API and hosted
//! APIs; the settings each needs are in `docs/synthetic-data.md`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use densify_core::config::{Config, InvalidField};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SynthError};

/// Which OpenAI endpoint to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST {base_url}/chat/completions` with the prompt as the user message.
    Chat,
    /// `POST {base_url}/completions` with the prompt, trailing whitespace trimmed (a template
    /// ends at its answer label, which a pretrained model then continues).
    Completions,
}

/// Where the server is and how to ask it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// The API's base URL, up to and including `/v1` (`http://127.0.0.1:8080/v1`). Default:
    /// the environment's `OPENAI_BASE_URL`, as the OpenAI clients read it.
    pub base_url: Option<String>,
    /// The model name sent with each request. Default `default` (llama.cpp serves its one
    /// model under any name).
    pub model: String,
    /// The API key, sent as `Authorization: Bearer`. Default: the environment's
    /// `OPENAI_API_KEY`; none when that is unset too.
    pub api_key: Option<String>,
    /// `chat` (default) or `completions`.
    pub endpoint: Endpoint,
    /// A system message for the chat endpoint. Default none.
    pub system: Option<String>,
    /// Sampling temperature. Default 0.8 (paper B).
    pub temperature: f64,
    /// Nucleus sampling. Default 1.0.
    pub top_p: f64,
    /// New tokens per answer. Default 64 (paper B: 50 for queries; documents need more).
    pub max_tokens: u32,
    /// Stop sequences. Default none.
    pub stop: Vec<String>,
    /// Base of the per-request seeds (each request's seed mixes it with the request's id), for
    /// servers that honour `seed`. Default 42.
    pub seed: u64,
    /// Requests in flight at once. Default 4.
    pub concurrency: usize,
    /// Seconds one request may take, connection and answer included. Default 120.
    pub timeout_secs: f64,
    /// Retries after the first attempt. Default 5.
    pub max_retries: u32,
    /// First backoff in seconds; it doubles per retry, with full jitter. Default 0.5.
    pub backoff_secs: f64,
    /// Longest wait between attempts, `Retry-After` included. Default 30.
    pub max_backoff_secs: f64,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            model: "default".into(),
            api_key: None,
            endpoint: Endpoint::Chat,
            system: None,
            temperature: 0.8,
            top_p: 1.0,
            max_tokens: 64,
            stop: Vec::new(),
            seed: 42,
            concurrency: 4,
            timeout_secs: 120.0,
            max_retries: 5,
            backoff_secs: 0.5,
            max_backoff_secs: 30.0,
        }
    }
}

impl Config for LlmConfig {
    fn validate(&self) -> Result<(), InvalidField> {
        densify_core::config::non_negative("temperature", self.temperature)?;
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(InvalidField::new(
                "top_p",
                format!("must be in (0, 1], found {}", self.top_p),
            ));
        }
        densify_core::config::positive("timeout_secs", self.timeout_secs)?;
        densify_core::config::non_negative("backoff_secs", self.backoff_secs)?;
        densify_core::config::non_negative("max_backoff_secs", self.max_backoff_secs)?;
        if self.concurrency == 0 {
            return Err(InvalidField::new(
                "concurrency",
                "must be at least 1, found 0",
            ));
        }
        if self.max_tokens == 0 {
            return Err(InvalidField::new(
                "max_tokens",
                "must be at least 1, found 0",
            ));
        }
        if let Some(url) = &self.base_url
            && let Err(problem) = check_base_url(url)
        {
            return Err(InvalidField::new(
                "base_url",
                format!("{problem}, found `{url}`"),
            ));
        }
        Ok(())
    }
}

/// Checks that `url` can be an API base URL: `http://` or `https://`, then a host (a name, an
/// IPv4 address or a bracketed IPv6 address), an optional numeric port, and an optional path;
/// no spaces. The error says what is wrong, as a predicate of the URL (`must start with
/// http:// or https:// (did you mean `http://localhost:8080/v1`?)`).
pub fn check_base_url(url: &str) -> std::result::Result<(), String> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    let lower = url.to_ascii_lowercase();
    let Some(scheme_len) = ["http://", "https://"]
        .into_iter()
        .find(|scheme| lower.starts_with(scheme))
        .map(str::len)
    else {
        let hint = if url.contains("://") {
            String::new()
        } else {
            format!(" (did you mean `http://{url}`?)")
        };
        return Err(format!("must start with http:// or https://{hint}"));
    };
    let rest = &url[scheme_len..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, after)) => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => {
                    return Err(format!(
                        "has `{after}` after its IPv6 address, where a port or a path should be"
                    ));
                }
            },
            None => return Err("has an IPv6 address with no closing `]`".into()),
        },
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err("names no host (expected http://HOST[:PORT]/v1)".into());
    }
    let host_ok = if host_port.starts_with('[') {
        host.chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    } else {
        host.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '%'))
    };
    if !host_ok {
        return Err(format!(
            "names `{host}`, which is not a host name or address"
        ));
    }
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!(
            "has the port `{port}`, which is not a number from 0 to 65535"
        ));
    }
    Ok(())
}

impl LlmConfig {
    /// The base URL: the config's, else `OPENAI_BASE_URL`.
    pub fn resolved_base_url(&self) -> Option<String> {
        self.base_url.clone().or_else(|| {
            std::env::var("OPENAI_BASE_URL")
                .ok()
                .filter(|s| !s.is_empty())
        })
    }

    /// The API key: the config's, else `OPENAI_API_KEY`.
    pub fn resolved_api_key(&self) -> Option<String> {
        self.api_key.clone().or_else(|| {
            std::env::var("OPENAI_API_KEY")
                .ok()
                .filter(|s| !s.is_empty())
        })
    }
}

/// Counters of a client's traffic (safe to read while requests run).
#[derive(Debug, Default)]
pub struct ClientStats {
    /// HTTP requests sent, retries included.
    pub requests: AtomicU64,
    /// Retries made.
    pub retries: AtomicU64,
    /// Attempts that timed out.
    pub timeouts: AtomicU64,
    /// Answers with no text where the API puts it.
    pub malformed: AtomicU64,
}

/// An answer: its text, or `None` when the body was JSON of the wrong shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// `choices[0].message.content` (chat) or `choices[0].text` (completions).
    pub text: Option<String>,
}

type LogSink = Box<dyn Fn(&str) + Send + Sync>;

/// A blocking client for one OpenAI-compatible server; share it between threads by reference.
pub struct OpenAiClient {
    agent: ureq::Agent,
    url: String,
    api_key: Option<String>,
    config: LlmConfig,
    /// Traffic counters.
    pub stats: ClientStats,
    log: Mutex<Option<LogSink>>,
}

impl std::fmt::Debug for OpenAiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiClient")
            .field("url", &self.url)
            .field("model", &self.config.model)
            .finish()
    }
}

impl OpenAiClient {
    /// A client for `config`; fails when no base URL is set there or in `OPENAI_BASE_URL`, or
    /// when that URL is malformed ([`check_base_url`]; the error names where it came from and
    /// its value), so nothing is sent to a URL no retry can reach.
    pub fn new(config: LlmConfig) -> Result<Self> {
        config.validate().map_err(|field| SynthError::Setting {
            section: "llm",
            field,
        })?;
        let base = config.resolved_base_url().ok_or(SynthError::NoBaseUrl)?;
        // Once, before any request: a malformed URL would otherwise fail every attempt.
        if let Err(problem) = check_base_url(&base) {
            let origin = if config.base_url.is_some() {
                "llm.base_url (or --base-url)"
            } else {
                "OPENAI_BASE_URL"
            };
            return Err(SynthError::BadBaseUrl {
                origin,
                url: base.clone(),
                problem,
            });
        }
        let path = match config.endpoint {
            Endpoint::Chat => "chat/completions",
            Endpoint::Completions => "completions",
        };
        let url = format!("{}/{path}", base.trim_end_matches('/'));
        let timeout = Duration::from_secs_f64(config.timeout_secs);
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Ok(Self {
            agent,
            url,
            api_key: config.resolved_api_key(),
            config,
            stats: ClientStats::default(),
            log: Mutex::new(None),
        })
    }

    /// Sends each retry's reason to `sink` (a progress bar's `println`, a test's buffer).
    pub fn set_log(&self, sink: impl Fn(&str) + Send + Sync + 'static) {
        *self.log.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(sink));
    }

    /// The endpoint's full URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The config the client was built with.
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    fn log(&self, message: &str) {
        if let Some(sink) = self.log.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            sink(message);
        }
    }

    /// The request body for `prompt`.
    pub fn body(&self, prompt: &str, seed: u64) -> serde_json::Value {
        let c = &self.config;
        let mut body = serde_json::json!({
            "model": c.model,
            "temperature": c.temperature,
            "top_p": c.top_p,
            "max_tokens": c.max_tokens,
            "seed": seed,
            "stream": false,
        });
        if !c.stop.is_empty() {
            body["stop"] = serde_json::json!(c.stop);
        }
        match c.endpoint {
            Endpoint::Chat => {
                let mut messages = Vec::new();
                if let Some(system) = &c.system {
                    messages.push(serde_json::json!({"role": "system", "content": system}));
                }
                messages.push(serde_json::json!({"role": "user", "content": prompt}));
                body["messages"] = serde_json::Value::Array(messages);
            }
            // A template's last line is the answer label ("Question:"), and the newline after
            // it would break the few-shot pattern a pretrained model continues: it writes the
            // label again instead of an answer (Gemma 3 270M did, for most prompts).
            Endpoint::Completions => body["prompt"] = serde_json::json!(prompt.trim_end()),
        }
        body
    }

    /// Sends `prompt`, retrying as the module documents.
    pub fn complete(&self, prompt: &str, seed: u64) -> Result<Completion> {
        let body = self.body(prompt, seed).to_string();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let (message, retry_after) = match self.send(&body) {
                Ok(Outcome::Done(text)) => return Ok(text),
                Ok(Outcome::Retry(message, after)) => (message, after),
                Err(e) => return Err(e),
            };
            if attempt > self.config.max_retries {
                return Err(SynthError::Unavailable {
                    url: self.url.clone(),
                    message,
                    attempts: attempt,
                });
            }
            let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
            let wait = wait.min(Duration::from_secs_f64(self.config.max_backoff_secs));
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            // One line per retry, whatever the message holds.
            let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
            self.log(&format!(
                "{}: {message} after {:.1} s; retry {attempt}/{} in {:.2} s",
                self.url,
                started.elapsed().as_secs_f64(),
                self.config.max_retries,
                wait.as_secs_f64()
            ));
            std::thread::sleep(wait);
        }
    }

    /// Full-jitter exponential backoff: uniform in [0, min(max, base * 2^(attempt-1))].
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = (self.config.backoff_secs * 2f64.powi(attempt as i32 - 1))
            .min(self.config.max_backoff_secs);
        Duration::from_secs_f64(rand::rng().random_range(0.0..=1.0) * cap)
    }

    fn send(&self, body: &str) -> Result<Outcome> {
        let mut request = self.agent.post(&self.url).content_type("application/json");
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let mut response = match request.send(body) {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => {
                self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                return Ok(Outcome::Retry(
                    format!("timed out (limit {} s)", self.config.timeout_secs),
                    None,
                ));
            }
            // The request cannot be built (a malformed URL or header): no retry can help.
            Err(
                e @ (ureq::Error::BadUri(_)
                | ureq::Error::Http(_)
                | ureq::Error::RequireHttpsOnly(_)
                | ureq::Error::InvalidProxyUrl),
            ) => {
                return Err(SynthError::BadRequest {
                    url: self.url.clone(),
                    message: e.to_string(),
                });
            }
            Err(e) => return Ok(Outcome::Retry(connection_message(&e), None)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let text = match response.body_mut().read_to_string() {
            Ok(t) => t,
            Err(ureq::Error::Timeout(_)) => {
                self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                return Ok(Outcome::Retry(
                    format!(
                        "timed out reading the answer (limit {} s)",
                        self.config.timeout_secs
                    ),
                    None,
                ));
            }
            Err(e) => return Ok(Outcome::Retry(connection_message(&e), None)),
        };
        if status == 429 || status >= 500 {
            return Ok(Outcome::Retry(
                format!("the server answered {status}: {}", snippet(&text)),
                retry_after,
            ));
        }
        if !(200..300).contains(&status) {
            let hint = match status {
                401 | 403 => " (the API key was refused: set llm.api_key or OPENAI_API_KEY)",
                404 => " (check llm.base_url, which should end in /v1, and llm.model)",
                _ => "",
            };
            return Err(SynthError::Refused {
                url: self.url.clone(),
                status,
                body: format!("{}{hint}", snippet(&text)),
            });
        }
        let parsed = serde_json::from_str::<serde_json::Value>(&text).ok();
        let pointer = match self.config.endpoint {
            Endpoint::Chat => "/choices/0/message/content",
            Endpoint::Completions => "/choices/0/text",
        };
        let answer = parsed
            .as_ref()
            .and_then(|v| v.pointer(pointer))
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        if answer.is_none() {
            self.stats.malformed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Outcome::Done(Completion { text: answer }))
    }
}

enum Outcome {
    Done(Completion),
    Retry(String, Option<Duration>),
}

fn connection_message(e: &ureq::Error) -> String {
    match e {
        ureq::Error::ConnectionFailed => "could not connect (is the server running?)".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "could not connect: connection refused (is the server running?)".into()
        }
        ureq::Error::Io(io) => format!("connection error: {io}"),
        other => format!("request failed: {other}"),
    }
}

/// The start of an answer's body on one line (whitespace, line breaks included, collapsed), so
/// each retry is one log line.
fn snippet(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let t: String = one_line.chars().take(300).collect();
    if t.is_empty() {
        "(empty body)".into()
    } else {
        t
    }
}

/// A 64-bit mix of a base seed and a request key (FNV-1a, then SplitMix64's finaliser), so
/// each request has its own reproducible seed.
pub fn request_seed(base: u64, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ base;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    // JSON numbers above 2^53 lose precision in some servers' parsers.
    (z ^ (z >> 31)) & ((1 << 53) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_and_completion_bodies() {
        let config = LlmConfig {
            base_url: Some("http://127.0.0.1:1/v1/".into()),
            system: Some("be brief".into()),
            stop: vec!["\n".into()],
            ..LlmConfig::default()
        };
        let client = OpenAiClient::new(config.clone()).unwrap();
        assert_eq!(client.url(), "http://127.0.0.1:1/v1/chat/completions");
        let body = client.body("hi", 7);
        assert_eq!(body["messages"][0]["content"], "be brief");
        assert_eq!(body["messages"][1]["content"], "hi");
        assert_eq!(body["seed"], 7);
        assert_eq!(body["stop"][0], "\n");
        let client = OpenAiClient::new(LlmConfig {
            endpoint: Endpoint::Completions,
            ..config
        })
        .unwrap();
        assert_eq!(client.url(), "http://127.0.0.1:1/v1/completions");
        assert_eq!(client.body("hi", 7)["prompt"], "hi");
        // The completions prompt ends at its answer label; chat keeps the message as written.
        assert_eq!(
            client.body("Passage: p\nQuestion:\n", 7)["prompt"],
            "Passage: p\nQuestion:"
        );
    }

    #[test]
    fn rejects_a_url_without_scheme_and_zero_concurrency() {
        let bad = LlmConfig {
            base_url: Some("127.0.0.1:8080".into()),
            ..LlmConfig::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("base_url"));
        let bad = LlmConfig {
            concurrency: 0,
            ..LlmConfig::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn base_urls_are_checked_once_before_any_request() {
        for good in [
            "http://127.0.0.1:8080/v1",
            "https://api.openai.com/v1",
            "HTTP://localhost",
            "http://[::1]:8080/v1",
            "http://user:key@host.example:443/v1/",
        ] {
            assert_eq!(check_base_url(good), Ok(()), "{good}");
        }
        for (bad, expected) in [
            (
                "localhost:8080/v1",
                "must start with http:// or https:// (did you mean `http://localhost:8080/v1`?)",
            ),
            ("ftp://host/v1", "must start with http:// or https://"),
            ("http:///v1", "names no host"),
            (
                "http://host:80a/v1",
                "the port `80a`, which is not a number",
            ),
            ("http://ho st/v1", "spaces"),
            ("http://[::1/v1", "no closing `]`"),
        ] {
            let e = check_base_url(bad).unwrap_err();
            assert!(e.contains(expected), "{bad}: {e}");
        }
        // A bad OPENAI_BASE_URL is named with its value when the client is built. The
        // environment is not touched here (tests run in parallel): a config value gives the
        // same check, which `validate` reports first.
        let e = OpenAiClient::new(LlmConfig {
            base_url: Some("http://:8080/v1".into()),
            ..LlmConfig::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("base_url") && e.contains("`http://:8080/v1`"),
            "{e}"
        );
    }

    #[test]
    fn snippets_are_one_line() {
        assert_eq!(
            snippet("  <html>\n<body>busy</body>\r\n</html> "),
            "<html> <body>busy</body> </html>"
        );
        assert_eq!(snippet(" \n "), "(empty body)");
    }

    #[test]
    fn request_seeds_differ_per_key_and_fit_in_53_bits() {
        let a = request_seed(42, "doc1/question");
        assert_eq!(a, request_seed(42, "doc1/question"));
        assert_ne!(a, request_seed(42, "doc1/claim"));
        assert_ne!(a, request_seed(43, "doc1/question"));
        assert!(a < (1 << 53));
    }
}
