//! Loss and noise benchmark: forward + backward time of every loss on `[64, 128]` and
//! `[16, 4096]` on the default CPU backend (best of 5; 1 run for the quadratic RankNet at 4096),
//! and noise throughput in tokens/s. PyTorch's figures for the same shapes:
//! `scripts/loss_reference.py bench` (see `scripts/bench.sh`).
//!
//! Run: `cargo run --release --example bench_loss [NAME]`; with `NAME` (e.g.
//! `sycl_wasserstein`), only the losses whose name contains it are timed and the noise section is
//! skipped. `scripts/loss_reference.py bench [NAME]` takes the same filter.

use std::time::Instant;

use burn::tensor::{Device, Int, Tensor, TensorData};
use densify::loss::*;
use densify::noise::{NoiseOp, NoiseRng, TokenVocab};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn losses() -> Vec<Box<dyn RankingLoss>> {
    vec![
        Box::new(InfoNceConfig::new().init().unwrap()),
        Box::new(KlDistillationConfig::new().init().unwrap()),
        Box::new(MarginMseConfig::new().init().unwrap()),
        Box::new(ListNetConfig::new().init().unwrap()),
        Box::new(ListMleConfig::new().init().unwrap()),
        Box::new(RankNetConfig::new().init().unwrap()),
        Box::new(SyclWassersteinConfig::new().init().unwrap()),
        Box::new(Wasserstein1dConfig::new().init().unwrap()),
    ]
}

fn random(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| (rng.random::<f32>() - 0.5) * scale)
        .collect()
}

fn main() {
    let device = Device::flex().autodiff();
    let filter = std::env::args().nth(1);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    println!("densify-loss on flex (forward + backward, best of 5)");
    for (rows, columns) in [(64usize, 128usize), (16, 4096)] {
        let n = rows * columns;
        let scores = random(&mut rng, n, 4.0);
        let teacher = random(&mut rng, n, 4.0);
        let labels: Vec<f32> = (0..n).map(|_| rng.random_range(0..4) as f32).collect();
        let selected = losses()
            .into_iter()
            .filter(|loss| filter.as_deref().is_none_or(|f| loss.name().contains(f)));
        for loss in selected {
            let repeats = if loss.name() == "rank_net" && columns > 1000 {
                1
            } else {
                5
            };
            let mut best = f64::INFINITY;
            for _ in 0..repeats {
                let s = Tensor::<2>::from_data(
                    TensorData::new(scores.clone(), [rows, columns]),
                    &device,
                )
                .require_grad();
                let batch = ScoredLists::new(s.clone())
                    .with_teacher(Tensor::from_data(
                        TensorData::new(teacher.clone(), [rows, columns]),
                        &device,
                    ))
                    .with_labels(Tensor::from_data(
                        TensorData::new(labels.clone(), [rows, columns]),
                        &device,
                    ))
                    .with_positive(Tensor::<1, Int>::zeros([rows], &device));
                let start = Instant::now();
                let grads = loss.forward(&batch, Reduction::Mean).backward();
                let g = s.grad(&grads).unwrap().into_data();
                best = best.min(start.elapsed().as_secs_f64());
                assert_eq!(g.num_elements(), n);
            }
            println!(
                "{:<18} [{rows}, {columns}]  {:9.2} ms",
                loss.name(),
                best * 1e3
            );
        }
    }
    if filter.is_some() {
        return;
    }

    let vocab = TokenVocab::bert_uncased();
    let sequences: Vec<Vec<u32>> = (0..20_000)
        .map(|_| {
            let mut s = vec![101];
            s.extend((0..126).map(|_| rng.random_range(1000..30_000u32)));
            s.push(102);
            s
        })
        .collect();
    let tokens: usize = sequences.iter().map(Vec::len).sum();
    println!(
        "densify-noise, {} sequences of 128 tokens, p = 0.1",
        sequences.len()
    );
    for op in [
        NoiseOp::Shuffle { p: 0.1 },
        NoiseOp::Delete { p: 0.1 },
        NoiseOp::Mask { p: 0.1 },
        NoiseOp::Replace { p: 0.1 },
        NoiseOp::Sequential { p: 0.1 },
    ] {
        let start = Instant::now();
        let mut kept = 0;
        for (i, s) in sequences.iter().enumerate() {
            kept += op
                .apply_tokens(s, &vocab, &mut NoiseRng::new(1, i as u64))
                .len();
        }
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{:<12} {:6.1} M tokens/s (one core; {kept} tokens out)",
            op.name(),
            tokens as f64 / seconds / 1e6
        );
    }
}
