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
mod prepare;
mod probes;
mod run_folder;
mod step;
mod student;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use densify_core::Config;
use densify_loss::RankingLoss;
use serde_json::json;

use self::loader::Loader;
use self::plan::{PlannedStep, StepPlanner, mix};
use self::prepare::Prepared;
use self::run_folder::{
    Logged, check_state, is_complete, refuse_earlier_run, refuse_inputs_in_output,
    write_config_copy,
};
use self::step::BatchInputs;
use self::student::{Encoder, autodiff};
pub use self::student::{NamedTensors, Student};
use crate::checkpoint::{self, LoopState};
use crate::config::{BatchSampler, TrainConfig};
use crate::error::{Result, TrainError};
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
            return Err(TrainError::GradCacheWithDataParallel);
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
            return Err(TrainError::CheckpointsWithoutResume {
                checkpoints: self.checkpoints(),
            });
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
                    .map_err(|_| TrainError::LoaderStopped)??;
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
        let keys: Option<Vec<Vec<u64>>> =
            (config.resolved_batch_sampler() == BatchSampler::NoDuplicates).then(|| {
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
}

/// Reads a `TrainConfig` file (TOML or JSON) with located errors.
pub fn read_config(path: &Path) -> Result<TrainConfig> {
    Ok(TrainConfig::from_file(path)?)
}
