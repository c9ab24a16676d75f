//! densify-eval against pytrec_eval: reference values made by `scripts/make_eval_fixtures.sh`
//! (pytrec-eval-terrier 0.5.11) must be reproduced to 1e-6 for every measure and every query.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use densify::data::beir::Dataset;
use densify::eval::bm25::{Bm25Config, Bm25Index};
use densify::eval::{Averaging, EvalConfig, Measure, Qrels, Run, evaluate};
use serde_json::Value;

const TOLERANCE: f64 = 1e-6;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/eval")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("densify-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Compares every query and mean of `reference` with densify's evaluation of `run`.
fn assert_matches_reference(reference: &Value, qrels: &Qrels, run: &Run) {
    let per_query = reference["per_query"].as_object().unwrap();
    let names: Vec<&String> = reference["means"].as_object().unwrap().keys().collect();
    let measures: Vec<Measure> = names.iter().map(|n| n.parse().unwrap()).collect();
    for (averaging, key) in [
        (Averaging::RunAndQrels, "means"),
        (Averaging::AllQrels, "means_all_qrels"),
    ] {
        let config = EvalConfig {
            averaging,
            ..Default::default()
        };
        let evaluation = evaluate(qrels, run, &measures, config).unwrap();
        assert_eq!(evaluation.evaluated(), per_query.len(), "evaluated queries");
        let mut worst: BTreeMap<String, f64> = BTreeMap::new();
        for (query, values) in per_query {
            for (name, &measure) in names.iter().zip(&measures) {
                let want = values[name.as_str()].as_f64().unwrap();
                let got = evaluation
                    .query(query, measure)
                    .unwrap_or_else(|| panic!("{query} missing"));
                assert!(
                    (got - want).abs() <= TOLERANCE,
                    "{name} of query {query}: densify {got}, pytrec_eval {want}"
                );
                let w = worst.entry((*name).clone()).or_default();
                *w = w.max((got - want).abs());
            }
        }
        for (name, &measure) in names.iter().zip(&measures) {
            let want = reference[key][name.as_str()].as_f64().unwrap();
            let got = evaluation.mean(measure).unwrap();
            assert!(
                (got - want).abs() <= TOLERANCE,
                "{key} {name}: densify {got}, pytrec_eval {want}"
            );
        }
    }
}

fn bm25_run(dataset: &str) -> (Qrels, Run) {
    let dataset = Dataset::find(dataset).expect("the BEIR datasets live in ../shared/data");
    let corpus = dataset.corpus().unwrap();
    let texts: Vec<(String, String)> = corpus
        .iter()
        .map(|d| (d.id.clone(), d.full_text()))
        .collect();
    let index = Bm25Index::build(
        texts.iter().map(|(i, t)| (i.as_str(), t.as_str())),
        Bm25Config::default(),
    );
    let (queries, qrels) = dataset.split_queries("test").unwrap();
    let pairs: Vec<(&str, &str)> = queries
        .iter()
        .map(|q| (q.id.as_str(), q.text.as_str()))
        .collect();
    // Through the file, exactly as the reference script saw it.
    let path = temp_file(&format!(
        "{}.trec",
        dataset.root().file_name().unwrap().to_string_lossy()
    ));
    index
        .search_all(&pairs, 1000)
        .write_trec(&path, "densify-bm25")
        .unwrap();
    (qrels, Run::from_file(&path).unwrap())
}

fn check_dataset(name: &str) {
    let reference = fixture(&format!("{name}-test-bm25.json"));
    let (qrels, run) = bm25_run(name);
    let lines: usize = run.iter().map(|(_, d)| d.len()).sum();
    assert_eq!(
        lines as u64,
        reference["run_lines"].as_u64().unwrap(),
        "the BM25 run differs from the one the fixture was made from; if BM25 changed on \
         purpose, rerun scripts/make_eval_fixtures.sh"
    );
    assert_matches_reference(&reference, &qrels, &run);
}

#[test]
fn scifact_bm25_run_matches_pytrec_eval() {
    check_dataset("scifact");
}

#[test]
fn nfcorpus_bm25_run_matches_pytrec_eval() {
    check_dataset("nfcorpus");
}

#[test]
fn edge_cases_match_pytrec_eval() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval/edge");
    let qrels = Qrels::from_file(dir.join("qrels.txt")).unwrap();
    let run = Run::from_file(dir.join("run.trec")).unwrap();
    assert_matches_reference(&fixture("edge/reference.json"), &qrels, &run);
}
