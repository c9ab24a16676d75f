//! The `densify` binary end to end: output formats, exit codes and error messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn densify(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_densify"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .unwrap()
}

fn temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("densify-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

const EDGE: &str = "tests/fixtures/eval/edge";

#[test]
fn eval_prints_trec_eval_columns_and_json() {
    let qrels = format!("{EDGE}/qrels.txt");
    let run = format!("{EDGE}/run.trec");
    let out = densify(&[
        "eval",
        "--qrels",
        &qrels,
        "--run",
        &run,
        "-m",
        "recip_rank",
        "-m",
        "P.1,5",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "num_q                 \tall\t8");
    assert!(
        lines[1].starts_with("recip_rank            \tall\t"),
        "{stdout}"
    );
    assert_eq!(lines.len(), 4);

    let out = densify(&[
        "eval", "--qrels", &qrels, "--run", &run, "-m", "map", "--json", "-q", "-c",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["averaging"], "all_qrels");
    assert_eq!(json["num_q"], 9);
    assert!(json["per_query"]["ties"]["map"].is_number());
}

#[test]
fn bad_inputs_fail_with_file_and_line() {
    let qrels = format!("{EDGE}/qrels.txt");
    let cases = [
        (
            "fields.trec",
            "ties Q0 d1 1 0.5 t\nties Q0 d2 0.4 t\n",
            "fields.trec:2",
            "expected 6 fields",
        ),
        (
            "score.trec",
            "ties Q0 d1 1 abc t\n",
            "score.trec:1",
            "finite number",
        ),
        (
            "dup.trec",
            "ties Q0 d1 1 0.5 t\nties Q0 d1 2 0.4 t\n",
            "dup.trec:2",
            "twice",
        ),
        ("empty.trec", "", "empty.trec", "empty"),
    ];
    for (name, body, place, what) in cases {
        let run = temp(name, body);
        let out = densify(&["eval", "--qrels", &qrels, "--run", run.to_str().unwrap()]);
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "{name} should fail");
        assert!(
            stderr.contains(place) && stderr.contains(what),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let bad_qrels = temp("bad-qrels.txt", "q 0 d one\n");
    let out = densify(&[
        "eval",
        "--qrels",
        bad_qrels.to_str().unwrap(),
        "--run",
        &format!("{EDGE}/run.trec"),
    ]);
    assert!(
        text(&out)
            .1
            .contains("bad-qrels.txt:1: the grade must be an integer")
    );
    let out = densify(&[
        "eval",
        "--qrels",
        &qrels,
        "--run",
        &format!("{EDGE}/run.trec"),
        "-m",
        "bleu",
    ]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("unknown measure `bleu`"));
}

#[test]
fn bm25_writes_a_run_that_evaluates() {
    let out_path = std::env::temp_dir().join(format!("densify-cli-nq-{}.trec", std::process::id()));
    let out = densify(&[
        "bm25",
        "--dataset",
        "nq-utd",
        "--output",
        out_path.to_str().unwrap(),
        "--evaluate",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("num_q                 \tall\t80"),
        "{stdout}"
    );
    let ndcg: f64 = stdout
        .lines()
        .find(|l| l.starts_with("ndcg_cut_10"))
        .and_then(|l| l.split('\t').nth(2))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        ndcg > 0.2,
        "BM25 on NQ-UTD should beat chance by far: {ndcg}"
    );
    let out = densify(&[
        "bm25",
        "--dataset",
        "no-such-set",
        "--output",
        "/tmp/x.trec",
    ]);
    assert!(text(&out).1.contains("DENSIFY_DATA"));
}

#[test]
fn search_rejects_mismatched_dimensions_and_unknown_devices() {
    use densify_data::embeddings::Embeddings;
    let dir = std::env::temp_dir().join(format!("densify-cli-emb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let corpus = dir.join("corpus.safetensors");
    let queries = dir.join("queries.safetensors");
    Embeddings::new(vec!["a".into(), "b".into()], 2, vec![1., 0., 0., 1.])
        .unwrap()
        .write(&corpus)
        .unwrap();
    Embeddings::new(vec!["q".into()], 3, vec![1., 0., 0.])
        .unwrap()
        .write(&queries)
        .unwrap();
    let run = dir.join("run.trec");
    let args = |device: &'static str| {
        vec![
            "search".to_owned(),
            "--queries".into(),
            queries.display().to_string(),
            "--corpus".into(),
            corpus.display().to_string(),
            "--output".into(),
            run.display().to_string(),
            "--device".into(),
            device.into(),
        ]
    };
    let out = Command::new(env!("CARGO_BIN_EXE_densify"))
        .args(args("cpu"))
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("queries.safetensors: embeddings have dimension 3"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_densify"))
        .args(args("tpu"))
        .output()
        .unwrap();
    assert!(text(&out).1.contains("unknown device"));
    // Matching dimensions: a run comes out.
    Embeddings::new(vec!["q".into()], 2, vec![0., 1.])
        .unwrap()
        .write(&queries)
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_densify"))
        .args(args("cpu"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(
        std::fs::read_to_string(&run)
            .unwrap()
            .starts_with("q Q0 b 1 1 densify-exact")
    );
}

#[test]
fn noisy_queries_feed_bm25_for_robustness_evaluation() {
    let dir = std::env::temp_dir().join(format!("densify-cli-noise-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ndcg = |queries: Option<&Path>| -> String {
        let run = dir.join("run.trec");
        let mut args = vec![
            "bm25",
            "--dataset",
            "nq-utd",
            "--output",
            run.to_str().unwrap(),
            "--evaluate",
        ];
        if let Some(q) = queries {
            args.extend(["--queries", q.to_str().unwrap()]);
        }
        let out = densify(&args);
        assert!(out.status.success(), "{}", text(&out).1);
        text(&out)
            .0
            .lines()
            .find(|l| l.starts_with("ndcg_cut_10"))
            .unwrap()
            .to_owned()
    };
    let plain = ndcg(None);
    let noisy = dir.join("noisy.jsonl");
    for (op, same) in [
        (r#"{"type": "identity"}"#, true),
        (r#"{"type": "shuffle", "p": 0.5}"#, true),
        (r#"{"type": "delete", "p": 0.5}"#, false),
    ] {
        let out = densify(&[
            "noise-queries",
            "--dataset",
            "nq-utd",
            "--op",
            op,
            "--seed",
            "3",
            "--output",
            noisy.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out).1);
        // BM25 is a bag of words: shuffling changes nothing, deleting half the words does.
        assert_eq!(ndcg(Some(&noisy)) == plain, same, "{op}");
    }
    let out = densify(&[
        "noise-queries",
        "--dataset",
        "nq-utd",
        "--op",
        r#"{"type": "mask", "p": 2}"#,
        "--output",
        "/tmp/x",
    ]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("`p` must be in [0, 1], got 2"));
}
