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

/// A config over the tiny setup with `extra` top-level lines and, when given, a `[loss]` table.
fn config_with(dir: &Path, name: &str, extra: &str, loss: Option<&str>) -> PathBuf {
    let config = write_config(dir, name);
    let mut text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("batch_size = 4", &format!("batch_size = 4\n{extra}"));
    if let Some(loss) = loss {
        text += &format!("\n[loss]\ntype = \"{loss}\"\n");
    }
    std::fs::write(&config, text).unwrap();
    config
}

/// Every loss says what it reads (a positive, teacher scores, labels) and the trainer checks
/// the examples before the first step: the first example lacking it is named by file and
/// line, with the loss; nothing is written. Before, such a batch panicked.
#[test]
fn losses_name_the_example_lacking_what_they_read() {
    let dir = fresh("targets");
    setup(&dir);
    let lists = dir.join("lists.jsonl");
    std::fs::write(
        &lists,
        "{\"query_id\": \"q1\", \"query\": \"thing number 1\", \"candidates\": [{\"doc_id\": \"d1\", \"positive\": true, \"teacher\": 2.0}, {\"doc_id\": \"d2\", \"teacher\": 1.0}]}\n\
         {\"query_id\": \"q2\", \"query\": \"thing number 2\", \"candidates\": [{\"doc_id\": \"d2\", \"positive\": true}, {\"doc_id\": \"d3\"}]}\n",
    )
    .unwrap();
    let examples = format!("list_size = 2\nexamples = \"{}\"", lists.display());
    for loss in ["kl_distillation", "margin_mse", "listwise_distillation"] {
        let config = config_with(&dir, loss, &examples, Some(loss));
        let out = densify(&["train", "--config", config.to_str().unwrap()]);
        fails_with(&out, &["lists.jsonl:2", loss, "teacher scores"]);
        assert!(!dir.join(loss).exists(), "{loss}: nothing is written");
    }
    let config = config_with(&dir, "list_net", &examples, Some("list_net"));
    let out = densify(&["train", "--config", config.to_str().unwrap()]);
    fails_with(&out, &["lists.jsonl:1", "list_net", "labels"]);
    // Listwise distillation's InfoNCE part needs a marked positive (it took column 0 before).
    std::fs::write(
        &lists,
        "{\"query_id\": \"q1\", \"query\": \"thing number 1\", \"candidates\": [{\"doc_id\": \"d1\", \"teacher\": 2.0}, {\"doc_id\": \"d2\", \"teacher\": 1.0}]}\n",
    )
    .unwrap();
    let config = config_with(
        &dir,
        "no-positive",
        &examples,
        Some("listwise_distillation"),
    );
    let out = densify(&["train", "--config", config.to_str().unwrap()]);
    fails_with(
        &out,
        &["lists.jsonl:1", "positive", "listwise_distillation"],
    );
}

/// What a run reads and what a user keeps are never overwritten by the run: a model inside the
/// output folder, a config file at the path of the run's config copy, an earlier run's results
/// without checkpoints. Each is refused before anything is written, and every file stays
/// byte-identical.
#[test]
fn train_never_overwrites_its_inputs_or_an_earlier_run() {
    let dir = fresh("inputs");
    setup(&dir);
    // The model read from the output folder's `final/`.
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let inner_model = out_dir.join("final");
    tiny_bi_encoder(&inner_model, 9);
    let before = densify_testkit::tensors(&inner_model.join("model.safetensors"));
    let config = dir.join("inner.toml");
    let text = std::fs::read_to_string(write_config(&dir, "out"))
        .unwrap()
        .replace(
            &format!("model = \"{}\"", dir.join("model").display()),
            &format!("model = \"{}\"", inner_model.display()),
        );
    std::fs::write(&config, &text).unwrap();
    let out = densify(&["train", "--config", config.to_str().unwrap()]);
    fails_with(&out, &["inner.toml", "`model`", "holds the input"]);
    assert!(densify_testkit::tensors(&inner_model.join("model.safetensors")) == before);
    assert!(!out_dir.join("config.toml").exists() && !out_dir.join("metrics.jsonl").exists());

    // The config file is the copy the run writes: the user's comments stay.
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let user_config = run_dir.join("config.toml");
    let text = format!(
        "# my notes\n{}",
        std::fs::read_to_string(write_config(&dir, "run")).unwrap()
    );
    std::fs::write(&user_config, &text).unwrap();
    let out = densify(&["train", "--config", user_config.to_str().unwrap()]);
    fails_with(&out, &["config.toml", "resolved configuration"]);
    assert_eq!(std::fs::read_to_string(&user_config).unwrap(), text);

    // An earlier run's results with no checkpoint: refused with and without --resume.
    let earlier = dir.join("earlier");
    std::fs::create_dir_all(earlier.join("final")).unwrap();
    std::fs::write(earlier.join("metrics.jsonl"), "{\"kind\":\"step\"}\n").unwrap();
    std::fs::write(earlier.join("final/model.safetensors"), b"weights").unwrap();
    let config = write_config(&dir, "earlier");
    for extra in [None, Some("--resume")] {
        let mut args = vec!["train", "--config", config.to_str().unwrap()];
        args.extend(extra);
        fails_with(
            &densify(&args),
            &["earlier run", "final/", "metrics.jsonl", "no checkpoint"],
        );
    }
    assert_eq!(
        std::fs::read(earlier.join("final/model.safetensors")).unwrap(),
        b"weights"
    );
    assert_eq!(
        std::fs::read_to_string(earlier.join("metrics.jsonl")).unwrap(),
        "{\"kind\":\"step\"}\n"
    );

    // A max length beyond the model's positions names the train config and its field.
    let config = config_with(&dir, "long", "query_max_length = 1000", None);
    fails_with(
        &densify(&["train", "--config", config.to_str().unwrap()]),
        &[
            "long.toml",
            "`query_max_length` 1000",
            "max_position_embeddings 128",
        ],
    );
    assert!(!dir.join("long").exists());
}

/// `--resume` checks the checkpoint's `state.json` against the run: a step beyond the run's
/// steps is an error naming the file and field (it trained "999 steps" to a NaN loss before);
/// a finished run resumed trains nothing and reports its real final loss.
#[test]
fn resume_checks_the_checkpoint_against_the_run() {
    let dir = fresh("resume-state");
    setup(&dir);
    let config = config_with(&dir, "short", "max_steps = 3", None);
    let config = config.to_str().unwrap();
    densify_testkit::succeeded(&densify(&["train", "--config", config]));
    let final_weights = tensors(&dir.join("short"));
    let out = densify(&["train", "--config", config, "--resume"]);
    let stderr = densify_testkit::succeeded(&out);
    assert!(stderr.contains("already complete"), "{stderr}");
    assert!(!stderr.contains("NaN"), "{stderr}");
    assert!(tensors(&dir.join("short")) == final_weights);

    let newest = std::fs::read_dir(dir.join("short/checkpoints"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .max()
        .unwrap();
    let state_file = newest.join("state.json");
    let state = std::fs::read_to_string(&state_file).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&state).unwrap();
    value["step"] = serde_json::json!(999);
    std::fs::write(&state_file, value.to_string()).unwrap();
    let metrics = std::fs::read(dir.join("short/metrics.jsonl")).unwrap();
    fails_with(
        &densify(&["train", "--config", config, "--resume"]),
        &["state.json", "`step` is 999"],
    );
    assert_eq!(
        std::fs::read(dir.join("short/metrics.jsonl")).unwrap(),
        metrics
    );
    assert!(tensors(&dir.join("short")) == final_weights);
}
