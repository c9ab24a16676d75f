//! # densify-train
//!
//! Fine-tunes a densify bi-encoder with any [`densify_loss::RankingLoss`], on whichever burn
//! `Device` the caller passes (an autodiff device: `Device::flex().autodiff()`):
//!
//! - [`example`]: training examples (a query and its candidate list, with positives, optional
//!   teacher scores and graded labels) as validated JSONL, and pairs from BEIR qrels; the
//!   format lives in [`densify_data::training_example`] with the other file formats, so the
//!   synthetic-data stages write it without depending on the trainer;
//! - [`schedule`]: linear warm-up then linear decay, as Hugging Face's `get_linear_schedule_with_warmup`;
//! - [`optimizer`]: burn's AdamW with Hugging Face's no-decay rule (biases and LayerNorm) and
//!   global gradient-norm clipping;
//! - [`checkpoint`]: burnpack model and optimizer records plus the loop state, written into a
//!   temporary folder and renamed, so a kill never leaves a half checkpoint;
//! - [`trainer`]: the loop ([`trainer::Trainer`]), seeded so a resumed run is
//!   bit-identical to an uninterrupted one, on one device or data parallel on several
//!   ([`Trainer::data_parallel`], burn's collective all-reduce: burn's CUDA backend);
//! - [`mine`]: hard negatives from any retriever's run (`densify mine`);
//! - [`score`]: teacher scores (cross-encoder or bi-encoder) stored in the examples
//!   (`densify score`), from [`densify_model::teacher`]; [`hybrid`]: the label-free teacher (BM25 and the base bi-encoder,
//!   normalised per list and mixed);
//! - [`log`]: one JSONL record per step and per evaluation; [`plot`]: `training.svg` of loss
//!   and dev nDCG@10 against steps.
//!
//! Everything is configured by one serde value, [`TrainConfig`] (a `densify train` TOML file).

pub mod checkpoint;
pub mod config;
pub mod error;
pub use densify_data::training_example as example;
pub use densify_model::teacher as score;
pub mod hybrid;
pub mod log;
pub mod mine;
pub mod optimizer;
pub mod plot;
pub mod rerank;
pub mod schedule;
pub mod trainer;

pub use config::{Architecture, BatchSampler, OptimizerConfig, TrainConfig};
pub use error::{MissingTarget, Result, TrainError};
pub use example::{Candidate, TrainingExample};
pub use mine::{MineConfig, MineReport, Sampling, mine};
pub use schedule::LinearSchedule;
pub use trainer::data_parallel::mark_distributed;
pub use trainer::{Student, TrainSummary, Trainer};
