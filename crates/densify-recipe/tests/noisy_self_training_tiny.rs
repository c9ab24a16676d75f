//! The `noisy_self_training` recipe end to end on a tiny random bi-encoder and NQ-UTD (800
//! passages), with inverse-cloze queries. NQ-UTD has only a test split, so the "labels" here
//! are its test qrels: this checks the mechanics (every stage, the lists' soft labels, the
//! three-model table, skipping and re-running), not a quality figure.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use densify_core::{Config, NoProgress};
use densify_recipe::driver::StageOutcome;
use densify_recipe::{Manifest, RecipeConfig, run_recipe};

fn recipe_file(dir: &Path, learning_rate: f64) -> PathBuf {
    recipe_file_with(
        dir,
        learning_rate,
        &densify_testkit::shared_data().join("nq-utd"),
        "",
    )
}

/// The recipe file on `dataset`, with `extra` TOML (an `[iterate]` table) at its end.
fn recipe_file_with(dir: &Path, learning_rate: f64, dataset: &Path, extra: &str) -> PathBuf {
    let path = dir.join("nst.toml");
    std::fs::write(
        &path,
        format!(
            "recipe = \"noisy_self_training\"\nmodel = \"{}\"\ndataset = \"{}\"\noutput = \"{}\"\n\n\
             [generate.queries]\nmax_passages = 40\n\n\
             [candidates]\ndepth = 10\n\n\
             [mine]\nrange_max = 10\nnum_negatives = 3\n\n\
             [supervised]\nsplit = \"test\"\nbatch_size = 8\nmax_steps = 2\n\n\
             [train]\nbatch_size = 4\nlist_size = 4\nmax_steps = 2\ncheckpoint_every = 1\n\n\
             [train.optimizer]\nlearning_rate = {learning_rate}\n\n\
             [evaluate]\nsplits = [\"test\"]\n{extra}",
            dir.join("model").display(),
            dataset.display(),
            dir.join("run").display(),
        ),
    )
    .unwrap();
    path
}

#[test]
fn noisy_self_training_runs_every_stage_then_only_what_changed() {
    let dir = densify_testkit::fresh_dir("recipe", "nst");
    densify_testkit::tiny_bi_encoder(&dir.join("model"), 13);
    let device = Device::flex();
    let file = recipe_file(&dir, 1e-3);
    let config = RecipeConfig::from_file(&file).unwrap();
    let report = run_recipe(&config, &file, &device, &mut NoProgress).unwrap();
    let stages: Vec<(&str, StageOutcome)> = report.outcomes();
    let names: Vec<&str> = stages.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "teacher",
            "generate",
            "candidates",
            "lists",
            "pretrain",
            "finetune",
            "evaluate"
        ]
    );
    assert!(
        stages.iter().all(|(_, o)| *o == StageOutcome::Ran),
        "{stages:?}"
    );
    let rows: Vec<(&str, &str)> = report
        .results
        .iter()
        .map(|r| (r.model.as_str(), r.split.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("base", "test"),
            ("base", "test+noise"),
            ("labels", "test"),
            ("labels", "test+noise"),
            ("adapted", "test"),
            ("adapted", "test+noise")
        ]
    );
    assert!(
        report.table.contains("| labels nDCG@10 |"),
        "{}",
        report.table
    );
    let run = dir.join("run");
    // Every list: the source passage first, then 3 of the teacher's negatives, all with the
    // teacher's score; a list whose source the teacher missed is counted, not written.
    let lists = densify_train::example::read_examples(run.join("lists/train.jsonl")).unwrap();
    let manifest = Manifest::read(&run).unwrap();
    let counts = &manifest.stage("lists").unwrap().counts;
    assert_eq!(counts["lists"] as usize, lists.len());
    assert_eq!(
        counts["pairs"] as usize,
        lists.len() + counts["incomplete"] as usize + counts["source_not_found"] as usize
    );
    assert!(!lists.is_empty());
    for e in &lists {
        assert_eq!(e.candidates.len(), 4);
        assert!(e.candidates[0].positive);
        assert!(e.candidates.iter().all(|c| c.teacher.is_some()));
    }
    for stage in ["teacher", "pretrain", "finetune"] {
        assert_eq!(
            manifest.stage(stage).unwrap().counts["steps"],
            2.0,
            "{stage}"
        );
    }
    let teacher = densify_testkit::tensors(&run.join("teacher/final/model.safetensors"));
    let student = densify_testkit::tensors(&run.join("finetune/final/model.safetensors"));
    assert!(teacher != student);

    // Unchanged: nothing runs.
    let again = run_recipe(&config, &file, &device, &mut NoProgress).unwrap();
    assert!(
        again
            .stages
            .iter()
            .all(|(_, o)| *o == StageOutcome::UpToDate),
        "{:?}",
        again.stages
    );
    assert_eq!(again.results, report.results);

    // A changed pre-training learning rate: the teacher, queries and lists are kept.
    let file = recipe_file(&dir, 5e-4);
    let config = RecipeConfig::from_file(&file).unwrap();
    let changed = run_recipe(&config, &file, &device, &mut NoProgress).unwrap();
    assert_eq!(
        changed.outcomes(),
        [
            ("teacher", StageOutcome::UpToDate),
            ("generate", StageOutcome::UpToDate),
            ("candidates", StageOutcome::UpToDate),
            ("lists", StageOutcome::UpToDate),
            ("pretrain", StageOutcome::Ran),
            ("finetune", StageOutcome::Ran),
            ("evaluate", StageOutcome::Ran),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// NQ-UTD with its test qrels also as `dev` (links), so the loop has a dev split to read.
fn with_dev_split(dir: &Path) -> PathBuf {
    let source = densify_testkit::shared_data().join("nq-utd");
    let data = dir.join("nq-utd-dev");
    std::fs::create_dir_all(data.join("qrels")).unwrap();
    for file in ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"] {
        std::os::unix::fs::symlink(source.join(file), data.join(file)).unwrap();
    }
    std::os::unix::fs::symlink(source.join("qrels/test.tsv"), data.join("qrels/dev.tsv")).unwrap();
    data
}

#[test]
fn iterations_chain_student_to_teacher_and_the_dev_split_stops_them() {
    let dir = densify_testkit::fresh_dir("recipe", "nst-iterate");
    densify_testkit::tiny_bi_encoder(&dir.join("model"), 13);
    let device = Device::flex();
    let data = with_dev_split(&dir);

    // Without a dev split every iteration runs; the last student is the adapted model, the
    // earlier one is evaluated beside it, and iteration 2's teacher is iteration 1's student.
    let file = recipe_file_with(&dir, 1e-3, &data, "\n[iterate]\nmax_iterations = 2\n");
    let config = RecipeConfig::from_file(&file).unwrap();
    let report = run_recipe(&config, &file, &device, &mut NoProgress).unwrap();
    let names: Vec<&str> = report.stages.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "teacher",
            "generate",
            "candidates",
            "lists",
            "pretrain",
            "finetune",
            "candidates-2",
            "lists-2",
            "pretrain-2",
            "finetune-2",
            "evaluate"
        ]
    );
    let run = dir.join("run");
    assert_eq!(report.model, run.join("finetune-2/final"));
    let models: Vec<&str> = report
        .results
        .iter()
        .filter(|r| r.split == "test")
        .map(|r| r.model.as_str())
        .collect();
    assert_eq!(models, ["base", "labels", "iteration-1", "adapted"]);
    let manifest = Manifest::read(&run).unwrap();
    let teacher_of = |stage: &str| manifest.stage(stage).unwrap().inputs["teacher"].clone();
    let hash = |path: &Path| densify_recipe::manifest::hash_path(path).unwrap();
    assert_eq!(teacher_of("candidates"), hash(&run.join("teacher/final")));
    assert_eq!(
        teacher_of("candidates-2"),
        hash(&run.join("finetune/final"))
    );
    assert!(run.join("lists-2/train.jsonl").is_file() && run.join("pretrain-2/final").is_dir());

    // With `dev_split` the teacher and each student are scored on dev; the loop goes on only
    // while the student beats its teacher there, and the best student is kept. Iteration 1's
    // stages are reused as they are.
    let file = recipe_file_with(
        &dir,
        1e-3,
        &data,
        "\n[iterate]\nmax_iterations = 3\ndev_split = \"dev\"\n",
    );
    let config = RecipeConfig::from_file(&file).unwrap();
    let report = run_recipe(&config, &file, &device, &mut NoProgress).unwrap();
    let outcomes = report.outcomes();
    assert_eq!(
        &outcomes[..6],
        [
            ("teacher", StageOutcome::UpToDate),
            ("generate", StageOutcome::UpToDate),
            ("candidates", StageOutcome::UpToDate),
            ("lists", StageOutcome::UpToDate),
            ("pretrain", StageOutcome::UpToDate),
            ("finetune", StageOutcome::UpToDate),
        ]
    );
    let manifest = Manifest::read(&run).unwrap();
    let dev = |k: usize| {
        manifest
            .stage(&format!("dev-{k}"))
            .map(|s| s.counts["dev_ndcg10"])
    };
    let teacher_dev = dev(0).expect("the labels-only teacher is scored on dev");
    let mut figures = vec![teacher_dev];
    while let Some(f) = dev(figures.len()) {
        figures.push(f);
    }
    let iterations = figures.len() - 1;
    assert!((1..=3).contains(&iterations), "{figures:?}");
    // Each iteration but the last improved on its teacher; the last stopped the loop (or
    // was the third).
    for k in 1..iterations {
        assert!(figures[k] > figures[k - 1], "{figures:?}");
    }
    if iterations < 3 {
        assert!(
            figures[iterations] <= figures[iterations - 1],
            "{figures:?}"
        );
    }
    let best = (1..=iterations)
        .max_by(|a, b| figures[*a].total_cmp(&figures[*b]).then(b.cmp(a)))
        .unwrap();
    let finetune = if best == 1 {
        "finetune".to_owned()
    } else {
        format!("finetune-{best}")
    };
    assert_eq!(report.model, run.join(finetune).join("final"));
    let mut expected = vec!["base".to_owned(), "labels".to_owned()];
    for k in 1..=iterations {
        expected.push(if k == best {
            "adapted".to_owned()
        } else {
            format!("iteration-{k}")
        });
    }
    let models: Vec<String> = report
        .results
        .iter()
        .filter(|r| r.split == "test")
        .map(|r| r.model.clone())
        .collect();
    assert_eq!(models, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dev_split_the_dataset_lacks_or_the_labelled_one_is_refused_before_any_work() {
    let dir = densify_testkit::fresh_dir("recipe", "nst-iterate-bad");
    let nq = densify_testkit::shared_data().join("nq-utd");
    let file = recipe_file_with(&dir, 1e-3, &nq, "\n[iterate]\ndev_split = \"dev\"\n");
    let config = RecipeConfig::from_file(&file).unwrap();
    let e = run_recipe(&config, &file, &Device::flex(), &mut NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nst.toml") && e.contains("iterate.dev_split") && e.contains("qrels/dev.tsv"),
        "{e}"
    );
    assert!(!dir.join("run").exists(), "nothing is written");
    let file = recipe_file_with(&dir, 1e-3, &nq, "\n[iterate]\ndev_split = \"test\"\n");
    let e = RecipeConfig::from_file(&file).unwrap_err().to_string();
    assert!(
        e.contains("nst.toml") && e.contains("iterate.dev_split") && e.contains("labelled"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn another_recipes_table_is_refused_with_its_name() {
    let dir = densify_testkit::fresh_dir("recipe", "nst-bad");
    let file = dir.join("r.toml");
    std::fs::write(
        &file,
        format!(
            "recipe = \"noisy_self_training\"\nmodel = \"m\"\ndataset = \"nq-utd\"\noutput = \"{}\"\n\
             [teacher]\nbm25_weight = 0.3\n",
            dir.join("run").display()
        ),
    )
    .unwrap();
    let e = RecipeConfig::from_file(&file).unwrap_err().to_string();
    assert!(
        e.contains("r.toml") && e.contains("teacher") && e.contains("noisy_self_training"),
        "{e}"
    );
    std::fs::write(
        &file,
        format!(
            "model = \"m\"\ndataset = \"nq-utd\"\noutput = \"{}\"\n[mine]\nnum_negatives = 3\n",
            dir.join("run").display()
        ),
    )
    .unwrap();
    let e = RecipeConfig::from_file(&file).unwrap_err().to_string();
    assert!(e.contains("mine") && e.contains("adapt"), "{e}");
    assert!(!dir.join("run").exists(), "nothing is written");
    let _ = std::fs::remove_dir_all(&dir);
}
