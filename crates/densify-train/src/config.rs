//! [`TrainConfig`]: one serde value for a whole training run (`densify train --config
//! train.toml`). Unknown fields are errors; every field has a documented default except the
//! model, the data and the output folder.

use std::path::PathBuf;

use densify_core::config::{non_negative, positive};
use densify_core::{Config, InvalidField};
use densify_loss::LossConfig;
use serde::{Deserialize, Serialize};

/// AdamW and its schedule. Defaults are sentence-transformers' trainer defaults (Hugging Face
/// `TrainingArguments`), so a densify run and a sentence-transformers run compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerConfig {
    /// Peak learning rate. Default 2e-5.
    pub learning_rate: f64,
    /// Decoupled weight decay (Loshchilov & Hutter, ICLR 2019), not applied to biases and
    /// LayerNorm parameters. Default 0 (Hugging Face's default; `model.fit` used 0.01).
    pub weight_decay: f64,
    /// Adam β1. Default 0.9.
    pub beta1: f64,
    /// Adam β2. Default 0.999.
    pub beta2: f64,
    /// Adam ε. Default 1e-8 (Hugging Face; burn's own default is 1e-5).
    pub epsilon: f64,
    /// Fraction of the steps spent warming up linearly from 0 (rounded up). Default 0.1.
    pub warmup_ratio: f64,
    /// Fraction of the peak the linear decay stops at. Default 0 (decay to 0).
    pub min_lr_ratio: f64,
    /// Global gradient-norm clipping (`clip_grad_norm_`); `0` turns it off. Default 1.
    pub max_grad_norm: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            learning_rate: 2e-5,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            warmup_ratio: 0.1,
            min_lr_ratio: 0.0,
            max_grad_norm: 1.0,
        }
    }
}

densify_core::setters!(OptimizerConfig {
    learning_rate: f64,
    weight_decay: f64,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    warmup_ratio: f64,
    min_lr_ratio: f64,
    max_grad_norm: f64,
});

impl Config for OptimizerConfig {
    fn validate(&self) -> Result<(), InvalidField> {
        positive("learning_rate", self.learning_rate)?;
        positive("epsilon", self.epsilon)?;
        non_negative("weight_decay", self.weight_decay)?;
        non_negative("max_grad_norm", self.max_grad_norm)?;
        for (field, value) in [
            ("beta1", self.beta1),
            ("beta2", self.beta2),
            ("warmup_ratio", self.warmup_ratio),
            ("min_lr_ratio", self.min_lr_ratio),
        ] {
            if !(0.0..=1.0).contains(&value) || (field.starts_with("beta") && value == 1.0) {
                return Err(InvalidField::new(
                    field,
                    format!(
                        "must be in [0, 1{}, found {value}",
                        if field.starts_with("beta") { ")" } else { "]" }
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// How an epoch's examples are cut into batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BatchSampler {
    /// `no_duplicates` where a bi-encoder's InfoNCE scores each query against the whole
    /// batch's passages (`info_nce` with `in_batch_negatives`), where a copy of a positive
    /// among the negatives would be a false negative; `shuffled` for every other loss, where
    /// batches do not meet. Measured on SciFact and NFCorpus (`docs/results.md`, issue 22):
    /// `no_duplicates` is above `shuffled` on each of the SciFact seeds compared.
    #[default]
    Auto,
    /// Consecutive runs of the epoch's permutation (Hugging Face's default sampler).
    Shuffled,
    /// No query or passage text twice in one batch: a clashing example moves to a later batch
    /// (sentence-transformers' `NoDuplicatesBatchSampler`), seeded like the permutation, so a
    /// resumed run reads the same batches.
    NoDuplicates,
}

/// What is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// Queries and documents embedded apart, scored by similarity.
    #[default]
    BiEncoder,
    /// Each (query, document) pair read jointly, one logit per pair (a reranker).
    CrossEncoder,
}

/// Evaluation on a dev split during training, on the non-autodiff model: a bi-encoder
/// retrieves from the dataset's whole corpus (nDCG@10, Recall@100 by exact search); a
/// cross-encoder reranks the dev examples' candidates (nDCG@10). The best model by nDCG@10 is
/// exported to `best/`. With dev examples, the mean training loss over them is logged too
/// (`dev_loss`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DevEvalConfig {
    /// The BEIR dataset (name or folder). Default: the training dataset.
    pub dataset: Option<String>,
    /// The split whose qrels judge the dev queries. Default `dev`.
    pub split: String,
    /// Dev examples (the training examples' JSONL schema): their mean loss, in batches of
    /// `batch_size` in file order scored as training scores them (without dropout), is logged
    /// as `dev_loss`; a cross-encoder reranks their candidates. Required for a cross-encoder.
    /// Default: for a bi-encoder trained on qrels pairs (no `examples`, `list_size` 1), one
    /// pair per judged pair of `split`; otherwise none (no dev loss).
    pub examples: Option<PathBuf>,
    /// Evaluate every this many steps, and at the end; 0: only at the end. Default 0.
    pub every_steps: usize,
    /// Stop when nDCG@10 has not improved for this many evaluations; 0: never. Default 0.
    pub patience: usize,
}

impl Default for DevEvalConfig {
    fn default() -> Self {
        Self {
            dataset: None,
            split: "dev".into(),
            examples: None,
            every_steps: 0,
            patience: 0,
        }
    }
}

/// A training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// The model folder to start from (Hugging Face / sentence-transformers layout). Required.
    pub model: PathBuf,
    /// The output folder: `checkpoints/`, `metrics.jsonl`, `config.toml` and the final model
    /// (`final/`, Hugging Face layout). Required.
    pub output: PathBuf,
    /// `bi_encoder` or `cross_encoder`. Default `bi_encoder`. A cross-encoder starting from a
    /// bare encoder (all-MiniLM-L6-v2) gets a new one-logit head.
    pub architecture: Architecture,
    /// Max tokens of a (query, document) pair (cross-encoders). Default 512.
    pub pair_max_length: Option<usize>,
    /// The BEIR dataset whose corpus the examples' documents come from (name or folder).
    /// Required.
    pub dataset: String,
    /// Training examples (JSONL, see `densify_train::example`). Default: one (query,
    /// positive) pair per judged-relevant pair of `split`.
    pub examples: Option<PathBuf>,
    /// The qrels split pairs are built from when `examples` is not given. Default `train`.
    pub split: String,
    /// The loss. Default InfoNCE at temperature 0.05 (sentence-transformers'
    /// `MultipleNegativesRankingLoss`).
    pub loss: LossConfig,
    /// Queries per batch (an optimizer step reads `gradient_accumulation_steps` batches).
    /// Default 32.
    pub batch_size: usize,
    /// Also end a batch before its padded tokens (queries `[b, longest query]` plus list items
    /// `[b · list, longest item]`, measured before noise) would pass this budget, so batches
    /// of long texts hold fewer examples and a step's memory is bounded; an example over the
    /// budget on its own is a batch of one. Default: none (`batch_size` examples per batch).
    pub max_tokens_per_batch: Option<usize>,
    /// How each epoch's shuffled examples are cut into batches: `shuffled` (consecutive
    /// runs of `batch_size`; duplicate positives are masked out of the in-batch negatives),
    /// `no_duplicates` (no text twice in a batch, sentence-transformers'
    /// `BatchSamplers.NO_DUPLICATES`) or `auto` (`no_duplicates` for InfoNCE with in-batch
    /// negatives, `shuffled` otherwise; see [`TrainConfig::resolved_batch_sampler`]).
    /// Default `auto`.
    pub batch_sampler: BatchSampler,
    /// Steps the background data loader tokenises (and noises) ahead of the training thread.
    /// Default 2.
    pub prefetch_steps: usize,
    /// Passes over the examples. Default 1.
    pub epochs: usize,
    /// Stop after this many optimizer steps (the schedule still spans `epochs`). Default: none.
    pub max_steps: Option<usize>,
    /// Candidates per query in a step: the first positive, then the list's other candidates in
    /// order. Examples with fewer candidates are an error. Default 1 (pairs).
    pub list_size: usize,
    /// Score each query against every passage of the step (in-batch negatives, `[batch,
    /// batch * list]`), not only its own list (`[batch, list]`). Only InfoNCE uses it.
    /// Default true.
    pub in_batch_negatives: bool,
    /// Max query length in tokens. Default: the model's.
    pub query_max_length: Option<usize>,
    /// Max passage length in tokens. Default: the model's.
    pub passage_max_length: Option<usize>,
    /// GradCache (Gao et al., 2021; sentence-transformers' `CachedMultipleNegativesRankingLoss`):
    /// embed this many queries (and their lists) at a time without keeping graphs, so a step's
    /// memory is that of one mini-batch whatever `batch_size` is; the gradients equal the
    /// uncached step's. Default: none (one forward over the whole step).
    pub grad_cache_mini_batch: Option<usize>,
    /// Batches whose gradients are averaged into one optimizer step (Hugging Face's
    /// `gradient_accumulation_steps`): the effective batch is `batch_size` x this, each batch
    /// keeping its own in-batch negatives (GradCache instead gives one large batch). The
    /// schedule counts optimizer steps. Default 1.
    pub gradient_accumulation_steps: usize,
    /// Token noise on the student's inputs (noisy self-training, arXiv 2311.15563): the query
    /// and passage pipelines of densify-noise, drawn per example and epoch (streams keyed by the
    /// example id and the epoch, so a resumed run draws the same). Bi-encoders only. Default
    /// none.
    pub noise: Option<densify_noise::NoiseConfig>,
    /// Seed of the example order and of dropout. Default 42.
    pub seed: u64,
    /// Dropout as the model's config sets it (0.1 for BERT); false turns it off. Default true.
    pub dropout: bool,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// Write a checkpoint every this many steps (and at the end); 0: only at the end.
    /// Default 0.
    pub checkpoint_every: usize,
    /// Checkpoints kept (the oldest go first). Default 2.
    pub keep_checkpoints: usize,
    /// Dev evaluation; none by default.
    pub eval: Option<DevEvalConfig>,
}

impl TrainConfig {
    /// Whether a bi-encoder scores each query against every passage of the batch
    /// (`in_batch_negatives`; the losses that read such scores decide whether they are used).
    pub(crate) fn bi_encoder_in_batch(&self) -> bool {
        self.in_batch_negatives && self.architecture == Architecture::BiEncoder
    }

    /// The sampler `batch_sampler` stands for: `auto` is `no_duplicates` when a bi-encoder
    /// trains `info_nce` with `in_batch_negatives` (every passage of the batch is a negative
    /// of every other query), else `shuffled`; the others are themselves.
    pub fn resolved_batch_sampler(&self) -> BatchSampler {
        match self.batch_sampler {
            BatchSampler::Auto => {
                let in_batch_info_nce =
                    self.bi_encoder_in_batch() && matches!(self.loss, LossConfig::InfoNce(_));
                if in_batch_info_nce {
                    BatchSampler::NoDuplicates
                } else {
                    BatchSampler::Shuffled
                }
            }
            other => other,
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: PathBuf::new(),
            output: PathBuf::new(),
            architecture: Architecture::BiEncoder,
            pair_max_length: None,
            dataset: String::new(),
            examples: None,
            split: "train".into(),
            loss: LossConfig::default(),
            batch_size: 32,
            max_tokens_per_batch: None,
            batch_sampler: BatchSampler::Auto,
            prefetch_steps: 2,
            epochs: 1,
            max_steps: None,
            list_size: 1,
            in_batch_negatives: true,
            query_max_length: None,
            passage_max_length: None,
            grad_cache_mini_batch: None,
            gradient_accumulation_steps: 1,
            noise: None,
            seed: 42,
            dropout: true,
            optimizer: OptimizerConfig::default(),
            checkpoint_every: 0,
            keep_checkpoints: 2,
            eval: None,
        }
    }
}

impl Config for TrainConfig {
    fn validate(&self) -> Result<(), InvalidField> {
        for (field, empty) in [
            ("model", self.model.as_os_str().is_empty()),
            ("output", self.output.as_os_str().is_empty()),
            ("dataset", self.dataset.is_empty()),
        ] {
            if empty {
                return Err(InvalidField::new(field, "is required"));
            }
        }
        for (field, value) in [
            ("batch_size", self.batch_size),
            ("epochs", self.epochs),
            ("list_size", self.list_size),
            ("keep_checkpoints", self.keep_checkpoints),
            ("prefetch_steps", self.prefetch_steps),
        ] {
            if value == 0 {
                return Err(InvalidField::new(field, "must be at least 1, found 0"));
            }
        }
        if self.gradient_accumulation_steps == 0 {
            return Err(InvalidField::new(
                "gradient_accumulation_steps",
                "must be at least 1, found 0",
            ));
        }
        if self.max_tokens_per_batch == Some(0) {
            return Err(InvalidField::new(
                "max_tokens_per_batch",
                "must be at least 1, found 0",
            ));
        }
        if self.grad_cache_mini_batch == Some(0) {
            return Err(InvalidField::new(
                "grad_cache_mini_batch",
                "must be at least 1, found 0",
            ));
        }
        if self.max_steps == Some(0) {
            return Err(InvalidField::new(
                "max_steps",
                "must be at least 1, found 0",
            ));
        }
        for (field, value) in [
            ("query_max_length", self.query_max_length),
            ("passage_max_length", self.passage_max_length),
        ] {
            if value == Some(0) {
                return Err(InvalidField::new(field, "must be at least 1, found 0"));
            }
        }
        if self.architecture == Architecture::CrossEncoder {
            if self.grad_cache_mini_batch.is_some() {
                return Err(InvalidField::new(
                    "grad_cache_mini_batch",
                    "applies to bi-encoders only (a cross-encoder's pairs are independent: lower \
                     batch_size instead)",
                ));
            }
            if self.noise.is_some() {
                return Err(InvalidField::new("noise", "applies to bi-encoders only"));
            }
            if self.eval.as_ref().is_some_and(|e| e.examples.is_none()) {
                return Err(InvalidField::new(
                    "eval.examples",
                    "a cross-encoder's dev evaluation reranks the candidates of dev examples: \
                     set eval.examples to a JSONL of them",
                ));
            }
        }
        if self.pair_max_length == Some(0) {
            return Err(InvalidField::new(
                "pair_max_length",
                "must be at least 1, found 0",
            ));
        }
        self.loss.validate().map_err(|e| e.within("loss"))?;
        if let Some(noise) = &self.noise {
            noise.validate().map_err(|e| e.within("noise"))?;
        }
        self.optimizer
            .validate()
            .map_err(|e| e.within("optimizer"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_batches_without_duplicates_only_for_in_batch_info_nce() {
        let config = TrainConfig::default();
        assert!(matches!(config.loss, LossConfig::InfoNce(_)));
        assert_eq!(config.batch_sampler, BatchSampler::Auto);
        assert_eq!(config.resolved_batch_sampler(), BatchSampler::NoDuplicates);
        let own_lists = TrainConfig {
            in_batch_negatives: false,
            ..TrainConfig::default()
        };
        assert_eq!(own_lists.resolved_batch_sampler(), BatchSampler::Shuffled);
        let cross = TrainConfig {
            architecture: Architecture::CrossEncoder,
            ..TrainConfig::default()
        };
        assert_eq!(cross.resolved_batch_sampler(), BatchSampler::Shuffled);
        let kl = TrainConfig {
            loss: LossConfig::KlDistillation(Default::default()),
            ..TrainConfig::default()
        };
        assert_eq!(kl.resolved_batch_sampler(), BatchSampler::Shuffled);
        for chosen in [BatchSampler::Shuffled, BatchSampler::NoDuplicates] {
            let config = TrainConfig {
                batch_sampler: chosen,
                ..TrainConfig::default()
            };
            assert_eq!(config.resolved_batch_sampler(), chosen);
        }
        let text = "model = \"m\"\noutput = \"o\"\ndataset = \"d\"\nbatch_sampler = \"auto\"\n";
        let parsed = TrainConfig::from_toml_str(text, "t.toml").unwrap();
        assert_eq!(parsed.batch_sampler, BatchSampler::Auto);
    }

    #[test]
    fn a_recipe_is_one_toml_file_with_located_errors() {
        let text = "model = \"m\"\noutput = \"o\"\ndataset = \"scifact\"\nbatch_size = 16\n\n[loss]\ntype = \"kl_distillation\"\n\n[optimizer]\nlearning_rate = 3e-5\n";
        let config = TrainConfig::from_toml_str(text, "train.toml").unwrap();
        assert_eq!(config.batch_size, 16);
        assert_eq!(config.optimizer.learning_rate, 3e-5);
        assert_eq!(config.optimizer.warmup_ratio, 0.1);
        let again = TrainConfig::from_toml_str(&config.to_toml_string(), "again.toml").unwrap();
        assert_eq!(again, config);

        let bad = text.replace("learning_rate = 3e-5", "learning_rate = -1");
        let err = TrainConfig::from_toml_str(&bad, "train.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("train.toml:10:") && err.contains("optimizer.learning_rate"),
            "{err}"
        );
        let bad = text.replace("batch_size = 16", "batch_sise = 16");
        let err = TrainConfig::from_toml_str(&bad, "train.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("train.toml:4:") && err.contains("batch_sise"),
            "{err}"
        );
        let err = TrainConfig::from_toml_str("output = \"o\"\ndataset = \"d\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`model` is required"), "{err}");
    }
}
