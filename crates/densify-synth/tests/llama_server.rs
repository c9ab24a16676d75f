//! densify-synth against a real llama.cpp server (SmolLM2-135M-Instruct): every query type for
//! 20 SciFact passages, 5 graded-document sets, and the faults a user meets: the server killed
//! mid-run (then a resumed run), a closed port, a slow server, a refused API key.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{LlamaServer, scifact, serial, temp_dir};
use densify_core::{NoProgress, Progress};
use densify_synth::generate::{
    DocumentGenerationConfig, QueryGenerationConfig, QueryRow, export_documents, export_queries,
    generate_documents, generate_queries, sample_passages,
};
use densify_synth::{
    CleanConfig, FewShotPool, LlmConfig, LlmGenerator, OpenAiClient, PromptConfig, QueryType,
    SynthError,
};

/// Progress that kills the server once `at` answers are in.
struct KillAt<'a> {
    server: &'a mut LlamaServer,
    at: u64,
}

impl Progress for KillAt<'_> {
    fn start(&mut self, _: &str, _: Option<u64>) {}
    fn set(&mut self, done: u64) {
        if done == self.at {
            self.server.kill();
        }
    }
    fn finish(&mut self) {}
    fn note(&mut self, _: &str) {}
}

fn llm(base_url: String) -> LlmConfig {
    LlmConfig {
        base_url: Some(base_url),
        max_tokens: 24,
        timeout_secs: 60.0,
        max_retries: 2,
        backoff_secs: 0.1,
        ..LlmConfig::default()
    }
}

/// Short prompts keep the tests to about a minute on 2 cores (prompt processing dominates:
/// a few hundred prompt tokens per second there).
fn generator(config: LlmConfig, pool: FewShotPool) -> LlmGenerator {
    let prompts = PromptConfig {
        max_passage_chars: 240,
        few_shot: 1,
        example_chars: 120,
        ..PromptConfig::default()
    };
    LlmGenerator::new(OpenAiClient::new(config).unwrap(), prompts, pool).unwrap()
}

fn rows(path: &std::path::Path) -> Vec<QueryRow> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn passages(n: usize) -> (Vec<densify_data::Document>, Vec<densify_synth::Passage>) {
    let corpus = scifact().corpus().unwrap();
    let config = QueryGenerationConfig {
        max_passages: Some(n),
        ..Default::default()
    };
    let p = sample_passages(&corpus, &config);
    (corpus, p)
}

#[test]
fn queries_of_every_type_for_20_scifact_passages() {
    let _guard = serial();
    let dir = temp_dir("types");
    let server = LlamaServer::start(&dir, &[]);
    let pool = FewShotPool::from_dataset(&scifact(), "train").unwrap();
    let g = generator(llm(server.base_url()), pool);
    let (corpus, passages) = passages(20);
    let config = QueryGenerationConfig::default();
    let out = dir.join("out");
    let summary = generate_queries(
        &passages,
        &g,
        &config,
        &CleanConfig::default(),
        4,
        &out,
        &mut NoProgress,
    )
    .unwrap();
    eprint!("{summary}");
    assert_eq!(summary.requested, 120);
    let rows = rows(&out.join("generated_queries.jsonl"));
    assert_eq!(rows.len(), 120);
    let ids: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 120, "no duplicated request");
    let mut kept_per_type: BTreeMap<QueryType, usize> = BTreeMap::new();
    for r in &rows {
        assert_eq!(r.provenance.generator, "openai");
        assert_eq!(r.provenance.model, "default");
        assert_eq!(r.provenance.template, format!("built-in query_{}", r.kind));
        assert_eq!(r.provenance.template_hash.len(), 16);
        assert!(r.raw.is_some(), "llama.cpp answers in the chat shape");
        if r.dropped.is_none() {
            assert!(!r.text.trim().is_empty());
            assert!(r.text.chars().count() <= 256);
            *kept_per_type.entry(r.kind).or_default() += 1;
        } else {
            assert!(r.text.is_empty());
        }
    }
    for kind in QueryType::ALL {
        assert!(
            kept_per_type.get(&kind).copied().unwrap_or(0) >= 10,
            "{kind}: {kept_per_type:?}"
        );
    }
    for r in rows
        .iter()
        .filter(|r| r.kind == QueryType::Keywords && r.dropped.is_none())
    {
        assert!(r.text.split(", ").count() <= 5, "{}", r.text);
    }
    // The BEIR export reads back: every kept query judged on its source passage.
    let n = export_queries(&out.join("generated_queries.jsonl"), &corpus, &out).unwrap();
    let dataset = densify_data::Dataset::open(&out).unwrap();
    let (queries, qrels) = dataset.split_queries("train").unwrap();
    assert_eq!(queries.len(), n);
    for r in rows.iter().filter(|r| r.dropped.is_none()) {
        assert_eq!(qrels.query(&r.id).unwrap().get(&r.passage_id), Some(&1));
    }
    // A second run resumes: nothing left to ask.
    let again = generate_queries(
        &passages,
        &g,
        &config,
        &CleanConfig::default(),
        4,
        &out,
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!((again.requested, again.resumed), (0, 120));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn graded_documents_for_5_queries() {
    let _guard = serial();
    let dir = temp_dir("graded");
    let server = LlamaServer::start(&dir, &[]);
    let g = generator(
        LlmConfig {
            max_tokens: 96,
            ..llm(server.base_url())
        },
        FewShotPool::default(),
    );
    let (queries, _) = scifact().split_queries("train").unwrap();
    let chosen: Vec<&densify_data::Query> = queries.iter().take(5).collect();
    let out = dir.join("out");
    let config = DocumentGenerationConfig::default();
    let summary = generate_documents(
        &chosen,
        &g,
        &config,
        &CleanConfig::default(),
        4,
        &out,
        &mut NoProgress,
    )
    .unwrap();
    eprint!("{summary}");
    assert_eq!(summary.requested, 20);
    assert!(summary.total_kept() >= 16, "{summary}");
    let lists = export_documents(&out.join("generated_documents.jsonl"), &out).unwrap();
    assert!(lists >= 4);
    let examples = densify_data::training_example::read_examples(out.join("train.jsonl")).unwrap();
    for e in &examples {
        let labels: Vec<f64> = e.candidates.iter().map(|c| c.label.unwrap()).collect();
        assert!(
            labels.windows(2).all(|w| w[0] > w[1]),
            "one document per level, best first: {labels:?}"
        );
        assert!(e.candidates[0].positive);
    }
    let dataset = densify_data::Dataset::open(&out).unwrap();
    let corpus = dataset.corpus().unwrap();
    assert!(corpus.iter().all(|d| d.text.chars().count() >= 20));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn server_killed_mid_run_gives_a_clear_error_and_the_resumed_run_completes() {
    let _guard = serial();
    let dir = temp_dir("killed");
    let mut server = LlamaServer::start(&dir, &[]);
    let (_, passages) = passages(15);
    let config = QueryGenerationConfig {
        types: vec![QueryType::Question, QueryType::Title],
        ..Default::default()
    };
    let out = dir.join("out");
    let path = out.join("generated_queries.jsonl");
    let g = generator(
        LlmConfig {
            max_retries: 1,
            ..llm(server.base_url())
        },
        FewShotPool::default(),
    );
    let mut kill_at_10 = KillAt {
        server: &mut server,
        at: 10,
    };
    let result = generate_queries(
        &passages,
        &g,
        &config,
        &CleanConfig::default(),
        2,
        &out,
        &mut kill_at_10,
    );
    let e = result.unwrap_err();
    let message = e.to_string();
    assert!(matches!(e, SynthError::Unavailable { .. }), "{message}");
    assert!(
        message.contains("127.0.0.1") && message.contains("attempt"),
        "{message}"
    );
    let written = rows(&path);
    assert!((10..30).contains(&written.len()), "{} rows", written.len());
    // Resume against a new server: every request exactly once.
    let server = LlamaServer::start(&dir, &[]);
    let g = generator(llm(server.base_url()), FewShotPool::default());
    let summary = generate_queries(
        &passages,
        &g,
        &config,
        &CleanConfig::default(),
        2,
        &out,
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(summary.resumed, written.len());
    let all = rows(&path);
    assert_eq!(all.len(), 30);
    let ids: HashSet<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 30, "no duplicated or lost rows");
    assert_eq!(
        &all[..written.len()],
        &written[..],
        "earlier rows are kept as they were"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_closed_port_fails_within_the_retry_budget_naming_the_server() {
    let port = common::free_port();
    let client = OpenAiClient::new(LlmConfig {
        base_url: Some(format!("http://127.0.0.1:{port}/v1")),
        timeout_secs: 5.0,
        max_retries: 2,
        backoff_secs: 0.1,
        ..LlmConfig::default()
    })
    .unwrap();
    let started = Instant::now();
    let e = client.complete("hello", 1).unwrap_err().to_string();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        e.contains(&format!("127.0.0.1:{port}/v1/chat/completions")),
        "{e}"
    );
    assert!(
        e.contains("could not connect") && e.contains("3 attempt(s)"),
        "{e}"
    );
}

/// A proxy that holds the first `stall` connections without answering, then forwards.
fn stalling_proxy(upstream: u16, stall: usize, hold: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(client) = conn else { break };
            if seen.fetch_add(1, Ordering::SeqCst) < stall {
                std::thread::spawn(move || {
                    std::thread::sleep(hold);
                    drop(client);
                });
                continue;
            }
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_read, &mut s_write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
            });
        }
    });
    port
}

#[test]
fn a_slow_server_times_out_and_is_retried_in_the_log() {
    let _guard = serial();
    let dir = temp_dir("slow");
    let server = LlamaServer::start(&dir, &[]);
    // The proxy holds the first 2 connections for 8 s; the client gives up on each after 3 s.
    // A real answer (a few tokens for a short prompt) comes well within 3 s, even on a busy
    // machine; a busier one may time out more often, which the retries absorb.
    let port = stalling_proxy(server.port, 2, Duration::from_secs(8));
    let client = OpenAiClient::new(LlmConfig {
        base_url: Some(format!("http://127.0.0.1:{port}/v1")),
        timeout_secs: 3.0,
        max_retries: 6,
        backoff_secs: 0.05,
        max_tokens: 4,
        ..LlmConfig::default()
    })
    .unwrap();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = log.clone();
    client.set_log(move |line| sink.lock().unwrap().push(line.to_owned()));
    let answer = client.complete("Say hi.", 3).unwrap();
    assert!(answer.text.is_some());
    let log = log.lock().unwrap();
    let timeouts = client.stats.timeouts.load(Ordering::SeqCst);
    assert!(timeouts >= 2, "the 2 stalled connections time out: {log:?}");
    assert_eq!(client.stats.retries.load(Ordering::SeqCst), timeouts);
    assert_eq!(log.len() as u64, timeouts, "one log line per retry");
    assert!(
        log[0].contains("timed out (limit 3 s)") && log[0].contains("retry 1/6"),
        "{log:?}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refused_api_key_stops_at_once_and_keeps_what_was_written() {
    let _guard = serial();
    let dir = temp_dir("key");
    let server = LlamaServer::start(&dir, &["--api-key", "right-key"]);
    let (_, passages) = passages(3);
    let config = QueryGenerationConfig {
        types: vec![QueryType::Title],
        ..Default::default()
    };
    let out = dir.join("out");
    let good = generator(
        LlmConfig {
            api_key: Some("right-key".into()),
            ..llm(server.base_url())
        },
        FewShotPool::default(),
    );
    let first: Vec<densify_synth::Passage> = passages[..2].to_vec();
    generate_queries(
        &first,
        &good,
        &config,
        &CleanConfig::default(),
        1,
        &out,
        &mut NoProgress,
    )
    .unwrap();
    let before = std::fs::read(out.join("generated_queries.jsonl")).unwrap();
    let bad = generator(
        LlmConfig {
            api_key: Some("wrong".into()),
            ..llm(server.base_url())
        },
        FewShotPool::default(),
    );
    let started = Instant::now();
    let e = generate_queries(
        &passages,
        &bad,
        &config,
        &CleanConfig::default(),
        1,
        &out,
        &mut NoProgress,
    )
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        bad.client().stats.requests.load(Ordering::SeqCst),
        1,
        "a 401 is not retried"
    );
    let message = e.to_string();
    assert!(
        matches!(e, SynthError::Refused { status: 401, .. }),
        "{message}"
    );
    assert!(message.contains("API key"), "{message}");
    assert_eq!(
        std::fs::read(out.join("generated_queries.jsonl")).unwrap(),
        before
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server that answers every request with the same body (status 200).
fn fixed_answer_server(body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { break };
            let mut buf = [0u8; 65536];
            let mut request = Vec::new();
            // read headers and the body announced by content-length
            loop {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn answers_in_the_wrong_shape_or_empty_are_counted_and_skipped() {
    let dir = temp_dir("shape");
    let (_, passages) = passages(3);
    let config = QueryGenerationConfig {
        types: vec![QueryType::Question],
        ..Default::default()
    };
    for (body, reason) in [
        (r#"{"result": "no choices here"}"#, "malformed"),
        (
            r#"{"choices": [{"message": {"content": "  \n "}}]}"#,
            "empty",
        ),
    ] {
        let port = fixed_answer_server(body);
        let g = generator(
            llm(format!("http://127.0.0.1:{port}/v1")),
            FewShotPool::default(),
        );
        let out = dir.join(reason);
        let summary = generate_queries(
            &passages,
            &g,
            &config,
            &CleanConfig::default(),
            1,
            &out,
            &mut NoProgress,
        )
        .unwrap();
        assert_eq!(summary.total_kept(), 0);
        assert_eq!(summary.dropped["question"][reason], 3, "{summary}");
        let rows = rows(&out.join("generated_queries.jsonl"));
        assert!(rows.iter().all(|r| r.dropped.is_some()));
        let corpus = scifact().corpus().unwrap();
        let e = export_queries(&out.join("generated_queries.jsonl"), &corpus, &out)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no row was kept"), "{e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_that_never_answers_fails_after_its_retries_with_the_timeout_named() {
    // Every connection is accepted and held without an answer.
    let port = stalling_proxy(common::free_port(), usize::MAX, Duration::from_secs(4));
    let client = OpenAiClient::new(LlmConfig {
        base_url: Some(format!("http://127.0.0.1:{port}/v1")),
        timeout_secs: 0.5,
        max_retries: 2,
        backoff_secs: 0.01,
        ..LlmConfig::default()
    })
    .unwrap();
    let started = Instant::now();
    let e = client.complete("hello", 1).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let message = e.to_string();
    assert!(
        matches!(e, SynthError::Unavailable { attempts: 3, .. }),
        "{message}"
    );
    assert!(message.contains("timed out (limit 0.5 s)"), "{message}");
    assert_eq!(client.stats.timeouts.load(Ordering::SeqCst), 3);
}
