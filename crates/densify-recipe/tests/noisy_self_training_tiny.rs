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
             [evaluate]\nsplits = [\"test\"]\n",
            dir.join("model").display(),
            densify_testkit::shared_data().join("nq-utd").display(),
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
    let stages: Vec<(&str, StageOutcome)> = report.stages.clone();
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
        changed.stages,
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
