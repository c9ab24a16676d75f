//! Listwise distillation from a cross-encoder teacher (paper B: Tamber et al., "Teaching Dense
//! Retrieval Models to Specialize with Listwise Distillation and LLM Data Augmentation",
//! arXiv 2502.19712): KL(teacher || student) with τ_t = 0.3 and τ_s = 0.05, plus 0.1 × InfoNCE at
//! τ = 0.01 whose positive is the top-reranked passage.
//!
//! Built as a [`WeightedSum`] of [`KlDistillation`] and [`InfoNce`], not a special case: the
//! batch carries both the list mask (for KL) and the contrastive candidates (for InfoNCE,
//! typically every passage of the batch minus [`crate::masking::false_negative_mask`] and
//! [`crate::masking::duplicate_id_mask`]).

use crate::info_nce::InfoNceConfig;
use crate::kl_distillation::KlDistillationConfig;
use crate::loss::WeightedSum;
use serde::{Deserialize, Serialize};

/// Configuration of listwise distillation; defaults are paper B's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListwiseDistillationConfig {
    /// Teacher temperature of the KL term. Default 0.3.
    pub teacher_temperature: f64,
    /// Student temperature of the KL term. Default 0.05.
    pub student_temperature: f64,
    /// Weight of the InfoNCE term. Default 0.1.
    pub contrastive_weight: f64,
    /// Temperature of the InfoNCE term. Default 0.01.
    pub contrastive_temperature: f64,
    /// Paper B's false-negative mask, applied by a trainer that scores in-batch negatives: a
    /// passage of the query's own list (not its positive) whose teacher score, min-max
    /// normalised over the list, exceeds this ratio is not a negative of the InfoNCE term
    /// ([`crate::masking::false_negative_mask`]). `None` masks none. Default 0.6.
    pub false_negative_ratio: Option<f64>,
}

impl Default for ListwiseDistillationConfig {
    fn default() -> Self {
        Self {
            teacher_temperature: 0.3,
            student_temperature: 0.05,
            contrastive_weight: 0.1,
            contrastive_temperature: 0.01,
            false_negative_ratio: Some(0.6),
        }
    }
}

densify_core::setters!(ListwiseDistillationConfig {
    teacher_temperature: f64,
    student_temperature: f64,
    contrastive_weight: f64,
    contrastive_temperature: f64,
    false_negative_ratio: Option<f64>
});

impl densify_core::Config for ListwiseDistillationConfig {
    fn validate(&self) -> std::result::Result<(), densify_core::InvalidField> {
        self.init()
            .map(|_| ())
            .map_err(crate::error::LossError::into_invalid_field)
    }
}

impl ListwiseDistillationConfig {
    /// Builds `KL + contrastive_weight × InfoNCE`.
    pub fn init(&self) -> crate::error::Result<WeightedSum> {
        if let Some(ratio) = self.false_negative_ratio
            && !(0.0..1.0).contains(&ratio)
        {
            return Err(crate::error::LossError::Config {
                loss: "listwise_distillation",
                field: "false_negative_ratio".to_owned(),
                message: format!("must be in [0, 1), got {ratio}"),
            });
        }
        let kl = KlDistillationConfig::new()
            .with_teacher_temperature(self.teacher_temperature)
            .with_student_temperature(self.student_temperature)
            .init()?;
        let nce = InfoNceConfig::new()
            .with_temperature(self.contrastive_temperature)
            .init()?;
        Ok(WeightedSum::new()
            .with(1.0, kl)
            .with(self.contrastive_weight, nce))
    }
}
