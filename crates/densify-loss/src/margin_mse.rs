//! MarginMSE: regress the student's score margins onto the teacher's.
//!
//! ```text
//! loss_b = mean_{j ∈ N_b} ((s_p − s_j) − (t_p − t_j))²
//! ```
//! over the valid negatives `N_b` (every valid column but the positive `p`). With one negative
//! it is Hofstätter et al.'s MarginMSE; with several, sentence-transformers' `MarginMSELoss`
//! over multiple negatives. A list without negatives has loss 0.
//!
//! Reference: Hofstätter et al., "Improving Efficient Neural Ranking Models with Cross-Architecture
//! Knowledge Distillation", 2020.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::batch::ScoredLists;

use crate::loss::RankingLoss;
use crate::masking::positive_mask;

/// Configuration of [`MarginMse`] (no parameters).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarginMseConfig {}

densify_core::setters!(MarginMseConfig {});

impl densify_core::Config for MarginMseConfig {
    fn validate(&self) -> std::result::Result<(), densify_core::InvalidField> {
        self.init()
            .map(|_| ())
            .map_err(crate::error::LossError::into_invalid_field)
    }
}

impl MarginMseConfig {
    /// Builds the loss.
    pub fn init(&self) -> crate::error::Result<MarginMse> {
        Ok(MarginMse)
    }
}

/// MarginMSE; see the module docs.
#[derive(Debug, Clone)]
pub struct MarginMse;

impl RankingLoss for MarginMse {
    fn name(&self) -> &'static str {
        "margin_mse"
    }

    /// # Shapes
    /// - `scores`, `teacher`, `mask`: `[batch, columns]`; `positive`: `[batch]` -> `[batch]`
    fn forward_no_reduction(&self, batch: &ScoredLists) -> Tensor<1> {
        let [rows, columns] = batch.dims();
        let positive = batch.positive_or_first();
        let teacher = batch.teacher_for("MarginMSE");
        let index = positive.clone().reshape([rows, 1]);
        let s_pos = batch.scores.clone().gather(1, index.clone());
        let t_pos = teacher.clone().gather(1, index);
        let student_margin = s_pos.expand([rows, columns]) - batch.scores.clone();
        let teacher_margin = t_pos.expand([rows, columns]) - teacher;
        let negatives = batch
            .mask_or_all()
            .bool_and(positive_mask(positive, columns).bool_not());
        let sq = (student_margin - teacher_margin)
            .powi_scalar(2)
            .mask_fill(negatives.clone().bool_not(), 0.0);
        let count = negatives.float().sum_dim(1).clamp_min(1.0);
        (sq.sum_dim(1) / count).reshape([rows])
    }
}
