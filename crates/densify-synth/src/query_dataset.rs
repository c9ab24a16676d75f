//! One call from a corpus to a synthetic BEIR dataset: sample passages, generate queries
//! (resuming from what the output folder holds), export `corpus.jsonl`, `queries.jsonl` and
//! `qrels/train.tsv`. `densify generate queries` and the recipes call it.

use std::path::Path;

use densify_core::Config;
use densify_data::Dataset;

use crate::config::GeneratorKind;
use crate::error::{Result, SynthError};
use crate::generate::{GenerationSummary, export_queries, generate_queries, sample_passages};
use crate::{Generator, QueryType, SynthConfig};

/// What [`generate_query_dataset`] did.
#[derive(Debug, Clone)]
pub struct QueryDatasetReport {
    /// The generation's counts (requested, resumed, kept and dropped per type).
    pub summary: GenerationSummary,
    /// Queries in the exported dataset.
    pub exported: usize,
    /// `inverse_cloze`, or the LLM endpoint and model.
    pub generator: String,
    /// HTTP requests sent to the LLM (0 without one).
    pub requests: u64,
    /// The LLM client's traffic as one line (requests, retries, timeouts, answers in the
    /// wrong shape); none without an LLM.
    pub http: Option<String>,
}

/// Writes a synthetic query dataset for `dataset`'s corpus into `output` (created; an existing
/// one is resumed: rows already in `generated_queries.jsonl` are not asked again) as `config`
/// says, with `generate.toml` holding the resolved configuration. Without an LLM every query
/// type would be the same cropped sentence, so inverse cloze asks the `random` type only when
/// the config keeps the default types. `log` gets one line per retry (from the request
/// threads); `progress` a piece `queries` advanced after every answer.
///
/// An error when `output` is the dataset's own folder, before anything is written.
pub fn generate_query_dataset(
    dataset: &Dataset,
    config: &SynthConfig,
    output: &Path,
    log: impl Fn(&str) + Send + Sync + 'static,
    progress: &mut dyn densify_core::Progress,
) -> Result<QueryDatasetReport> {
    refuse_dataset_folder(dataset, output)?;
    let mut config = config.clone();
    let kind = config.resolved_kind();
    if kind == GeneratorKind::InverseCloze && config.queries.types == QueryType::ALL {
        config.queries.types = vec![QueryType::Random];
    }
    let llm = match kind {
        GeneratorKind::Openai => Some(config.llm_generator(dataset)?),
        _ => None,
    };
    let cloze = config.inverse_cloze_generator();
    let (generator, concurrency, name): (&dyn Generator, usize, String) = match &llm {
        Some(g) => {
            g.client().set_log(log);
            let name = format!("{} ({})", g.client().url(), config.llm.model);
            (g, config.llm.concurrency, name)
        }
        None => (&cloze, 1, "inverse_cloze".to_owned()),
    };
    std::fs::create_dir_all(output).map_err(|e| SynthError::io(output, e))?;
    let settings = output.join("generate.toml");
    densify_core::write_atomic(&settings, config.to_toml_string().as_bytes())
        .map_err(|e| SynthError::io(&settings, e))?;
    // The corpus is read once: it gives the passages and, afterwards, the exported corpus.
    let corpus = dataset.corpus()?;
    let passages = sample_passages(&corpus, &config.queries);
    let summary = generate_queries(
        &passages,
        generator,
        &config.queries,
        &config.clean,
        concurrency,
        output,
        progress,
    )?;
    let exported = export_queries(&output.join("generated_queries.jsonl"), &corpus, output)?;
    use std::sync::atomic::Ordering::Relaxed;
    let requests = llm
        .as_ref()
        .map_or(0, |g| g.client().stats.requests.load(Relaxed));
    let http = llm.as_ref().map(http_summary);
    Ok(QueryDatasetReport {
        summary,
        exported,
        generator: name,
        requests,
        http,
    })
}

/// An LLM client's traffic as one line: requests, retries, timeouts, answers in the wrong
/// shape.
pub fn http_summary(generator: &crate::LlmGenerator) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let s = &generator.client().stats;
    format!(
        "http: {} request(s), {} retried, {} timed out, {} answer(s) in the wrong shape",
        s.requests.load(Relaxed),
        s.retries.load(Relaxed),
        s.timeouts.load(Relaxed),
        s.malformed.load(Relaxed)
    )
}

/// Errors when `output` is `dataset`'s own folder (its corpus would be replaced).
pub fn refuse_dataset_folder(dataset: &Dataset, output: &Path) -> Result<()> {
    let same = match (dataset.root().canonicalize(), output.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(SynthError::OutputIsInput {
            path: output.to_path_buf(),
        });
    }
    Ok(())
}
