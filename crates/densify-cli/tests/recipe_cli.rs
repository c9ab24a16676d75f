//! `densify recipe` end to end on a tiny random bi-encoder and NQ-UTD: the printed template
//! runs; SIGKILL at several points of a run, then the same command, ends with the model and
//! the table of an uninterrupted run, byte for byte; `status` shows every stage; bad recipe
//! files fail before any work with file, line and field.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use densify_testkit::{fails_with, succeeded};

fn densify(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_densify"))
        .args(args)
        .env_remove("OPENAI_BASE_URL")
        .output()
        .unwrap()
}

/// The printed template of `kind` with a tiny scale: the tiny model, NQ-UTD, 40 queries, 4
/// steps; for `listwise_distillation` a second tiny model as the bi-encoder teacher (in
/// `dir/teacher`), the round trip through BM25 only and no top-1 rule (a random model seldom
/// finds or ranks first a source passage), lists of 4.
fn recipe_of(dir: &Path, kind: &str, name: &str) -> PathBuf {
    let out = densify(&["recipe", "--print-config", kind]);
    let template = String::from_utf8(out.stdout).unwrap();
    let mut text = String::new();
    let (mut model_set, mut output_set, mut runs_set) = (false, false, false);
    let bm25 = dir.join(name).join("candidates/bm25.trec");
    for line in template.lines() {
        if line.starts_with("model = \"models/cross-encoder\"") {
            text += &format!("model = \"{}\"\n", dir.join("teacher").display());
        } else if line.starts_with("model = ") && !model_set {
            text += &format!("model = \"{}\"\n", dir.join("model").display());
            model_set = true;
        } else if line.starts_with("output = ") && !output_set {
            text += &format!("output = \"{}\"\n", dir.join(name).display());
            output_set = true;
        } else if line.starts_with("dataset = ") {
            let nq = densify_testkit::shared_data().join("nq-utd");
            text += &format!("dataset = \"{}\"\n", nq.display());
        } else if line.starts_with("max_passages = ") {
            text += "max_passages = 40\n";
        } else if line.starts_with("batch_size = 16") {
            text += "batch_size = 4\nmax_steps = 4\n";
        } else if line.starts_with("checkpoint_every = ") {
            text += "checkpoint_every = 1\n";
        } else if line.starts_with("depth = 30") {
            text += "depth = 10\n";
        } else if kind == "listwise_distillation" {
            // The round trip is the first stage: its `runs` come first.
            if line == "runs = []" && !runs_set {
                text += &format!("runs = [\"{}\"]\n", bm25.display());
                runs_set = true;
            } else if line.starts_with("kind = \"cross_encoder\"") {
                text += "kind = \"bi_encoder\"\n";
            } else if line.starts_with("require_top1 = ") {
                text += "require_top1 = false\n";
            } else if line == "min_candidates = 8" {
                text += "min_candidates = 6\n";
            } else if line == "keep = 8" || line == "list_size = 8" {
                text += &line.replace('8', "4");
                text.push('\n');
            } else {
                text += line;
                text.push('\n');
            }
        } else {
            text += line;
            text.push('\n');
        }
    }
    assert!(model_set && output_set, "{template}");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[cfg(unix)]
#[test]
fn a_killed_recipe_resumes_to_the_uninterrupted_result() {
    a_killed_run_resumes_to_the_uninterrupted_result(
        "adapt",
        &[
            "generate",
            "candidates",
            "filter",
            "teacher",
            "train",
            "evaluate",
        ],
        "| test | 80 |",
    );
}

#[cfg(unix)]
#[test]
fn a_killed_listwise_distillation_resumes_to_the_uninterrupted_result() {
    a_killed_run_resumes_to_the_uninterrupted_result(
        "listwise_distillation",
        &[
            "generate",
            "candidates",
            "filter",
            "train",
            "baseline",
            "evaluate",
        ],
        "| infonce nDCG@10 |",
    );
}

/// A whole run of `kind`, then the same recipe killed mid-training and at fixed delays and run
/// again: the same model, table and outputs; `status` shows every stage of `stages` and
/// `table_cell`.
#[cfg(unix)]
fn a_killed_run_resumes_to_the_uninterrupted_result(kind: &str, stages: &[&str], table_cell: &str) {
    let dir = densify_testkit::fresh_dir("recipe-cli", &format!("kill-{kind}"));
    densify_testkit::tiny_bi_encoder(&dir.join("model"), 21);
    densify_testkit::tiny_bi_encoder(&dir.join("teacher"), 22);
    let whole = recipe_of(&dir, kind, "whole");
    succeeded(&densify(&["recipe", "run", whole.to_str().unwrap()]));
    let killed = recipe_of(&dir, kind, "killed");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_densify"))
            .args(["recipe", "run", killed.to_str().unwrap()])
            .env_remove("OPENAI_BASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // First a kill mid-training, once its second checkpoint is on disk.
    let checkpoints = dir.join("killed/train/checkpoints");
    let mut child = spawn();
    let started = std::time::Instant::now();
    let mid_training = loop {
        let written = std::fs::read_dir(&checkpoints).is_ok_and(|d| {
            d.flatten().any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                !name.contains("densify-tmp") && name.as_str() >= "step-00000002"
            })
        });
        if written || child.try_wait().unwrap().is_some() {
            break written;
        }
        if started.elapsed() > Duration::from_secs(60) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(mid_training, "the run ended before its second checkpoint");
    // Then kills at fixed delays, wherever they land (a stage, the manifest write, or after
    // the end).
    for delay in [50, 150, 400, 800] {
        let mut child = spawn();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
    }
    let out = densify(&["recipe", "run", killed.to_str().unwrap()]);
    succeeded(&out);
    let weights = |name: &str| {
        densify_testkit::tensors(&dir.join(name).join("train/final/model.safetensors"))
    };
    assert!(
        weights("killed") == weights("whole"),
        "the resumed model differs from the uninterrupted run's"
    );
    let results = |name: &str| std::fs::read(dir.join(name).join("evaluate/results.json")).unwrap();
    assert_eq!(results("killed"), results("whole"));
    // Every stage's outputs hash the same in both manifests.
    let outputs = |name: &str| {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(name).join("manifest.json")).unwrap())
                .unwrap();
        m["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].clone(), s["outputs"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(outputs("killed"), outputs("whole"));

    let status = densify(&["recipe", "status", dir.join("killed").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&status.stdout);
    for stage in stages {
        assert!(text.contains(stage), "{text}");
    }
    assert!(text.contains(table_cell), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_recipe_files_fail_before_any_work() {
    let dir = densify_testkit::fresh_dir("recipe-cli", "bad");
    let file = dir.join("r.toml");
    let run = dir.join("run");
    std::fs::write(
        &file,
        format!(
            "model = \"m\"\ndataset = \"nq-utd\"\noutput = \"{}\"\n\n[train]\nlerning_rate = 1\n",
            run.display()
        ),
    )
    .unwrap();
    fails_with(
        &densify(&["recipe", "run", file.to_str().unwrap()]),
        &["r.toml:6", "lerning_rate"],
    );
    std::fs::write(
        &file,
        format!(
            "model = \"{}\"\ndataset = \"no-such-dataset\"\noutput = \"{}\"\n",
            dir.display(),
            run.display()
        ),
    )
    .unwrap();
    fails_with(
        &densify(&["recipe", "run", file.to_str().unwrap()]),
        &["no-such-dataset", "not found"],
    );
    assert!(!run.exists(), "nothing is written");
    fails_with(
        &densify(&["recipe", "status", dir.to_str().unwrap()]),
        &["no manifest.json"],
    );
    fails_with(
        &densify(&["recipe", "--print-config", "nope"]),
        &["unknown recipe `nope`"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}
