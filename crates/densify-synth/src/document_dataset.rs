//! One call from a split's queries to graded synthetic documents: sample the queries, ask the
//! LLM for one document per relevance level (resuming from what the output folder holds), and
//! export the BEIR dataset and `train.jsonl`. `densify generate documents` and the `graded`
//! recipe call it.

use std::path::Path;

use densify_core::{Config, Progress};
use densify_data::Dataset;

use crate::SynthConfig;
use crate::error::{Result, SynthError};
use crate::generate::{GenerationSummary, export_documents, generate_documents, sample_queries};
use crate::query_dataset::{http_summary, refuse_dataset_folder};

/// What [`generate_document_dataset`] did.
#[derive(Debug, Clone)]
pub struct DocumentDatasetReport {
    /// The generation's counts (requested, resumed, kept and dropped per level).
    pub summary: GenerationSummary,
    /// Queries documents were asked for.
    pub queries: usize,
    /// Complete graded lists written to `train.jsonl`.
    pub lists: usize,
    /// The LLM endpoint and model.
    pub generator: String,
    /// HTTP requests sent to the LLM.
    pub requests: u64,
    /// The LLM client's traffic as one line (requests, retries, timeouts, answers in the
    /// wrong shape).
    pub http: String,
}

/// Writes graded documents for the queries of `dataset`'s `split` into `output` (created; an
/// existing one is resumed: rows already in `generated_documents.jsonl` are not asked again)
/// as `config` says, with `generate.toml` holding the configuration. `log` gets one line per
/// retry (from the request threads); `progress` a piece `documents` advanced after every
/// answer.
///
/// Errors before anything is written when `output` is the dataset's own folder or `config`
/// names no LLM (inverse cloze writes no documents).
pub fn generate_document_dataset(
    dataset: &Dataset,
    config: &SynthConfig,
    split: &str,
    output: &Path,
    log: impl Fn(&str) + Send + Sync + 'static,
    progress: &mut dyn Progress,
) -> Result<DocumentDatasetReport> {
    refuse_dataset_folder(dataset, output)?;
    config.require_llm("generating documents")?;
    let llm = config.llm_generator(dataset)?;
    llm.client().set_log(log);
    std::fs::create_dir_all(output).map_err(|e| SynthError::io(output, e))?;
    let settings = output.join("generate.toml");
    densify_core::write_atomic(&settings, config.to_toml_string().as_bytes())
        .map_err(|e| SynthError::io(&settings, e))?;
    let (queries, _) = dataset.split_queries(split)?;
    let chosen = sample_queries(&queries, &config.documents);
    let summary = generate_documents(
        &chosen,
        &llm,
        &config.documents,
        &config.clean,
        config.llm.concurrency,
        output,
        progress,
    )?;
    let lists = export_documents(&output.join("generated_documents.jsonl"), output)?;
    use std::sync::atomic::Ordering::Relaxed;
    Ok(DocumentDatasetReport {
        summary,
        queries: chosen.len(),
        lists,
        generator: format!("{} ({})", llm.client().url(), config.llm.model),
        requests: llm.client().stats.requests.load(Relaxed),
        http: http_summary(&llm),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_inverse_cloze_and_the_dataset_folder_before_writing() {
        let dir = densify_testkit::fresh_dir("synth", "document-dataset");
        densify_testkit::tiny_topics_dataset(&dir);
        let dataset = Dataset::open(&dir).unwrap();
        let cloze = SynthConfig {
            generator: crate::config::GeneratorKind::InverseCloze,
            ..SynthConfig::default()
        };
        let out = dir.join("out");
        let e = generate_document_dataset(
            &dataset,
            &cloze,
            "train",
            &out,
            |_| {},
            &mut densify_core::NoProgress,
        )
        .unwrap_err();
        assert!(matches!(e, SynthError::NeedsLlm { .. }), "{e}");
        assert!(!out.exists(), "nothing written");
        let e = generate_document_dataset(
            &dataset,
            &cloze,
            "train",
            &dir,
            |_| {},
            &mut densify_core::NoProgress,
        )
        .unwrap_err();
        assert!(matches!(e, SynthError::OutputIsInput { .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
