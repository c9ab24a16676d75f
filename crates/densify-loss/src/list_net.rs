//! ListNet: cross-entropy between the top-one probabilities of the labels and of the scores.
//!
//! ```text
//! loss_b = −Σ_j softmax(y_b)_j · log softmax(s_b)_j
//! ```
//! over the valid columns (padding masked out, as sentence-transformers' `ListNetLoss`).
//!
//! Reference: Cao et al., "Learning to Rank: From Pairwise Approach to Listwise Approach",
//! ICML 2007.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::batch::ScoredLists;

use crate::loss::RankingLoss;
use crate::masking::masked_log_softmax;

/// Configuration of [`ListNet`] (no parameters).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListNetConfig {}

densify_core::setters!(ListNetConfig {});

impl densify_core::Config for ListNetConfig {
    fn validate(&self) -> std::result::Result<(), densify_core::InvalidField> {
        self.init()
            .map(|_| ())
            .map_err(crate::error::LossError::into_invalid_field)
    }
}

impl ListNetConfig {
    /// Builds the loss.
    pub fn init(&self) -> crate::error::Result<ListNet> {
        Ok(ListNet)
    }
}

/// ListNet; see the module docs.
#[derive(Debug, Clone)]
pub struct ListNet;

impl RankingLoss for ListNet {
    fn name(&self) -> &'static str {
        "list_net"
    }

    /// # Shapes
    /// - `scores`, `labels`, `mask`: `[batch, columns]` -> `[batch]`
    fn forward_no_reduction(&self, batch: &ScoredLists) -> Tensor<1> {
        let [rows, _] = batch.dims();
        let valid = batch.mask_or_all();
        let target = masked_log_softmax(batch.labels_for("ListNet"), valid.clone()).exp();
        let log_p = masked_log_softmax(batch.scores.clone(), valid);
        (target * log_p).sum_dim(1).reshape([rows]).neg()
    }
}
