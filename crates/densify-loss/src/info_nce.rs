//! InfoNCE (contrastive) loss with in-batch and hard negatives.
//!
//! ```text
//! loss_b = −log( exp(s_b,p / τ) / Σ_{c ∈ C_b} exp(s_b,c / τ) )
//! ```
//! where `p` is the query's positive column and `C_b` its candidates: the positive, its hard
//! negatives and, in the in-batch layout `[batch, batch * list]`, every other query's passages;
//! columns excluded by [`crate::masking::false_negative_mask`] or
//! [`crate::masking::duplicate_id_mask`] are left out of `C_b`.
//!
//! References: van den Oord et al., "Representation Learning with Contrastive Predictive
//! Coding", 2018; Karpukhin et al., "Dense Passage Retrieval", EMNLP 2020 (in-batch negatives).
//! sentence-transformers' `MultipleNegativesRankingLoss` is this loss with τ = 0.05 (scale 20).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::batch::ScoredLists;
use crate::error::positive;
use crate::loss::RankingLoss;
use crate::masking::{masked_log_softmax, positive_mask};

/// Configuration of [`InfoNce`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InfoNceConfig {
    /// Temperature τ dividing the scores. Default 0.05 (sentence-transformers' scale 20);
    /// paper B uses 0.01.
    pub temperature: f64,
}

impl Default for InfoNceConfig {
    fn default() -> Self {
        Self { temperature: 0.05 }
    }
}

densify_core::setters!(InfoNceConfig { temperature: f64 });

impl densify_core::Config for InfoNceConfig {
    fn validate(&self) -> std::result::Result<(), densify_core::InvalidField> {
        self.init()
            .map(|_| ())
            .map_err(crate::error::LossError::into_invalid_field)
    }
}

impl InfoNceConfig {
    /// Builds the loss; errors on a temperature <= 0.
    pub fn init(&self) -> crate::error::Result<InfoNce> {
        positive("InfoNCE", "temperature", self.temperature)?;
        Ok(InfoNce {
            temperature: self.temperature,
        })
    }
}

/// InfoNCE; see the module docs.
#[derive(Debug, Clone)]
pub struct InfoNce {
    temperature: f64,
}

impl RankingLoss for InfoNce {
    fn name(&self) -> &'static str {
        "info_nce"
    }

    /// # Shapes
    /// - `scores`, `candidates` (else `mask`): `[batch, columns]`; `positive`: `[batch]`
    ///   (default column 0) -> `[batch]`
    fn forward_no_reduction(&self, batch: &ScoredLists) -> Tensor<1> {
        let [rows, columns] = batch.dims();
        let positive = batch.positive_or_first();
        let is_positive = positive_mask(positive.clone(), columns);
        let candidates = batch
            .candidates
            .clone()
            .unwrap_or_else(|| batch.mask_or_all())
            .bool_or(is_positive);
        let log_p = masked_log_softmax(
            batch.scores.clone().div_scalar(self.temperature),
            candidates,
        );
        log_p
            .gather(1, positive.reshape([rows, 1]))
            .reshape([rows])
            .neg()
    }
}
