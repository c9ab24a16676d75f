//! The training loop on a tiny random BERT (2 layers, width 32) over MiniLM's tokenizer and a
//! small BEIR dataset written here: the loss falls, checkpoints round-trip, a run stopped at
//! step k and resumed ends bit-identical to an uninterrupted one, and bad inputs are clear
//! errors.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use densify_model::{BiEncoder, Similarity};
use densify_testkit::{metric_records as records, tensors, tiny_bi_encoder};
use densify_train::{TrainConfig, TrainError, Trainer};

/// burn's CPU backends keep one random generator per process: tests that draw from it (random
/// init, dropout) run one at a time so a resumed run's dropout masks are not disturbed.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn fresh(name: &str) -> PathBuf {
    densify_testkit::fresh_dir("train", name)
}

/// A random tiny bi-encoder saved in the sentence-transformers layout.
fn tiny_model(dir: &Path) {
    tiny_bi_encoder(dir, 7);
}

/// The final model's tensors, by name.
fn weights(dir: &Path) -> Vec<(String, Vec<u8>)> {
    tensors(&dir.join("model.safetensors"))
}

fn losses(output: &Path) -> Vec<f64> {
    records(output, "step")
        .iter()
        .map(|v| v["loss"].as_f64().unwrap())
        .collect()
}

/// The first step's metrics record.
fn first_step(output: &Path) -> serde_json::Value {
    records(output, "step").remove(0)
}

/// The tiny BEIR dataset of 12 topics.
fn tiny_dataset(dir: &Path) {
    densify_testkit::tiny_topics_dataset(dir);
}

fn config(root: &Path, output: &str) -> TrainConfig {
    let mut config = TrainConfig {
        model: root.join("model"),
        dataset: root.join("data").display().to_string(),
        output: root.join(output),
        batch_size: 4,
        epochs: 3,
        checkpoint_every: 2,
        ..TrainConfig::default()
    };
    config.optimizer.learning_rate = 1e-3;
    config
}

#[test]
fn trains_checkpoints_and_resumes_bit_identically() {
    let _serial = serial();
    let root = fresh("resume");
    tiny_model(&root.join("model"));
    tiny_dataset(&root.join("data"));
    let device = Device::flex();

    // 16 pairs at batch 4: 4 steps an epoch, 12 in all.
    let full = config(&root, "full");
    let summary = Trainer::new(full.clone(), &device)
        .unwrap()
        .run(&mut |_| {})
        .unwrap();
    assert_eq!(summary.steps, 12);
    let curve = losses(&full.output);
    assert_eq!(curve.len(), 12);
    let first: f64 = curve[..4].iter().sum();
    let last: f64 = curve[8..].iter().sum();
    assert!(last < first, "the loss did not fall: {curve:?}");

    // Stopped after 5 steps (mid-epoch), then resumed to the end.
    let mut part = config(&root, "part");
    part.max_steps = Some(5);
    let stopped = Trainer::new(part.clone(), &device)
        .unwrap()
        .run(&mut |_| {})
        .unwrap();
    assert_eq!(stopped.steps, 5);
    // Without --resume an output with checkpoints is refused.
    part.max_steps = None;
    let refused = Trainer::new(part.clone(), &device)
        .unwrap()
        .run(&mut |_| {});
    assert!(
        matches!(&refused, Err(e @ TrainError::CheckpointsWithoutResume { .. }) if e.to_string().contains("--resume"))
    );
    let resumed = Trainer::new(part.clone(), &device)
        .unwrap()
        .resuming(true)
        .run(&mut |_| {})
        .unwrap();
    assert_eq!((resumed.resumed_from, resumed.steps), (5, 12));
    assert_eq!(losses(&part.output), curve, "the loss curves differ");
    assert!(
        weights(&summary.final_model) == weights(&resumed.final_model),
        "the resumed run's weights differ from the uninterrupted run's"
    );
    // Only the newest `keep_checkpoints` remain, and no temporary.
    let left: Vec<String> = std::fs::read_dir(part.output.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|n| n.starts_with("step-")), "{left:?}");
}

#[test]
fn bad_examples_and_configs_are_clear_errors() {
    let _serial = serial();
    let root = fresh("bad");
    tiny_model(&root.join("model"));
    tiny_dataset(&root.join("data"));
    let device = Device::flex();
    let examples = root.join("examples.jsonl");
    let run = |lines: &str, edit: &dyn Fn(&mut TrainConfig)| -> String {
        std::fs::write(&examples, lines).unwrap();
        let mut c = config(&root, "bad-out");
        let _ = std::fs::remove_dir_all(&c.output);
        c.examples = Some(examples.clone());
        edit(&mut c);
        Trainer::new(c, &device)
            .and_then(|t| t.run(&mut |_| {}))
            .unwrap_err()
            .to_string()
    };
    let ok = "{\"query_id\": \"q1\", \"query\": \"cats\", \"candidates\": [{\"doc_id\": \"d0a\", \"positive\": true}, {\"doc_id\": \"d1a\"}]}\n";
    let err = run(
        &format!(
            "{ok}{{\"query_id\": \"q2\", \"query\": \"x\", \"candidates\": [{{\"doc_id\": \"nope\", \"positive\": true}}]}}\n"
        ),
        &|_| {},
    );
    assert!(
        err.contains("examples.jsonl:2: document `nope` is not in the corpus"),
        "{err}"
    );
    let err = run(ok, &|c| c.list_size = 3);
    assert!(
        err.contains("examples.jsonl:1: 2 candidates, fewer than list_size = 3"),
        "{err}"
    );
    let err = run(
        "{\"query_id\": \"q1\", \"query\": \"cats\", \"candidates\": [{\"doc_id\": \"d0a\"}]}\n",
        &|_| {},
    );
    assert!(
        err.contains("examples.jsonl:1: no candidate is marked `positive`"),
        "{err}"
    );
    let err = run(ok, &|c| c.optimizer.learning_rate = f64::NAN);
    assert!(err.contains("optimizer.learning_rate"), "{err}");
    let err = run(ok, &|c| c.model = root.join("data"));
    assert!(err.contains("no config.json"), "{err}");
}

/// GradCache: the same gradients as the uncached step, to 1e-5 of each tensor's largest, with
/// in-batch InfoNCE over lists of 2 and with a listwise loss (dropout off, as in
/// sentence-transformers' comparison).
#[test]
fn grad_cache_gives_the_uncached_gradients() {
    let _serial = serial();
    let root = fresh("gradcache");
    tiny_model(&root.join("model"));
    tiny_dataset(&root.join("data"));
    let examples = root.join("lists.jsonl");
    densify_testkit::tiny_teacher_lists(&examples);
    for loss in ["info_nce", "kl_distillation"] {
        let mut c = config(&root, "unused");
        c.examples = Some(examples.clone());
        c.batch_size = 7;
        c.list_size = 3;
        c.dropout = false;
        c.loss = densify_core::Config::from_toml_str(&format!("type = \"{loss}\"\n"), "loss.toml")
            .unwrap();
        let (plain_loss, plain) = Trainer::new(c.clone(), &Device::flex())
            .unwrap()
            .first_step_gradients()
            .unwrap();
        c.grad_cache_mini_batch = Some(2);
        let (cached_loss, cached) = Trainer::new(c, &Device::flex())
            .unwrap()
            .first_step_gradients()
            .unwrap();
        assert!(
            (plain_loss - cached_loss).abs() < 1e-6,
            "{loss}: {plain_loss} vs {cached_loss}"
        );
        // Tensors whose gradient is zero in exact arithmetic (attention key biases: softmax
        // ignores a shift) hold only rounding noise, hence the helper's absolute floor.
        let worst = densify_testkit::worst_gradient_difference(&plain, &cached, loss);
        println!("{loss}: loss {plain_loss:.6}, worst relative gradient difference {worst:.2e}");
    }
}

/// Teacher scores from a bi-encoder teacher equal its own similarity of the two embeddings,
/// and a distillation run reads them back from the JSONL.
#[test]
fn teacher_scores_are_the_teacher_s_similarities_and_train_a_kl_student() {
    let _serial = serial();
    let root = fresh("score");
    tiny_model(&root.join("model"));
    tiny_dataset(&root.join("data"));
    let device = Device::flex();
    let dataset = densify_data::Dataset::open(root.join("data")).unwrap();
    let texts: std::collections::HashMap<String, String> =
        dataset.corpus_items().unwrap().into_iter().collect();
    let mut examples: Vec<densify_train::TrainingExample> = (0..6)
        .map(|i| densify_train::TrainingExample {
            id: format!("e{i}"),
            query_id: format!("q{i}"),
            query: format!("question {i}"),
            candidates: ["a", "b"]
                .iter()
                .map(|s| densify_train::Candidate {
                    doc_id: format!("d{i}{s}"),
                    positive: *s == "a",
                    teacher: None,
                    label: None,
                })
                .collect(),
            line: 0,
        })
        .collect();
    let teacher = BiEncoder::load(root.join("model"), &device, |_| {}).unwrap();
    let expected: Vec<f32> = examples
        .iter()
        .flat_map(|e| {
            let q = teacher
                .encode(
                    &[e.query.as_str()],
                    densify_model::Side::Query,
                    1,
                    &device,
                    &mut |_| {},
                )
                .unwrap();
            e.candidates
                .iter()
                .map(|c| {
                    let d = teacher
                        .encode(
                            &[texts[&c.doc_id].as_str()],
                            densify_model::Side::Passage,
                            1,
                            &device,
                            &mut |_| {},
                        )
                        .unwrap();
                    Similarity::Cosine.pair(&q, &d)
                })
                .collect::<Vec<f32>>()
        })
        .collect();
    let teacher = densify_train::score::Teacher::Bi(Box::new(teacher));
    densify_train::score::score_examples(&mut examples, &texts, &teacher, 4, &device, &mut |_| {})
        .unwrap();
    let got: Vec<f32> = examples
        .iter()
        .flat_map(|e| e.candidates.iter().map(|c| c.teacher.unwrap() as f32))
        .collect();
    for (g, e) in got.iter().zip(&expected) {
        assert!((g - e).abs() < 1e-5, "{got:?} vs {expected:?}");
    }
    // The scored file trains a KL-distillation student over each query's own list.
    let path = root.join("scored.jsonl");
    densify_train::example::write_examples(&path, &examples).unwrap();
    let mut c = config(&root, "kl");
    c.examples = Some(path);
    c.list_size = 2;
    c.epochs = 1;
    c.loss =
        densify_core::Config::from_toml_str("type = \"kl_distillation\"\n", "loss.toml").unwrap();
    let summary = Trainer::new(c, &device).unwrap().run(&mut |_| {}).unwrap();
    assert_eq!(summary.steps, 2);
    assert!(summary.final_loss.is_finite() && summary.final_loss >= 0.0);
    // The plot sits beside the checkpoints.
    let output = summary.final_model.parent().unwrap();
    assert!(output.join("training.svg").is_file());
}

/// A loss that turns NaN stops the run with the step and the batch's example ids, and the
/// checkpoints written before it stay.
#[test]
fn a_non_finite_loss_stops_with_the_step_and_examples() {
    let _serial = serial();
    let root = fresh("nan");
    tiny_model(&root.join("model"));
    tiny_dataset(&root.join("data"));
    let mut c = config(&root, "out");
    c.checkpoint_every = 1;
    c.optimizer.warmup_ratio = 0.0;
    c.optimizer.max_grad_norm = 0.0;
    // A rate that sends the weights to infinity after the first update.
    c.optimizer.learning_rate = 1e38;
    let err = Trainer::new(c.clone(), &Device::flex())
        .unwrap()
        .run(&mut |_| {})
        .unwrap_err();
    let TrainError::NonFiniteLoss { step, examples, .. } = &err else {
        panic!("{err}");
    };
    assert!(*step >= 2, "{err}");
    assert_eq!(examples.split(", ").count(), 4, "{err}");
    assert!(err.to_string().contains("last good checkpoint is kept"));
    let kept = densify_train::checkpoint::latest(&c.output.join("checkpoints")).unwrap();
    assert!(
        kept.ends_with(format!("step-{:08}", step - 1)),
        "{}",
        kept.display()
    );
    assert!(!c.output.join("final").exists());
}

/// A loss set in code with `Trainer::with_loss` replaces the configured one in every step:
/// it is called once a step, and the logged loss is its value (InfoNCE shifted by 100, a
/// constant that leaves the gradients as they are).
#[test]
fn a_loss_set_in_code_replaces_the_configured_one() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use densify_loss::{InfoNce, InfoNceConfig, RankingLoss, ScoredLists};

    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicUsize>,
        inner: InfoNce,
    }

    impl RankingLoss for Counting {
        fn name(&self) -> &'static str {
            "counting_info_nce"
        }

        fn forward_no_reduction(&self, batch: &ScoredLists) -> burn::tensor::Tensor<1> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.inner.forward_no_reduction(batch).add_scalar(100.0)
        }
    }

    let _serial = serial();
    let root = fresh("custom-loss");
    tiny_model(&root.join("model"));
    tiny_dataset(&root.join("data"));
    let mut c = config(&root, "out");
    c.max_steps = Some(2);
    let calls = Arc::new(AtomicUsize::new(0));
    let loss = Counting {
        calls: Arc::clone(&calls),
        inner: InfoNceConfig::new().init().unwrap(),
    };
    let summary = Trainer::new(c.clone(), &Device::flex())
        .unwrap()
        .with_loss(loss)
        .run(&mut |_| {})
        .unwrap();
    assert_eq!(summary.steps, 2);
    assert!(summary.final_model.join("model.safetensors").is_file());
    let calls = calls.load(Ordering::SeqCst);
    assert!(
        calls >= 2,
        "the custom loss was called {calls} times in 2 steps"
    );
    let curve = losses(&c.output);
    assert_eq!(curve.len(), 2);
    assert!(
        curve.iter().all(|&l| l.is_finite() && l > 100.0),
        "the logged losses are not the custom loss's: {curve:?}"
    );
}

/// A cross-encoder with a new head on the tiny encoder learns to put each query's positive
/// first (listwise softmax cross-entropy over [positive, negatives]) and is saved in the
/// Hugging Face layout it loads back from.
#[test]
fn a_cross_encoder_trains_and_reloads() {
    let _serial = serial();
    let root = fresh("cross");
    tiny_model(&root.join("model"));
    tiny_dataset(&root.join("data"));
    let examples = root.join("lists.jsonl");
    // Queries share their topic word with the positive (the dataset's own query texts).
    let mut lines = String::new();
    for (i, t) in densify_testkit::TINY_TOPICS.iter().enumerate() {
        let other = (i + 3) % 12;
        lines += &format!(
            "{{\"query_id\": \"q{i}\", \"query\": \"tell me about {t}\", \"candidates\": [{{\"doc_id\": \"d{i}a\", \"positive\": true}}, {{\"doc_id\": \"d{other}a\"}}]}}\n"
        );
    }
    std::fs::write(&examples, lines).unwrap();
    let mut c = config(&root, "cross-out");
    c.architecture = densify_train::Architecture::CrossEncoder;
    c.pair_max_length = Some(96);
    c.examples = Some(examples);
    c.list_size = 2;
    c.epochs = 6;
    c.loss =
        densify_core::Config::from_toml_str("type = \"info_nce\"\ntemperature = 1.0\n", "l.toml")
            .unwrap();
    let summary = Trainer::new(c.clone(), &Device::flex())
        .unwrap()
        .run(&mut |_| {})
        .unwrap();
    assert_eq!(summary.steps, 18);
    let curve = losses(&c.output);
    let first: f64 = curve[..3].iter().sum();
    let last: f64 = curve[15..].iter().sum();
    assert!(last < first, "the loss did not fall: {curve:?}");
    let reloaded =
        densify_model::CrossEncoder::load(&summary.final_model, 96, &Device::flex()).unwrap();
    assert!(!reloaded.new_head);
    let scores = reloaded
        .score(
            &[("tell me about topic 0", "all about cats and more cats")],
            1,
            &Device::flex(),
        )
        .unwrap();
    assert!(scores[0].is_finite());
    // A cross-encoder's dev evaluation reranks dev examples: without them, refused by field.
    c.eval = Some(Default::default());
    let err = Trainer::new(c.clone(), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(err.contains("eval.examples"), "{err}");
    // With them: nDCG@10 of the reranked lists and the dev loss at every evaluation, the best
    // model exported.
    c.output = root.join("cross-eval");
    c.epochs = 2;
    c.eval = Some(densify_train::config::DevEvalConfig {
        examples: c.examples.clone(),
        every_steps: 3,
        ..Default::default()
    });
    let summary = Trainer::new(c.clone(), &Device::flex())
        .unwrap()
        .run(&mut |_| {})
        .unwrap();
    let evals = records(&c.output, "eval");
    assert_eq!(evals.len(), 2, "{evals:?}");
    for e in &evals {
        let ndcg = e["ndcg@10"].as_f64().unwrap();
        // Lists of two, one positive: nDCG@10 is 1 (positive first) or 1/log2(3) per query.
        assert!((0.63..=1.0).contains(&ndcg), "{e}");
        assert!(e["dev_loss"].as_f64().unwrap() > 0.0, "{e}");
    }
    let (ndcg, best) = summary.best.expect("a dev evaluation");
    assert!(evals.iter().any(|e| e["ndcg@10"].as_f64() == Some(ndcg)));
    assert!(densify_model::CrossEncoder::load(&best, 96, &Device::flex()).is_ok());
}

/// A token budget cuts batches of long texts smaller (more steps, each within the budget), and
/// a bi-encoder trained on qrels pairs logs its dev loss beside nDCG@10 and Recall@100.
#[test]
fn a_token_budget_bounds_batches_and_the_dev_loss_is_logged() {
    let _serial = serial();
    let root = fresh("budget");
    tiny_model(&root.join("model"));
    tiny_dataset(&root.join("data"));
    let run = |name: &str, budget: Option<usize>| {
        let mut c = config(&root, name);
        c.epochs = 1;
        c.checkpoint_every = 0;
        c.max_tokens_per_batch = budget;
        c.eval = Some(densify_train::config::DevEvalConfig {
            every_steps: 2,
            ..Default::default()
        });
        Trainer::new(c.clone(), &Device::flex())
            .unwrap()
            .run(&mut |_| {})
            .unwrap();
        c.output
    };
    // 16 train pairs in batches of 4: 4 steps.
    let plain = run("plain", None);
    assert_eq!(records(&plain, "step").len(), 4);
    // Queries of 6 tokens ("tell me about cats" with [CLS] and [SEP]) and passages of up to 11:
    // a batch of 4 pads to about 4·6 + 4·11 = 68 tokens; a budget of 40 allows 2 per batch.
    let budgeted = run("budget", Some(40));
    let steps = records(&budgeted, "step");
    assert!(steps.len() >= 8, "{} steps", steps.len());
    let evals = records(&budgeted, "eval");
    assert!(!evals.is_empty());
    for e in evals {
        assert!(e["dev_loss"].as_f64().unwrap() > 0.0, "{e}");
        assert!(e["recall@100"].as_f64().is_some(), "{e}");
    }
    let err = {
        let mut c = config(&root, "zero");
        c.max_tokens_per_batch = Some(0);
        Trainer::new(c, &Device::flex()).unwrap_err().to_string()
    };
    assert!(err.contains("max_tokens_per_batch"), "{err}");
    let err = {
        let mut c = config(&root, "no-prefetch");
        c.prefetch_steps = 0;
        Trainer::new(c, &Device::flex()).unwrap_err().to_string()
    };
    assert!(err.contains("prefetch_steps"), "{err}");
    // Dev examples that do not exist: an error naming the file, before any step.
    let err = {
        let mut c = config(&root, "missing-dev");
        c.eval = Some(densify_train::config::DevEvalConfig {
            examples: Some(root.join("no-such-dev.jsonl")),
            ..Default::default()
        });
        Trainer::new(c, &Device::flex())
            .unwrap()
            .run(&mut |_| {})
            .unwrap_err()
            .to_string()
    };
    assert!(err.contains("no-such-dev.jsonl"), "{err}");
    assert!(!root.join("missing-dev/metrics.jsonl").exists());
}

/// Token noise on the student's inputs changes what the model reads, repeats exactly from run
/// to run, and differs between epochs.
#[test]
fn token_noise_is_applied_and_repeatable() {
    let _serial = serial();
    let root = fresh("noise");
    tiny_model(&root.join("model"));
    tiny_dataset(&root.join("data"));
    let base = |name: &str, noise: Option<&str>| {
        let mut c = config(&root, name);
        c.epochs = 2;
        c.dropout = false;
        c.noise = noise.map(|n| densify_core::Config::from_toml_str(n, "noise.toml").unwrap());
        Trainer::new(c.clone(), &Device::flex())
            .unwrap()
            .run(&mut |_| {})
            .unwrap();
        losses(&c.output)
    };
    let plain = base("plain", None);
    let noise =
        "seed = 3\n[query]\ntype = \"delete\"\np = 0.5\n[passage]\ntype = \"mask\"\np = 0.3\n";
    let noisy = base("noisy", Some(noise));
    let again = base("noisy-again", Some(noise));
    assert_eq!(noisy, again, "noise must repeat for the same seed");
    assert_ne!(plain[0], noisy[0], "noise did not change the first step");
    let err = {
        let mut c = config(&root, "bad-noise");
        c.noise = Some(densify_noise::NoiseConfig {
            query: densify_noise::NoiseOp::Delete { p: 1.5 },
            ..Default::default()
        });
        Trainer::new(c, &Device::flex()).unwrap_err().to_string()
    };
    assert!(err.contains("noise.query.p"), "{err}");
}

#[test]
fn gradient_accumulation_averages_the_batches_and_the_best_model_is_exported() {
    let _serial = serial();
    let root = fresh("accumulate");
    tiny_model(&root.join("model"));
    tiny_dataset(&root.join("data"));
    // Lists of two (the positive and another topic's page) and no in-batch negatives: a
    // batch of 4 is then exactly two batches of 2, whose mean losses average to its loss.
    let lines: Vec<String> = (0..12)
        .map(|i| {
            format!(
                "{{\"query_id\": \"q{i}\", \"query\": \"tell me about topic {i}\", \"candidates\": [{{\"doc_id\": \"d{i}a\", \"positive\": true}}, {{\"doc_id\": \"d{}b\"}}]}}",
                (i + 1) % 12
            )
        })
        .collect();
    std::fs::write(root.join("lists.jsonl"), lines.join("\n")).unwrap();
    let run = |name: &str, batch: usize, accumulation: usize| {
        let mut c = config(&root, name);
        c.examples = Some(root.join("lists.jsonl"));
        c.list_size = 2;
        c.in_batch_negatives = false;
        c.dropout = false;
        c.batch_size = batch;
        c.gradient_accumulation_steps = accumulation;
        c.max_steps = Some(1);
        c.checkpoint_every = 0;
        c.optimizer.max_grad_norm = 0.0;
        c.eval = Some(densify_train::config::DevEvalConfig {
            dataset: None,
            split: "dev".into(),
            examples: None,
            every_steps: 0,
            patience: 0,
        });
        let summary = Trainer::new(c.clone(), &Device::flex())
            .unwrap()
            .run(&mut |_| {})
            .unwrap();
        (first_step(&c.output), summary)
    };
    let (one, summary) = run("one", 4, 1);
    let (two, _) = run("two", 2, 2);
    let value = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap();
    for key in ["loss", "grad_norm"] {
        let (a, b) = (value(&one, key), value(&two, key));
        assert!(a > 0.0, "{key} {a}");
        assert!(
            (a - b).abs() <= 1e-5 * a.abs(),
            "{key}: batch 4 {a}, 2 x 2 accumulated {b}"
        );
    }
    // Three optimizer steps an epoch at 2 x 2 over 12 lists (6 batches), three epochs.
    let schedule = std::fs::read_to_string(root.join("two/config.toml")).unwrap();
    assert!(
        schedule.contains("gradient_accumulation_steps = 2"),
        "{schedule}"
    );
    // The dev evaluation kept its best model in the Hugging Face layout.
    let (ndcg, best) = summary.best.expect("a dev evaluation");
    assert!(ndcg > 0.0);
    assert!(best.join("model.safetensors").is_file() && best.join("tokenizer.json").is_file());
}

fn folder_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                folder_size(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_folder(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A disk that fills while a checkpoint is written: a clear error, the previous checkpoint
/// intact (and resumable), no temporary left. Needs a small filesystem: a tmpfs mounted here
/// when running as root (as CI does); skipped, with the reason printed, elsewhere.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_during_a_checkpoint_keeps_the_previous_one() {
    use std::process::{Command, Stdio};
    let _serial = serial();
    let root = fresh("disk");
    tiny_model(&root.join("model"));
    tiny_dataset(&root.join("data"));
    let device = Device::flex();
    // How much one checkpoint takes.
    let mut probe = config(&root, "probe");
    probe.max_steps = Some(2);
    Trainer::new(probe.clone(), &device)
        .unwrap()
        .run(&mut |_| {})
        .unwrap();
    let size = folder_size(&probe.output.join("checkpoints/step-00000002"));
    // Room for one checkpoint and the logs, not for two.
    let disk = root.join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o"])
        .arg(format!("size={}k", (size * 3 / 2) / 1024 + 512))
        .arg("tmpfs")
        .arg(&disk)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: no small filesystem could be mounted (needs root and CAP_SYS_ADMIN)");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(disk.clone());
    let mut run = config(&root, "unused");
    run.output = disk.join("run");
    run.max_steps = Some(6);
    let e = Trainer::new(run.clone(), &device)
        .unwrap()
        .run(&mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("No space left on device"), "{e}");
    let checkpoints = run.output.join("checkpoints");
    let left: Vec<String> = std::fs::read_dir(&checkpoints)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["step-00000002".to_owned()], "{e}");
    // The kept checkpoint is whole: a copy of the folder resumes from it to the end.
    let copy = root.join("copy");
    copy_folder(&run.output, &copy);
    let mut resumed = run.clone();
    resumed.output = copy;
    let summary = Trainer::new(resumed, &device)
        .unwrap()
        .resuming(true)
        .run(&mut |_| {})
        .unwrap();
    assert_eq!((summary.resumed_from, summary.steps), (2, 6));
}

#[test]
fn no_duplicate_batches_train_and_resume_bit_identically() {
    let _serial = serial();
    let root = fresh("no-duplicates");
    tiny_model(&root.join("model"));
    tiny_dataset(&root.join("data"));
    let device = Device::flex();
    // 16 pairs, queries q0-q3 twice each: their two pairs never share a batch of 4, so an
    // epoch has at least 4 steps, and some of those batches are short.
    let mut full = config(&root, "full");
    full.batch_sampler = densify_train::BatchSampler::NoDuplicates;
    let summary = Trainer::new(full.clone(), &device)
        .unwrap()
        .run(&mut |_| {})
        .unwrap();
    assert!(summary.steps >= 12, "{} steps", summary.steps);
    let mut part = full.clone();
    part.output = root.join("part");
    part.max_steps = Some(5);
    Trainer::new(part.clone(), &device)
        .unwrap()
        .run(&mut |_| {})
        .unwrap();
    part.max_steps = None;
    let resumed = Trainer::new(part.clone(), &device)
        .unwrap()
        .resuming(true)
        .run(&mut |_| {})
        .unwrap();
    assert_eq!(resumed.steps, summary.steps);
    assert_eq!(losses(&part.output), losses(&full.output));
    assert!(weights(&summary.final_model) == weights(&resumed.final_model));
}
