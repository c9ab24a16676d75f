//! The training loop (bi-encoders and cross-encoders), written on burn's parts (autodiff, `ModuleOptimizer`,
//! burnpack records) rather than burn-train's `Learner`: IR dev metrics every N steps, exact
//! mid-epoch resume and in-batch negatives across the whole step need control of the loop.
//!
//! One optimizer step:
//! 1. the step's examples: epoch `e`'s order is a permutation seeded by `(seed, e)`, and step
//!    `s` of the epoch takes positions `s·batch .. (s+1)·batch` (the last batch may be short,
//!    as Hugging Face's trainer does not drop it);
//! 2. dropout is re-seeded with `(seed, step)`, so the same step draws the same masks whether
//!    the run was interrupted or not;
//! 3. queries `[b, d]` and each query's list of passages `[b·list, d]` are embedded;
//! 4. scores: InfoNCE with `in_batch_negatives` scores every query against every passage of the
//!    step `[b, b·list]`, excluding from the negatives any column that holds one of the query's
//!    own positives (duplicates across the batch); other losses score each query's own list
//!    `[b, list]` with the examples' teacher scores and labels;
//! 5. the loss's mean, backward, global-norm clipping, AdamW at the schedule's rate.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use densify_core::Config;
use densify_data::Dataset;
use densify_eval::search::{ExactSearchConfig, search_embeddings};
use densify_eval::{Measure, evaluate};
use densify_loss::{LossConfig, RankingLoss, Reduction, ScoredLists};
use densify_model::{
    BiEncoder, BiEncoderModel, CrossEncoder, CrossEncoderModel, Side, in_batch_scores,
};
use densify_noise::{NoiseConfig, TokenVocab};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde_json::json;

use crate::checkpoint::{self, LoopState};
use crate::config::{Architecture, TrainConfig};
use crate::error::{Result, TrainError};
use crate::example::{TrainingExample, pairs_from_qrels, read_examples};
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
    /// The last step's loss.
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
}

/// Trains a bi-encoder or a cross-encoder as [`TrainConfig`] says, on an autodiff device.
#[derive(Debug)]
pub struct Trainer {
    config: TrainConfig,
    device: Device,
    resume: bool,
    /// Token noise (noisy self-training's student) with the model's vocabulary, set by
    /// `prepare` when the config asks for it.
    noise: std::sync::OnceLock<(NoiseConfig, TokenVocab)>,
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
        let device = if device.is_autodiff() {
            device.clone()
        } else {
            device.clone().autodiff()
        };
        Ok(Self {
            config,
            device,
            resume: false,
            noise: std::sync::OnceLock::new(),
        })
    }

    /// Continue from the newest checkpoint of the output folder when there is one.
    #[must_use]
    pub fn resuming(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// The checkpoint folder.
    pub fn checkpoints(&self) -> PathBuf {
        self.config.output.join("checkpoints")
    }

    /// Runs the training; `report` is called after every step.
    pub fn run(&self, report: &mut dyn FnMut(StepReport)) -> Result<TrainSummary> {
        let config = &self.config;
        let output = &config.output;
        std::fs::create_dir_all(output).map_err(|e| TrainError::io(output, e))?;
        let latest = checkpoint::latest(&self.checkpoints());
        if latest.is_some() && !self.resume {
            return Err(TrainError::Invalid(format!(
                "{} holds checkpoints of an earlier run: pass --resume to continue it, or choose \
                 another output folder",
                self.checkpoints().display()
            )));
        }
        densify_core::write_atomic(
            output.join("config.toml"),
            config.to_toml_string().as_bytes(),
        )
        .map_err(|e| TrainError::io(output.join("config.toml"), e))?;

        let Prepared {
            dataset,
            lists,
            mut encoder,
            loss,
            in_batch,
        } = self.prepare()?;
        let examples = &lists;

        let accumulation = config.gradient_accumulation_steps.max(1);
        let batches_per_epoch = examples.len().div_ceil(config.batch_size);
        let steps_per_epoch = batches_per_epoch.div_ceil(accumulation);
        let total_steps = steps_per_epoch * config.epochs;
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
        if let Some(path) = latest.filter(|_| self.resume) {
            let (m, o, s) = checkpoint::load(&path, model, optimizer)?;
            if s.total_steps != total_steps || s.seed != config.seed {
                return Err(TrainError::Invalid(format!(
                    "{}: the checkpoint is of a run with {} steps and seed {}, this config gives \
                     {total_steps} steps and seed {}",
                    path.display(),
                    s.total_steps,
                    s.seed,
                    config.seed
                )));
            }
            (model, optimizer, state) = (m, o, s);
        }
        let resumed_from = state.step;
        let mut log = MetricsLog::open(
            &output.join("metrics.jsonl"),
            resumed_from,
            resumed_from == 0,
        )?;

        let mut order_epoch = usize::MAX;
        let mut order: Vec<usize> = Vec::new();
        let mut final_loss = f64::NAN;
        let mut dev_ndcg = None;
        let mut train_seconds = 0.0;
        let eval_every = config.eval.as_ref().map_or(0, |e| e.every_steps);
        while state.step < last_step {
            let step = state.step;
            let epoch = step / steps_per_epoch;
            if epoch != order_epoch {
                order = epoch_order(examples.len(), config.seed, epoch);
                order_epoch = epoch;
            }
            // The step's batches: one, or `accumulation` consecutive ones of the epoch order.
            let first = (step % steps_per_epoch) * accumulation;
            let batches: Vec<Vec<usize>> = (first..(first + accumulation).min(batches_per_epoch))
                .map(|b| {
                    let start = b * config.batch_size;
                    order[start..(start + config.batch_size).min(order.len())].to_vec()
                })
                .collect();
            let began = Instant::now();
            let mut accumulated = burn::optim::GradientsAccumulator::<Student>::new();
            let mut loss_sum = 0.0;
            for (j, batch) in batches.iter().enumerate() {
                let seed = match j {
                    0 => mix(config.seed, step as u64),
                    j => mix(mix(config.seed, step as u64), j as u64),
                };
                let (loss_value, grads) = self.step_gradients(
                    &encoder,
                    &model,
                    &lists,
                    batch,
                    loss.as_ref(),
                    in_batch,
                    seed,
                    epoch,
                )?;
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
                crate::optimizer::scale_gradients(&model, &mut grads, 1.0 / batches.len() as f32);
            }
            let loss_value = loss_sum / batches.len() as f64;
            let batch_examples: usize = batches.iter().map(Vec::len).sum();
            let max_norm =
                (config.optimizer.max_grad_norm > 0.0).then_some(config.optimizer.max_grad_norm);
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
                let ndcg = self.evaluate(&mut encoder, &model, &dataset, &mut log, state.step)?;
                dev_ndcg = Some(ndcg);
                if state.best_ndcg.is_none_or(|best| ndcg > best) {
                    state.best_ndcg = Some(ndcg);
                    state.evaluations_since_best = 0;
                    encoder.save(model.valid(), &output.join("best"))?;
                } else {
                    state.evaluations_since_best += 1;
                }
                let patience = config.eval.as_ref().map_or(0, |e| e.patience);
                if patience > 0 && state.evaluations_since_best >= patience {
                    break;
                }
            }
            if config.checkpoint_every > 0
                && state.step.is_multiple_of(config.checkpoint_every)
                && !at_end
            {
                checkpoint::save(
                    &self.checkpoints(),
                    &model,
                    &optimizer,
                    &state,
                    config.keep_checkpoints,
                )?;
            }
        }
        checkpoint::save(
            &self.checkpoints(),
            &model,
            &optimizer,
            &state,
            config.keep_checkpoints,
        )?;
        if config.eval.is_some() {
            let ndcg = self.evaluate(&mut encoder, &model, &dataset, &mut log, state.step)?;
            dev_ndcg = Some(ndcg);
            if state.best_ndcg.is_none_or(|best| ndcg > best) {
                state.best_ndcg = Some(ndcg);
                encoder.save(model.valid(), &output.join("best"))?;
            }
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
        })
    }

    /// Redraws `training.svg` from `metrics.jsonl`.
    fn plot(&self) -> Result<()> {
        crate::plot::write_plot(
            &self.config.output.join("metrics.jsonl"),
            &self.config.output.join("training.svg"),
        )
    }

    /// Loads the dataset, the examples (checked against the corpus) and the model.
    fn prepare(&self) -> Result<Prepared> {
        let config = &self.config;
        let dataset = Dataset::find(&config.dataset)?;
        let corpus: HashMap<String, String> = dataset.corpus_items()?.into_iter().collect();
        let (examples, source) = match &config.examples {
            Some(path) => (read_examples(path)?, path.display().to_string()),
            None => (
                pairs_from_qrels(&dataset, &config.split)?,
                dataset.qrels_path(&config.split).display().to_string(),
            ),
        };
        let lists = build_lists(&examples, &corpus, config, &source)?;
        let encoder = match config.architecture {
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
                if let Some(noise) = &config.noise {
                    let tokenizer = bi.tokenizer(Side::Query);
                    let vocab = TokenVocab::new(
                        tokenizer.vocab_size() as u32,
                        tokenizer.token_id("[MASK]"),
                        tokenizer.special_ids(),
                    );
                    for (side, op) in [("query", &noise.query), ("passage", &noise.passage)] {
                        op.check_vocab(&vocab)
                            .map_err(|e| TrainError::Invalid(format!("noise.{side}: {e}")))?;
                    }
                    let _ = self.noise.set((noise.clone(), vocab));
                }
                Encoder::Bi(Box::new(bi))
            }
            Architecture::CrossEncoder => {
                let max = config.pair_max_length.unwrap_or(512);
                let mut cross = CrossEncoder::load(&config.model, max, &self.device)?;
                if !config.dropout {
                    cross.model = cross.model.clone().without_dropout();
                }
                Encoder::Cross(Box::new(cross))
            }
        };
        let loss = config
            .loss
            .init()
            .map_err(|e| TrainError::Invalid(format!("loss: {e}")))?;
        let in_batch = config.in_batch_negatives
            && matches!(config.loss, LossConfig::InfoNce(_))
            && config.architecture == Architecture::BiEncoder;
        Ok(Prepared {
            dataset,
            lists,
            encoder,
            loss,
            in_batch,
        })
    }

    /// The loss and the named parameter gradients of the first step of the run (the first
    /// `batch_size` examples of epoch 0's order), without changing anything: for checking that
    /// GradCache gives the uncached step's gradients.
    pub fn first_step_gradients(&self) -> Result<(f64, NamedTensors)> {
        let Prepared {
            lists,
            encoder,
            loss,
            in_batch,
            ..
        } = self.prepare()?;
        let student = encoder.student();
        let order = epoch_order(lists.len(), self.config.seed, 0);
        let batch = &order[..self.config.batch_size.min(order.len())];
        let (value, grads) = self.step_gradients(
            &encoder,
            &student,
            &lists,
            batch,
            loss.as_ref(),
            in_batch,
            mix(self.config.seed, 0),
            0,
        )?;
        let grads = grads.ok_or_else(|| TrainError::Invalid(format!("the loss is {value}")))?;
        let mut named = NamedGradients {
            grads: &grads,
            path: Vec::new(),
            out: Vec::new(),
        };
        student.visit(&mut named);
        Ok((value, named.out))
    }

    /// The loss of one step's examples and the parameters' gradients (`None` when the loss is
    /// not finite). Without GradCache, one forward over the whole step; with it (paper B's
    /// large batches, Gao et al., "Scaling Deep Contrastive Learning Batch Size under Memory
    /// Limited Setup", 2021), embeddings are computed in mini-batches whose graphs are dropped
    /// at once, the loss and its gradient with respect to the embeddings are taken on the full
    /// step, and each mini-batch is run again under the same dropout seed to back-propagate
    /// `Σ embedding · gradient` into the weights: the same gradients in the memory of one
    /// mini-batch.
    #[allow(clippy::too_many_arguments)]
    fn step_gradients(
        &self,
        encoder: &Encoder,
        student: &Student,
        lists: &[StepList],
        batch: &[usize],
        loss: &dyn RankingLoss,
        in_batch: bool,
        seed: u64,
        epoch: usize,
    ) -> Result<(f64, Option<GradientsParams>)> {
        let device = &self.device;
        let (bi, model) = match (encoder, student) {
            (Encoder::Bi(bi), Student::Bi(model)) => (bi.as_ref(), model),
            (Encoder::Cross(cross), Student::Cross(model)) => {
                return self.cross_step_gradients(cross, model, lists, batch, loss, seed);
            }
            _ => unreachable!("the student matches its encoder"),
        };
        let list_size = self.config.list_size;
        // (text, example id, position in the list: None for the query)
        let queries: Vec<(&str, &str, Option<u32>)> = batch
            .iter()
            .map(|&i| (lists[i].query.as_str(), lists[i].id.as_str(), None))
            .collect();
        let passages: Vec<(&str, &str, Option<u32>)> = batch
            .iter()
            .flat_map(|&i| {
                lists[i]
                    .texts
                    .iter()
                    .enumerate()
                    .map(move |(p, t)| (t.as_str(), lists[i].id.as_str(), Some(p as u32)))
            })
            .collect();
        let embed_with = |model: &BiEncoderModel,
                          items: &[(&str, &str, Option<u32>)],
                          side: Side|
         -> Result<Tensor<2>> {
            let texts: Vec<&str> = items.iter().map(|(t, _, _)| *t).collect();
            let mut encoded = bi.tokenize(&texts, side)?;
            if let Some((noise, vocab)) = self.noise.get() {
                for (e, (_, example, position)) in encoded.iter_mut().zip(items) {
                    // A new draw each epoch, the same on a resumed run.
                    let key = format!("{example}@{epoch}");
                    e.ids = match position {
                        None => noise.noisy_query(&e.ids, vocab, &key),
                        Some(p) => noise.noisy_passage(&e.ids, vocab, &key, *p),
                    };
                    e.type_ids = vec![0; e.ids.len()];
                }
            }
            let refs: Vec<_> = encoded.iter().collect();
            let tokens = bi.tokenizer(side).batch(&refs, device);
            Ok(model.embed(&tokens, side))
        };
        let embed =
            |items: &[(&str, &str, Option<u32>)], side: Side| embed_with(model, items, side);
        let value_of = |t: &Tensor<1>| f64::from(t.clone().into_scalar::<f32>());
        let Some(mini) = self.config.grad_cache_mini_batch else {
            device.seed(seed);
            let q = embed(&queries, Side::Query)?;
            let p = embed(&passages, Side::Passage)?;
            let value = loss.forward(
                &self.scored(bi, lists, batch, q, p, in_batch),
                Reduction::Mean,
            );
            let number = value_of(&value);
            if !number.is_finite() {
                return Ok((number, None));
            }
            return Ok((
                number,
                Some(GradientsParams::from_grads(value.backward(), model)),
            ));
        };
        // Each chunk's dropout seed, the same in both passes.
        let chunk_seed = |side: u64, chunk: usize| mix(seed, (side << 32) | chunk as u64);
        let sides = [
            (Side::Query, 0u64, queries.as_slice(), mini),
            (Side::Passage, 1u64, passages.as_slice(), mini * list_size),
        ];
        // The first pass records no graph: the same weights with `require_grad` off (dropout
        // still draws, the device being autodiff), so its memory is one mini-batch's
        // activations, not the step's graph.
        let frozen = model.clone().no_grad();
        let mut full = Vec::new();
        for &(side, tag, texts, size) in &sides {
            let mut parts = Vec::new();
            for (c, chunk) in texts.chunks(size).enumerate() {
                device.seed(chunk_seed(tag, c));
                parts.push(embed_with(&frozen, chunk, side)?.detach());
            }
            full.push(Tensor::cat(parts, 0).require_grad());
        }
        let (q, p) = (full[0].clone(), full[1].clone());
        let value = loss.forward(
            &self.scored(bi, lists, batch, q.clone(), p.clone(), in_batch),
            Reduction::Mean,
        );
        let number = value_of(&value);
        if !number.is_finite() {
            return Ok((number, None));
        }
        let mut grads = value.backward();
        let embedding_grads = [
            q.grad_remove(&mut grads)
                .expect("the loss reads the queries"),
            p.grad_remove(&mut grads)
                .expect("the loss reads the passages"),
        ];
        drop(grads);
        let mut accumulated = burn::optim::GradientsAccumulator::<BiEncoderModel>::new();
        for (&(side, tag, texts, size), gradient) in sides.iter().zip(embedding_grads) {
            for (c, chunk) in texts.chunks(size).enumerate() {
                device.seed(chunk_seed(tag, c));
                let e = embed(chunk, side)?;
                let g = gradient.clone().narrow(0, c * size, chunk.len());
                // A constant on the autodiff device (no host round trip).
                let g = Tensor::<2>::from_inner(g);
                let surrogate = (e * g).sum();
                accumulated.accumulate(
                    model,
                    GradientsParams::from_grads(surrogate.backward(), model),
                );
            }
        }
        Ok((number, Some(accumulated.grads())))
    }

    /// A cross-encoder step: every (query, candidate) pair of the step scored jointly, each
    /// query's list `[b, list]` given to the loss (positive first, teacher scores and labels
    /// from the examples).
    fn cross_step_gradients(
        &self,
        cross: &CrossEncoder,
        model: &CrossEncoderModel,
        lists: &[StepList],
        batch: &[usize],
        loss: &dyn RankingLoss,
        seed: u64,
    ) -> Result<(f64, Option<GradientsParams>)> {
        let device = &self.device;
        let pairs: Vec<(&str, &str)> = batch
            .iter()
            .flat_map(|&i| {
                lists[i]
                    .texts
                    .iter()
                    .map(move |t| (lists[i].query.as_str(), t.as_str()))
            })
            .collect();
        device.seed(seed);
        let encoded = cross.tokenizer().encode_pairs(&pairs)?;
        let items: Vec<&densify_model::Encoded> = encoded.iter().collect();
        let tokens = cross.tokenizer().batch(&items, device);
        let scores = model
            .score(&tokens)
            .reshape([batch.len(), self.config.list_size]);
        let scored = list_targets(lists, batch, self.config.list_size, device, scores);
        let value = loss.forward(&scored, Reduction::Mean);
        let number = f64::from(value.clone().into_scalar::<f32>());
        if !number.is_finite() {
            return Ok((number, None));
        }
        Ok((
            number,
            Some(GradientsParams::from_grads(value.backward(), model)),
        ))
    }

    /// The step's scores with the targets its loss reads.
    fn scored(
        &self,
        bi: &BiEncoder,
        lists: &[StepList],
        batch: &[usize],
        q: Tensor<2>,
        p: Tensor<2>,
        in_batch: bool,
    ) -> ScoredLists {
        let device = &self.device;
        let list_size = self.config.list_size;
        let b = batch.len();
        let similarity = bi.settings.similarity;
        if in_batch {
            let scores = in_batch_scores(q, p, similarity);
            let columns = b * list_size;
            let doc_ids: Vec<&str> = batch
                .iter()
                .flat_map(|&i| lists[i].doc_ids.iter().map(String::as_str))
                .collect();
            let mut candidates = Vec::with_capacity(b * columns);
            for (row, &i) in batch.iter().enumerate() {
                for (column, doc) in doc_ids.iter().enumerate() {
                    let own = column == row * list_size;
                    candidates.push(own || !lists[i].positives.contains(*doc));
                }
            }
            let positive: Vec<i64> = (0..b).map(|r| (r * list_size) as i64).collect();
            ScoredLists::new(scores)
                .with_positive(Tensor::<1, Int>::from_data(
                    TensorData::new(positive, [b]),
                    device,
                ))
                .with_candidates(Tensor::<2, Bool>::from_data(
                    TensorData::new(candidates, [b, columns]),
                    device,
                ))
        } else {
            let scores = similarity.lists(q, p);
            list_targets(lists, batch, list_size, device, scores)
        }
    }

    /// nDCG@10 and Recall@100 of the current weights on the dev split, logged.
    fn evaluate(
        &self,
        encoder: &mut Encoder,
        student: &Student,
        train_dataset: &Dataset,
        log: &mut MetricsLog,
        step: usize,
    ) -> Result<f64> {
        let eval = self.config.eval.clone().unwrap_or_default();
        let dataset = match &eval.dataset {
            Some(name) => Dataset::find(name)?,
            None => Dataset::open(train_dataset.root())?,
        };
        let inner = self.device.clone().inner();
        let (Encoder::Bi(bi), Student::Bi(model)) = (encoder, student) else {
            return Err(TrainError::Invalid(
                "dev evaluation by retrieval needs a bi-encoder; remove [eval] for a cross-encoder"
                    .into(),
            ));
        };
        bi.model = model.valid();
        let corpus = bi.encode_items(
            &dataset.corpus_items()?,
            Side::Passage,
            32,
            &inner,
            &mut |_| {},
        )?;
        let (queries, qrels) = dataset.split_queries(&eval.split)?;
        let items: Vec<(String, String)> = queries.into_iter().map(|q| (q.id, q.text)).collect();
        let queries = bi.encode_items(&items, Side::Query, 32, &inner, &mut |_| {})?;
        let run = search_embeddings(
            &queries,
            &corpus,
            ExactSearchConfig::new()
                .with_k(100)
                .with_similarity(bi.settings.similarity),
            &inner,
        )?;
        let measures = [Measure::NdcgCut(10), Measure::Recall(100)];
        let evaluation = evaluate(&qrels, &run, &measures, Default::default())?;
        let ndcg = evaluation.mean(Measure::NdcgCut(10)).unwrap_or(0.0);
        let recall = evaluation.mean(Measure::Recall(100)).unwrap_or(0.0);
        log.write(&json!({"kind": "eval", "step": step, "ndcg@10": ndcg, "recall@100": recall}))?;
        self.plot()?;
        Ok(ndcg)
    }
}

/// `(parameter path, values)` pairs, as [`Trainer::first_step_gradients`] returns.
pub type NamedTensors = Vec<(String, Vec<f32>)>;

/// What a run needs before its first step.
struct Prepared {
    dataset: Dataset,
    lists: Vec<StepList>,
    encoder: Encoder,
    loss: Box<dyn RankingLoss>,
    in_batch: bool,
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
enum Encoder {
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

/// An example as a step uses it: texts in list order (the first positive first).
#[derive(Debug)]
struct StepList {
    id: String,
    query: String,
    doc_ids: Vec<String>,
    texts: Vec<String>,
    /// Every document judged positive for this query anywhere in the examples.
    positives: HashSet<String>,
    teacher: Option<Vec<f32>>,
    labels: Option<Vec<f32>>,
}

/// Each query's own list: positive at column 0, the examples' teacher scores and labels when
/// every example of the step has them.
///
/// # Shapes
/// - `scores`: `[batch, list]`
fn list_targets(
    lists: &[StepList],
    batch: &[usize],
    list_size: usize,
    device: &Device,
    scores: Tensor<2>,
) -> ScoredLists {
    let b = batch.len();
    let mut scored = ScoredLists::new(scores).with_positive(Tensor::<1, Int>::zeros([b], device));
    let gather = |get: &dyn Fn(&StepList) -> &Option<Vec<f32>>| -> Option<Tensor<2>> {
        batch
            .iter()
            .map(|&i| get(&lists[i]).clone())
            .collect::<Option<Vec<Vec<f32>>>>()
            .map(|rows| Tensor::from_data(TensorData::new(rows.concat(), [b, list_size]), device))
    };
    if let Some(t) = gather(&|l| &l.teacher) {
        scored = scored.with_teacher(t);
    }
    if let Some(t) = gather(&|l| &l.labels) {
        scored = scored.with_labels(t);
    }
    scored
}

/// Checks the examples against the corpus and the configuration and lays each out as a list of
/// `list_size` documents, the first positive first.
fn build_lists(
    examples: &[TrainingExample],
    corpus: &HashMap<String, String>,
    config: &TrainConfig,
    source: &str,
) -> Result<Vec<StepList>> {
    if examples.is_empty() {
        return Err(TrainError::Invalid(format!(
            "{source}: no training examples"
        )));
    }
    let mut positives_of: HashMap<&str, HashSet<String>> = HashMap::new();
    for e in examples {
        for i in e.positives() {
            positives_of
                .entry(e.query_id.as_str())
                .or_default()
                .insert(e.candidates[i].doc_id.clone());
        }
    }
    let place = |e: &TrainingExample| {
        if e.line > 0 {
            format!("{source}:{}", e.line)
        } else {
            format!("{source} (example `{}`)", e.id)
        }
    };
    let needs_positive = matches!(
        config.loss,
        LossConfig::InfoNce(_) | LossConfig::MarginMse(_)
    );
    examples
        .iter()
        .map(|e| {
            if let Some(c) = e
                .candidates
                .iter()
                .find(|c| !corpus.contains_key(&c.doc_id))
            {
                return Err(TrainError::Invalid(format!(
                    "{}: document `{}` is not in the corpus of {}",
                    place(e),
                    c.doc_id,
                    config.dataset
                )));
            }
            if e.candidates.len() < config.list_size {
                return Err(TrainError::Invalid(format!(
                    "{}: {} candidates, fewer than list_size = {}",
                    place(e),
                    e.candidates.len(),
                    config.list_size
                )));
            }
            let first = e.positives().next();
            if needs_positive && first.is_none() {
                return Err(TrainError::Invalid(format!(
                    "{}: no candidate is marked `positive`, which the {} loss needs",
                    place(e),
                    config.loss.init().map(|l| l.name()).unwrap_or("configured")
                )));
            }
            let first = first.unwrap_or(0);
            let order: Vec<usize> = std::iter::once(first)
                .chain((0..e.candidates.len()).filter(|&i| i != first))
                .take(config.list_size)
                .collect();
            let pick = |f: &dyn Fn(&crate::Candidate) -> Option<f64>| -> Option<Vec<f32>> {
                order
                    .iter()
                    .map(|&i| f(&e.candidates[i]).map(|v| v as f32))
                    .collect()
            };
            Ok(StepList {
                id: e.id.clone(),
                query: e.query.clone(),
                doc_ids: order
                    .iter()
                    .map(|&i| e.candidates[i].doc_id.clone())
                    .collect(),
                texts: order
                    .iter()
                    .map(|&i| corpus[&e.candidates[i].doc_id].clone())
                    .collect(),
                positives: positives_of
                    .get(e.query_id.as_str())
                    .cloned()
                    .unwrap_or_default(),
                teacher: pick(&|c| c.teacher),
                labels: pick(&|c| c.label),
            })
        })
        .collect()
}

/// The example order of `epoch`: a permutation seeded by `(seed, epoch)`.
fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng =
        rand_chacha::ChaCha8Rng::seed_from_u64(mix(seed, epoch as u64 ^ 0x005e_ed0f_e90c));
    order.shuffle(&mut rng);
    order
}

/// Mixes a seed and a counter into a new seed (SplitMix64's finaliser).
fn mix(seed: u64, counter: u64) -> u64 {
    let mut z = seed ^ counter.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Reads a `TrainConfig` file (TOML or JSON) with located errors.
pub fn read_config(path: &Path) -> Result<TrainConfig> {
    Ok(TrainConfig::from_file(path)?)
}
