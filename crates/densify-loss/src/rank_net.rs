//! RankNet (pairwise logistic loss).
//!
//! ```text
//! loss_b = mean_{(i, j): y_i > y_j} log(1 + exp(−(s_i − s_j)))
//! ```
//! over pairs of valid columns with different labels, computed as the stable softplus
//! `m + log1p(exp(x − 2m))` with `x = −d`, `m = max(x, 0)`, whose gradient is exact at `d = 0`
//! whatever subgradient `max` takes there. A list without such a pair has loss 0. Memory is
//! `[batch, columns, columns]`.
//!
//! Reference: Burges et al., "Learning to Rank using Gradient Descent", ICML 2005.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::batch::ScoredLists;

use crate::loss::RankingLoss;

/// Configuration of [`RankNet`] (no parameters).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RankNetConfig {}

densify_core::setters!(RankNetConfig {});

impl densify_core::Config for RankNetConfig {
    fn validate(&self) -> std::result::Result<(), densify_core::InvalidField> {
        self.init()
            .map(|_| ())
            .map_err(crate::error::LossError::into_invalid_field)
    }
}

impl RankNetConfig {
    /// Builds the loss.
    pub fn init(&self) -> crate::error::Result<RankNet> {
        Ok(RankNet)
    }
}

/// RankNet; see the module docs.
#[derive(Debug, Clone)]
pub struct RankNet;

impl RankingLoss for RankNet {
    fn name(&self) -> &'static str {
        "rank_net"
    }

    /// # Shapes
    /// - `scores`, `labels`, `mask`: `[batch, columns]` -> `[batch]`
    fn forward_no_reduction(&self, batch: &ScoredLists) -> Tensor<1> {
        let [rows, columns] = batch.dims();
        let labels = batch.labels_for("RankNet");
        let valid = batch.mask_or_all();
        let shape = [rows, columns, columns];
        let row = |t: Tensor<2>| t.unsqueeze_dim::<3>(2).expand(shape);
        let column = |t: Tensor<2>| t.unsqueeze_dim::<3>(1).expand(shape);
        let pairs = row(labels.clone())
            .greater(column(labels))
            .bool_and(valid.clone().unsqueeze_dim::<3>(2).expand(shape))
            .bool_and(valid.unsqueeze_dim::<3>(1).expand(shape));
        let diff = row(batch.scores.clone()) - column(batch.scores.clone());
        let x = diff.neg();
        let m = x.clone().clamp_min(0.0);
        let softplus = m.clone() + (x - m.mul_scalar(2.0)).exp().log1p();
        let total = softplus
            .mask_fill(pairs.clone().bool_not(), 0.0)
            .sum_dim(2)
            .sum_dim(1);
        let count = pairs.float().sum_dim(2).sum_dim(1).clamp_min(1.0);
        (total / count).reshape([rows])
    }
}
