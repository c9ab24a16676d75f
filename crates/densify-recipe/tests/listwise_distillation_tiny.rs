//! The `listwise_distillation` recipe end to end on a tiny random bi-encoder and NQ-UTD (800
//! passages) with inverse-cloze queries, a second tiny bi-encoder as the teacher. It checks
//! the mechanics (every stage, the teacher's scores on every list, the three-model table,
//! skipping and re-running from the first changed stage), not a quality figure.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use densify_core::{Config, NoProgress};
use densify_recipe::driver::StageOutcome;
use densify_recipe::{Manifest, RecipeConfig, run_recipe};

/// A recipe file: a random model finds few sources in its top 20, and a random teacher rarely
/// ranks the source first, so the round trip reads BM25's run only and the top-1 rule is off.
fn recipe_file(dir: &Path, baseline_lr: f64) -> PathBuf {
    let path = dir.join("ld.toml");
    std::fs::write(
        &path,
        format!(
            "recipe = \"listwise_distillation\"\nmodel = \"{model}\"\ndataset = \"{data}\"\noutput = \"{out}\"\n\n\
             [generate.queries]\nmax_passages = 40\n\n\
             [candidates]\ndepth = 20\n\n\
             [[filter.stages]]\ntype = \"round_trip\"\nruns = [\"{out}/candidates/bm25.trec\"]\ntop_k = 20\n\n\
             [[filter.stages]]\ntype = \"fuse\"\ndepth = 10\nmin_candidates = 6\ninsert_source = true\n\n\
             [[filter.stages]]\ntype = \"teacher\"\nmodel = \"{teacher}\"\nkind = \"bi_encoder\"\nrequire_top1 = false\n\n\
             [[filter.stages]]\ntype = \"percentile_cut\"\nkeep = 4\n\n\
             [filter.split]\ndev_fraction = 0.2\n\n\
             [train]\nbatch_size = 4\nlist_size = 4\nmax_steps = 2\ncheckpoint_every = 1\n\n\
             [baseline]\nbatch_size = 4\nlist_size = 4\nmax_steps = 2\n\n\
             [baseline.optimizer]\nlearning_rate = {baseline_lr}\n\n\
             [evaluate]\nsplits = [\"test\"]\n",
            model = dir.join("model").display(),
            teacher = dir.join("teacher").display(),
            data = densify_testkit::shared_data().join("nq-utd").display(),
            out = dir.join("run").display(),
        ),
    )
    .unwrap();
    path
}

#[test]
fn listwise_distillation_runs_every_stage_then_only_what_changed() {
    let dir = densify_testkit::fresh_dir("recipe", "ld");
    densify_testkit::tiny_bi_encoder(&dir.join("model"), 13);
    densify_testkit::tiny_bi_encoder(&dir.join("teacher"), 14);
    let device = Device::flex();
    let file = recipe_file(&dir, 1e-3);
    let config = RecipeConfig::from_file(&file).unwrap();
    let report = run_recipe(&config, &file, &device, &mut NoProgress).unwrap();
    let names: Vec<&str> = report.stages.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "generate",
            "candidates",
            "filter",
            "train",
            "baseline",
            "evaluate"
        ]
    );
    assert!(
        report.stages.iter().all(|(_, o)| *o == StageOutcome::Ran),
        "{:?}",
        report.stages
    );
    let models: Vec<&str> = report.results.iter().map(|r| r.model.as_str()).collect();
    assert_eq!(
        models,
        ["base", "base", "infonce", "infonce", "adapted", "adapted"]
    );
    let run = dir.join("run");
    // Every kept list: the teacher's best 4, each scored, normalised into [0, 1].
    let lists = densify_train::example::read_examples(run.join("filter/train.jsonl")).unwrap();
    assert!(!lists.is_empty());
    for e in &lists {
        assert_eq!(e.candidates.len(), 4, "{}", e.id);
        for c in &e.candidates {
            let t = c.teacher.expect("a teacher score");
            assert!((0.0..=1.0).contains(&t), "{t}");
        }
    }
    let manifest = Manifest::read(&run).unwrap();
    let counts = &manifest.stage("filter").unwrap().counts;
    assert!(
        counts["kept_after_percentile_cut"] < counts["queries"],
        "the cut drops the bottom quarter: {counts:?}"
    );
    let student = densify_testkit::tensors(&run.join("train/final/model.safetensors"));
    let baseline = densify_testkit::tensors(&run.join("baseline/final/model.safetensors"));
    assert!(student != baseline, "different losses, different weights");

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
    // The baseline's learning rate changed: only it and the evaluation run again.
    let file = recipe_file(&dir, 5e-4);
    let config = RecipeConfig::from_file(&file).unwrap();
    let changed = run_recipe(&config, &file, &device, &mut NoProgress).unwrap();
    assert_eq!(
        changed.outcomes(),
        [
            ("generate", StageOutcome::UpToDate),
            ("candidates", StageOutcome::UpToDate),
            ("filter", StageOutcome::UpToDate),
            ("train", StageOutcome::UpToDate),
            ("baseline", StageOutcome::Ran),
            ("evaluate", StageOutcome::Ran),
        ]
    );
    assert_eq!(
        densify_testkit::tensors(&run.join("train/final/model.safetensors")),
        student
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_listwise_recipe_without_a_teacher_model_names_the_field() {
    let dir = densify_testkit::fresh_dir("recipe", "ld-bad");
    let file = dir.join("r.toml");
    std::fs::write(
        &file,
        format!(
            "recipe = \"listwise_distillation\"\nmodel = \"m\"\ndataset = \"nq-utd\"\noutput = \"{}\"\n",
            dir.join("run").display()
        ),
    )
    .unwrap();
    let e = RecipeConfig::from_file(&file).unwrap_err().to_string();
    assert!(
        e.contains("r.toml") && e.contains("filter.stages[2].model") && e.contains("required"),
        "{e}"
    );
    std::fs::write(
        &file,
        format!(
            "recipe = \"listwise_distillation\"\nmodel = \"m\"\ndataset = \"nq-utd\"\noutput = \"{}\"\n\
             [[filter.stages]]\ntype = \"fuse\"\ndepth = 10\nmin_candidates = 4\n",
            dir.join("run").display()
        ),
    )
    .unwrap();
    let e = RecipeConfig::from_file(&file).unwrap_err().to_string();
    assert!(
        e.contains("filter.stages") && e.contains("`teacher` stage"),
        "{e}"
    );
    std::fs::write(
        &file,
        format!(
            "recipe = \"listwise_distillation\"\nmodel = \"m\"\ndataset = \"nq-utd\"\noutput = \"{}\"\n\
             [teacher]\nbm25_weight = 0.5\n",
            dir.join("run").display()
        ),
    )
    .unwrap();
    let e = RecipeConfig::from_file(&file).unwrap_err().to_string();
    assert!(e.contains("`teacher`") && e.contains("not read"), "{e}");
    assert!(!dir.join("run").exists(), "nothing is written");
    let _ = std::fs::remove_dir_all(&dir);
}
