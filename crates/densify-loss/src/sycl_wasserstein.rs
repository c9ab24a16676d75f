//! SyCL's batch-level 2-Wasserstein (Fréchet) loss between Gaussians fitted over the rows of
//! the predicted and the label distributions (`WS2Loss` of github.com/BatsResearch/sycl).
//!
//! ```text
//! P_b = softmax(s_b / τ)      T_b = softmax(y_b)       (rows over the valid columns)
//! μ = mean of the rows        C = (rows − μ) / sqrt(B − 1)
//! loss = ‖μ_P − μ_T‖² + tr(Σ_P) + tr(Σ_T) − 2 tr((Σ_P Σ_T)^(1/2))
//!      = ‖μ_P − μ_T‖² + ‖C_P‖²_F + ‖C_T‖²_F − 2 ‖C_P C_Tᵀ‖_*
//! ```
//! with `Σ = Cᵀ C` and `C` of shape `[batch, columns]` (rows are the samples). The trace of the
//! matrix square root is the nuclear norm of the `[batch, batch]` matrix `C_P C_Tᵀ`; it equals
//! `‖C_Pᵀ C_T‖_*` only when `C` is laid out `[columns, batch]`, as a description of the
//! official code writes it. The reference script checks the identity against
//! `scipy.linalg.sqrtm` on every case. Columns are every
//! passage of the batch, other queries' passages carrying label 0 (block-diagonal labels).
//! Computed in f64 on the host as the official code does (one read-back per call), with the exact
//! gradient: the nuclear norm's derivative `U Vᵀ` over the nonzero singular values (a
//! subgradient where singular values vanish, e.g. when all scores are equal).
//!
//! This loss is batch-level: `forward_no_reduction` returns `[1]`. It needs at least 2 queries.
//!
//! Reference: "Beyond Contrastive Learning: Synthetic Data Enables List-wise Training with
//! Multiple Levels of Relevance" (SyCL), arXiv 2503.23239.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::batch::ScoredLists;
use crate::error::positive;
use crate::host::{HostLists, attach_total};
use crate::linalg::svd_square;
use crate::loss::RankingLoss;

/// Configuration of [`SyclWasserstein`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyclWassersteinConfig {
    /// Temperature τ of the score softmax. Default 1 (SyCL's).
    pub temperature: f64,
}

impl Default for SyclWassersteinConfig {
    fn default() -> Self {
        Self { temperature: 1.0 }
    }
}

densify_core::setters!(SyclWassersteinConfig { temperature: f64 });

impl densify_core::Config for SyclWassersteinConfig {
    fn validate(&self) -> std::result::Result<(), densify_core::InvalidField> {
        self.init()
            .map(|_| ())
            .map_err(crate::error::LossError::into_invalid_field)
    }
}

impl SyclWassersteinConfig {
    /// Builds the loss; errors on a temperature <= 0.
    pub fn init(&self) -> crate::error::Result<SyclWasserstein> {
        positive("SyCL Wasserstein", "temperature", self.temperature)?;
        Ok(SyclWasserstein {
            temperature: self.temperature,
        })
    }
}

/// SyCL's batch 2-Wasserstein loss; see the module docs.
#[derive(Debug, Clone)]
pub struct SyclWasserstein {
    temperature: f64,
}

/// Row-wise softmax of `x` over `mask` (masked entries 0).
fn softmax_rows(x: &[f64], mask: &[bool], rows: usize, columns: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows * columns];
    for b in 0..rows {
        let row = b * columns..(b + 1) * columns;
        let max = row
            .clone()
            .filter(|&i| mask[i])
            .map(|i| x[i])
            .fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row
            .clone()
            .filter(|&i| mask[i])
            .map(|i| (x[i] - max).exp())
            .sum();
        for i in row.filter(|&i| mask[i]) {
            out[i] = (x[i] - max).exp() / sum;
        }
    }
    out
}

/// Column means and centred rows scaled by 1 / sqrt(B − 1).
fn centre(x: &[f64], rows: usize, columns: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; columns];
    for b in 0..rows {
        for j in 0..columns {
            mean[j] += x[b * columns + j] / rows as f64;
        }
    }
    let scale = 1.0 / ((rows - 1) as f64).sqrt();
    let c = (0..rows * columns)
        .map(|i| (x[i] - mean[i % columns]) * scale)
        .collect();
    (mean, c)
}

/// Loss value and its gradient with respect to the scores, all row-major.
pub(crate) fn sycl_loss(
    scores: &[f64],
    labels: &[f64],
    mask: &[bool],
    rows: usize,
    columns: usize,
    temperature: f64,
) -> (f64, Vec<f64>) {
    assert!(
        rows >= 2,
        "the SyCL Wasserstein loss fits Gaussians over the batch and needs at least 2 queries, got {rows}"
    );
    let logits: Vec<f64> = scores.iter().map(|s| s / temperature).collect();
    let p = softmax_rows(&logits, mask, rows, columns);
    let t = softmax_rows(labels, mask, rows, columns);
    let (mu_p, c_p) = centre(&p, rows, columns);
    let (mu_t, c_t) = centre(&t, rows, columns);
    // M = C_P C_Tᵀ (B × B): its nuclear norm is tr((Σ_P Σ_T)^(1/2)).
    let mut m = vec![0.0; rows * rows];
    for a in 0..rows {
        for c in 0..rows {
            m[a * rows + c] = (0..columns)
                .map(|j| c_p[a * columns + j] * c_t[c * columns + j])
                .sum();
        }
    }
    let (u, sigma, v) = svd_square(&m, rows);
    let largest = sigma.iter().copied().fold(0.0, f64::max);
    let keep: Vec<bool> = sigma
        .iter()
        .map(|&s| s > 1e-10 * largest && s > 0.0)
        .collect();
    let nuclear: f64 = sigma.iter().sum();
    let mean_term: f64 = mu_p.iter().zip(&mu_t).map(|(a, b)| (a - b).powi(2)).sum();
    let trace_p: f64 = c_p.iter().map(|x| x * x).sum();
    let trace_t: f64 = c_t.iter().map(|x| x * x).sum();
    let value = mean_term + trace_p + trace_t - 2.0 * nuclear;

    // G = Σ_k u_k v_kᵀ over kept singular values; H = G C_T is d‖M‖_*/dC_P.
    let mut g = vec![0.0; rows * rows];
    for k in (0..rows).filter(|&k| keep[k]) {
        for a in 0..rows {
            for c in 0..rows {
                g[a * rows + c] += u[a * rows + k] * v[c * rows + k];
            }
        }
    }
    let mut h = vec![0.0; rows * columns];
    for a in 0..rows {
        for c in 0..rows {
            let gac = g[a * rows + c];
            if gac != 0.0 {
                for j in 0..columns {
                    h[a * columns + j] += gac * c_t[c * columns + j];
                }
            }
        }
    }
    let (h_mean, _) = centre(&h, rows, columns);
    let scale = 1.0 / ((rows - 1) as f64).sqrt();
    let mut d_p = vec![0.0; rows * columns];
    for b in 0..rows {
        for j in 0..columns {
            let i = b * columns + j;
            d_p[i] = 2.0 * (mu_p[j] - mu_t[j]) / rows as f64 + 2.0 * c_p[i] * scale
                - 2.0 * scale * (h[i] - h_mean[j]);
        }
    }
    // Back through the row softmax and the temperature.
    let mut grad = vec![0.0; rows * columns];
    for b in 0..rows {
        let row = b * columns..(b + 1) * columns;
        let dot: f64 = row.clone().map(|i| p[i] * d_p[i]).sum();
        for i in row.filter(|&i| mask[i]) {
            grad[i] = p[i] * (d_p[i] - dot) / temperature;
        }
    }
    (value, grad)
}

impl RankingLoss for SyclWasserstein {
    fn name(&self) -> &'static str {
        "sycl_wasserstein"
    }

    /// # Shapes
    /// - `scores`, `labels`, `mask`: `[batch, columns]` -> `[1]`
    fn forward_no_reduction(&self, batch: &ScoredLists) -> Tensor<1> {
        let l = HostLists::read(batch, "SyCL Wasserstein");
        let (value, grad) = sycl_loss(
            &l.scores,
            &l.labels,
            &l.mask,
            l.rows,
            l.columns,
            self.temperature,
        );
        attach_total(&batch.scores, value, grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_distributions_have_zero_distance() {
        // Scores equal to the labels: P = T, so the distance is 0.
        let x = [2.0, 0.0, 1.0, 0.0, 3.0, 1.0, 1.0, 1.0, 0.0];
        let (v, g) = sycl_loss(&x, &x, &[true; 9], 3, 3, 1.0);
        assert!(v.abs() < 1e-12, "{v}");
        assert!(g.iter().all(|g| g.abs() < 1e-9), "{g:?}");
    }

    #[test]
    fn matches_the_closed_form_for_two_rows() {
        // B = 2: C rows are ±(x1 − x2)/2 (scaled by 1/sqrt(1)), so with d_P = P1 − P2 and
        // d_T = T1 − T2: tr Σ = ‖d‖²/2 and the nuclear norm is |d_P·d_T|/2; the distance is
        // ‖μ_P − μ_T‖² + ‖d_P‖²/2 + ‖d_T‖²/2 − |d_P·d_T|.
        let s = [0.5, -1.0, 2.0, 0.0];
        let y = [1.0, 0.0, 0.0, 2.0];
        let (v, _) = sycl_loss(&s, &y, &[true; 4], 2, 2, 1.0);
        let sm = |a: f64, b: f64| [a.exp() / (a.exp() + b.exp()), b.exp() / (a.exp() + b.exp())];
        let (p1, p2, t1, t2) = (sm(0.5, -1.0), sm(2.0, 0.0), sm(1.0, 0.0), sm(0.0, 2.0));
        let dp = [p1[0] - p2[0], p1[1] - p2[1]];
        let dt = [t1[0] - t2[0], t1[1] - t2[1]];
        let mu = [
            (p1[0] + p2[0] - t1[0] - t2[0]) / 2.0,
            (p1[1] + p2[1] - t1[1] - t2[1]) / 2.0,
        ];
        let expected = mu[0].powi(2)
            + mu[1].powi(2)
            + (dp[0].powi(2) + dp[1].powi(2)) / 2.0
            + (dt[0].powi(2) + dt[1].powi(2)) / 2.0
            - (dp[0] * dt[0] + dp[1] * dt[1]).abs();
        assert!((v - expected).abs() < 1e-12, "{v} vs {expected}");
    }
}
