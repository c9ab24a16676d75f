//! Argument groups shared by several commands, declared once.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use clap::ValueEnum;
use densify::core::Similarity;
use densify_data::Dataset;
use densify_data::{Embeddings, Qrels, Run};
use densify_model::{BiEncoder, Pooling, Side};

/// The result of a command.
pub type CliResult = Result<(), Box<dyn std::error::Error>>;

/// Evaluates `run` on `qrels` with the default measures and prints trec_eval's columns (what
/// `--evaluate` does after a search).
pub fn print_default_evaluation(qrels: &Qrels, run: &Run) -> CliResult {
    let measures = densify_eval::parse_measures::<&str>(&[])?;
    let evaluation = densify_eval::evaluate(qrels, run, &measures, Default::default())?;
    print!("{}", evaluation.to_trec_text(false));
    Ok(())
}

/// The compute device.
#[derive(clap::Args)]
pub struct DeviceArgs {
    #[arg(long, default_value = "cpu", value_parser = parse_device_name, help = device_help())]
    pub device: String,
}

/// The `--device` help: the devices this binary was built with, and the features for the rest.
fn device_help() -> String {
    let missing: Vec<&str> = ["flex", "ndarray", "tch", "wgpu", "cuda"]
        .into_iter()
        .filter(|f| match *f {
            "flex" => !cfg!(feature = "flex"),
            "ndarray" => !cfg!(feature = "ndarray"),
            "tch" => !cfg!(feature = "tch"),
            "wgpu" => !cfg!(feature = "wgpu"),
            _ => !cfg!(feature = "cuda"),
        })
        .collect();
    let mut help = format!(
        "Compute device: {} (this binary)",
        densify::device::available().join(", ")
    );
    if !missing.is_empty() {
        help.push_str(&format!(
            "; others need a build with --features {}",
            missing.join("|")
        ));
    }
    help
}

pub(crate) fn parse_device_name(name: &str) -> Result<String, String> {
    densify::device::parse(name)
        .map(|_| name.to_owned())
        .map_err(|e| {
            format!(
                "{e}; this binary has: {}",
                densify::device::available().join(", ")
            )
        })
}

impl DeviceArgs {
    /// The burn device.
    pub fn device(&self) -> Result<Device, String> {
        densify::device::parse(&self.device)
    }
}

/// The dataset and split a command reads.
#[derive(clap::Args)]
pub struct DatasetArgs {
    /// A BEIR dataset name (found in $DENSIFY_DATA, ./data or ../shared/data) or folder.
    #[arg(long)]
    pub dataset: String,
    /// The qrels split whose queries are used.
    #[arg(long, default_value = "test")]
    pub split: String,
}

impl DatasetArgs {
    /// Opens the dataset.
    pub fn open(&self) -> Result<Dataset, densify_data::DataError> {
        Dataset::find(&self.dataset)
    }

    /// The files a command reads from `dataset` (corpus, queries, this split's qrels), which no
    /// output may replace.
    pub fn input_files(&self, dataset: &Dataset) -> Vec<PathBuf> {
        dataset.input_files(Some(&self.split))
    }
}

/// Where a command writes its result.
#[derive(clap::Args)]
pub struct OutputArgs {
    /// Where to write the result (written atomically: a failure leaves an existing file as it
    /// was).
    #[arg(long)]
    pub output: PathBuf,
}

impl OutputArgs {
    /// Checks, before any work, that the output's folder exists and that it is none of
    /// `inputs`.
    pub fn check<'a>(&self, inputs: impl IntoIterator<Item = &'a Path>) -> CliResult {
        densify::core::output_folder(&self.output)
            .map_err(|e| format!("--output {}: {e}", self.output.display()))?;
        if self.output.is_dir() {
            return Err(format!("--output {}: is a folder", self.output.display()).into());
        }
        densify::core::refuse_special_destination(&self.output)
            .map_err(|e| format!("--output: {e}"))?;
        densify::core::refuse_overwriting_input(&self.output, inputs)
            .map_err(|e| format!("--output: {e}"))?;
        Ok(())
    }
}

/// The files of a model folder, two levels deep (`config.json`, `1_Pooling/config.json`, ...).
pub fn model_files(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return files;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            let inner = std::fs::read_dir(&path).into_iter().flatten().flatten();
            files.extend(inner.map(|e| e.path()).filter(|p| p.is_file()));
        } else {
            files.push(path);
        }
    }
    files
}

/// `--similarity` values.
#[derive(Clone, Copy, ValueEnum)]
pub enum SimilarityArg {
    /// Cosine similarity.
    Cosine,
    /// Dot product.
    Dot,
    /// Negative Euclidean distance.
    Euclidean,
    /// Negative Manhattan distance.
    Manhattan,
}

impl From<SimilarityArg> for Similarity {
    fn from(s: SimilarityArg) -> Self {
        match s {
            SimilarityArg::Cosine => Similarity::Cosine,
            SimilarityArg::Dot => Similarity::Dot,
            SimilarityArg::Euclidean => Similarity::Euclidean,
            SimilarityArg::Manhattan => Similarity::Manhattan,
        }
    }
}

/// `--pooling` values.
#[derive(Clone, Copy, ValueEnum)]
pub enum PoolingArg {
    /// The [CLS] state.
    Cls,
    /// Mean over tokens.
    Mean,
    /// Max over tokens.
    Max,
    /// Sum over tokens / sqrt(tokens).
    MeanSqrtLen,
    /// Position-weighted mean.
    WeightedMean,
    /// The last token's state.
    LastToken,
}

impl From<PoolingArg> for Pooling {
    fn from(p: PoolingArg) -> Self {
        match p {
            PoolingArg::Cls => Pooling::Cls,
            PoolingArg::Mean => Pooling::Mean,
            PoolingArg::Max => Pooling::Max,
            PoolingArg::MeanSqrtLen => Pooling::MeanSqrtLen,
            PoolingArg::WeightedMean => Pooling::WeightedMean,
            PoolingArg::LastToken => Pooling::LastToken,
        }
    }
}

pub(crate) fn positive_usize(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A bi-encoder and how to run it.
#[derive(clap::Args)]
pub struct ModelArgs {
    /// A Hugging Face / sentence-transformers model folder (config.json, model.safetensors,
    /// tokenizer.json), e.g. the output of scripts/fetch_minilm.sh.
    #[arg(long)]
    pub model: PathBuf,
    /// Texts per batch (batches hold texts of similar length).
    #[arg(long, default_value_t = 32, value_parser = positive_usize)]
    pub batch_size: usize,
    /// Token budget of a batch: a batch also closes before its padded size (texts x longest)
    /// passes this many tokens, so long texts get smaller batches. Default: no budget.
    #[arg(long, value_parser = positive_usize)]
    pub max_batch_tokens: Option<usize>,
    /// Max tokens per text on both sides (queries and passages). Default: the model's
    /// max_seq_length, else 512. `--query-max-length` / `--passage-max-length` override a side.
    #[arg(long, value_parser = positive_usize)]
    pub max_length: Option<usize>,
    /// Max tokens per query (overrides --max-length for queries).
    #[arg(long, value_parser = positive_usize)]
    pub query_max_length: Option<usize>,
    /// Max tokens per passage (overrides --max-length for passages).
    #[arg(long, value_parser = positive_usize)]
    pub passage_max_length: Option<usize>,
    /// Text put before every query (e5: "query: "). Default: the model's query prompt.
    #[arg(long)]
    pub query_prefix: Option<String>,
    /// Text put before every passage (e5: "passage: "). Default: the model's passage prompt.
    #[arg(long)]
    pub passage_prefix: Option<String>,
    /// Pooling. Default: the model's 1_Pooling/config.json, else mean.
    #[arg(long, value_enum)]
    pub pooling: Option<PoolingArg>,
    /// Similarity of queries and passages. Default: the model's similarity_fn_name
    /// (config_sentence_transformers.json), else cosine.
    #[arg(long, value_enum)]
    pub similarity: Option<SimilarityArg>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

impl ModelArgs {
    /// The model folder's files (its top level and its module folders such as `1_Pooling/`),
    /// which no output may replace.
    pub fn input_files(&self) -> Vec<PathBuf> {
        model_files(&self.model)
    }

    /// Loads the bi-encoder with these settings.
    pub fn load(&self, device: &Device) -> Result<BiEncoder, densify_model::ModelError> {
        let mut model = BiEncoder::load(&self.model, device, |s| {
            if let Some(n) = self.query_max_length.or(self.max_length) {
                s.query_max_length = n;
            }
            if let Some(n) = self.passage_max_length.or(self.max_length) {
                s.passage_max_length = n;
            }
            if let Some(p) = &self.query_prefix {
                s.query_prefix.clone_from(p);
            }
            if let Some(p) = &self.passage_prefix {
                s.passage_prefix.clone_from(p);
            }
            if let Some(p) = self.pooling {
                s.pooling = p.into();
            }
            if let Some(sim) = self.similarity {
                s.similarity = sim.into();
            }
        })?;
        model.max_batch_tokens = self.max_batch_tokens;
        Ok(model)
    }

    /// Embeds `(id, text)` items of one side with `model`, showing a progress bar labelled
    /// `label`.
    pub fn encode(
        &self,
        model: &BiEncoder,
        items: &[(String, String)],
        side: Side,
        device: &Device,
        label: &str,
    ) -> Result<Embeddings, densify_model::ModelError> {
        let progress = crate::progress::bar(items.len(), label);
        let embeddings = model.encode_items(items, side, self.batch_size, device, &mut |n| {
            progress.set_position(n as u64)
        })?;
        progress.finish();
        Ok(embeddings)
    }
}
