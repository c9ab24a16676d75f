//! Binary cross-entropy on each (query, candidate) score: the loss sentence-transformers'
//! `CrossEncoder` trains with by default (`BinaryCrossEntropyLoss`, PyTorch's
//! `BCEWithLogitsLoss` on (query, document, label) pairs), over densify's lists.
//!
//! ```text
//! loss_b = (1 / n_b) Σ_{valid j} [ w · y_bj · softplus(−s_bj) + (1 − y_bj) · softplus(s_bj) ]
//! ```
//! with `y_bj = 1` at the list's positive and 0 at every other candidate (mined negatives are
//! the 0-labelled pairs), `w` = `pos_weight` (PyTorch's name and form), `n_b` the list's valid
//! columns, and softplus computed stably as `m + log1p(exp(x − 2m))`, `m = max(x, 0)`. Scores
//! are logits: a cross-encoder's raw outputs, not similarities.
//!
//! Reference: sentence-transformers, `sentence_transformers.cross_encoder.losses.
//! BinaryCrossEntropyLoss` (v4+); PyTorch `torch.nn.BCEWithLogitsLoss`.

use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::batch::ScoredLists;
use crate::error::{LossError, Result, positive};
use crate::loss::RankingLoss;

/// Configuration of [`BinaryCrossEntropy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BinaryCrossEntropyConfig {
    /// Weight of the positive's term (PyTorch's `pos_weight`; with `k` negatives per positive,
    /// `k` balances the classes). Default 1.0, as sentence-transformers.
    pub pos_weight: f64,
}

impl Default for BinaryCrossEntropyConfig {
    fn default() -> Self {
        Self { pos_weight: 1.0 }
    }
}

densify_core::setters!(BinaryCrossEntropyConfig { pos_weight: f64 });

impl densify_core::Config for BinaryCrossEntropyConfig {
    fn validate(&self) -> std::result::Result<(), densify_core::InvalidField> {
        self.init()
            .map(|_| ())
            .map_err(LossError::into_invalid_field)
    }
}

impl BinaryCrossEntropyConfig {
    /// Builds the loss; errors unless `pos_weight` is finite and positive.
    pub fn init(&self) -> Result<BinaryCrossEntropy> {
        positive("binary cross-entropy", "pos_weight", self.pos_weight)?;
        Ok(BinaryCrossEntropy {
            pos_weight: self.pos_weight,
        })
    }
}

/// Binary cross-entropy over every valid (query, candidate) pair; see the module docs.
#[derive(Debug, Clone)]
pub struct BinaryCrossEntropy {
    pos_weight: f64,
}

/// `log(1 + exp(x))`, stable for any `x` and with an exact gradient at 0.
fn softplus(x: Tensor<2>) -> Tensor<2> {
    let m = x.clone().clamp_min(0.0);
    m.clone() + (x - m.mul_scalar(2.0)).exp().log1p()
}

impl RankingLoss for BinaryCrossEntropy {
    fn name(&self) -> &'static str {
        "binary_cross_entropy"
    }

    /// # Shapes
    /// - `scores`, `mask`: `[batch, columns]`, `positive`: `[batch]` -> `[batch]`
    fn forward_no_reduction(&self, batch: &ScoredLists) -> Tensor<1> {
        let [rows, columns] = batch.dims();
        let device = batch.scores.device();
        let valid = batch.mask_or_all();
        let positive = batch.positive_or_first().reshape([rows, 1]);
        let is_positive = Tensor::<1, Int>::arange(0..columns as i64, &device)
            .reshape([1, columns])
            .expand([rows, columns])
            .equal(positive.expand([rows, columns]));
        let s = batch.scores.clone();
        let positive_term = softplus(s.clone().neg()).mul_scalar(self.pos_weight);
        let negative_term = softplus(s);
        let per_pair = negative_term
            .mask_where(is_positive, positive_term)
            .mask_fill(valid.clone().bool_not(), 0.0);
        let count = valid.float().sum_dim(1).clamp_min(1.0);
        (per_pair.sum_dim(1) / count).reshape([rows])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::Reduction;
    use burn::tensor::{Bool, Device, TensorData};

    fn value(loss: &BinaryCrossEntropy, batch: &ScoredLists) -> f64 {
        loss.forward(batch, Reduction::Mean)
            .into_data()
            .iter::<f64>()
            .next()
            .unwrap()
    }

    #[test]
    fn matches_hand_computation() {
        let device = Device::flex();
        let scores = Tensor::<2>::from_data([[2.0f32, 0.0, -1.0]], &device);
        let positive = Tensor::<1, Int>::from_data([0], &device);
        let batch = ScoredLists::new(scores).with_positive(positive);
        // softplus(-2) = 0.126928, softplus(0) = ln 2, softplus(-1) = 0.313262.
        let ln2 = std::f64::consts::LN_2;
        let plain = BinaryCrossEntropyConfig::default().init().unwrap();
        assert!((value(&plain, &batch) - (0.126928 + ln2 + 0.313262) / 3.0).abs() < 1e-5);
        let weighted = BinaryCrossEntropyConfig::new()
            .with_pos_weight(2.0)
            .init()
            .unwrap();
        assert!((value(&weighted, &batch) - (2.0 * 0.126928 + ln2 + 0.313262) / 3.0).abs() < 1e-5);
        // A masked column is no pair at all.
        let mask = Tensor::<2, Bool>::from_data(TensorData::from([[true, true, false]]), &device);
        let ragged = batch.with_mask(mask);
        assert!((value(&plain, &ragged) - (0.126928 + ln2) / 2.0).abs() < 1e-5);
    }

    #[test]
    fn a_non_positive_weight_is_refused_by_field() {
        for w in [0.0, -1.0, f64::NAN] {
            let err = BinaryCrossEntropyConfig::new()
                .with_pos_weight(w)
                .init()
                .unwrap_err();
            assert!(err.to_string().contains("pos_weight"), "{err}");
        }
    }
}
