//! Data parallel steps against the single-device step, on a tiny random BERT: a batch of 7
//! listwise-KL examples split into shards of 4 and 3.
//!
//! - On any machine: the split itself (shards, their size weights, one thread and one forked
//!   model per rank) without burn's all-reduce, whose ranks' gradients sum to the
//!   single-device step's; and several devices without burn's collective refused.
//! - With `--features cuda` on a machine with two or more CUDA GPUs: burn's collective
//!   all-reduce on parameters marked for it, after which every rank holds the single-device step's gradients to 1e-5.
//!   burn 0.22 has no collective on CPU backends (docs/architecture.md); elsewhere this test
//!   says it was skipped.

use std::path::Path;

use burn::tensor::Device;
use densify_train::trainer::NamedTensors;
use densify_train::{TrainConfig, Trainer};

/// A listwise-KL run over testkit's lists of 3 with teacher scores (the KL loss reads no
/// labels), batches of 7, dropout off, on the tiny model drawn with seed 7.
fn kl_config(root: &Path) -> TrainConfig {
    // burn's CPU backends keep one random generator per process: the seeded random init is
    // drawn under a lock so tests running beside each other get the same model every run.
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    {
        let _init = INIT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        densify_testkit::tiny_bi_encoder(&root.join("model"), 7);
    }
    densify_testkit::tiny_topics_dataset(&root.join("data"));
    let examples = root.join("lists.jsonl");
    densify_testkit::tiny_teacher_lists(&examples);
    let mut config = TrainConfig {
        model: root.join("model"),
        dataset: root.join("data").display().to_string(),
        output: root.join("unused"),
        examples: Some(examples),
        batch_size: 7,
        list_size: 3,
        dropout: false,
        ..TrainConfig::default()
    };
    config.loss =
        densify_core::Config::from_toml_str("type = \"kl_distillation\"\n", "loss.toml").unwrap();
    config
}

/// A rank's loss and named gradients.
type Rank = (f64, NamedTensors);

/// Sums the ranks' losses and gradients.
fn sum_ranks(ranks: &[Rank]) -> Rank {
    let mut total = ranks[0].clone();
    for (loss, grads) in &ranks[1..] {
        total.0 += loss;
        for ((name, sum), (other, g)) in total.1.iter_mut().zip(grads) {
            assert_eq!(name, other);
            sum.iter_mut().zip(g).for_each(|(s, v)| *s += v);
        }
    }
    total
}

#[test]
fn the_split_s_shard_gradients_sum_to_the_single_device_step() {
    let root = densify_testkit::fresh_dir("data-parallel", "split");
    let config = kl_config(&root);
    let trainer = Trainer::new(config, &Device::flex()).unwrap();
    let (loss, single) = trainer.first_step_gradients().unwrap();
    // Two ranks on the one CPU device, no sync server: each keeps its shard's weighted share.
    let ranks = trainer
        .first_step_gradients_split(&[Device::flex(), Device::flex()], false)
        .unwrap();
    assert_eq!(ranks.len(), 2);
    // The shards differ (4 and 3 examples), so neither rank alone is the step.
    assert!((ranks[0].0 - loss).abs() > 1e-3 && (ranks[1].0 - loss).abs() > 1e-3);
    let (summed_loss, summed) = sum_ranks(&ranks);
    assert!((summed_loss - loss).abs() < 1e-6, "{summed_loss} vs {loss}");
    let worst = densify_testkit::worst_gradient_difference(&single, &summed, "summed shards");
    println!("loss {loss:.6}, worst relative gradient difference {worst:.2e}");
}

#[test]
fn several_devices_need_burn_s_collective_and_no_grad_cache() {
    let root = densify_testkit::fresh_dir("data-parallel", "refused");
    let config = kl_config(&root);
    let cpu = Device::flex();
    let err = |r: densify_train::Result<Trainer>| r.unwrap_err().to_string();
    let e = err(Trainer::new(config.clone(), &cpu)
        .unwrap()
        .data_parallel(std::slice::from_ref(&cpu)));
    assert!(e.contains("at least two devices"), "{e}");
    let e = err(Trainer::new(config.clone(), &cpu)
        .unwrap()
        .data_parallel(&[cpu.clone(), cpu.clone()]));
    assert!(e.contains("CUDA backend only"), "{e}");
    let mut cached = config.clone();
    cached.grad_cache_mini_batch = Some(2);
    let e = err(Trainer::new(cached, &cpu)
        .unwrap()
        .data_parallel(&[cpu.clone(), cpu.clone()]));
    assert!(e.contains("grad_cache_mini_batch"), "{e}");
    let trainer = Trainer::new(config, &cpu).unwrap();
    let e = trainer
        .first_step_gradients_split(&[cpu.clone(), cpu.clone()], true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("CUDA backend only"), "{e}");
}

/// burn's CUDA devices on this machine (none without the `cuda` feature).
fn cuda_devices() -> Vec<Device> {
    #[cfg(feature = "cuda")]
    return Device::enumerate(burn::tensor::DeviceType::Cuda)
        .into_iter()
        .collect();
    #[cfg(not(feature = "cuda"))]
    Vec::new()
}

#[test]
fn half_batches_on_two_gpus_all_reduce_to_the_single_gpu_step() {
    let gpus = cuda_devices();
    if gpus.len() < 2 {
        println!(
            "skipped: {} burn CUDA device(s) here (feature cuda: {}); burn 0.22's collective \
             all-reduce needs two CUDA GPUs",
            gpus.len(),
            cfg!(feature = "cuda")
        );
        return;
    }
    let root = densify_testkit::fresh_dir("data-parallel", "cuda");
    let config = kl_config(&root);
    let trainer = Trainer::new(config, &gpus[0]).unwrap();
    let (loss, single) = trainer.first_step_gradients().unwrap();
    let ranks = trainer
        .first_step_gradients_split(&gpus[..2], true)
        .unwrap();
    let total: f64 = ranks.iter().map(|(l, _)| l).sum();
    assert!((total - loss).abs() < 1e-5, "{total} vs {loss}");
    for (rank, (_, grads)) in ranks.iter().enumerate() {
        let worst =
            densify_testkit::worst_gradient_difference(&single, grads, &format!("rank {rank}"));
        println!("rank {rank}: worst relative gradient difference {worst:.2e}");
    }
}
