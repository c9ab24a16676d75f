//! The training loop (bi-encoders and cross-encoders), written on burn's parts (autodiff, `ModuleOptimizer`,
//! burnpack records) rather than burn-train's `Learner`: IR dev metrics every N steps, exact
//! mid-epoch resume and in-batch negatives across the whole step need control of the loop.
//!
//! One optimizer step:
//! 1. the step's examples ([`plan`]): epoch `e`'s order is a permutation seeded by `(seed, e)`,
//!    cut into batches of `batch_size` (or fewer, under `max_tokens_per_batch`), and
//!    `gradient_accumulation_steps` consecutive batches make a step;
//! 2. the background loader ([`loader`]) has tokenised (and noised) the step's texts ahead;
//! 3. dropout is re-seeded with `(seed, step)`, so the same step draws the same masks whether
//!    the run was interrupted or not;
//! 4. queries `[b, d]` and each query's list of passages `[b·list, d]` are embedded (or every
//!    (query, candidate) pair scored by a cross-encoder), and scored ([`step`]): InfoNCE with
//!    `in_batch_negatives` scores every query against every passage of the batch
//!    `[b, b·list]`, excluding from the negatives any column that holds one of the query's own
//!    positives (duplicates across the batch); other losses score each query's own list
//!    `[b, list]` with the examples' teacher scores and labels ([`lists`]);
//! 5. the loss's mean, backward (GradCache in mini-batches when configured), global-norm
//!    clipping, AdamW at the schedule's rate;
//! 6. every `eval.every_steps`, a dev evaluation ([`dev`]) on the inner model.
//!
//! With several devices ([`Trainer::data_parallel`]) step 4-5 run per device on a shard of
//! the batch, burn all-reducing the gradients in `backward` ([`data_parallel`]).

pub mod data_parallel;
mod dev;
mod lists;
mod loader;
mod no_duplicates;
mod plan;
mod step;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use densify_core::Config;
use densify_data::Dataset;
use densify_loss::{LossConfig, RankingLoss};
use densify_model::{BiEncoder, BiEncoderModel, CrossEncoder, CrossEncoderModel, Side};
use densify_noise::{NoiseConfig, TokenVocab};
use serde_json::json;

use self::dev::DevData;
use self::lists::{StepList, build_lists, corpus_index};
use self::loader::{LoadedBatch, Loader, TextSide};
use self::plan::{PlannedStep, StepPlanner, mix};
use self::step::{BatchInputs, InBatch};
use crate::checkpoint::{self, LoopState};
use crate::config::{Architecture, BatchSampler, TrainConfig};
use crate::error::{Result, TrainError};
use crate::example::{pairs_from_qrels, read_examples};
use crate::log::MetricsLog;
use crate::optimizer::{adamw, clip_global_norm};
use crate::schedule::LinearSchedule;

/// What the loop reports after each step.
#[derive(Debug, Clone, Copy)]
pub struct StepReport {
    /// Optimizer steps done.
    pub step: usize,
    /// Steps this run will do in all.
    pub last_step: usize,
    /// The step's loss.
    pub loss: f64,
    /// The step's learning rate.
    pub learning_rate: f64,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Optimizer steps done (in all, across resumes).
    pub steps: usize,
    /// The step the run started from (0, or the resumed checkpoint's).
    pub resumed_from: usize,
    /// The last step's loss (for a run found complete, the last one `metrics.jsonl` records;
    /// NaN only when that file records none).
    pub final_loss: f64,
    /// Seconds spent in this run's steps (no loading, no evaluation).
    pub train_seconds: f64,
    /// The final model, in the Hugging Face / sentence-transformers layout.
    pub final_model: PathBuf,
    /// The last dev evaluation's nDCG@10, when there is a dev evaluation.
    pub dev_ndcg: Option<f64>,
    /// The best dev nDCG@10 and the folder of that model (`best/`, Hugging Face layout),
    /// when there is a dev evaluation.
    pub best: Option<(f64, PathBuf)>,
    /// The resumed checkpoint was the run's end (its last step, or stopped by
    /// `eval.patience`): nothing was trained; `final/` was kept, or exported from that
    /// checkpoint when missing.
    pub already_complete: bool,
}

/// Trains a bi-encoder or a cross-encoder as [`TrainConfig`] says, on an autodiff device.
#[derive(Debug)]
pub struct Trainer {
    config: TrainConfig,
    /// The file `config` was read from, for messages; never written.
    config_file: Option<PathBuf>,
    device: Device,
    resume: bool,
    /// Data parallel: the devices sharing each step, `device` first (empty: one device).
    peers: Vec<Device>,
    /// A loss set with [`Trainer::with_loss`], used in place of the one `config.loss` builds.
    custom_loss: Option<Arc<dyn RankingLoss>>,
}

impl Trainer {
    /// A trainer for `config` on `device` (made autodiff when it is not). Errors on an invalid
    /// configuration.
    pub fn new(config: TrainConfig, device: &Device) -> Result<Self> {
        config
            .validate()
            .map_err(|invalid| densify_core::ConfigError::Invalid {
                path: PathBuf::from("<train config>"),
                line: None,
                invalid,
            })?;
        Ok(Self {
            config,
            config_file: None,
            device: autodiff(device),
            resume: false,
            peers: Vec::new(),
            custom_loss: None,
        })
    }

    /// Data parallel training on `devices` (at least two, distinct, with burn's collective
    /// all-reduce: burn's CUDA backend): each step's batch is split into one contiguous shard
    /// a device and burn sums the shards' size-weighted gradients, so a step equals the
    /// single-device step (in-batch negatives stay within each shard). The first device
    /// replaces the trainer's. Errors on devices burn cannot all-reduce across, and with
    /// GradCache.
    pub fn data_parallel(mut self, devices: &[Device]) -> Result<Self> {
        let devices: Vec<Device> = devices.iter().map(autodiff).collect();
        if self.config.grad_cache_mini_batch.is_some() {
            return Err(TrainError::Invalid(
                "grad_cache_mini_batch: GradCache is not combined with data parallel training"
                    .into(),
            ));
        }
        data_parallel::check_devices(&devices)?;
        self.device = devices[0].clone();
        self.peers = devices;
        Ok(self)
    }

    /// Continue from the newest checkpoint of the output folder when there is one.
    #[must_use]
    pub fn resuming(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Trains with `loss`, a [`RankingLoss`] defined outside densify, in place of the loss
    /// built from [`TrainConfig::loss`]: in every training step (GradCache and data parallel
    /// steps included) and in the dev evaluation's `dev_loss`.
    ///
    /// The configured `loss` still names what the examples must carry (teacher scores,
    /// labels) and is recorded in the run's config (`config.toml` in the output folder);
    /// choose the configured loss whose inputs your loss reads. It also decides the layout of
    /// a bi-encoder's scores: with `in_batch_negatives` and a configured `info_nce`, `loss`
    /// reads `[batch, batch * list]` scores with `positive` and `candidates` set; otherwise
    /// each query's own list `[batch, list]`, its positive at column 0, with the examples'
    /// teacher scores and labels when they have them (see [`densify_loss::ScoredLists`]).
    /// A resumed run is bit-identical to an uninterrupted one only when it is given the same
    /// loss.
    #[must_use]
    pub fn with_loss(mut self, loss: impl RankingLoss + 'static) -> Self {
        self.custom_loss = Some(Arc::new(loss));
        self
    }

    /// The file the configuration was read from (`densify train --config`): errors about
    /// its fields name it, and the run refuses to write its copy of the configuration
    /// (`config.toml` in the output folder) over it.
    #[must_use]
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// The config file as messages name it (`<train config>` for a config built in code).
    fn config_name(&self) -> PathBuf {
        self.config_file
            .clone()
            .unwrap_or_else(|| PathBuf::from("<train config>"))
    }

    /// The checkpoint folder.
    pub fn checkpoints(&self) -> PathBuf {
        self.config.output.join("checkpoints")
    }

    /// Runs the training; `report` is called after every step.
    ///
    /// Refused before anything is written: an output folder holding an input of the run (the
    /// model, the examples, the config file at the path of the copy it writes), an earlier run
    /// there without `--resume` (with checkpoints) or with nothing to resume (without), a
    /// resumed checkpoint whose `state.json` does not fit this run, and examples lacking what
    /// the loss reads. A resumed checkpoint at the run's end trains nothing
    /// ([`TrainSummary::already_complete`]).
    pub fn run(&self, report: &mut dyn FnMut(StepReport)) -> Result<TrainSummary> {
        let config = &self.config;
        let output = &config.output;
        // Nothing is written before these checks: the output folder holds no input of the
        // run and no earlier run that would be replaced.
        refuse_inputs_in_output(config, self.config_file.as_deref())?;
        let latest = checkpoint::latest(&self.checkpoints());
        if latest.is_some() && !self.resume {
            return Err(TrainError::Invalid(format!(
                "{} holds checkpoints of an earlier run: pass --resume to continue it, or choose \
                 another output folder",
                self.checkpoints().display()
            )));
        }
        if latest.is_none() {
            refuse_earlier_run(output)?;
        }

        // The inputs are read and checked (examples against the corpus and the loss) before
        // the output folder is made, so a bad input leaves nothing behind.
        let Prepared {
            lists,
            dev,
            mut encoder,
            text,
            noise,
            loss,
            in_batch,
        } = self.prepare()?;
        std::fs::create_dir_all(output).map_err(|e| TrainError::io(output, e))?;
        let (lists, loss) = (lists.as_slice(), loss.as_ref());
        // burn's sync server for the data parallel devices, stopped when dropped.
        let _collective = (!self.peers.is_empty()).then(|| data_parallel::collective(&self.peers));
        let loader = Loader {
            text: &text,
            lists,
            noise: noise.as_ref(),
        };
        let plan = self.plan(&loader)?;
        let total_steps = plan.len();
        let last_step = config.max_steps.map_or(total_steps, |m| m.min(total_steps));
        let schedule = LinearSchedule::with_warmup_ratio(
            config.optimizer.learning_rate,
            config.optimizer.warmup_ratio,
            total_steps,
            config.optimizer.min_lr_ratio,
        );
        let mut model = encoder.student();
        let mut optimizer = adamw(&config.optimizer);
        let mut state = LoopState {
            step: 0,
            total_steps,
            seed: config.seed,
            best_ndcg: None,
            evaluations_since_best: 0,
        };
        // A resumed checkpoint is checked against this run's plan before anything is loaded
        // or written; one at the run's end is complete: nothing is trained.
        let mut complete = false;
        if let Some(path) = latest.filter(|_| self.resume) {
            let saved = checkpoint::read_state(&path)?;
            let state_file = path.join("state.json");
            let name = self.config_name();
            check_state(config, &name, &state_file, &saved, total_steps, last_step)?;
            complete = is_complete(config, &saved, last_step);
            if complete && output.join("final").is_dir() {
                let logged = Logged::read(&output.join("metrics.jsonl"), saved.step);
                return Ok(TrainSummary {
                    steps: saved.step,
                    resumed_from: saved.step,
                    final_loss: logged.loss.unwrap_or(f64::NAN),
                    train_seconds: 0.0,
                    final_model: output.join("final"),
                    dev_ndcg: logged.ndcg,
                    best: saved.best_ndcg.map(|n| (n, output.join("best"))),
                    already_complete: true,
                });
            }
            (model, optimizer, state) = checkpoint::load(&path, model, optimizer)?;
        }
        write_config_copy(config)?;
        let resumed_from = state.step;
        // What the log holds of a complete run (read before `open` rewrites it).
        let logged = if complete {
            Logged::read(&output.join("metrics.jsonl"), resumed_from)
        } else {
            Logged::default()
        };
        let mut log = MetricsLog::open(
            &output.join("metrics.jsonl"),
            resumed_from,
            resumed_from == 0,
        )?;
        // A complete run whose final model is missing (killed after its last checkpoint)
        // trains no step; it is finished from that checkpoint.
        let stop = if complete { state.step } else { last_step };

        let mut final_loss = if complete {
            logged.loss.unwrap_or(f64::NAN)
        } else {
            f64::NAN
        };
        let mut dev_ndcg = complete.then_some(logged.ndcg).flatten();
        let mut train_seconds = 0.0;
        let eval_every = config.eval.as_ref().map_or(0, |e| e.every_steps);
        // A dev evaluation, logged; a new best dev nDCG@10 exports the model to `best/`.
        let evaluate = |encoder: &mut Encoder,
                        model: &Student,
                        log: &mut MetricsLog,
                        state: &mut LoopState|
         -> Result<f64> {
            let dev = dev.as_ref().expect("an [eval] run has dev data");
            let figures =
                self.evaluate(encoder, model, dev, &text, loss, in_batch, log, state.step)?;
            let ndcg = figures.ndcg;
            if state.best_ndcg.is_none_or(|best| ndcg > best) {
                state.best_ndcg = Some(ndcg);
                state.evaluations_since_best = 0;
                encoder.save(model.valid(), &output.join("best"))?;
            } else {
                state.evaluations_since_best += 1;
            }
            Ok(ndcg)
        };
        let save_checkpoint = |model: &Student, optimizer: &_, state: &LoopState| {
            checkpoint::save(
                &self.checkpoints(),
                model,
                optimizer,
                state,
                config.keep_checkpoints,
            )
        };
        let (model, optimizer) = std::thread::scope(|scope| -> Result<_> {
            let (mut model, mut optimizer) = (model, optimizer);
            let upcoming = &plan[state.step.min(stop)..stop];
            let loaded_steps = loader.spawn(scope, upcoming, config.prefetch_steps);
            while state.step < stop {
                let step = state.step;
                let PlannedStep { epoch, batches } = &plan[step];
                let loaded = loaded_steps
                    .recv()
                    .map_err(|_| TrainError::Invalid("the data loader thread stopped".into()))??;
                let began = Instant::now();
                let mut accumulated = burn::optim::GradientsAccumulator::<Student>::new();
                let mut loss_sum = 0.0;
                for (j, (batch, loaded)) in batches.iter().zip(&loaded).enumerate() {
                    let seed = match j {
                        0 => mix(config.seed, step as u64),
                        j => mix(mix(config.seed, step as u64), j as u64),
                    };
                    let inputs = BatchInputs {
                        lists,
                        batch,
                        loaded,
                        loss,
                        in_batch,
                        list_size: config.list_size,
                    };
                    let (loss_value, grads) = if self.peers.is_empty() {
                        self.batch_gradients(&encoder, &model, inputs, seed)?
                    } else {
                        self.data_parallel_gradients(&encoder, &model, inputs, seed)?
                    };
                    let Some(grads) = grads else {
                        let ids: Vec<&str> = batch.iter().map(|&i| lists[i].id.as_str()).collect();
                        return Err(TrainError::NonFiniteLoss {
                            step: step + 1,
                            loss: loss_value,
                            examples: ids.join(", "),
                        });
                    };
                    loss_sum += loss_value;
                    accumulated.accumulate(&model, grads);
                }
                let mut grads = accumulated.grads();
                if batches.len() > 1 {
                    crate::optimizer::scale_gradients(
                        &model,
                        &mut grads,
                        1.0 / batches.len() as f32,
                    );
                }
                let loss_value = loss_sum / batches.len() as f64;
                let batch_examples: usize = batches.iter().map(Vec::len).sum();
                let max_norm = (config.optimizer.max_grad_norm > 0.0)
                    .then_some(config.optimizer.max_grad_norm);
                let grad_norm = clip_global_norm(&model, &mut grads, max_norm);
                let rate = schedule.rate(step);
                model = optimizer.step(rate, model, grads);
                let seconds = began.elapsed().as_secs_f64();
                train_seconds += seconds;
                state.step += 1;
                final_loss = loss_value;
                log.write(&json!({
                    "kind": "step", "step": state.step, "epoch": epoch, "loss": loss_value,
                    "lr": rate, "grad_norm": grad_norm,
                    "examples_per_s": batch_examples as f64 / seconds, "seconds": train_seconds,
                }))?;
                report(StepReport {
                    step: state.step,
                    last_step,
                    loss: loss_value,
                    learning_rate: rate,
                });
                let at_end = state.step == last_step;
                if eval_every > 0 && state.step.is_multiple_of(eval_every) && !at_end {
                    dev_ndcg = Some(evaluate(&mut encoder, &model, &mut log, &mut state)?);
                    let patience = config.eval.as_ref().map_or(0, |e| e.patience);
                    if patience > 0 && state.evaluations_since_best >= patience {
                        break;
                    }
                }
                if config.checkpoint_every > 0
                    && state.step.is_multiple_of(config.checkpoint_every)
                    && !at_end
                {
                    save_checkpoint(&model, &optimizer, &state)?;
                }
            }
            Ok((model, optimizer))
        })?;
        if !complete {
            save_checkpoint(&model, &optimizer, &state)?;
        }
        // A complete run evaluated at its last step already keeps that record.
        if config.eval.is_some() && !(complete && logged.eval_at_step) {
            dev_ndcg = Some(evaluate(&mut encoder, &model, &mut log, &mut state)?);
        }
        self.plot()?;
        let final_model = output.join("final");
        encoder.save(model.valid(), &final_model)?;
        Ok(TrainSummary {
            steps: state.step,
            resumed_from,
            final_loss,
            train_seconds,
            final_model,
            dev_ndcg,
            best: state.best_ndcg.map(|n| (n, output.join("best"))),
            already_complete: complete,
        })
    }

    /// Every step of the run: with `max_tokens_per_batch`, batches planned on each example's
    /// token widths.
    fn plan(&self, loader: &Loader<'_>) -> Result<Vec<PlannedStep>> {
        let config = &self.config;
        let widths = match config.max_tokens_per_batch {
            Some(_) => Some(loader.widths()?),
            None => None,
        };
        let keys: Option<Vec<Vec<u64>>> = (config.batch_sampler == BatchSampler::NoDuplicates)
            .then(|| {
                loader
                    .lists
                    .iter()
                    .map(|l| {
                        std::iter::once(&l.query)
                            .chain(&l.texts)
                            .map(|t| no_duplicates::text_key(t))
                            .collect()
                    })
                    .collect()
            });
        Ok(StepPlanner {
            examples: loader.lists.len(),
            epochs: config.epochs,
            seed: config.seed,
            batch_size: config.batch_size,
            accumulation: config.gradient_accumulation_steps,
            list_size: config.list_size,
            budget: widths.as_deref().zip(config.max_tokens_per_batch),
            distinct: keys.as_deref(),
        }
        .plan())
    }

    /// Redraws `training.svg` from `metrics.jsonl`.
    fn plot(&self) -> Result<()> {
        crate::plot::write_plot(
            &self.config.output.join("metrics.jsonl"),
            &self.config.output.join("training.svg"),
        )
    }

    /// Errors when a max length the config sets exceeds the model's `max_position_embeddings`
    /// (from its `config.json`), naming the config file and field: checked before the model
    /// loads, whose own message names the model's files and other commands' flags.
    fn check_lengths(&self) -> Result<()> {
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
    fn prepare(&self) -> Result<Prepared> {
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
                            .map_err(|e| TrainError::Invalid(format!("noise.{side}: {e}")))?;
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
            None => Arc::from(
                config
                    .loss
                    .init()
                    .map_err(|e| TrainError::Invalid(format!("loss: {e}")))?,
            ),
        };
        let bi_encoder_in_batch =
            config.in_batch_negatives && config.architecture == Architecture::BiEncoder;
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

    /// The loss and the named parameter gradients of the first step of the run (its first
    /// batch), without changing anything: for checking that GradCache gives the uncached
    /// step's gradients.
    pub fn first_step_gradients(&self) -> Result<(f64, NamedTensors)> {
        let (prepared, batch, loaded) = self.first_batch()?;
        let student = prepared.encoder.student();
        let inputs = prepared.inputs(&batch, &loaded, self.config.list_size);
        let (value, grads) = self.batch_gradients(
            &prepared.encoder,
            &student,
            inputs,
            mix(self.config.seed, 0),
        )?;
        let grads = grads.ok_or_else(|| TrainError::Invalid(format!("the loss is {value}")))?;
        Ok((value, named_gradients(&student, &grads)))
    }

    /// The first step split across `devices` (one contiguous shard each), each rank's
    /// size-weighted loss and named gradients. With `all_reduce` (devices as
    /// [`Trainer::data_parallel`] accepts them) burn's collective runs and every rank holds
    /// the whole step's gradients; without it each rank keeps its shard's share, whose sum is
    /// the whole step's: how the split is checked where burn has no collective (a CPU).
    pub fn first_step_gradients_split(
        &self,
        devices: &[Device],
        all_reduce: bool,
    ) -> Result<Vec<(f64, NamedTensors)>> {
        let devices: Vec<Device> = devices.iter().map(autodiff).collect();
        if all_reduce {
            data_parallel::check_devices(&devices)?;
        }
        let (prepared, batch, loaded) = self.first_batch()?;
        let student = prepared.encoder.student();
        let inputs = prepared.inputs(&batch, &loaded, self.config.list_size);
        let _collective = all_reduce.then(|| data_parallel::collective(&devices));
        let ranks = self.shard_gradients(
            &prepared.encoder,
            &student,
            inputs,
            mix(self.config.seed, 0),
            &devices,
            all_reduce,
        )?;
        ranks
            .into_iter()
            .map(|(value, grads)| {
                let grads =
                    grads.ok_or_else(|| TrainError::Invalid(format!("the loss is {value}")))?;
                Ok((value, named_gradients(&student, &grads)))
            })
            .collect()
    }

    /// The run's data, the first batch of its plan and that batch loaded.
    fn first_batch(&self) -> Result<(Prepared, Vec<usize>, LoadedBatch)> {
        let prepared = self.prepare()?;
        let loader = prepared.loader();
        let plan = self.plan(&loader)?;
        let batch = plan[0].batches[0].clone();
        let loaded = loader.load(&batch, 0)?;
        Ok((prepared, batch, loaded))
    }
}

/// Refuses an output folder holding an input of the run (the model, the training or dev
/// examples: `final/`, `best/` or a checkpoint could overwrite them), and a config file
/// (`config_file`) that is the copy the run writes (`config.toml` in the output folder)
/// unless it already reads exactly as the copy would, so the user's file stays byte for byte.
fn refuse_inputs_in_output(config: &TrainConfig, config_file: Option<&Path>) -> Result<()> {
    let output = &config.output;
    let name = || config_file.map_or_else(|| PathBuf::from("<train config>"), Path::to_path_buf);
    let mut inputs: Vec<(&'static str, &Path)> = vec![("model", config.model.as_path())];
    if let Some(path) = &config.examples {
        inputs.push(("examples", path.as_path()));
    }
    if let Some(path) = config.eval.as_ref().and_then(|e| e.examples.as_ref()) {
        inputs.push(("eval.examples", path.as_path()));
    }
    for (field, path) in inputs {
        densify_core::refuse_folder_holding_inputs(output, [path]).map_err(|source| {
            TrainError::InputInOutput {
                config: name(),
                field,
                source,
            }
        })?;
    }
    if let Some(file) = config_file {
        let copy = output.join("config.toml");
        let is_the_copy = densify_core::refuse_overwriting_input(&copy, [file]).is_err();
        if is_the_copy && !copy_is_current(config, &copy) {
            return Err(TrainError::ConfigInOutput {
                config: file.to_path_buf(),
                output: output.clone(),
            });
        }
    }
    Ok(())
}

/// Refuses an output folder holding an earlier run's results (`final/`, `best/`,
/// `metrics.jsonl`) with no checkpoint to resume from: a run would replace them.
fn refuse_earlier_run(output: &Path) -> Result<()> {
    let found: Vec<&str> = ["final/", "best/", "metrics.jsonl"]
        .into_iter()
        .filter(|name| output.join(name.trim_end_matches('/')).exists())
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    Err(TrainError::EarlierRun {
        output: output.to_path_buf(),
        found: found.join(", "),
    })
}

/// Whether `copy` already holds exactly the resolved configuration a run of `config` writes.
fn copy_is_current(config: &TrainConfig, copy: &Path) -> bool {
    densify_core::read_regular(copy).ok().as_deref() == Some(config.to_toml_string().as_bytes())
}

/// Writes the resolved configuration to `config.toml` in the output folder, unless it already
/// reads so (a run resumed with that copy as its config file leaves it as it is).
fn write_config_copy(config: &TrainConfig) -> Result<()> {
    let copy = config.output.join("config.toml");
    if copy_is_current(config, &copy) {
        return Ok(());
    }
    densify_core::write_atomic(&copy, config.to_toml_string().as_bytes())
        .map_err(|e| TrainError::io(&copy, e))
}

/// Errors unless the checkpoint state `saved` (read from `path`) belongs to this run of
/// `config` (read from `config_name`): its seed and schedule length, and a step within the
/// steps this run plans (`total_steps`, `last_step` under `max_steps`), naming the field at
/// fault.
fn check_state(
    config: &TrainConfig,
    config_name: &Path,
    path: &Path,
    saved: &LoopState,
    total_steps: usize,
    last_step: usize,
) -> Result<()> {
    let fault = |field: &'static str, found: usize, problem: String| -> Result<()> {
        Err(TrainError::CheckpointState {
            path: path.to_path_buf(),
            field,
            found: found.to_string(),
            problem,
        })
    };
    let name = config_name.display();
    let elsewhere = "resume with the run's own config, or train into another output folder";
    if saved.step > saved.total_steps {
        return fault(
            "step",
            saved.step,
            format!(
                "beyond the run's {} steps (`total_steps`): the checkpoint is damaged; delete its \
                 folder to resume from an earlier one, or train into another output folder",
                saved.total_steps
            ),
        );
    }
    if saved.total_steps != total_steps {
        return fault(
            "total_steps",
            saved.total_steps,
            format!(
                "but {name} plans {total_steps} steps (from its examples, epochs, batch_size, \
                 max_tokens_per_batch and gradient_accumulation_steps): {elsewhere}"
            ),
        );
    }
    if saved.seed != config.seed {
        return Err(TrainError::CheckpointState {
            path: path.to_path_buf(),
            field: "seed",
            found: saved.seed.to_string(),
            problem: format!("but the `seed` of {name} is {}: {elsewhere}", config.seed),
        });
    }
    if saved.step > last_step {
        return fault(
            "step",
            saved.step,
            format!(
                "beyond this run's last step {last_step} (`max_steps` of {name}): raise \
                 `max_steps` to continue, or train into another output folder"
            ),
        );
    }
    Ok(())
}

/// Whether the checkpoint state `saved` is the end of this run of `config`: its last step, or
/// stopped by `eval.patience` (the loop stops there and checkpoints no later).
fn is_complete(config: &TrainConfig, saved: &LoopState, last_step: usize) -> bool {
    let patience = config.eval.as_ref().map_or(0, |e| e.patience);
    saved.step == last_step || (patience > 0 && saved.evaluations_since_best >= patience)
}

/// A cross-encoder's max pair length when the config sets none.
const DEFAULT_PAIR_MAX_LENGTH: usize = 512;

/// What `metrics.jsonl` holds of a run up to a step: for a run found complete on resume.
#[derive(Debug, Default, PartialEq)]
struct Logged {
    /// The last step record's loss.
    loss: Option<f64>,
    /// The last evaluation's nDCG@10.
    ndcg: Option<f64>,
    /// Whether an evaluation is recorded at the step itself.
    eval_at_step: bool,
}

impl Logged {
    /// Reads the records of steps up to `step` (nothing when the file is missing or
    /// unreadable: the figures are then unknown).
    fn read(metrics: &Path, step: usize) -> Self {
        let text = densify_core::read_regular_to_string(metrics).unwrap_or_default();
        Self::parse(&text, step)
    }

    fn parse(text: &str, step: usize) -> Self {
        let mut logged = Self::default();
        for line in text.lines() {
            let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let Some(at) = record["step"].as_u64().map(|s| s as usize) else {
                continue;
            };
            if at > step {
                continue;
            }
            match record["kind"].as_str() {
                Some("step") => {
                    if let Some(loss) = record["loss"].as_f64() {
                        logged.loss = Some(loss);
                    }
                }
                Some("eval") => {
                    if let Some(ndcg) = record["ndcg@10"].as_f64() {
                        logged.ndcg = Some(ndcg);
                    }
                    logged.eval_at_step |= at == step;
                }
                _ => {}
            }
        }
        logged
    }
}

/// `device`, made autodiff when it is not.
fn autodiff(device: &Device) -> Device {
    if device.is_autodiff() {
        device.clone()
    } else {
        device.clone().autodiff()
    }
}

/// `(parameter path, gradient values)` of every parameter of `student` that has a gradient.
fn named_gradients(student: &Student, grads: &GradientsParams) -> NamedTensors {
    let mut named = NamedGradients {
        grads,
        path: Vec::new(),
        out: Vec::new(),
    };
    student.visit(&mut named);
    named.out
}

/// `(parameter path, values)` pairs, as [`Trainer::first_step_gradients`] returns.
pub type NamedTensors = Vec<(String, Vec<f32>)>;

/// What a run needs before its first step.
struct Prepared {
    lists: Vec<StepList>,
    /// With `[eval]`.
    dev: Option<DevData>,
    encoder: Encoder,
    text: TextSide,
    /// Token noise (noisy self-training's student) with the model's vocabulary.
    noise: Option<(NoiseConfig, TokenVocab)>,
    /// The configured loss, or the one set with [`Trainer::with_loss`].
    loss: Arc<dyn RankingLoss>,
    in_batch: Option<InBatch>,
}

impl Prepared {
    /// The inputs of the loss for `batch`, loaded as `loaded`.
    fn inputs<'a>(
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
    fn loader(&self) -> Loader<'_> {
        Loader {
            text: &self.text,
            lists: &self.lists,
            noise: self.noise.as_ref(),
        }
    }
}

/// The model being trained: a bi-encoder's towers or a cross-encoder. (One per run, so the
/// variants' size difference does not matter; burn's `Module` derive needs them unboxed.)
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Student {
    /// A bi-encoder.
    Bi(BiEncoderModel),
    /// A cross-encoder.
    Cross(CrossEncoderModel),
}

/// The model with its tokenizers and settings.
#[derive(Debug)]
pub(crate) enum Encoder {
    Bi(Box<BiEncoder>),
    Cross(Box<CrossEncoder>),
}

impl Encoder {
    /// A copy of the trainable part.
    fn student(&self) -> Student {
        match self {
            Self::Bi(bi) => Student::Bi(bi.model.clone()),
            Self::Cross(cross) => Student::Cross(cross.model.clone()),
        }
    }

    /// Saves `student` (in the Hugging Face layout) as this encoder's model.
    fn save(&mut self, student: Student, dir: &Path) -> Result<()> {
        match (self, student) {
            (Self::Bi(bi), Student::Bi(model)) => {
                bi.model = model;
                bi.save(dir)?;
            }
            (Self::Cross(cross), Student::Cross(model)) => {
                cross.model = model;
                cross.save(dir)?;
            }
            _ => unreachable!("the student matches its encoder"),
        }
        Ok(())
    }
}

/// Collects `(parameter path, gradient values)` of a module.
struct NamedGradients<'a> {
    grads: &'a GradientsParams,
    path: Vec<String>,
    out: Vec<(String, Vec<f32>)>,
}

impl burn::module::ModuleVisitor for NamedGradients<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.out
                .push((self.path.join("."), g.into_data().iter::<f32>().collect()));
        }
    }
}

/// Reads a `TrainConfig` file (TOML or JSON) with located errors.
pub fn read_config(path: &Path) -> Result<TrainConfig> {
    Ok(TrainConfig::from_file(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("densify-trainer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn config_in(root: &Path) -> TrainConfig {
        TrainConfig {
            model: root.join("model"),
            output: root.join("out"),
            dataset: "d".into(),
            ..TrainConfig::default()
        }
    }

    #[test]
    fn inputs_inside_the_output_folder_are_refused_by_field() {
        let root = dir("inputs");
        let mut c = config_in(&root);
        std::fs::create_dir_all(root.join("out/final")).unwrap();
        std::fs::create_dir_all(root.join("model")).unwrap();
        refuse_inputs_in_output(&c, None).unwrap();
        c.model = root.join("out/final");
        let e = refuse_inputs_in_output(&c, Some(Path::new("t.toml")))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.toml: `model`: the output folder ")
                && e.ends_with("; write somewhere else"),
            "{e}"
        );
        c.model = root.join("model");
        std::fs::write(root.join("out/train.jsonl"), "{}\n").unwrap();
        c.examples = Some(root.join("out/train.jsonl"));
        let e = refuse_inputs_in_output(&c, None).unwrap_err().to_string();
        assert!(e.starts_with("<train config>: `examples`: "), "{e}");
    }

    #[test]
    fn a_config_file_at_the_copy_s_path_stays_byte_for_byte() {
        let root = dir("copy");
        let c = config_in(&root);
        std::fs::create_dir_all(&c.output).unwrap();
        let file = c.output.join("config.toml");
        let mine = format!("# my run\n{}", c.to_toml_string());
        std::fs::write(&file, &mine).unwrap();
        let e = refuse_inputs_in_output(&c, Some(file.as_path())).unwrap_err();
        assert!(matches!(e, TrainError::ConfigInOutput { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), mine);
        // The run's own copy given back as the config file (a resume): accepted, left alone.
        std::fs::write(&file, c.to_toml_string()).unwrap();
        refuse_inputs_in_output(&c, Some(file.as_path())).unwrap();
        write_config_copy(&c).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), c.to_toml_string());
        refuse_inputs_in_output(&c, Some(root.join("elsewhere.toml").as_path())).unwrap();
    }

    #[test]
    fn an_earlier_run_without_checkpoints_is_refused_naming_what_is_there() {
        let out = dir("earlier").join("out");
        refuse_earlier_run(&out).unwrap();
        std::fs::create_dir_all(out.join("final")).unwrap();
        std::fs::write(out.join("config.toml"), "").unwrap();
        std::fs::write(out.join("metrics.jsonl"), "").unwrap();
        let e = refuse_earlier_run(&out).unwrap_err().to_string();
        assert!(
            e.contains("holds an earlier run (final/, metrics.jsonl) and no checkpoint")
                && e.contains("delete"),
            "{e}"
        );
    }

    #[test]
    fn checkpoint_states_are_checked_against_the_run() {
        let c = TrainConfig::default();
        let state = |step, total_steps, seed| LoopState {
            step,
            total_steps,
            seed,
            best_ndcg: None,
            evaluations_since_best: 0,
        };
        let check = |s: LoopState, last: usize| {
            let (config, path) = (Path::new("train.toml"), Path::new("ck/state.json"));
            check_state(&c, config, path, &s, 12, last).map_err(|e| e.to_string())
        };
        assert_eq!(check(state(5, 12, 42), 12), Ok(()));
        let e = check(state(999, 12, 42), 12).unwrap_err();
        assert!(
            e.starts_with("ck/state.json: `step` is 999, beyond the run's 12 steps"),
            "{e}"
        );
        let e = check(state(5, 20, 42), 12).unwrap_err();
        assert!(
            e.starts_with("ck/state.json: `total_steps` is 20, but train.toml plans 12 steps"),
            "{e}"
        );
        let e = check(state(5, 12, 7), 12).unwrap_err();
        assert!(
            e.starts_with("ck/state.json: `seed` is 7, but the `seed` of train.toml is 42"),
            "{e}"
        );
        let e = check(state(8, 12, 42), 5).unwrap_err();
        assert!(
            e.contains("`step` is 8, beyond this run's last step 5 (`max_steps`"),
            "{e}"
        );
        assert!(is_complete(&c, &state(12, 12, 42), 12));
        assert!(is_complete(&c, &state(5, 12, 42), 5));
        assert!(!is_complete(&c, &state(11, 12, 42), 12));
    }

    #[test]
    fn the_log_gives_a_complete_run_s_last_figures() {
        let text = "{\"kind\":\"step\",\"step\":1,\"loss\":0.5}\n\
                    {\"kind\":\"eval\",\"step\":1,\"ndcg@10\":0.25}\n\
                    {\"kind\":\"step\",\"step\":2,\"loss\":0.125}\n\
                    torn\n\
                    {\"kind\":\"step\",\"step\":3,\"loss\":9}\n";
        let logged = |loss, ndcg, eval_at_step| Logged {
            loss: Some(loss),
            ndcg: Some(ndcg),
            eval_at_step,
        };
        assert_eq!(Logged::parse(text, 2), logged(0.125, 0.25, false));
        assert_eq!(Logged::parse(text, 1), logged(0.5, 0.25, true));
        assert_eq!(Logged::parse("", 4), Logged::default());
    }
}
