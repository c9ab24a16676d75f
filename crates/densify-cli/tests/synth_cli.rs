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
    fails_with(
        &densify(
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
        ),
        &[
            "127.0.0.1:9/v1/chat/completions",
            "could not connect",
            "run the same command again to resume",
        ],
    );
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
