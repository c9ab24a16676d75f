//! A loss defined outside densify's crates, plugged into the trainer with
//! `Trainer::with_loss`: a hinge on each query's positive against its best-scoring negative,
//! `max(0, margin - s(q, p) + max_n s(q, n))` with margin 0.2, written with burn tensor ops on
//! the trainer's `ScoredLists`. It fine-tunes a sentence-transformers bi-encoder for a few
//! steps on the (query, positive) pairs of a BEIR dataset's `qrels/train.tsv`, each query
//! against every passage of its batch (in-batch negatives), and prints each step's loss and the
//! final one.
//!
//! Run: `cargo run --release --example custom_loss -- MODEL_DIR DATASET_DIR OUT_DIR`, e.g.
//! `cargo run --release --example custom_loss -- "$(bash scripts/fetch_minilm.sh)"
//! ../shared/data/scifact target/custom-loss`. OUT_DIR must be new or empty (a run refuses to
//! replace an earlier one).

use std::path::PathBuf;

use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use densify::loss::{InfoNceConfig, LossConfig, RankingLoss, ScoredLists};
use densify::train::{TrainConfig, Trainer};

/// `max(0, margin - s(q, p) + max_n s(q, n))` per query: the positive should beat the
/// hardest negative by `margin`. Negatives are the columns that compete with the positive
/// (`candidates`, else the list `mask`), never padded columns (`mask` false) nor the positive;
/// a query with no negative costs 0.
#[derive(Debug, Clone)]
struct HardestNegativeHinge {
    margin: f64,
}

impl RankingLoss for HardestNegativeHinge {
    fn name(&self) -> &'static str {
        "hardest_negative_hinge"
    }

    /// # Shapes
    /// - `scores`, `mask`, `candidates`: `[batch, columns]`; `positive`: `[batch]` -> `[batch]`
    fn forward_no_reduction(&self, batch: &ScoredLists) -> Tensor<1> {
        let [rows, columns] = batch.dims();
        let positive = batch.positive_or_first();
        let valid = batch.mask_or_all();
        let is_positive = positive.clone().one_hot::<2>(columns).equal_elem(1);
        let negatives = batch
            .candidates
            .clone()
            .unwrap_or_else(|| valid.clone())
            .bool_and(valid)
            .bool_and(is_positive.bool_not());
        // [batch, 1]: the positive's score, and the best score among the negatives (other
        // columns get a very negative finite logit first, so they are never the maximum).
        let positive_score = batch.scores.clone().gather(1, positive.reshape([rows, 1]));
        let hardest =
            densify::core::mask_logits(batch.scores.clone(), negatives.clone().bool_not())
                .max_dim(1);
        let no_negative = negatives.any_dim(1).bool_not();
        relu((hardest - positive_score).add_scalar(self.margin))
            .mask_fill(no_negative, 0.0)
            .reshape([rows])
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: custom_loss MODEL_DIR DATASET_DIR OUT_DIR";
    let mut args = std::env::args().skip(1);
    let (Some(model), Some(dataset), Some(output)) = (args.next(), args.next(), args.next()) else {
        return Err(usage.into());
    };
    let mut config = TrainConfig {
        model: PathBuf::from(model),
        dataset,
        output: PathBuf::from(output),
        // The configured loss names what the examples must carry and sets the score layout:
        // InfoNCE reads a positive per query and, with in-batch negatives, scores each query
        // against every passage of the batch. The hinge reads the same inputs.
        loss: LossConfig::InfoNce(InfoNceConfig::new()),
        in_batch_negatives: true,
        batch_size: 8,
        max_steps: Some(5),
        ..TrainConfig::default()
    };
    // The schedule spans the whole epoch; without warm-up the five steps train at once.
    config.optimizer.warmup_ratio = 0.0;
    let device = Device::flex();
    let trainer = Trainer::new(config, &device)?.with_loss(HardestNegativeHinge { margin: 0.2 });
    let summary = trainer.run(&mut |report| {
        println!(
            "step {}/{}: loss {:.4}, learning rate {:.2e}",
            report.step, report.last_step, report.loss, report.learning_rate
        );
    })?;
    println!(
        "{} steps in {:.1} s, final loss {:.4} -> {}",
        summary.steps,
        summary.train_seconds,
        summary.final_loss,
        summary.final_model.display()
    );
    Ok(())
}
