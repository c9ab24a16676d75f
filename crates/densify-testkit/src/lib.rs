//! # densify-testkit
//!
//! What densify's integration tests share, so each test file holds only its tests: temporary
//! folders, the real model (all-MiniLM-L6-v2, fetched by `scripts/fetch_minilm.sh` when
//! missing) and the shared BEIR datasets, a tiny random bi-encoder over MiniLM's tokenizer,
//! checks of a failed `densify` command, and readers of a training run's outputs. A
//! dev-dependency only; not published.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::tensor::Device;
use densify_model::{BertConfig, BiEncoder, BiEncoderSettings, Pooling, Similarity, TextTokenizer};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// densify's cache (`$DENSIFY_CACHE`, else `~/.cache/densify`).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("DENSIFY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/densify")
        })
}

fn cached_file(var: &str, fallback: impl Fn() -> Option<PathBuf>) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(fallback)
        .unwrap_or_else(|| {
            panic!("{var} is not set and the default cache has no file: run `eval $(bash scripts/fetch_llama_server.sh)` (as .ci/run does)")
        })
}

/// The llama-server binary `scripts/fetch_llama_server.sh` builds (`$DENSIFY_LLAMA_SERVER`,
/// else the newest in the cache); panics with the command to run when there is none.
pub fn llama_server_binary() -> PathBuf {
    cached_file("DENSIFY_LLAMA_SERVER", || {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(cache_dir().join("llama.cpp"))
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

/// The SmolLM2-135M-Instruct GGUF the script fetches (`$DENSIFY_LLAMA_MODEL`, else the
/// cache's).
pub fn llama_model() -> PathBuf {
    cached_file("DENSIFY_LLAMA_MODEL", || {
        Some(cache_dir().join("models/smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf"))
            .filter(|p| p.is_file())
    })
}

/// all-MiniLM-L6-v2's folder (`$DENSIFY_MODEL_DIR`, else the cache), fetched by
/// `scripts/fetch_minilm.sh` when it is not there.
pub fn minilm() -> PathBuf {
    let dir = std::env::var_os("DENSIFY_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("models/all-MiniLM-L6-v2"));
    if !dir.join("model.safetensors").is_file() || !dir.join("tokenizer.json").is_file() {
        let status = Command::new("bash")
            .arg(repo_root().join("scripts/fetch_minilm.sh"))
            .status()
            .expect("bash runs");
        assert!(status.success(), "scripts/fetch_minilm.sh failed");
    }
    dir
}

/// The folder of the shared BEIR datasets (`$DENSIFY_DATA`, else `../shared/data` beside the
/// repository).
pub fn shared_data() -> PathBuf {
    std::env::var_os("DENSIFY_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data"))
}

/// The SciFact BEIR folder.
pub fn scifact() -> PathBuf {
    shared_data().join("scifact")
}

/// An empty folder under the system's temporary folder, unique to this process, `tag` (the
/// test file) and `name` (the test). Folders that earlier test processes of `tag` left (their
/// process is gone) are removed first, so repeated runs do not fill the disk.
pub fn fresh_dir(tag: &str, name: &str) -> PathBuf {
    let temp = std::env::temp_dir();
    remove_dead_processes_dirs(&temp, tag);
    let dir = temp.join(format!("densify-{tag}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the temporary folder is writable");
    dir
}

/// Removes `densify-{tag}-{pid}-*` folders of `temp` whose process no longer runs (Linux's
/// `/proc`; elsewhere nothing is removed).
fn remove_dead_processes_dirs(temp: &Path, tag: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!("densify-{tag}-");
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Asserts that a command succeeded; returns its standard error.
pub fn succeeded(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

/// Asserts exit status 1 (or 2, clap's code for a flag it refuses), a message containing every
/// one of `needles`, and no panic (whose status would be 101).
pub fn fails_with(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(1 | 2)), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` not in: {stderr}");
    }
}

/// Saves a random tiny bi-encoder (BERT of 2 layers, width 32, MiniLM's vocabulary and
/// tokenizer; mean pooling, cosine, queries of 32 and passages of 64 tokens) in the
/// sentence-transformers layout, drawn after seeding flex with `seed`.
pub fn tiny_bi_encoder(dir: &Path, seed: u64) {
    let config: BertConfig = serde_json::from_value(serde_json::json!({
        "vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 128,
        "model_type": "bert"
    }))
    .expect("a BERT config");
    let tokenizer = TextTokenizer::from_file(minilm().join("tokenizer.json"), 64)
        .expect("MiniLM's tokenizer loads");
    let settings = BiEncoderSettings {
        pooling: Pooling::Mean,
        normalize: false,
        similarity: Similarity::Cosine,
        query_prefix: String::new(),
        passage_prefix: String::new(),
        query_max_length: 32,
        passage_max_length: 64,
    };
    Device::flex().seed(seed);
    BiEncoder::random(config, tokenizer, settings, &Device::flex())
        .expect("a random model")
        .save(dir)
        .expect("the model saves");
}

/// The 12 topics of [`tiny_topics_dataset`]: query `q{i}` asks about `TINY_TOPICS[i]`, whose
/// documents are `d{i}a` and `d{i}b`.
pub const TINY_TOPICS: [&str; 12] = [
    "cats",
    "rockets",
    "coffee",
    "volcanoes",
    "chess",
    "bees",
    "tides",
    "violins",
    "glaciers",
    "bread",
    "comets",
    "tomatoes",
];

/// 24 documents on 12 topics, 12 train queries (one per topic, two judged documents each for
/// the first 4), written as a BEIR folder with identical `train` and `dev` qrels.
pub fn tiny_topics_dataset(dir: &Path) {
    let topics = TINY_TOPICS;
    let mut corpus = String::new();
    let mut queries = String::new();
    let mut qrels = String::from("query-id\tcorpus-id\tscore\n");
    for (i, t) in topics.iter().enumerate() {
        corpus += &format!(
            "{{\"_id\": \"d{i}a\", \"title\": \"{t}\", \"text\": \"all about {t} and more {t}\"}}\n"
        );
        corpus += &format!("{{\"_id\": \"d{i}b\", \"text\": \"a second page on {t}\"}}\n");
        queries += &format!("{{\"_id\": \"q{i}\", \"text\": \"tell me about {t}\"}}\n");
        qrels += &format!("q{i}\td{i}a\t1\n");
        if i < 4 {
            qrels += &format!("q{i}\td{i}b\t1\n");
        }
    }
    std::fs::create_dir_all(dir.join("qrels")).unwrap();
    std::fs::write(dir.join("corpus.jsonl"), corpus).unwrap();
    std::fs::write(dir.join("queries.jsonl"), queries).unwrap();
    std::fs::write(dir.join("qrels/train.tsv"), &qrels).unwrap();
    std::fs::write(dir.join("qrels/dev.tsv"), qrels).unwrap();
}

/// Writes 12 training lists of 3 over [`tiny_topics_dataset`] to `file`: query `q{i}`'s own
/// `d{i}a` (positive, teacher 3.0, label 2), another topic's `d{i+5}b` (teacher i/10, label 0)
/// and its own `d{i}b` (teacher 2.5, label 1).
pub fn tiny_teacher_lists(file: &Path) {
    let mut lines = String::new();
    for i in 0..12 {
        let other = (i + 5) % 12;
        lines += &format!(
            "{{\"query_id\": \"q{i}\", \"query\": \"tell me about topic {i}\", \"candidates\": [{{\"doc_id\": \"d{i}a\", \"positive\": true, \"teacher\": 3.0, \"label\": 2}}, {{\"doc_id\": \"d{other}b\", \"teacher\": {}, \"label\": 0}}, {{\"doc_id\": \"d{i}b\", \"teacher\": 2.5, \"label\": 1}}]}}\n",
            i as f64 / 10.0
        );
    }
    std::fs::write(file, lines).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
}

/// Asserts that two sets of named gradients match (same names in the same order, more than
/// 20 tensors) to 1e-5 of each tensor's largest gradient, with an absolute 1e-7 floor for
/// tensors whose exact gradient is zero and hold rounding only; returns the worst relative
/// difference over tensors with a gradient above 1e-6.
pub fn worst_gradient_difference(
    reference: &[(String, Vec<f32>)],
    other: &[(String, Vec<f32>)],
    what: &str,
) -> f32 {
    assert_eq!(reference.len(), other.len(), "{what}");
    assert!(
        reference.len() > 20,
        "{what}: {} gradients",
        reference.len()
    );
    let mut worst = 0f32;
    for ((name, a), (other_name, b)) in reference.iter().zip(other) {
        assert_eq!(name, other_name, "{what}");
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            diff <= 1e-5 * scale + 1e-7,
            "{what} {name}: {diff:e} of {scale:e}"
        );
        if scale > 1e-6 {
            worst = worst.max(diff / scale);
        }
    }
    worst
}

/// The tensors of a safetensors file, by name, as raw bytes (for bit-identity checks).
pub fn tensors(file: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("a safetensors file");
    let mut out: Vec<(String, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    out.sort();
    out
}

/// The records of one `kind` (`step`, `eval`) of a training run's `metrics.jsonl`.
pub fn metric_records(output: &Path, kind: &str) -> Vec<serde_json::Value> {
    let path = output.join("metrics.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
        .filter(|v| v["kind"] == kind)
        .collect()
}
