//! Soft-label distillation: KL(teacher || student) over each query's list.
//!
//! ```text
//! p_t = softmax(t / τ_t)   (or the given probabilities)      p_s = softmax(s / τ_s)
//! loss_b = Σ_j p_t,j (log p_t,j − log p_s,j)     [× τ_s·τ_t with T² scaling]
//! ```
//! over the valid columns of the list; `Reduction::Mean` is PyTorch's `batchmean`.
//! With T² scaling and τ_s = τ_t = T this is sentence-transformers' `DistillKLDivLoss`.
//!
//! References: Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network", 2015;
//! noisy self-training (arXiv 2311.15563) uses τ = 1; listwise distillation (arXiv 2502.19712)
//! uses τ_t = 0.3, τ_s = 0.05.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::batch::ScoredLists;
use crate::error::positive;
use crate::loss::RankingLoss;
use crate::masking::masked_log_softmax;

/// What the batch's `teacher` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TeacherInput {
    /// Raw teacher scores; softmax(t / τ_t) gives the target distribution. Default.
    #[default]
    Scores,
    /// Probabilities over the list (values in [0, 1] summing to 1 over the valid columns);
    /// the teacher temperature is not applied.
    Probabilities,
}

/// Configuration of [`KlDistillation`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KlDistillationConfig {
    /// Teacher temperature τ_t. Default 1.
    pub teacher_temperature: f64,
    /// Student temperature τ_s. Default 1.
    pub student_temperature: f64,
    /// Multiply by τ_s·τ_t (Hinton's T² scaling). Default false.
    pub temperature_scaling: bool,
    /// What the batch's `teacher` holds. Default scores.
    pub teacher_input: TeacherInput,
}

impl Default for KlDistillationConfig {
    fn default() -> Self {
        Self {
            teacher_temperature: 1.0,
            student_temperature: 1.0,
            temperature_scaling: false,
            teacher_input: TeacherInput::Scores,
        }
    }
}

densify_core::setters!(KlDistillationConfig {
    teacher_temperature: f64,
    student_temperature: f64,
    temperature_scaling: bool,
    teacher_input: TeacherInput
});

impl densify_core::Config for KlDistillationConfig {
    fn validate(&self) -> std::result::Result<(), densify_core::InvalidField> {
        self.init()
            .map(|_| ())
            .map_err(crate::error::LossError::into_invalid_field)
    }
}

impl KlDistillationConfig {
    /// Builds the loss; errors on a temperature <= 0.
    pub fn init(&self) -> crate::error::Result<KlDistillation> {
        positive(
            "KL distillation",
            "teacher_temperature",
            self.teacher_temperature,
        )?;
        positive(
            "KL distillation",
            "student_temperature",
            self.student_temperature,
        )?;
        Ok(KlDistillation {
            teacher_temperature: self.teacher_temperature,
            student_temperature: self.student_temperature,
            scale: if self.temperature_scaling {
                self.teacher_temperature * self.student_temperature
            } else {
                1.0
            },
            teacher_input: self.teacher_input,
        })
    }
}

/// KL(teacher || student); see the module docs.
#[derive(Debug, Clone)]
pub struct KlDistillation {
    teacher_temperature: f64,
    student_temperature: f64,
    scale: f64,
    teacher_input: TeacherInput,
}

impl RankingLoss for KlDistillation {
    fn name(&self) -> &'static str {
        "kl_distillation"
    }

    /// # Shapes
    /// - `scores`, `teacher`, `mask`: `[batch, columns]` -> `[batch]`
    fn forward_no_reduction(&self, batch: &ScoredLists) -> Tensor<1> {
        let valid = batch.mask_or_all();
        let teacher = batch.teacher_for("KL distillation");
        let log_student = masked_log_softmax(
            batch.scores.clone().div_scalar(self.student_temperature),
            valid.clone(),
        );
        let (p_teacher, log_teacher) = match self.teacher_input {
            TeacherInput::Scores => {
                let log_t = masked_log_softmax(teacher.div_scalar(self.teacher_temperature), valid);
                (log_t.clone().exp(), log_t)
            }
            TeacherInput::Probabilities => {
                let p = teacher.mask_fill(valid.bool_not(), 0.0);
                let log_p = p.clone().clamp_min(f32::MIN_POSITIVE).log();
                (p, log_p)
            }
        };
        let [rows, _] = batch.dims();
        (p_teacher * (log_teacher - log_student))
            .sum_dim(1)
            .reshape([rows])
            .mul_scalar(self.scale)
    }
}
