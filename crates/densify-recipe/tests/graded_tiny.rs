//! The `graded` recipe end to end on a tiny random bi-encoder and NQ-UTD with a real llama.cpp
//! server (SmolLM2-135M-Instruct, started and stopped by the recipe): documents at four
//! levels for 3 queries, the graded, binary and mixed lists, three trainings and the
//! four-model table. NQ-UTD has only a test split, so its test queries stand in for the
//! labelled split: the mechanics, not a quality figure.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use densify_core::{Config, NoProgress};
use densify_recipe::driver::StageOutcome;
use densify_recipe::{Manifest, RecipeConfig, run_recipe};

fn recipe_file(dir: &Path, mix_seed: u64) -> PathBuf {
    let path = dir.join("graded.toml");
    std::fs::write(
        &path,
        format!(
            "recipe = \"graded\"\nmodel = \"{model}\"\ndataset = \"{data}\"\noutput = \"{out}\"\n\n\
             [server]\nbinary = \"{binary}\"\nmodel = \"{gguf}\"\n\n\
             [generate.llm]\nmax_tokens = 24\n\n\
             [generate.documents]\nmax_queries = 3\n\n\
             [graded]\nsplit = \"test\"\nbm25_depth = 50\nseed = {mix_seed}\n\n\
             [train]\nbatch_size = 2\nmax_steps = 1\ncheckpoint_every = 1\n\n\
             [baseline]\nbatch_size = 2\nmax_steps = 1\n\n\
             [evaluate]\nsplits = [\"test\"]\nnoise_p = 0.0\n",
            model = dir.join("model").display(),
            data = densify_testkit::shared_data().join("nq-utd").display(),
            out = dir.join("run").display(),
            binary = densify_testkit::llama_server_binary().display(),
            gguf = densify_testkit::llama_model().display(),
        ),
    )
    .unwrap();
    path
}

#[test]
fn graded_documents_train_three_students_then_only_what_changed_reruns() {
    let dir = densify_testkit::fresh_dir("recipe", "graded");
    densify_testkit::tiny_bi_encoder(&dir.join("model"), 13);
    let device = Device::flex();
    let file = recipe_file(&dir, 42);
    let config = RecipeConfig::from_file(&file).unwrap();
    let report = run_recipe(&config, &file, &device, &mut NoProgress).unwrap();
    let names: Vec<&str> = report.stages.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "generate", "lists", "train", "baseline", "mixed", "evaluate"
        ]
    );
    let models: Vec<&str> = report.results.iter().map(|r| r.model.as_str()).collect();
    assert_eq!(models, ["base", "graded", "infonce", "mixed"]);
    assert!(report.table.contains("| test | "), "{}", report.table);
    let run = dir.join("run");
    let manifest = Manifest::read(&run).unwrap();
    let generate = &manifest.stage("generate").unwrap().counts;
    assert_eq!(generate["requested"], 12.0, "{generate:?}");
    assert!(generate["llm_requests"] >= 12.0, "{generate:?}");
    let graded = densify_train::example::read_examples(run.join("lists/graded.jsonl")).unwrap();
    assert!(!graded.is_empty(), "SmolLM2 kept no complete list");
    for list in &graded {
        let labels: Vec<f64> = list.candidates.iter().map(|c| c.label.unwrap()).collect();
        assert_eq!(labels, [3.0, 2.0, 1.0, 0.0], "{}", list.id);
    }
    let binary = densify_train::example::read_examples(run.join("lists/binary.jsonl")).unwrap();
    assert_eq!(binary.len(), 2 * graded.len());
    let mixed = densify_train::example::read_examples(run.join("lists/mixed.jsonl")).unwrap();
    let qrels = densify_data::Dataset::open(densify_testkit::shared_data().join("nq-utd"))
        .unwrap()
        .qrels("test")
        .unwrap();
    for list in &mixed {
        assert_eq!(list.candidates.len(), 7);
        let judged = qrels.query(&list.query_id).unwrap();
        assert!(
            judged.contains_key(&list.candidates[0].doc_id),
            "the real positive first"
        );
        for negative in &list.candidates[5..] {
            assert!(!judged.contains_key(&negative.doc_id));
            assert_eq!(negative.label, Some(1.0));
        }
    }
    // The documents are texts the trainer finds beside the corpus.
    let corpus = densify_data::Dataset::open(run.join("lists"))
        .unwrap()
        .corpus_items()
        .unwrap();
    assert!(
        corpus
            .iter()
            .any(|(id, _)| id == &graded[0].candidates[0].doc_id)
    );

    // Another draw of BM25 negatives: the documents are kept, the lists and students redone
    // (the graded and binary lists come out the same, so their students' inputs match).
    let mixed_model = densify_testkit::tensors(&run.join("mixed/final/model.safetensors"));
    let file = recipe_file(&dir, 7);
    let config = RecipeConfig::from_file(&file).unwrap();
    let changed = run_recipe(&config, &file, &device, &mut NoProgress).unwrap();
    let redrawn = densify_train::example::read_examples(run.join("lists/mixed.jsonl")).unwrap();
    assert!(redrawn != mixed, "other BM25 negatives");
    // The evaluation reads the students' weights: it runs again only if they changed (one
    // AdamW step moves each weight by about the learning rate times the gradient's sign,
    // which other negatives need not flip).
    let evaluate =
        if densify_testkit::tensors(&run.join("mixed/final/model.safetensors")) == mixed_model {
            StageOutcome::UpToDate
        } else {
            StageOutcome::Ran
        };
    assert_eq!(
        changed.outcomes(),
        [
            ("generate", StageOutcome::UpToDate),
            ("lists", StageOutcome::Ran),
            ("train", StageOutcome::UpToDate),
            ("baseline", StageOutcome::UpToDate),
            ("mixed", StageOutcome::Ran),
            ("evaluate", evaluate),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_graded_recipe_without_an_llm_is_refused_before_any_work() {
    if std::env::var_os("OPENAI_BASE_URL").is_some() {
        return; // an LLM is configured in this environment
    }
    let dir = densify_testkit::fresh_dir("recipe", "graded-bad");
    let file = dir.join("r.toml");
    let head = format!(
        "recipe = \"graded\"\nmodel = \"m\"\ndataset = \"nq-utd\"\noutput = \"{}\"\n",
        dir.join("run").display()
    );
    std::fs::write(&file, &head).unwrap();
    let config = RecipeConfig::from_file(&file).unwrap();
    let e = run_recipe(&config, &file, &Device::flex(), &mut NoProgress)
        .unwrap_err()
        .to_string();
    assert!(e.contains("r.toml") && e.contains("[server]"), "{e}");
    std::fs::write(
        &file,
        format!("{head}[generate]\ngenerator = \"inverse_cloze\"\n"),
    )
    .unwrap();
    let e = RecipeConfig::from_file(&file).unwrap_err().to_string();
    assert!(e.contains("generate.generator"), "{e}");
    std::fs::write(
        &file,
        format!("{head}[generate.documents]\nlevels = [3, 2]\n"),
    )
    .unwrap();
    let e = RecipeConfig::from_file(&file).unwrap_err().to_string();
    assert!(e.contains("generate.documents.levels"), "{e}");
    assert!(!dir.join("run").exists(), "nothing is written");
    let _ = std::fs::remove_dir_all(&dir);
}
