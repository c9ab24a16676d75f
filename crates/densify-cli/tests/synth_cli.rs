//! `densify generate` and `densify filter` end to end without an LLM (the inverse-cloze
//! default), with their bad inputs: the commands a fresh machine can run with nothing else.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use densify_testkit::{fails_with, scifact, succeeded as ok};

fn densify(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_densify"))
        .args(args)
        .current_dir(dir)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap()
}

fn fresh_dir(name: &str) -> PathBuf {
    densify_testkit::fresh_dir("synth-cli", name)
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count()
}

#[test]
fn inverse_cloze_queries_resume_and_filter_into_training_lists() {
    let dir = fresh_dir("ict");
    let data = scifact();
    let data = data.to_str().unwrap();
    let out = dir.join("synthetic");
    let out_s = out.to_str().unwrap();
    let stderr = ok(&densify(
        &[
            "generate",
            "queries",
            "--dataset",
            data,
            "--output",
            out_s,
            "--limit",
            "40",
        ],
        &dir,
    ));
    assert!(stderr.contains("inverse-cloze"), "{stderr}");
    let rows = out.join("generated_queries.jsonl");
    assert_eq!(
        lines(&rows),
        40,
        "one `random` query per passage without an LLM"
    );
    let first = std::fs::read_to_string(&rows).unwrap();
    let row: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(row["generator"], "inverse_cloze");
    assert_eq!(row["type"], "random");
    // A torn last line (a crash mid-write) is cut off and its request asked again.
    let mut torn = first.clone();
    torn.truncate(first.len() - 10);
    std::fs::write(&rows, &torn).unwrap();
    let stderr = ok(&densify(
        &[
            "generate",
            "queries",
            "--dataset",
            data,
            "--output",
            out_s,
            "--limit",
            "40",
        ],
        &dir,
    ));
    assert!(
        stderr.contains("1 request(s)") && stderr.contains("39 row(s) resumed"),
        "{stderr}"
    );
    assert!(stderr.contains("torn last line"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&rows).unwrap(),
        first,
        "the redone request gives the same row"
    );

    // BM25 over the synthetic dataset, then round trip and fusion.
    let run = dir.join("bm25.trec");
    ok(&densify(
        &[
            "bm25",
            "--dataset",
            out_s,
            "--split",
            "train",
            "--k",
            "100",
            "--output",
            run.to_str().unwrap(),
        ],
        &dir,
    ));
    let config = dir.join("filter.toml");
    std::fs::write(
        &config,
        format!(
            "[[stages]]\ntype = \"round_trip\"\nruns = [\"{r}\"]\ntop_k = 20\n\n[[stages]]\ntype = \"fuse\"\nruns = [\"{r}\"]\ndepth = 30\nmin_candidates = 20\n\n[split]\ndev_fraction = 0.25\n",
            r = run.display()
        ),
    )
    .unwrap();
    let filtered = dir.join("filtered");
    let stderr = ok(&densify(
        &[
            "filter",
            "--dataset",
            out_s,
            "--config",
            config.to_str().unwrap(),
            "--output",
            filtered.to_str().unwrap(),
        ],
        &dir,
    ));
    assert!(
        stderr.contains("round_trip") && stderr.contains("fuse"),
        "{stderr}"
    );
    let train = densify_train::example::read_examples(filtered.join("train.jsonl")).unwrap();
    let dev = densify_train::example::read_examples(filtered.join("dev.jsonl")).unwrap();
    // Inverse-cloze queries are sentences of their passage: BM25 finds nearly all of them.
    assert!(train.len() + dev.len() >= 30, "{stderr}");
    for e in train.iter().chain(&dev) {
        assert_eq!(e.candidates.len(), 30);
        assert_eq!(
            e.positives().count(),
            1,
            "the source passage is the positive"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_inputs_get_clear_errors_and_keep_what_was_written() {
    let dir = fresh_dir("bad");
    let data = scifact();
    let data = data.to_str().unwrap();
    // A template with an unknown placeholder: the file and the placeholder are named.
    let template = dir.join("q.txt");
    std::fs::write(&template, "Passage: {passage}\nWrite a {kind} query:").unwrap();
    let config = dir.join("gen.toml");
    std::fs::write(
        &config,
        format!("generator = \"openai\"\n[llm]\nbase_url = \"http://127.0.0.1:9/v1\"\n[prompts.query_templates]\nquestion = \"{}\"\n", template.display()),
    )
    .unwrap();
    let out = dir.join("out");
    fails_with(
        &densify(
            &[
                "generate",
                "queries",
                "--dataset",
                data,
                "--output",
                out.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
            ],
            &dir,
        ),
        &["q.txt: line 2: unknown placeholder `{kind}`"],
    );
    // A template without {passage}.
    std::fs::write(&template, "Write a query.").unwrap();
    fails_with(
        &densify(
            &[
                "generate",
                "queries",
                "--dataset",
                data,
                "--output",
                out.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
            ],
            &dir,
        ),
        &["q.txt", "`{passage}` is missing"],
    );
    // An unknown config field: file, line and field.
    std::fs::write(&config, "[llm]\ntemprature = 0.5\n").unwrap();
    fails_with(
        &densify(
            &[
                "generate",
                "queries",
                "--dataset",
                data,
                "--output",
                out.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
            ],
            &dir,
        ),
        &["gen.toml:2", "temprature"],
    );
    // Documents need an LLM.
    fails_with(
        &densify(
            &[
                "generate",
                "documents",
                "--dataset",
                data,
                "--output",
                out.to_str().unwrap(),
            ],
            &dir,
        ),
        &["needs an LLM", "OPENAI_BASE_URL"],
    );
    // An empty corpus.
    let empty = dir.join("empty");
    std::fs::create_dir_all(empty.join("qrels")).unwrap();
    std::fs::write(empty.join("corpus.jsonl"), "").unwrap();
    std::fs::write(empty.join("queries.jsonl"), "").unwrap();
    fails_with(
        &densify(
            &[
                "generate",
                "queries",
                "--dataset",
                empty.to_str().unwrap(),
                "--output",
                out.to_str().unwrap(),
            ],
            &dir,
        ),
        &["corpus.jsonl"],
    );
    // The output may not be the dataset's own folder.
    let copy = dir.join("copy");
    std::fs::create_dir_all(copy.join("qrels")).unwrap();
    std::fs::copy(
        Path::new(data).join("corpus.jsonl"),
        copy.join("corpus.jsonl"),
    )
    .unwrap();
    std::fs::copy(
        Path::new(data).join("queries.jsonl"),
        copy.join("queries.jsonl"),
    )
    .unwrap();
    let before = std::fs::read(copy.join("corpus.jsonl")).unwrap();
    fails_with(
        &densify(
            &[
                "generate",
                "queries",
                "--dataset",
                copy.to_str().unwrap(),
                "--output",
                copy.to_str().unwrap(),
                "--limit",
                "2",
            ],
            &dir,
        ),
        &["is the input dataset's folder"],
    );
    assert_eq!(std::fs::read(copy.join("corpus.jsonl")).unwrap(), before);
    // A server that is not there: a clear error, and the rows already written are kept.
    let out = dir.join("resumed");
    ok(&densify(
        &[
            "generate",
            "queries",
            "--dataset",
            data,
            "--output",
            out.to_str().unwrap(),
            "--limit",
            "3",
        ],
        &dir,
    ));
    let rows_before = std::fs::read(out.join("generated_queries.jsonl")).unwrap();
    std::fs::write(&config, "generator = \"openai\"\n[llm]\nbase_url = \"http://127.0.0.1:9/v1\"\nmax_retries = 1\nbackoff_secs = 0.01\n").unwrap();
    let refused = densify(
        &[
            "generate",
            "queries",
            "--dataset",
            data,
            "--output",
            out.to_str().unwrap(),
            "--limit",
            "3",
            "--config",
            config.to_str().unwrap(),
        ],
        &dir,
    );
    fails_with(
        &refused,
        &[
            "127.0.0.1:9/v1/chat/completions",
            "could not connect",
            "run the same command again to resume",
        ],
    );
    // Every retry is printed, one line each, though stderr is a pipe here, not a terminal.
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.lines().any(|l| l.starts_with("retry: ")), "{stderr}");
    assert_eq!(
        std::fs::read(out.join("generated_queries.jsonl")).unwrap(),
        rows_before
    );
    // A filter stage that needs lists before any fuse stage.
    let filter = dir.join("filter.toml");
    std::fs::write(&filter, "[[stages]]\ntype = \"percentile_cut\"\n").unwrap();
    fails_with(
        &densify(
            &[
                "filter",
                "--dataset",
                out.to_str().unwrap(),
                "--config",
                filter.to_str().unwrap(),
                "--output",
                dir.join("f").to_str().unwrap(),
            ],
            &dir,
        ),
        &["filter.toml", "stages[0]", "fuse"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every file of a generated dataset folder, by relative path, with its bytes.
fn folder_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                files.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// `densify generate` killed with SIGKILL at growing delays, then run again to the end, gives
/// the same dataset folder, byte for byte, as a run never interrupted.
#[cfg(unix)]
#[test]
fn a_killed_generate_resumes_to_the_same_dataset() {
    use std::process::Stdio;
    use std::time::Duration;
    let dir = fresh_dir("kill-generate");
    let data = scifact();
    let data = data.to_str().unwrap();
    let generate = |out: &Path| {
        vec![
            "generate".to_owned(),
            "queries".into(),
            "--dataset".into(),
            data.into(),
            "--output".into(),
            out.display().to_string(),
            "--limit".into(),
            "3000".into(),
        ]
    };
    let whole = dir.join("whole");
    ok(&Command::new(env!("CARGO_BIN_EXE_densify"))
        .args(generate(&whole))
        .current_dir(&dir)
        .output()
        .unwrap());
    let killed = dir.join("killed");
    let mut landed = 0;
    for delay in [30, 120, 300, 600] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_densify"))
            .args(generate(&killed))
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        if !child.wait().unwrap().success() {
            landed += 1;
        }
    }
    assert!(landed > 0, "every run finished before its kill");
    ok(&Command::new(env!("CARGO_BIN_EXE_densify"))
        .args(generate(&killed))
        .current_dir(&dir)
        .output()
        .unwrap());
    let (a, b) = (folder_files(&whole), folder_files(&killed));
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs after the kills and the resume");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The generator's and filter's newer failures: an output with no kept row writes no dataset;
/// a base URL without a scheme fails at once, naming the variable; a duplicated row is named by
/// its own file and line and counted once; runs and qrels naming passages the corpus lacks are
/// errors naming the file, line and id.
#[test]
fn generate_and_filter_refuse_what_does_not_fit_the_corpus() {
    let dir = fresh_dir("corpus-fit");
    let data = scifact();
    let data = data.to_str().unwrap();
    // Passages too short for a query (under `clean.min_query_chars`, 3): no row is kept, and
    // nothing of a dataset is written.
    let short = dir.join("short");
    std::fs::create_dir_all(&short).unwrap();
    std::fs::write(
        short.join("corpus.jsonl"),
        "{\"_id\": \"d1\", \"text\": \"ab\"}\n{\"_id\": \"d2\", \"text\": \"x\"}\n",
    )
    .unwrap();
    let out = dir.join("none-kept");
    let args = [
        "generate",
        "queries",
        "--dataset",
        short.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ];
    fails_with(
        &densify(&args, &dir),
        &["no row was kept", "nothing was written"],
    );
    assert!(!out.join("corpus.jsonl").exists() && !out.join("qrels").exists());

    // OPENAI_BASE_URL without a scheme: refused before any request, not retried for seconds.
    let started = std::time::Instant::now();
    let bad_url = Command::new(env!("CARGO_BIN_EXE_densify"))
        .args([
            "generate",
            "queries",
            "--dataset",
            data,
            "--output",
            dir.join("llm").to_str().unwrap(),
            "--limit",
            "2",
        ])
        .current_dir(&dir)
        .env("OPENAI_BASE_URL", "localhost:8080/v1")
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    fails_with(
        &bad_url,
        &["OPENAI_BASE_URL", "localhost:8080/v1", "http://"],
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    // A duplicated row: named by generated_queries.jsonl and its line, counted once.
    let out = dir.join("dup");
    let args = [
        "generate",
        "queries",
        "--dataset",
        data,
        "--output",
        out.to_str().unwrap(),
        "--limit",
        "3",
    ];
    ok(&densify(&args, &dir));
    let rows = out.join("generated_queries.jsonl");
    let text = std::fs::read_to_string(&rows).unwrap();
    let first = text.lines().next().unwrap().to_owned();
    std::fs::write(&rows, format!("{text}{first}\n")).unwrap();
    let stderr = ok(&densify(&args, &dir));
    assert!(
        stderr.contains("generated_queries.jsonl:4") && stderr.contains("line 1"),
        "{stderr}"
    );
    assert_eq!(lines(&out.join("queries.jsonl")), 3, "{stderr}");

    // A run naming a passage the corpus does not have, in a fuse stage.
    let run = dir.join("run.trec");
    let query = serde_json::from_str::<serde_json::Value>(&first).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(&run, format!("{query} Q0 not-a-passage 1 9.0 t\n")).unwrap();
    let filter = dir.join("filter.toml");
    std::fs::write(
        &filter,
        format!(
            "[[stages]]\ntype = \"fuse\"\nruns = [\"{}\"]\ndepth = 5\nmin_candidates = 1\n",
            run.display()
        ),
    )
    .unwrap();
    let filtered = dir.join("filtered");
    let filter_args = [
        "filter",
        "--dataset",
        out.to_str().unwrap(),
        "--config",
        filter.to_str().unwrap(),
        "--output",
        filtered.to_str().unwrap(),
    ];
    fails_with(
        &densify(&filter_args, &dir),
        &["run.trec:1", "not-a-passage", "not in the corpus"],
    );
    assert!(!filtered.exists());
    // Qrels whose source passage is not in the corpus: the first query's judged passage
    // replaced by one the corpus lacks.
    let qrels = out.join("qrels/train.tsv");
    let judged = std::fs::read_to_string(&qrels).unwrap();
    let (number, line) = judged
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with(&format!("{query}\t")))
        .unwrap();
    let passage = line.split('\t').nth(1).unwrap();
    let changed = line.replace(&format!("\t{passage}\t"), "\tgone\t");
    std::fs::write(&qrels, judged.replace(line, &changed)).unwrap();
    fails_with(
        &densify(&filter_args, &dir),
        &[
            &format!("train.tsv:{}", number + 1),
            "gone",
            "not in the corpus",
        ],
    );
    assert!(!filtered.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
