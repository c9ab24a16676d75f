//! Per-query 1-D Wasserstein distance between the predicted distribution over a graded list and
//! the label distribution, with the grade axis as ground space.
//!
//! ```text
//! P_b = softmax(s_b / τ)     T_b = softmax(y_b / τ_y)        (over the valid columns)
//! loss_b = W1(P_b, T_b) = Σ_k (g_{k+1} − g_k) · | Σ_{j: y_j ≤ g_k} (P_b,j − T_b,j) |
//! ```
//! where `g_1 < … < g_m` are the distinct grades of the list. The ground metric is the grade
//! difference `|y_i − y_j|`: moving probability mass from a grade-3 document to a grade-1 one
//! costs 2, between two documents of equal grade nothing. So the loss cares how much mass sits
//! on each relevance level, not how it is spread among equally relevant documents. A list with a
//! single grade has loss 0.
//!
//! The per-query counterpart of [`crate::sycl_wasserstein::SyclWasserstein`], which compares
//! Gaussians over the batch. References: SyCL (arXiv 2503.23239) for the graded-list setting;
//! Villani, "Optimal Transport", 2009, for the 1-D closed form via CDFs.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::batch::ScoredLists;
use crate::error::positive;
use crate::host::mask_vec;
use crate::loss::RankingLoss;
use crate::masking::masked_log_softmax;

/// Configuration of [`Wasserstein1d`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Wasserstein1dConfig {
    /// Temperature τ of the score softmax. Default 1.
    pub temperature: f64,
    /// Temperature τ_y of the label softmax. Default 1 (SyCL's softmax of raw grades).
    pub label_temperature: f64,
}

impl Default for Wasserstein1dConfig {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            label_temperature: 1.0,
        }
    }
}

densify_core::setters!(Wasserstein1dConfig {
    temperature: f64,
    label_temperature: f64
});

impl densify_core::Config for Wasserstein1dConfig {
    fn validate(&self) -> std::result::Result<(), densify_core::InvalidField> {
        self.init()
            .map(|_| ())
            .map_err(crate::error::LossError::into_invalid_field)
    }
}

impl Wasserstein1dConfig {
    /// Builds the loss; errors on a temperature <= 0.
    pub fn init(&self) -> crate::error::Result<Wasserstein1d> {
        positive("1-D Wasserstein", "temperature", self.temperature)?;
        positive(
            "1-D Wasserstein",
            "label_temperature",
            self.label_temperature,
        )?;
        Ok(Wasserstein1d {
            temperature: self.temperature,
            label_temperature: self.label_temperature,
        })
    }
}

/// Per-query 1-D Wasserstein over grades; see the module docs.
#[derive(Debug, Clone)]
pub struct Wasserstein1d {
    temperature: f64,
    label_temperature: f64,
}

impl RankingLoss for Wasserstein1d {
    fn name(&self) -> &'static str {
        "wasserstein_1d"
    }

    /// # Shapes
    /// - `scores`, `labels`, `mask`: `[batch, columns]` -> `[batch]`
    fn forward_no_reduction(&self, batch: &ScoredLists) -> Tensor<1> {
        let [rows, columns] = batch.dims();
        let device = batch.scores.device();
        let labels = batch.labels_for("1-D Wasserstein");
        let valid = batch.mask_or_all();
        // Host: the grade levels of each list, as a [rows, columns, levels] indicator
        // (column j at or below level k) and the gaps to the next level.
        let y: Vec<f64> = labels.clone().into_data().iter::<f64>().collect();
        let mask = mask_vec(&batch.mask, rows * columns);
        let grades: Vec<Vec<f64>> = (0..rows)
            .map(|b| {
                let mut g: Vec<f64> = (0..columns)
                    .filter(|&c| mask[b * columns + c])
                    .map(|c| y[b * columns + c])
                    .collect();
                g.sort_by(f64::total_cmp);
                g.dedup();
                g
            })
            .collect();
        let levels = grades
            .iter()
            .map(|g| g.len().saturating_sub(1))
            .max()
            .unwrap_or(0)
            .max(1);
        let mut indicator = vec![0.0f32; rows * columns * levels];
        let mut gaps = vec![0.0f32; rows * levels];
        for (b, g) in grades.iter().enumerate() {
            for k in 0..g.len().saturating_sub(1) {
                gaps[b * levels + k] = (g[k + 1] - g[k]) as f32;
                for c in 0..columns {
                    let i = b * columns + c;
                    if mask[i] && y[i] <= g[k] {
                        indicator[i * levels + k] = 1.0;
                    }
                }
            }
        }
        let indicator =
            Tensor::<3>::from_data(TensorData::new(indicator, [rows, columns, levels]), &device);
        let gaps = Tensor::<2>::from_data(TensorData::new(gaps, [rows, levels]), &device);
        let p = masked_log_softmax(
            batch.scores.clone().div_scalar(self.temperature),
            valid.clone(),
        )
        .exp();
        let t = masked_log_softmax(labels.div_scalar(self.label_temperature), valid).exp();
        let cdf_gap = ((p - t)
            .unsqueeze_dim::<3>(2)
            .expand([rows, columns, levels])
            * indicator)
            .sum_dim(1);
        (cdf_gap.reshape([rows, levels]).abs() * gaps)
            .sum_dim(1)
            .reshape([rows])
    }
}
