//! The before/after table every recipe run ends with: the base model and the adapted model,
//! side by side, on every split of the dataset with qrels, and on noised queries of one split
//! (paper A's robustness figure), each by exact search of the whole corpus.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use densify_core::Progress;
use densify_data::{Dataset, Embeddings};
use densify_eval::search::{ExactSearchConfig, search_embeddings};
use densify_eval::{Measure, Qrels, evaluate};
use densify_model::{BiEncoder, Side};
use densify_noise::{NoiseOp, WordVocab, noisy_queries};
use serde::{Deserialize, Serialize};

use crate::config::EvaluateConfig;
use crate::error::{RecipeError, Result};

/// One model on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// `base` or `adapted`.
    pub model: String,
    /// The split (`test`), or `test+noise` for its noised queries.
    pub split: String,
    /// Queries evaluated.
    pub queries: usize,
    /// Mean nDCG@10.
    pub ndcg_at_10: f64,
    /// Mean Recall@100.
    pub recall_at_100: f64,
}

/// The splits with qrels in `dataset` (`qrels/*.tsv`), sorted.
pub fn qrels_splits(dataset: &Dataset) -> Result<Vec<String>> {
    let dir = dataset.root().join("qrels");
    let mut splits: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| RecipeError::io(&dir, e))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".tsv").map(str::to_owned)
        })
        .collect();
    splits.sort();
    Ok(splits)
}

/// The splits a recipe's evaluate stage scores: `evaluate.splits` when set, else every split
/// of `dataset` with qrels except `labelled` (the split a recipe trained on); none left is an
/// error that says so.
pub fn evaluation_splits(
    config: &crate::RecipeConfig,
    dataset: &Dataset,
    labelled: Option<&str>,
) -> Result<Vec<String>> {
    if !config.evaluate.splits.is_empty() {
        return Ok(config.evaluate.splits.clone());
    }
    let splits: Vec<String> = qrels_splits(dataset)?
        .into_iter()
        .filter(|s| Some(s.as_str()) != labelled)
        .collect();
    if let (true, Some(labelled)) = (splits.is_empty(), labelled) {
        return Err(RecipeError::Empty {
            stage: "evaluate",
            message: format!(
                "the dataset has no qrels split besides the labelled `{labelled}` to evaluate \
                 on (set `evaluate.splits`)"
            ),
        });
    }
    Ok(splits)
}

/// A model to evaluate: its name in the table, its folder and, when already encoded by an
/// earlier stage with this very model, its corpus embeddings.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// `base` or `adapted`.
    pub name: String,
    /// The model folder.
    pub folder: PathBuf,
    /// Corpus embeddings made by this model (e.g. the candidates stage's).
    pub corpus_embeddings: Option<PathBuf>,
}

/// Evaluates every model on every split of `splits` (and the noised split), nDCG@10 and
/// Recall@100 over an exact search of `dataset`'s whole corpus.
pub fn evaluate_models(
    dataset: &Dataset,
    models: &[Candidate],
    splits: &[String],
    config: &EvaluateConfig,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<Vec<ResultRow>> {
    let corpus = dataset.corpus_items()?;
    let mut split_queries = Vec::new();
    for split in splits {
        let (queries, qrels) = dataset.split_queries(split)?;
        let items: Vec<(String, String)> = queries.into_iter().map(|q| (q.id, q.text)).collect();
        split_queries.push((split.clone(), items, qrels));
    }
    if config.noise_p > 0.0
        && let Some((_, items, qrels)) = split_queries
            .iter()
            .find(|(s, _, _)| *s == config.noised_split)
            .cloned()
    {
        let op = NoiseOp::Sequential { p: config.noise_p };
        let vocab = WordVocab::from_texts("[MASK]", items.iter().map(|(_, t)| t.as_str()));
        let noised = noisy_queries(
            items.iter().map(|(id, t)| (id.as_str(), t.as_str())),
            &op,
            config.noise_seed,
            &vocab,
        );
        split_queries.push((format!("{}+noise", config.noised_split), noised, qrels));
    }
    let mut rows = Vec::new();
    for model in models {
        let encoder = BiEncoder::load(&model.folder, device, |_| {})?;
        let cached = model
            .corpus_embeddings
            .as_ref()
            .filter(|p| p.is_file())
            .map(Embeddings::read)
            .transpose()?
            .filter(|e| e.len() == corpus.len());
        let corpus_embeddings = match cached {
            Some(e) => e,
            None => encode(
                &encoder,
                &corpus,
                Side::Passage,
                config.batch_size,
                device,
                progress,
                &format!("{}: corpus", model.name),
            )?,
        };
        for (split, items, qrels) in &split_queries {
            let label = format!("{}: {split} queries", model.name);
            let queries = encode(
                &encoder,
                items,
                Side::Query,
                config.batch_size,
                device,
                progress,
                &label,
            )?;
            let (ndcg, recall) =
                search_and_score(&queries, &corpus_embeddings, qrels, &encoder, device)?;
            rows.push(ResultRow {
                model: model.name.clone(),
                split: split.clone(),
                queries: items.len(),
                ndcg_at_10: ndcg,
                recall_at_100: recall,
            });
        }
    }
    Ok(rows)
}

/// The evaluate stage every recipe ends with: [`evaluate_models`], each row's nDCG@10 in the
/// stage's counts, and `results.json` and `results.md` written to `folder`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn evaluate_stage(
    dataset: &Dataset,
    models: &[Candidate],
    splits: &[String],
    config: &EvaluateConfig,
    device: &Device,
    folder: &Path,
    counts: &mut crate::driver::Counts,
    progress: &mut dyn Progress,
) -> Result<()> {
    let rows = evaluate_models(dataset, models, splits, config, device, progress)?;
    for r in &rows {
        counts.insert(format!("{}_{}_ndcg10", r.model, r.split), r.ndcg_at_10);
    }
    let json = serde_json::to_string_pretty(&rows).expect("rows serialise") + "\n";
    crate::adapt::write(&folder.join("results.json"), json.as_bytes())?;
    crate::adapt::write(&folder.join("results.md"), markdown_table(&rows).as_bytes())
}

/// Encodes `(id, text)` items of one side with a progress bar.
///
/// # Shapes
/// One row of `encoder.dim()` values per item, in item order.
pub fn encode(
    encoder: &BiEncoder,
    items: &[(String, String)],
    side: Side,
    batch_size: usize,
    device: &Device,
    progress: &mut dyn Progress,
    label: &str,
) -> Result<Embeddings> {
    progress.start(label, Some(items.len() as u64));
    let embeddings = encoder.encode_items(items, side, batch_size, device, &mut |n| {
        progress.set(n as u64)
    })?;
    progress.finish();
    Ok(embeddings)
}

/// nDCG@10 and Recall@100 of the top 100 of an exact search.
fn search_and_score(
    queries: &Embeddings,
    corpus: &Embeddings,
    qrels: &Qrels,
    encoder: &BiEncoder,
    device: &Device,
) -> Result<(f64, f64)> {
    let search = ExactSearchConfig::new()
        .with_k(100)
        .with_similarity(encoder.settings.similarity);
    let run = search_embeddings(queries, corpus, search, device)?;
    let measures = [Measure::NdcgCut(10), Measure::Recall(100)];
    let evaluation = evaluate(qrels, &run, &measures, Default::default())?;
    Ok((
        evaluation.mean(Measure::NdcgCut(10)).unwrap_or(0.0),
        evaluation.mean(Measure::Recall(100)).unwrap_or(0.0),
    ))
}

/// The table as Markdown: one row per split, every model side by side (in the order of
/// `rows`, `base` first), with the change of `adapted` (or else the first model after
/// `base`) over `base`.
pub fn markdown_table(rows: &[ResultRow]) -> String {
    let mut splits: Vec<&str> = Vec::new();
    let mut models: Vec<&str> = Vec::new();
    for r in rows {
        if !splits.contains(&r.split.as_str()) {
            splits.push(&r.split);
        }
        if !models.contains(&r.model.as_str()) {
            models.push(&r.model);
        }
    }
    let find =
        |model: &str, split: &str| rows.iter().find(|r| r.model == model && r.split == split);
    // The change column: `adapted` against `base`, or the first model after `base` when no
    // model is called `adapted` (the graded recipe's students are `graded`, `infonce`, `mixed`).
    let changed = if models.contains(&"adapted") {
        "adapted"
    } else {
        models
            .iter()
            .copied()
            .find(|m| *m != "base")
            .unwrap_or("base")
    };
    let mut out = String::from("| split | queries |");
    for m in &models {
        out += &format!(" {m} nDCG@10 |");
    }
    out += " change |";
    for m in &models {
        out += &format!(" {m} Recall@100 |");
    }
    out += &format!("\n|{}\n", "---|".repeat(2 * models.len() + 3));
    for split in splits {
        let found: Option<Vec<&ResultRow>> = models.iter().map(|m| find(m, split)).collect();
        let (Some(found), Some(base), Some(adapted)) =
            (found, find("base", split), find(changed, split))
        else {
            continue;
        };
        out += &format!("| {split} | {} |", base.queries);
        for r in &found {
            out += &format!(" {:.4} |", r.ndcg_at_10);
        }
        out += &format!(" {:+.4} |", adapted.ndcg_at_10 - base.ndcg_at_10);
        for r in &found {
            out += &format!(" {:.4} |", r.recall_at_100);
        }
        out += "\n";
    }
    out
}

/// Reads the `results.json` an evaluate stage wrote.
pub fn read_results(path: &Path) -> Result<Vec<ResultRow>> {
    let text = densify_core::read_regular_to_string(path).map_err(|e| RecipeError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| RecipeError::Results {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_puts_base_and_adapted_side_by_side() {
        let row = |model: &str, split: &str, ndcg| ResultRow {
            model: model.into(),
            split: split.into(),
            queries: 3,
            ndcg_at_10: ndcg,
            recall_at_100: 0.5,
        };
        let table = markdown_table(&[row("base", "test", 0.25), row("adapted", "test", 0.375)]);
        assert!(
            table.contains("| test | 3 | 0.2500 | 0.3750 | +0.1250 | 0.5000 | 0.5000 |"),
            "{table}"
        );
        assert!(
            table.starts_with(
                "| split | queries | base nDCG@10 | adapted nDCG@10 | change | base Recall@100 \
                 | adapted Recall@100 |\n|---|---|---|---|---|---|---|\n"
            ),
            "{table}"
        );
        // Without an `adapted` model (the graded recipe's students) the change is the first
        // student's over base, and no row goes missing.
        let table = markdown_table(&[
            row("base", "test", 0.25),
            row("graded", "test", 0.5),
            row("infonce", "test", 0.375),
        ]);
        assert!(
            table.contains(
                "| test | 3 | 0.2500 | 0.5000 | 0.3750 | +0.2500 | 0.5000 | 0.5000 | 0.5000 |"
            ),
            "{table}"
        );
        // A third model (noisy self-training's labels-only teacher) gets its own columns.
        let table = markdown_table(&[
            row("base", "test", 0.25),
            row("labels", "test", 0.5),
            row("adapted", "test", 0.375),
        ]);
        assert!(
            table.contains(
                "| test | 3 | 0.2500 | 0.5000 | 0.3750 | +0.1250 | 0.5000 | 0.5000 | 0.5000 |"
            ),
            "{table}"
        );
        assert!(table.contains("| labels nDCG@10 |"), "{table}");
    }
}
