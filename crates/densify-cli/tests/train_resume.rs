//! `densify train` killed with SIGKILL mid-run and resumed with `--resume` ends with the same
//! weights, bit for bit, and the same loss curve as an uninterrupted run (tiny random BERT over
//! MiniLM's tokenizer, a small BEIR dataset written here).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use densify_testkit::{fails_with, tiny_bi_encoder};

fn fresh(name: &str) -> PathBuf {
    densify_testkit::fresh_dir("cli-train", name)
}

fn setup(dir: &Path) {
    tiny_bi_encoder(&dir.join("model"), 7);
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("qrels")).unwrap();
    let (mut corpus, mut queries) = (String::new(), String::new());
    let mut qrels = String::from("query-id\tcorpus-id\tscore\n");
    for i in 0..16 {
        corpus +=
            &format!("{{\"_id\": \"d{i}\", \"text\": \"page {i} about thing number {i}\"}}\n");
        queries += &format!("{{\"_id\": \"q{i}\", \"text\": \"thing number {i}\"}}\n");
        qrels += &format!("q{i}\td{i}\t1\n");
    }
    std::fs::write(data.join("corpus.jsonl"), corpus).unwrap();
    std::fs::write(data.join("queries.jsonl"), queries).unwrap();
    std::fs::write(data.join("qrels/train.tsv"), qrels).unwrap();
}

fn write_config(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "model = \"{}\"\noutput = \"{}\"\ndataset = \"{}\"\nbatch_size = 4\nepochs = 30\n\
             checkpoint_every = 1\n\n[optimizer]\nlearning_rate = 1e-3\n",
            dir.join("model").display(),
            dir.join(name).display(),
            dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

fn densify(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_densify"))
        .args(args)
        .output()
        .unwrap()
}

fn tensors(dir: &Path) -> Vec<(String, Vec<u8>)> {
    densify_testkit::tensors(&dir.join("final/model.safetensors"))
}

fn step_losses(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"kind\":\"step\""))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!("{} {}", v["step"], v["loss"])
        })
        .collect()
}

#[test]
fn a_killed_run_resumes_bit_identically() {
    let dir = fresh("kill");
    setup(&dir);
    let full = write_config(&dir, "full");
    let out = densify(&["train", "--config", full.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let killed = write_config(&dir, "killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_densify"))
        .args(["train", "--config", killed.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // SIGKILL once a few checkpoints exist (mid-run, perhaps mid-write of the next one).
    let checkpoints = dir.join("killed/checkpoints");
    let started = Instant::now();
    loop {
        let done = std::fs::read_dir(&checkpoints)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().as_ref() >= "step-00000010")
            })
            .unwrap_or(false);
        if done || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run finished before the kill");
    assert!(!dir.join("killed/final").exists());

    // Without --resume: refused, nothing touched. With it: completes.
    let out = densify(&["train", "--config", killed.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
    let out = densify(&["train", "--config", killed.to_str().unwrap(), "--resume"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("(resumed at "), "{stderr}");
    assert_eq!(
        step_losses(&dir.join("killed")),
        step_losses(&dir.join("full"))
    );
    assert!(
        tensors(&dir.join("killed")) == tensors(&dir.join("full")),
        "the resumed weights differ from the uninterrupted run's"
    );
}

#[test]
fn train_config_errors_name_file_line_and_field() {
    let dir = fresh("config");
    let path = dir.join("train.toml");
    std::fs::write(
        &path,
        "model = \"m\"\noutput = \"o\"\ndataset = \"d\"\nbatch_size = 0\n",
    )
    .unwrap();
    let out = densify(&["train", "--config", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("train.toml:4") && stderr.contains("batch_size"),
        "{stderr}"
    );
    std::fs::write(&path, "model = \"m\"\nlearning_rate = 1\n").unwrap();
    let out = densify(&["train", "--config", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("train.toml:2") && stderr.contains("learning_rate"),
        "{stderr}"
    );
    let out = densify(&["train", "--print-config"]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for field in [
        "batch_size = 32",
        "[optimizer]",
        "warmup_ratio = 0.1",
        "[loss]",
        "type = \"info_nce\"",
    ] {
        assert!(printed.contains(field), "{field} not in:\n{printed}");
    }
}

#[test]
fn score_and_train_refuse_bad_models_and_examples_writing_nothing() {
    let dir = fresh("bad-score");
    setup(&dir);
    let data = dir.join("data");
    let examples = dir.join("lists.jsonl");
    let out = dir.join("scored.jsonl");
    let score = |examples: &Path, teacher: &Path, kind: &str| {
        densify(&[
            "score",
            "--dataset",
            data.to_str().unwrap(),
            "--examples",
            examples.to_str().unwrap(),
            "--teacher",
            teacher.to_str().unwrap(),
            "--kind",
            kind,
            "--output",
            out.to_str().unwrap(),
        ])
    };
    // A document id that is not in the corpus.
    std::fs::write(
        &examples,
        "{\"query_id\": \"q1\", \"query\": \"thing\", \"candidates\": [{\"doc_id\": \"d1\"}, {\"doc_id\": \"nope\"}]}\n",
    )
    .unwrap();
    fails_with(&score(&examples, &dir.join("model"), "bi"), &["nope"]);
    assert!(!out.exists());
    // A NaN teacher score in the input.
    std::fs::write(
        &examples,
        "{\"query_id\": \"q1\", \"query\": \"thing\", \"candidates\": [{\"doc_id\": \"d1\", \"teacher\": NaN}]}\n",
    )
    .unwrap();
    fails_with(
        &score(&examples, &dir.join("model"), "bi"),
        &["lists.jsonl:1"],
    );
    // A teacher folder that is not a model.
    std::fs::write(
        &examples,
        "{\"query_id\": \"q1\", \"query\": \"thing\", \"candidates\": [{\"doc_id\": \"d1\"}]}\n",
    )
    .unwrap();
    fails_with(&score(&examples, &data, "cross"), &["config.json"]);
    assert!(!out.exists());
    // `train` with a model path that is not a model, and with lists shorter than list_size.
    let config = write_config(&dir, "bad-model");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("model = \"{}\"", dir.join("model").display()),
        &format!("model = \"{}\"", data.display()),
    );
    std::fs::write(&config, text).unwrap();
    fails_with(
        &densify(&["train", "--config", config.to_str().unwrap()]),
        &["config.json"],
    );
    let config = write_config(&dir, "short-lists");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "batch_size = 4",
        &format!(
            "batch_size = 4\nlist_size = 3\nexamples = \"{}\"",
            examples.display()
        ),
    );
    std::fs::write(&config, text).unwrap();
    fails_with(
        &densify(&["train", "--config", config.to_str().unwrap()]),
        &["lists.jsonl:1", "list_size"],
    );
}
