//! `densify rerank` end to end on NQ-UTD: the hybrid teacher at BM25 weight 1 reorders BM25's
//! own top 10 exactly as BM25 does (min-max is monotone), so the reranked run's nDCG@10 is
//! BM25's; and the bad inputs its issue names fail with clear errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use densify_testkit::{fails_with, fresh_dir, repo_root, succeeded, tiny_bi_encoder};

fn densify(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_densify"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap()
}

fn ndcg_at_10(stdout: &str) -> f64 {
    stdout
        .lines()
        .find(|l| l.starts_with("ndcg_cut_10"))
        .and_then(|l| l.split('\t').nth(2))
        .unwrap_or_else(|| panic!("no ndcg_cut_10 in {stdout}"))
        .trim()
        .parse()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn the_hybrid_at_bm25_weight_1_keeps_bm25_s_ranking_and_bad_inputs_are_refused() {
    let dir = fresh_dir("rerank", "hybrid");
    let model = dir.join("tiny");
    tiny_bi_encoder(&model, 3);
    let bm25 = dir.join("bm25.trec");
    let out = densify(&[
        "bm25",
        "--dataset",
        "nq-utd",
        "--k",
        "10",
        "--output",
        s(&bm25),
        "--evaluate",
    ]);
    succeeded(&out);
    let bm25_ndcg = ndcg_at_10(&String::from_utf8_lossy(&out.stdout));
    let reranked = dir.join("reranked.trec");
    let rerank = |run: &Path, model: &Path, depth: &str, output: &Path| {
        densify(&[
            "rerank",
            "--kind",
            "hybrid",
            "--bm25-weight",
            "1",
            "--model",
            s(model),
            "--dataset",
            "nq-utd",
            "--run",
            s(run),
            "--depth",
            depth,
            "--output",
            s(output),
            "--evaluate",
        ])
    };
    let out = rerank(&bm25, &model, "10", &reranked);
    let stderr = succeeded(&out);
    let run_text = std::fs::read_to_string(&bm25).unwrap();
    let lines = run_text.lines().count();
    let queries: std::collections::HashSet<&str> = run_text
        .lines()
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(
        stderr.contains(&format!(
            "rerank: {} queries, {lines} pairs (top 10)",
            queries.len()
        )),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&reranked).unwrap().lines().count(),
        lines
    );
    let ndcg = ndcg_at_10(&String::from_utf8_lossy(&out.stdout));
    assert!(
        (ndcg - bm25_ndcg).abs() < 1e-6,
        "reranked {ndcg}, BM25 {bm25_ndcg}"
    );
    // The corpus encoded once beforehand (`densify encode`) gives the same dense scores as
    // encoding the candidates in the reranker (BM25 weight 0: the bi-encoder alone).
    let embeddings = dir.join("corpus.safetensors");
    succeeded(&densify(&[
        "encode",
        "--model",
        s(&model),
        "--dataset",
        "nq-utd",
        "--what",
        "corpus",
        "--output",
        s(&embeddings),
    ]));
    let dense_only = |cache: Option<&Path>, output: &Path| {
        let mut args = vec![
            "rerank",
            "--kind",
            "hybrid",
            "--bm25-weight",
            "0",
            "--model",
            s(&model),
            "--dataset",
            "nq-utd",
            "--run",
            s(&bm25),
            "--depth",
            "10",
            "--output",
            s(output),
        ];
        if let Some(cache) = cache {
            args.extend(["--corpus-embeddings", s(cache)]);
        }
        succeeded(&densify(&args));
        std::fs::read_to_string(output).unwrap()
    };
    let encoded = dense_only(None, &dir.join("encoded.trec"));
    let cached = dense_only(Some(&embeddings), &dir.join("cached.trec"));
    let fields = |text: &str| -> Vec<(String, String, f64)> {
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f[0].to_owned(), f[2].to_owned(), f[4].parse().unwrap())
            })
            .collect()
    };
    let (a, b) = (fields(&encoded), fields(&cached));
    assert_eq!(a.len(), lines);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.0, &x.1), (&y.0, &y.1));
        assert!((x.2 - y.2).abs() < 1e-4, "{x:?} {y:?}");
    }
    // Cached embeddings only serve the hybrid; refused before any work.
    fails_with(
        &densify(&[
            "rerank",
            "--kind",
            "bi",
            "--model",
            s(&model),
            "--dataset",
            "nq-utd",
            "--run",
            s(&bm25),
            "--corpus-embeddings",
            s(&embeddings),
            "--output",
            s(&dir.join("x.trec")),
        ]),
        &["--corpus-embeddings", "only `--kind hybrid`"],
    );
    // Depth 0.
    fails_with(
        &rerank(&bm25, &model, "0", &dir.join("x.trec")),
        &["--depth", "at least 1"],
    );
    // A run naming a document outside the corpus: its file and line.
    let foreign = dir.join("foreign.trec");
    let mut text = run_text.clone();
    text.push_str(
        &run_text
            .lines()
            .next()
            .unwrap()
            .replacen(" Q0 ", " Q0 not-a-doc-", 1),
    );
    text.push('\n');
    std::fs::write(&foreign, text).unwrap();
    fails_with(
        &rerank(&foreign, &model, "10", &dir.join("x.trec")),
        &[s(&foreign), &format!(":{}", lines + 1), "not-a-doc-"],
    );
    // A model folder that is not a model.
    let empty: PathBuf = dir.join("not-a-model");
    std::fs::create_dir_all(&empty).unwrap();
    fails_with(
        &rerank(&bm25, &empty, "10", &dir.join("x.trec")),
        &[s(&empty)],
    );
    assert!(
        !dir.join("x.trec").exists(),
        "no output from a failed rerank"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
