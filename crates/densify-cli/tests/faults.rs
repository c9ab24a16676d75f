//! The `densify` binary under bad inputs and faults, one test per class of the promise in the
//! README ("What densify promises"): no panic, no silent non-finite result, no duplicate ids,
//! a byte-order mark that changes nothing, no output over an input, and, after a kill or a full
//! disk, the previous output byte-identical.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use densify_data::embeddings::Embeddings;
use densify_testkit::{fails_with, minilm, repo_root};

fn densify(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_densify"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap()
}

fn fresh_dir(name: &str) -> PathBuf {
    densify_testkit::fresh_dir("faults", name)
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("densify-tmp"))
        .collect()
}

#[test]
fn limits_beyond_the_model_are_refused_not_a_panic() {
    let model = minilm();
    let dir = fresh_dir("limits");
    let output = dir.join("q.safetensors");
    for flag in ["--max-length", "--query-max-length"] {
        let out = densify(&[
            "encode",
            "--model",
            model.to_str().unwrap(),
            "--dataset",
            "nq-utd",
            "--what",
            "queries",
            flag,
            "100000",
            "--output",
            output.to_str().unwrap(),
        ]);
        fails_with(&out, &["100000", "max_position_embeddings", "512"]);
        assert!(!output.exists());
    }
    let out = densify(&[
        "encode",
        "--model",
        model.to_str().unwrap(),
        "--dataset",
        "nq-utd",
        "--what",
        "queries",
        "--query-max-length",
        "0",
        "--output",
        output.to_str().unwrap(),
    ]);
    fails_with(&out, &["--query-max-length"]);
}

#[test]
fn non_finite_numbers_are_refused_where_they_enter() {
    let dir = fresh_dir("non-finite");
    let run = dir.join("bm25.trec");
    let run_arg = run.to_str().unwrap();
    for flag in ["--k1=NaN", "--b=inf", "--k1=-1", "--b=2"] {
        let out = densify(&["bm25", "--dataset", "nq-utd", flag, "--output", run_arg]);
        fails_with(&out, &[&flag[2..flag.find('=').unwrap()]]);
        assert!(!run.exists(), "{flag} wrote a run");
    }
    let out = densify(&["bm25", "--dataset", "nq-utd", "--output", run_arg]);
    assert!(out.status.success());
    for k in ["--k=NaN", "--k=-1", "--k=inf"] {
        let fused = dir.join("fused.trec");
        let out = densify(&[
            "fuse",
            "--run",
            run_arg,
            "--run",
            run_arg,
            k,
            "--output",
            fused.to_str().unwrap(),
        ]);
        fails_with(&out, &["k"]);
        assert!(!fused.exists());
    }

    // A NaN in an embeddings file: named by file and row, never ranked first.
    let corpus = dir.join("corpus.safetensors");
    let queries = dir.join("queries.safetensors");
    let ids = ["a".to_owned(), "b".to_owned()];
    let bytes = raw_embeddings(&ids, 2, &[1.0, 0.0, f32::NAN, 1.0]);
    std::fs::write(&corpus, bytes).unwrap();
    Embeddings::new(vec!["q".into()], 2, vec![1.0, 0.0])
        .unwrap()
        .write(&queries)
        .unwrap();
    let out = densify(&[
        "search",
        "--queries",
        queries.to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--output",
        dir.join("dense.trec").to_str().unwrap(),
    ]);
    fails_with(&out, &["corpus.safetensors", "`b`", "finite"]);
}

/// An embeddings file as `Embeddings::write` lays it out, but without its checks, so tests can
/// write what a buggy or hostile producer would.
fn raw_embeddings(ids: &[String], dim: usize, values: &[f32]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![ids.len(), dim], &data)
            .unwrap();
    let metadata = std::collections::HashMap::from([
        ("format".to_owned(), "densify-embeddings/1".to_owned()),
        ("ids".to_owned(), serde_json::to_string(ids).unwrap()),
    ]);
    safetensors::serialize([("embeddings", view)], Some(metadata)).unwrap()
}

#[test]
fn duplicate_ids_are_refused() {
    let dir = fresh_dir("duplicates");
    let corpus = dir.join("corpus.safetensors");
    let queries = dir.join("queries.safetensors");
    let ids = ["a".to_owned(), "a".to_owned()];
    std::fs::write(&corpus, raw_embeddings(&ids, 2, &[1.0, 0.0, 0.0, 1.0])).unwrap();
    Embeddings::new(vec!["q".into()], 2, vec![1.0, 0.0])
        .unwrap()
        .write(&queries)
        .unwrap();
    let out = densify(&[
        "search",
        "--queries",
        queries.to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--output",
        dir.join("dense.trec").to_str().unwrap(),
    ]);
    fails_with(&out, &["corpus.safetensors", "`a` appears twice"]);

    let run = dir.join("dup.trec");
    std::fs::write(&run, "q1 Q0 d1 1 2.0 t\nq1 Q0 d1 2 1.0 t\n").unwrap();
    let out = densify(&[
        "fuse",
        "--run",
        run.to_str().unwrap(),
        "--output",
        dir.join("f.trec").to_str().unwrap(),
    ]);
    fails_with(&out, &["dup.trec:2", "twice"]);
}

#[test]
fn a_byte_order_mark_changes_nothing() {
    let dir = fresh_dir("bom");
    let qrels = "tests/fixtures/eval/edge/qrels.txt";
    let run = std::fs::read(repo_root().join("tests/fixtures/eval/edge/run.trec")).unwrap();
    let with_bom = dir.join("bom.trec");
    std::fs::write(&with_bom, [b"\xef\xbb\xbf".as_slice(), &run].concat()).unwrap();
    let mut qrels_bom = b"\xef\xbb\xbf".to_vec();
    qrels_bom.extend(std::fs::read(repo_root().join(qrels)).unwrap());
    let qrels_with_bom = dir.join("qrels.txt");
    std::fs::write(&qrels_with_bom, qrels_bom).unwrap();
    let plain = densify(&[
        "eval",
        "--qrels",
        qrels,
        "--run",
        "tests/fixtures/eval/edge/run.trec",
        "-q",
    ]);
    let bom = densify(&[
        "eval",
        "--qrels",
        qrels_with_bom.to_str().unwrap(),
        "--run",
        with_bom.to_str().unwrap(),
        "-q",
    ]);
    assert!(plain.status.success() && bom.status.success());
    assert_eq!(
        String::from_utf8_lossy(&plain.stdout),
        String::from_utf8_lossy(&bom.stdout)
    );
}

#[test]
fn an_output_equal_to_an_input_is_refused_and_the_input_kept() {
    let dir = fresh_dir("same");
    let run = dir.join("run.trec");
    let body = "q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0 t\n";
    std::fs::write(&run, body).unwrap();
    // Through another spelling of the same path, too.
    let other_spelling = dir.join(".").join("run.trec");
    let out = densify(&[
        "fuse",
        "--run",
        run.to_str().unwrap(),
        "--output",
        other_spelling.to_str().unwrap(),
    ]);
    fails_with(&out, &["--output", "run.trec"]);
    assert_eq!(std::fs::read_to_string(&run).unwrap(), body);

    let data = fresh_dir("same-data");
    let dataset = data.join("tiny");
    std::fs::create_dir_all(&dataset).unwrap();
    let corpus = "{\"_id\": \"d1\", \"text\": \"a cat\"}\n";
    std::fs::write(dataset.join("corpus.jsonl"), corpus).unwrap();
    std::fs::write(
        dataset.join("queries.jsonl"),
        "{\"_id\": \"q1\", \"text\": \"cat\"}\n",
    )
    .unwrap();
    std::fs::create_dir_all(dataset.join("qrels")).unwrap();
    std::fs::write(dataset.join("qrels/test.tsv"), "q1\td1\t1\n").unwrap();
    let out = densify(&[
        "bm25",
        "--dataset",
        dataset.to_str().unwrap(),
        "--output",
        dataset.join("corpus.jsonl").to_str().unwrap(),
    ]);
    fails_with(&out, &["--output", "corpus.jsonl"]);
    assert_eq!(
        std::fs::read_to_string(dataset.join("corpus.jsonl")).unwrap(),
        corpus
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_fifo_input_is_refused_at_once() {
    let dir = fresh_dir("fifo");
    let fifo = dir.join("run.trec");
    if !Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("skipped: mkfifo is not available on this machine");
        return;
    }
    let started = Instant::now();
    let out = densify(&[
        "eval",
        "--qrels",
        "tests/fixtures/eval/edge/qrels.txt",
        "--run",
        fifo.to_str().unwrap(),
    ]);
    fails_with(&out, &["run.trec", "FIFO", "regular file"]);
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// SIGKILL while the output is being written: the previous file stays byte-identical, and the
/// next run removes the dead writer's temporary and completes.
#[cfg(unix)]
#[test]
fn a_kill_during_the_write_keeps_the_previous_output() {
    let dir = fresh_dir("kill");
    let output = dir.join("run.trec");
    let previous = b"q1 Q0 d1 1 1.0 previous-run\n";
    std::fs::write(&output, previous).unwrap();
    let args = [
        "bm25",
        "--dataset",
        "scifact",
        "--output",
        output.to_str().unwrap(),
    ];
    let mut caught = 0;
    for attempt in 0..3 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_densify"))
            .args(args)
            .current_dir(repo_root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill the moment the temporary appears (the 14 MB write is under way), or after a
        // growing delay when it is never seen.
        let started = Instant::now();
        loop {
            if !temporaries(&dir).is_empty() {
                caught += 1;
                break;
            }
            if started.elapsed() > Duration::from_millis(400 * (attempt + 1))
                || child.try_wait().unwrap().is_some()
            {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = child.kill();
        let status = child.wait().unwrap();
        let now = std::fs::read(&output).unwrap();
        if status.success() {
            // It finished before the kill: then the file is the whole new run.
            assert!(now.ends_with(b"densify-bm25\n") || now.len() > 1_000_000);
            std::fs::write(&output, previous).unwrap();
        } else {
            assert_eq!(now, previous, "a killed writer changed the output");
        }
    }
    assert!(
        caught > 0,
        "the temporary was never seen, so no kill landed during the write"
    );
    let out = densify(&args);
    assert!(out.status.success());
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
    assert!(std::fs::metadata(&output).unwrap().len() > 1_000_000);
}

/// A full disk: an error naming the output and the fault, the previous output byte-identical
/// and no temporary left. Needs a small filesystem: a tmpfs mounted here when running as root
/// (as CI does); skipped, with the reason printed, elsewhere.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_keeps_the_previous_output() {
    let dir = fresh_dir("full");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(&dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!(
            "skipped: no small filesystem could be mounted at {} (needs root and \
             CAP_SYS_ADMIN)",
            dir.display()
        );
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(dir.clone());
    let output = dir.join("run.trec");
    let previous = b"q1 Q0 d1 1 1.0 previous-run\n";
    std::fs::write(&output, previous).unwrap();
    let out = densify(&[
        "bm25",
        "--dataset",
        "scifact",
        "--output",
        output.to_str().unwrap(),
    ]);
    fails_with(&out, &["run.trec", "No space left on device"]);
    assert_eq!(std::fs::read(&output).unwrap(), previous);
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
}

#[test]
fn mine_refuses_bad_inputs_and_keeps_the_run() {
    let dir = fresh_dir("mine");
    let run = dir.join("run.trec");
    let body = "1 Q0 d1 1 2.0 t\n";
    std::fs::write(&run, body).unwrap();
    let run_arg = run.to_str().unwrap();
    let out_arg = dir.join("mined.jsonl");
    let out_arg = out_arg.to_str().unwrap();
    let mine = |extra: &[&str], output: &str| {
        let mut args = vec![
            "mine",
            "--dataset",
            "nq-utd",
            "--run",
            run_arg,
            "--output",
            output,
        ];
        args.extend_from_slice(extra);
        densify(&args)
    };
    fails_with(
        &mine(&["--relative-margin", "1.5"], out_arg),
        &["--relative-margin", "1.5"],
    );
    fails_with(
        &mine(&["--absolute-margin=NaN"], out_arg),
        &["--absolute-margin"],
    );
    fails_with(&mine(&[], run_arg), &["--output", "also an input"]);
    assert_eq!(std::fs::read_to_string(&run).unwrap(), body);
    let missing = dir.join("missing.trec");
    let out = densify(&[
        "mine",
        "--dataset",
        "nq-utd",
        "--run",
        missing.to_str().unwrap(),
        "--output",
        out_arg,
    ]);
    fails_with(&out, &["missing.trec"]);
    assert!(!dir.join("mined.jsonl").exists());
}

/// `--data-parallel`: a device name this binary lacks names that flag; a CPU device is refused
/// before any file is read, since burn has its collective all-reduce on CUDA only.
#[test]
fn data_parallel_devices_are_checked_before_training() {
    let dir = fresh_dir("data-parallel");
    let config = dir.join("train.toml");
    std::fs::write(
        &config,
        format!(
            "model = \"{}\"\ndataset = \"scifact\"\noutput = \"{}\"\n",
            minilm().display(),
            dir.join("out").display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let out = densify(&["train", "--config", config, "--data-parallel", "gpu9"]);
    fails_with(&out, &["--data-parallel gpu9", "unknown device"]);
    let out = densify(&["train", "--config", config, "--data-parallel", "cpu"]);
    fails_with(&out, &["collective all-reduce", "CUDA backend only"]);
    assert!(
        !dir.join("out").exists(),
        "nothing is written before the check"
    );
}

/// A tiny BEIR folder: documents `d1`, `d2`, queries `q1`, `q2`, and `test` qrels judging them.
fn tiny_dataset(dir: &Path) -> PathBuf {
    let dataset = dir.join("tiny");
    std::fs::create_dir_all(dataset.join("qrels")).unwrap();
    std::fs::write(
        dataset.join("corpus.jsonl"),
        "{\"_id\": \"d1\", \"text\": \"a cat on a mat\"}\n{\"_id\": \"d2\", \"text\": \"a dog in fog\"}\n",
    )
    .unwrap();
    std::fs::write(
        dataset.join("queries.jsonl"),
        "{\"_id\": \"q1\", \"text\": \"cat\"}\n{\"_id\": \"q2\", \"text\": \"dog\"}\n",
    )
    .unwrap();
    std::fs::write(dataset.join("qrels/test.tsv"), "q1\td1\t1\nq2\td2\t1\n").unwrap();
    dataset
}

/// Every command that reads a dataset's split keeps its qrels as an input: `bm25 --output
/// dataset/qrels/test.tsv` is refused and the qrels stay byte-identical.
#[test]
fn an_output_over_the_qrels_read_is_refused() {
    let dir = fresh_dir("over-qrels");
    let dataset = tiny_dataset(&dir);
    let qrels = dataset.join("qrels/test.tsv");
    let before = std::fs::read(&qrels).unwrap();
    let out = densify(&[
        "bm25",
        "--dataset",
        dataset.to_str().unwrap(),
        "--output",
        qrels.to_str().unwrap(),
    ]);
    fails_with(&out, &["--output", "test.tsv", "also an input"]);
    assert_eq!(std::fs::read(&qrels).unwrap(), before);
    let run = dir.join("run.trec");
    std::fs::write(&run, "q1 Q0 d1 1 2.0 t\nq2 Q0 d2 1 2.0 t\n").unwrap();
    let out = densify(&[
        "mine",
        "--dataset",
        dataset.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--output",
        qrels.to_str().unwrap(),
    ]);
    fails_with(&out, &["--output", "test.tsv", "also an input"]);
    assert_eq!(std::fs::read(&qrels).unwrap(), before);
}

/// An output path that is a device node (or a FIFO) is refused; the node stays what it was.
#[cfg(target_os = "linux")]
#[test]
fn an_output_that_is_a_device_node_is_refused() {
    use std::os::unix::fs::FileTypeExt;
    let dir = fresh_dir("device-node");
    let dataset = tiny_dataset(&dir);
    let node = dir.join("null");
    // A character device of our own (the same one as /dev/null), so a failure harms nothing
    // outside the test folder; mknod needs root, a FIFO does not.
    let made_device = Command::new("mknod")
        .arg(&node)
        .args(["c", "1", "3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let (node, kind) = if made_device {
        (node, "a character device")
    } else {
        let fifo = dir.join("fifo");
        assert!(
            Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        (fifo, "a FIFO")
    };
    let out = densify(&[
        "bm25",
        "--dataset",
        dataset.to_str().unwrap(),
        "--output",
        node.to_str().unwrap(),
    ]);
    fails_with(&out, &["--output", kind, "regular file"]);
    let file_type = std::fs::metadata(&node).unwrap().file_type();
    assert!(file_type.is_char_device() || file_type.is_fifo());
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
}

/// A split whose qrels judge no query of the queries file, or `--queries` holding none of the
/// judged ones, is an error naming the files, not an empty run and exit 0.
#[test]
fn a_split_judging_no_known_query_is_refused() {
    let dir = fresh_dir("no-queries");
    let dataset = tiny_dataset(&dir);
    std::fs::write(dataset.join("qrels/dev.tsv"), "qX\td1\t1\n").unwrap();
    let output = dir.join("run.trec");
    let out = densify(&[
        "bm25",
        "--dataset",
        dataset.to_str().unwrap(),
        "--split",
        "dev",
        "--output",
        output.to_str().unwrap(),
    ]);
    fails_with(&out, &["dev.tsv", "queries.jsonl", "none of the 1 queries"]);
    let other = dir.join("other-queries.jsonl");
    std::fs::write(&other, "{\"_id\": \"zz\", \"text\": \"cat\"}\n").unwrap();
    let out = densify(&[
        "bm25",
        "--dataset",
        dataset.to_str().unwrap(),
        "--queries",
        other.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    fails_with(&out, &["other-queries.jsonl"]);
    assert!(!output.exists());
}

/// A run for `mine` over nq-utd: every judged document of each test query, scored by grade.
fn nq_utd_run(path: &Path) {
    let qrels = std::fs::read_to_string(shared_data_file("nq-utd/qrels/test.tsv")).unwrap();
    let mut run = String::new();
    let (mut query, mut rank) = (String::new(), 0);
    for line in qrels.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f[0] != query {
            (query, rank) = (f[0].to_owned(), 0);
        }
        rank += 1;
        // Higher grades first; within a grade, file order.
        let score = f[2].parse::<f64>().unwrap() + 1.0 / (1.0 + rank as f64);
        run += &format!("{} Q0 {} {rank} {score} t\n", f[0], f[1]);
    }
    std::fs::write(path, run).unwrap();
}

fn shared_data_file(relative: &str) -> PathBuf {
    densify_testkit::shared_data().join(relative)
}

/// A full disk when `mine` flushes its (small, fully buffered) output: an error naming the
/// output, the previous file byte-identical and no temporary left (it was left before: the
/// failure came at the commit, after the writer was taken).
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_during_mine_leaves_no_temporary() {
    let run = fresh_dir("full-mine-run").join("run.trec");
    nq_utd_run(&run);
    let dir = fresh_dir("full-mine");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: no small filesystem could be mounted (needs root)");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(dir.clone());
    let output = dir.join("mined.jsonl");
    let previous = b"{\"previous\": true}\n";
    std::fs::write(&output, previous).unwrap();
    // Fill the rest of the filesystem, so the output's first flush fails.
    {
        use std::io::Write;
        let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
        while filler.write_all(&[0u8; 4096]).is_ok() {}
    }
    let out = densify(&[
        "mine",
        "--dataset",
        "nq-utd",
        "--run",
        run.to_str().unwrap(),
        "--keep-incomplete",
        "--output",
        output.to_str().unwrap(),
    ]);
    fails_with(&out, &["mined.jsonl", "No space left on device"]);
    assert_eq!(std::fs::read(&output).unwrap(), previous);
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
}

/// SIGKILL at growing delays into a run of `args` that writes `output`: each killed run leaves
/// either the previous file byte-identical or (a kill after the rename) the whole new output
/// of an uninterrupted run, never a part; at least one kill lands before the output changes;
/// and a final run after the kills gives the uninterrupted run's output with no temporary
/// left.
fn kill_keeps_previous_output(args: &[&str], output: &Path, delays_ms: &[u64]) {
    densify_testkit::succeeded(&densify(args));
    let complete = std::fs::read(output).unwrap();
    let previous = b"previous output\n";
    std::fs::write(output, previous).unwrap();
    let mut landed = 0;
    for delay in delays_ms {
        let mut child = Command::new(env!("CARGO_BIN_EXE_densify"))
            .args(args)
            .current_dir(repo_root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(*delay));
        let _ = child.kill();
        let killed = !child.wait().unwrap().success();
        let now = std::fs::read(output).unwrap();
        if now == previous {
            landed += usize::from(killed);
        } else {
            assert!(
                now == complete,
                "a killed `densify {}` left a partial output",
                args[0]
            );
            std::fs::write(output, previous).unwrap();
        }
    }
    assert!(landed > 0, "every run wrote its output before its kill");
    let out = densify(args);
    densify_testkit::succeeded(&out);
    let dir = output.parent().unwrap();
    assert!(temporaries(dir).is_empty(), "{:?}", temporaries(dir));
    assert!(std::fs::read(output).unwrap() == complete);
}

#[cfg(unix)]
#[test]
fn a_killed_mine_keeps_the_previous_output() {
    let dir = fresh_dir("kill-mine");
    let run = dir.join("run.trec");
    nq_utd_run(&run);
    let output = dir.join("mined.jsonl");
    kill_keeps_previous_output(
        &[
            "mine",
            "--dataset",
            "nq-utd",
            "--run",
            run.to_str().unwrap(),
            "--keep-incomplete",
            "--output",
            output.to_str().unwrap(),
        ],
        &output,
        &[5, 20, 60, 150],
    );
}

#[cfg(unix)]
#[test]
fn a_killed_score_keeps_the_previous_output() {
    let dir = fresh_dir("kill-score");
    let run = dir.join("run.trec");
    nq_utd_run(&run);
    let lists = dir.join("lists.jsonl");
    densify_testkit::succeeded(&densify(&[
        "mine",
        "--dataset",
        "nq-utd",
        "--run",
        run.to_str().unwrap(),
        "--keep-incomplete",
        "--output",
        lists.to_str().unwrap(),
    ]));
    let output = dir.join("scored.jsonl");
    let model = dir.join("model");
    densify_testkit::tiny_bi_encoder(&model, 3);
    kill_keeps_previous_output(
        &[
            "score",
            "--dataset",
            "nq-utd",
            "--examples",
            lists.to_str().unwrap(),
            "--teacher",
            model.to_str().unwrap(),
            "--kind",
            "bi",
            "--output",
            output.to_str().unwrap(),
        ],
        &output,
        &[100, 400, 1500],
    );
}

/// Model folders that do not fit together, refused at load naming the file and field: a
/// tokenizer with more tokens than the model's embedding rows (it panicked at the first batch),
/// a pooling config whose flag is not a boolean (it was accepted), a max length that leaves no
/// room for the special tokens.
#[test]
fn model_folders_that_do_not_fit_are_refused_at_load() {
    let dir = fresh_dir("model-fit");
    let dataset = tiny_dataset(&dir);
    let model = dir.join("model");
    densify_testkit::tiny_bi_encoder(&model, 5);
    let output = dir.join("q.safetensors");
    let encode = |extra: &[&str]| {
        let mut args = vec![
            "encode",
            "--model",
            model.to_str().unwrap(),
            "--dataset",
            dataset.to_str().unwrap(),
            "--what",
            "queries",
            "--output",
            output.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        densify(&args)
    };
    densify_testkit::succeeded(&encode(&[]));
    std::fs::remove_file(&output).unwrap();
    // The output may not be one of the model's own files.
    let weights = model.join("model.safetensors");
    let before = std::fs::read(&weights).unwrap();
    let out = densify(&[
        "encode",
        "--model",
        model.to_str().unwrap(),
        "--dataset",
        dataset.to_str().unwrap(),
        "--what",
        "corpus",
        "--output",
        weights.to_str().unwrap(),
    ]);
    fails_with(&out, &["--output", "model.safetensors", "also an input"]);
    assert!(std::fs::read(&weights).unwrap() == before);
    fails_with(
        &encode(&["--query-max-length", "1"]),
        &["query_max_length 1", "special tokens", "the least is 3"],
    );
    assert!(!output.exists());

    let pooling = model.join("1_Pooling/config.json");
    let original = std::fs::read_to_string(&pooling).unwrap();
    std::fs::write(
        &pooling,
        original.replace(
            "\"pooling_mode_mean_tokens\": true",
            "\"pooling_mode_mean_tokens\": \"yes\"",
        ),
    )
    .unwrap();
    assert_ne!(std::fs::read_to_string(&pooling).unwrap(), original);
    fails_with(
        &encode(&[]),
        &[
            "1_Pooling/config.json:",
            "`pooling_mode_mean_tokens`",
            "true or false",
        ],
    );
    std::fs::write(&pooling, original).unwrap();

    let config = model.join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["vocab_size"], 30522);
    std::fs::write(&config, text.replace("30522", "1000")).unwrap();
    fails_with(
        &encode(&[]),
        &[
            "tokenizer.json",
            "config.json",
            "`vocab_size` is 1000",
            "30522",
        ],
    );
    assert!(!output.exists());
}

/// `densify score` with the default cross-encoder kind on a bare encoder (all-MiniLM-L6-v2 has
/// no classification head): refused, since a new random head gives random teacher scores that
/// differ from run to run; nothing is written.
#[test]
fn score_refuses_a_cross_encoder_without_its_head() {
    let dir = fresh_dir("bare-cross");
    let dataset = tiny_dataset(&dir);
    let lists = dir.join("lists.jsonl");
    std::fs::write(
        &lists,
        "{\"query_id\": \"q1\", \"query\": \"cat\", \"candidates\": [{\"doc_id\": \"d1\"}, {\"doc_id\": \"d2\"}]}\n",
    )
    .unwrap();
    let output = dir.join("scored.jsonl");
    let model = minilm();
    let out = densify(&[
        "score",
        "--dataset",
        dataset.to_str().unwrap(),
        "--examples",
        lists.to_str().unwrap(),
        "--teacher",
        model.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    fails_with(
        &out,
        &["no classification head", "classifier.weight", "--kind bi"],
    );
    assert!(!output.exists());
    // A document the corpus lacks is named by the examples' file and line.
    std::fs::write(
        &lists,
        "{\"query_id\": \"q1\", \"query\": \"cat\", \"candidates\": [{\"doc_id\": \"d1\"}]}\n{\"query_id\": \"q2\", \"query\": \"dog\", \"candidates\": [{\"doc_id\": \"d2\"}, {\"doc_id\": \"nope\"}]}\n",
    )
    .unwrap();
    let out = densify(&[
        "score",
        "--dataset",
        dataset.to_str().unwrap(),
        "--examples",
        lists.to_str().unwrap(),
        "--teacher",
        model.to_str().unwrap(),
        "--kind",
        "bi",
        "--output",
        output.to_str().unwrap(),
    ]);
    fails_with(&out, &["lists.jsonl:2", "nope", "not in the corpus"]);
    assert!(!output.exists());
}

/// `mine` with a run naming a document the corpus does not have: an error naming the run's
/// file, line and id; nothing is written (it wrote the unknown id into training lists before).
#[test]
fn mine_refuses_a_run_naming_documents_outside_the_corpus() {
    let dir = fresh_dir("mine-corpus");
    let dataset = tiny_dataset(&dir);
    let run = dir.join("run.trec");
    std::fs::write(
        &run,
        "q1 Q0 d1 1 3.0 t\nq1 Q0 d2 2 2.0 t\nq1 Q0 ghost 3 1.0 t\n",
    )
    .unwrap();
    let output = dir.join("mined.jsonl");
    let out = densify(&[
        "mine",
        "--dataset",
        dataset.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--keep-incomplete",
        "--output",
        output.to_str().unwrap(),
    ]);
    fails_with(&out, &["run.trec:3", "ghost", "not in the corpus"]);
    assert!(!output.exists());
}
