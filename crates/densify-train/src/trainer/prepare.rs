//! What a run needs before its first step: the config's lengths checked against the model,
//! the dataset, the training lists, the dev data, the model and the loss.

use std::path::PathBuf;
use std::sync::Arc;

use densify_data::Dataset;
use densify_loss::{LossConfig, RankingLoss};
use densify_model::{BiEncoder, CrossEncoder, Side};
use densify_noise::{NoiseConfig, TokenVocab};

use super::Trainer;
use super::dev::DevData;
use super::lists::{StepList, build_lists, corpus_index};
use super::loader::{LoadedBatch, Loader, TextSide};
use super::step::{BatchInputs, InBatch};
use super::student::Encoder;
use crate::config::Architecture;
use crate::error::{Result, TrainError};
use crate::example::{pairs_from_qrels, read_examples};

/// What a run needs before its first step.
pub(super) struct Prepared {
    pub(super) lists: Vec<StepList>,
    /// With `[eval]`.
    pub(super) dev: Option<DevData>,
    pub(super) encoder: Encoder,
    pub(super) text: TextSide,
    /// Token noise (noisy self-training's student) with the model's vocabulary.
    pub(super) noise: Option<(NoiseConfig, TokenVocab)>,
    /// The configured loss, or the one set with [`Trainer::with_loss`].
    pub(super) loss: Arc<dyn RankingLoss>,
    pub(super) in_batch: Option<InBatch>,
}

impl Prepared {
    /// The inputs of the loss for `batch`, loaded as `loaded`.
    pub(super) fn inputs<'a>(
        &'a self,
        batch: &'a [usize],
        loaded: &'a LoadedBatch,
        list_size: usize,
    ) -> BatchInputs<'a> {
        BatchInputs {
            lists: &self.lists,
            batch,
            loaded,
            loss: self.loss.as_ref(),
            in_batch: self.in_batch,
            list_size,
        }
    }

    /// The loader of the training lists.
    pub(super) fn loader(&self) -> Loader<'_> {
        Loader {
            text: &self.text,
            lists: &self.lists,
            noise: self.noise.as_ref(),
        }
    }
}

impl Trainer {
    /// Errors when a max length the config sets exceeds the model's `max_position_embeddings`
    /// (from its `config.json`), naming the config file and field: checked before the model
    /// loads, whose own message names the model's files and other commands' flags.
    pub(super) fn check_lengths(&self) -> Result<()> {
        let config = &self.config;
        let model_config = config.model.join("config.json");
        if !model_config.is_file() {
            return Ok(()); // the loader says what is missing
        }
        let max = densify_model::BertConfig::from_file(&model_config)?.max_position_embeddings;
        let lengths: Vec<(&'static str, usize, &'static str)> = match config.architecture {
            Architecture::BiEncoder => [
                ("query_max_length", config.query_max_length),
                ("passage_max_length", config.passage_max_length),
            ]
            .into_iter()
            .filter_map(|(field, value)| value.map(|v| (field, v, "")))
            .collect(),
            Architecture::CrossEncoder => vec![match config.pair_max_length {
                Some(n) => ("pair_max_length", n, ""),
                None => ("pair_max_length", DEFAULT_PAIR_MAX_LENGTH, " (the default)"),
            }],
        };
        match lengths.into_iter().find(|&(_, value, _)| value > max) {
            Some((field, value, note)) => Err(TrainError::LengthBeyondModel {
                config: self.config_name(),
                field,
                value,
                note,
                max,
                model: model_config,
            }),
            None => Ok(()),
        }
    }

    /// Loads the dataset, the examples (checked against the corpus and what the loss reads),
    /// the dev data and the model.
    pub(super) fn prepare(&self) -> Result<Prepared> {
        let config = &self.config;
        // Before the corpus is read: a config error is found in a moment.
        self.check_lengths()?;
        let dataset = Dataset::find(&config.dataset)?;
        let corpus = dataset.corpus_items()?;
        let (examples, source) = match &config.examples {
            Some(path) => (read_examples(path)?, path.clone()),
            None => (
                pairs_from_qrels(&dataset, &config.split)?,
                dataset.qrels_path(&config.split),
            ),
        };
        let lists = build_lists(&examples, &corpus_index(&corpus), config, &source)?;
        let dev = match &config.eval {
            None => None,
            Some(eval) => {
                // The training corpus serves when the dev split is the training dataset's.
                let (dev_dataset, dev_corpus) = match &eval.dataset {
                    Some(name) => {
                        let other = Dataset::find(name)?;
                        let corpus = other.corpus_items()?;
                        (other, corpus)
                    }
                    None => (Dataset::open(dataset.root())?, corpus),
                };
                let (examples, source) = match &eval.examples {
                    Some(path) => (read_examples(path)?, path.clone()),
                    None if config.examples.is_none() && config.list_size == 1 => (
                        pairs_from_qrels(&dev_dataset, &eval.split)?,
                        dev_dataset.qrels_path(&eval.split),
                    ),
                    None => (Vec::new(), PathBuf::new()),
                };
                let lists = if examples.is_empty() {
                    Vec::new()
                } else {
                    build_lists(&examples, &corpus_index(&dev_corpus), config, &source)?
                };
                Some(DevData {
                    dataset: dev_dataset,
                    corpus: dev_corpus,
                    examples,
                    lists,
                })
            }
        };
        let (encoder, text, noise) = match config.architecture {
            Architecture::BiEncoder => {
                let mut bi = BiEncoder::load(&config.model, &self.device, |s| {
                    if let Some(n) = config.query_max_length {
                        s.query_max_length = n;
                    }
                    if let Some(n) = config.passage_max_length {
                        s.passage_max_length = n;
                    }
                })?;
                if !config.dropout {
                    bi.model = bi.model.clone().without_dropout();
                }
                let mut noise = None;
                if let Some(config) = &config.noise {
                    let tokenizer = bi.tokenizer(Side::Query);
                    let vocab = TokenVocab::new(
                        tokenizer.vocab_size() as u32,
                        tokenizer.token_id("[MASK]"),
                        tokenizer.special_ids(),
                    );
                    for (side, op) in [("query", &config.query), ("passage", &config.passage)] {
                        op.check_vocab(&vocab)
                            .map_err(|source| TrainError::NoiseVocab { side, source })?;
                    }
                    noise = Some((config.clone(), vocab));
                }
                let text = TextSide::Bi(bi.text_pipeline()?);
                (Encoder::Bi(Box::new(bi)), text, noise)
            }
            Architecture::CrossEncoder => {
                let max = config.pair_max_length.unwrap_or(DEFAULT_PAIR_MAX_LENGTH);
                let mut cross = CrossEncoder::load(&config.model, max, &self.device)?;
                if !config.dropout {
                    cross.model = cross.model.clone().without_dropout();
                }
                let text = TextSide::Cross(cross.tokenizer().clone());
                (Encoder::Cross(Box::new(cross)), text, None)
            }
        };
        let loss: Arc<dyn RankingLoss> = match &self.custom_loss {
            Some(custom) => Arc::clone(custom),
            None => Arc::from(config.loss.init()?),
        };
        let bi_encoder_in_batch = config.bi_encoder_in_batch();
        let in_batch = match &config.loss {
            LossConfig::InfoNce(_) if bi_encoder_in_batch => Some(InBatch {
                false_negative_ratio: None,
            }),
            LossConfig::ListwiseDistillation(c) if bi_encoder_in_batch => Some(InBatch {
                false_negative_ratio: c.false_negative_ratio,
            }),
            _ => None,
        };
        Ok(Prepared {
            lists,
            dev,
            encoder,
            text,
            noise,
            loss,
            in_batch,
        })
    }
}

/// A cross-encoder's max pair length when the config sets none.
pub(super) const DEFAULT_PAIR_MAX_LENGTH: usize = 512;
