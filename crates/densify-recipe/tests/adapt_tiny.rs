//! The `adapt` recipe end to end on a tiny random bi-encoder and NQ-UTD (800 passages), with
//! inverse-cloze queries: every stage runs, the table has base and adapted rows, an unchanged
//! re-run does nothing, and a changed training setting re-runs from the train stage only.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use densify_core::{Config, NoProgress};
use densify_recipe::driver::StageOutcome;
use densify_recipe::{Manifest, RecipeConfig, run_recipe};

fn recipe_file(dir: &Path, learning_rate: f64) -> PathBuf {
    let path = dir.join("adapt.toml");
    std::fs::write(
        &path,
        format!(
            "recipe = \"adapt\"\nmodel = \"{}\"\ndataset = \"{}\"\noutput = \"{}\"\n\n\
             [generate.queries]\nmax_passages = 40\n\n\
             [[filter.stages]]\ntype = \"fuse\"\ndepth = 10\nmin_candidates = 4\ninsert_source = true\n\n\
             [filter.split]\ndev_fraction = 0.25\n\n\
             [train]\nbatch_size = 4\nlist_size = 4\nmax_steps = 3\ncheckpoint_every = 1\n\n\
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

fn outcomes(report: &densify_recipe::RecipeReport) -> Vec<(&str, StageOutcome)> {
    report.outcomes()
}

#[test]
fn adapt_runs_every_stage_then_only_what_changed() {
    let dir = densify_testkit::fresh_dir("recipe", "adapt");
    densify_testkit::tiny_bi_encoder(&dir.join("model"), 11);
    let device = Device::flex();
    let file = recipe_file(&dir, 1e-3);
    let config = RecipeConfig::from_file(&file).unwrap();
    let report = run_recipe(&config, &file, &device, &mut NoProgress).unwrap();
    assert!(
        outcomes(&report)
            .iter()
            .all(|(_, o)| *o == StageOutcome::Ran),
        "{:?}",
        report.stages
    );
    let names: Vec<&str> = report.stages.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "generate",
            "candidates",
            "filter",
            "teacher",
            "train",
            "evaluate"
        ]
    );
    // Base and adapted on test and on noised test queries, over NQ-UTD's 80 queries.
    let splits: Vec<(&str, &str, usize)> = report
        .results
        .iter()
        .map(|r| (r.model.as_str(), r.split.as_str(), r.queries))
        .collect();
    assert_eq!(
        splits,
        [
            ("base", "test", 80),
            ("base", "test+noise", 80),
            ("adapted", "test", 80),
            ("adapted", "test+noise", 80)
        ]
    );
    for r in &report.results {
        assert!(
            (0.0..=1.0).contains(&r.ndcg_at_10) && r.recall_at_100 > 0.0,
            "{r:?}"
        );
    }
    assert!(report.table.contains("| test | 80 |"), "{}", report.table);
    let run = dir.join("run");
    let manifest = Manifest::read(&run).unwrap();
    assert_eq!(manifest.stages.len(), 6);
    let generate = &manifest.stages[0];
    assert_eq!(generate.counts["queries"], 40.0);
    assert!(generate.outputs.contains_key("generate/queries.jsonl"));
    let teacher = manifest.stage("teacher").unwrap();
    assert!(teacher.counts.contains_key("dev_ndcg10_teacher"));
    assert_eq!(manifest.stage("train").unwrap().counts["steps"], 3.0);
    let lists = densify_train::example::read_examples(run.join("teacher/train.jsonl")).unwrap();
    assert!(!lists.is_empty());
    for e in &lists {
        assert!(
            e.candidates
                .iter()
                .all(|c| c.teacher.is_some_and(|t| (0.0..=1.0).contains(&t)))
        );
        assert_eq!(e.positives().count(), 1, "the source passage");
    }
    // Inverse cloze's positives are their passages minus the query: new documents of the
    // training corpus, listed in masked.tsv, none containing its query.
    let filter = manifest.stage("filter").unwrap();
    assert!(
        filter.counts["masked_positives"] > 0.0,
        "{:?}",
        filter.counts
    );
    let masked = std::fs::read_to_string(run.join("filter/masked.tsv")).unwrap();
    assert_eq!(
        masked.lines().count() - 1,
        filter.counts["masked_positives"] as usize
    );
    let corpus: std::collections::HashMap<String, String> =
        densify_data::Dataset::open(run.join("filter"))
            .unwrap()
            .corpus_items()
            .unwrap()
            .into_iter()
            .collect();
    let mut checked = 0;
    for e in &lists {
        let positive = &e.candidates[e.positives().next().unwrap()];
        if positive.doc_id.contains("#ict-") {
            assert!(!corpus[&positive.doc_id].contains(&e.query), "{}", e.query);
            checked += 1;
        }
    }
    assert!(checked > 0);
    let weights = densify_testkit::tensors(&run.join("train/final/model.safetensors"));

    // Unchanged: nothing runs, the same model and table.
    let again = run_recipe(&config, &file, &device, &mut NoProgress).unwrap();
    assert!(
        outcomes(&again)
            .iter()
            .all(|(_, o)| *o == StageOutcome::UpToDate),
        "{:?}",
        again.stages
    );
    assert_eq!(again.results, report.results);

    // A changed learning rate: the stages before training are kept.
    let file = recipe_file(&dir, 5e-4);
    let config = RecipeConfig::from_file(&file).unwrap();
    let changed = run_recipe(&config, &file, &device, &mut NoProgress).unwrap();
    let expected = [
        ("generate", StageOutcome::UpToDate),
        ("candidates", StageOutcome::UpToDate),
        ("filter", StageOutcome::UpToDate),
        ("teacher", StageOutcome::UpToDate),
        ("train", StageOutcome::Ran),
        ("evaluate", StageOutcome::Ran),
    ];
    assert_eq!(outcomes(&changed), expected);
    assert!(densify_testkit::tensors(&run.join("train/final/model.safetensors")) != weights);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_recipe_is_refused_before_any_work() {
    let dir = densify_testkit::fresh_dir("recipe", "bad");
    let file = dir.join("r.toml");
    std::fs::write(
        &file,
        format!(
            "model = \"m\"\ndataset = \"nq-utd\"\noutput = \"{}\"\n[filter]\nstages = []\n",
            dir.join("run").display()
        ),
    )
    .unwrap();
    let e = RecipeConfig::from_file(&file).unwrap_err().to_string();
    assert!(
        e.contains("r.toml") && e.contains("filter.stages") && e.contains("fuse"),
        "{e}"
    );
    assert!(!dir.join("run").exists(), "nothing is written");
    let _ = std::fs::remove_dir_all(&dir);
}

/// With `[queries]` (a TSV of real query texts, no labels), the generate stage takes the given
/// queries and every trained list's positive is its teacher's first candidate.
#[test]
fn adapt_with_unlabelled_queries_trains_on_the_teachers_first() {
    let dir = densify_testkit::fresh_dir("recipe", "adapt-queries");
    densify_testkit::tiny_bi_encoder(&dir.join("model"), 12);
    let nq = densify_testkit::shared_data().join("nq-utd");
    let queries = densify_data::beir::read_queries(nq.join("queries.jsonl")).unwrap();
    let tsv: String = queries
        .iter()
        .take(30)
        .map(|q| format!("{}\t{}\n", q.id, q.text))
        .collect();
    std::fs::write(dir.join("log.tsv"), tsv).unwrap();
    let file = recipe_file(&dir, 1e-3);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!(
        "\n[queries]\nfile = \"{}\"\nmax_queries = 24\n",
        dir.join("log.tsv").display()
    ));
    std::fs::write(&file, text).unwrap();
    let config = RecipeConfig::from_file(&file).unwrap();
    let report = run_recipe(&config, &file, &Device::flex(), &mut NoProgress).unwrap();
    assert!(report.table.contains("| test | 80 |"), "{}", report.table);
    let run = dir.join("run");
    let manifest = Manifest::read(&run).unwrap();
    assert_eq!(manifest.stage("generate").unwrap().counts["queries"], 24.0);
    let filter = manifest.stage("filter").unwrap();
    assert_eq!(filter.counts["masked_positives"], 0.0, "no inverse cloze");
    let generated = densify_data::beir::read_queries(run.join("generate/queries.jsonl")).unwrap();
    assert_eq!(generated[0].text, queries[0].text);
    for part in ["train", "dev"] {
        let lists =
            densify_train::example::read_examples(run.join(format!("teacher/{part}.jsonl")))
                .unwrap();
        assert!(!lists.is_empty());
        for e in &lists {
            let positives: Vec<usize> = e.positives().collect();
            assert_eq!(positives.len(), 1);
            let best = e.candidates[positives[0]].teacher.unwrap();
            assert!(
                e.candidates.iter().all(|c| c.teacher.unwrap() <= best),
                "{}: the positive is the teacher's first",
                e.id
            );
        }
    }
    assert_eq!(manifest.stage("train").unwrap().counts["steps"], 3.0);
    let _ = std::fs::remove_dir_all(&dir);
}
