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
//! subgradient where singular values vanish, e.g. when all scores are equal). The SVD
//! `M = U diag(σ) Vᵀ` and the matrix products are nalgebra's, in f64.
//!
//! This loss is batch-level: `forward_no_reduction` returns `[1]`. It needs at least 2 queries.
//!
//! Reference: "Beyond Contrastive Learning: Synthetic Data Enables List-wise Training with
//! Multiple Levels of Relevance" (SyCL), arXiv 2503.23239.

use burn::tensor::Tensor;
use nalgebra::{DMatrix, DMatrixView};
use serde::{Deserialize, Serialize};

use crate::batch::ScoredLists;
use crate::error::positive;
use crate::host::{HostLists, attach_total};
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

/// Row-wise softmax of `x` over `mask` (masked entries 0), one `exp` per entry.
///
/// # Shapes
/// - `x`, `mask`: `[rows, columns]` -> `[rows, columns]`
fn softmax_rows(x: &[f64], mask: &[bool], rows: usize, columns: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows * columns];
    for b in 0..rows {
        let row = b * columns..(b + 1) * columns;
        let (x, mask, out) = (&x[row.clone()], &mask[row.clone()], &mut out[row]);
        let max = x
            .iter()
            .zip(mask)
            .filter(|&(_, &m)| m)
            .map(|(&x, _)| x)
            .fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for ((o, &x), &m) in out.iter_mut().zip(x).zip(mask) {
            if m {
                *o = (x - max).exp();
                sum += *o;
            }
        }
        for (o, &m) in out.iter_mut().zip(mask) {
            if m {
                *o /= sum;
            }
        }
    }
    out
}

/// Column means and centred rows scaled by 1 / sqrt(B − 1).
///
/// # Shapes
/// - `x`: `[rows, columns]` -> (`[columns]`, `[rows, columns]`)
fn centre(x: &[f64], rows: usize, columns: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; columns];
    for b in 0..rows {
        for (m, &x) in mean.iter_mut().zip(&x[b * columns..(b + 1) * columns]) {
            *m += x / rows as f64;
        }
    }
    let scale = 1.0 / ((rows - 1) as f64).sqrt();
    let mut c = vec![0.0; rows * columns];
    for b in 0..rows {
        let row = b * columns..(b + 1) * columns;
        for ((c, &x), &m) in c[row.clone()].iter_mut().zip(&x[row]).zip(&mean) {
            *c = (x - m) * scale;
        }
    }
    (mean, c)
}

/// The nuclear norm `‖m‖_* = Σ σ_k` of a square matrix and its (sub)gradient `Σ u_k v_kᵀ` over
/// the singular values above `1e-10 σ_max` (smaller ones are rounding noise of zeros, whose
/// singular vectors are arbitrary; leaving them out gives the minimum-norm subgradient). NaN
/// in both where the SVD does not converge (non-finite input).
///
/// # Shapes
/// - `m`: `[n, n]` -> (scalar, `[n, n]`)
fn nuclear_norm(m: DMatrix<f64>) -> (f64, DMatrix<f64>) {
    let n = m.nrows();
    // At most 6 n² QR sweeps, LAPACK's dbdsqr bound; NaN or Inf input may never converge.
    let Some(svd) = m.try_svd_unordered(true, true, f64::EPSILON, 6 * n * n) else {
        return (f64::NAN, DMatrix::from_element(n, n, f64::NAN));
    };
    let sigma = &svd.singular_values;
    let u = svd.u.as_ref().expect("U was requested");
    let v_t = svd.v_t.as_ref().expect("Vᵀ was requested");
    let largest = sigma.iter().copied().fold(0.0, f64::max);
    let mut gradient = DMatrix::zeros(n, n);
    for (k, &s) in sigma.iter().enumerate() {
        if s > 1e-10 * largest && s > 0.0 {
            gradient.ger(1.0, &u.column(k), &v_t.row(k).transpose(), 1.0);
        }
    }
    (sigma.sum(), gradient)
}

/// Loss value and its gradient with respect to the scores, all row-major.
///
/// # Shapes
/// - `scores`, `labels`, `mask`: `[rows, columns]` -> (scalar, `[rows, columns]`)
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
    // Row-major [rows, columns] buffers read column-major are the transposes C_Pᵀ, C_Tᵀ.
    let c_p_t = DMatrixView::from_slice(&c_p, columns, rows);
    let c_t_t = DMatrixView::from_slice(&c_t, columns, rows);
    // M = C_P C_Tᵀ (B × B): its nuclear norm is tr((Σ_P Σ_T)^(1/2)); G = d‖M‖_*/dM.
    let (nuclear, g) = nuclear_norm(c_p_t.tr_mul(&c_t_t));
    let mean_term: f64 = mu_p.iter().zip(&mu_t).map(|(a, b)| (a - b).powi(2)).sum();
    let trace_p: f64 = c_p.iter().map(|x| x * x).sum();
    let trace_t: f64 = c_t.iter().map(|x| x * x).sum();
    let value = mean_term + trace_p + trace_t - 2.0 * nuclear;

    // H = G C_T is d‖M‖_*/dC_P; Hᵀ = C_Tᵀ Gᵀ column-major is H row-major.
    let h_t = c_t_t * g.transpose();
    let h = h_t.as_slice();
    let (h_mean, _) = centre(h, rows, columns);
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

    fn assert_close(got: &DMatrix<f64>, want: [[f64; 2]; 2]) {
        for (i, row) in want.iter().enumerate() {
            for (j, w) in row.iter().enumerate() {
                assert!((got[(i, j)] - w).abs() < 1e-12, "{got} vs {want:?}");
            }
        }
    }

    #[test]
    fn nuclear_norm_of_a_full_rank_2x2() {
        // [[3, 0], [4, 5]] has singular values sqrt(45) and sqrt(5), so ‖M‖_* = 4 sqrt(5). With
        // det > 0, U Vᵀ is the rotation (M + cof M) / ‖·‖ = [[8, -4], [4, 8]] / (4 sqrt(5)).
        let (nuclear, g) = nuclear_norm(DMatrix::from_row_slice(2, 2, &[3.0, 0.0, 4.0, 5.0]));
        assert!((nuclear - 4.0 * 5f64.sqrt()).abs() < 1e-12, "{nuclear}");
        let r = 1.0 / 5f64.sqrt();
        assert_close(&g, [[2.0 * r, -r], [r, 2.0 * r]]);
    }

    #[test]
    fn nuclear_norm_subgradient_skips_vanishing_singular_values() {
        // [[1, 1], [1, 1]] = 2 u uᵀ with u = (1, 1)/sqrt(2): σ = (2, 0) and the gradient is u uᵀ
        // alone; the zero matrix gives 0 and the zero subgradient.
        let (nuclear, g) = nuclear_norm(DMatrix::from_element(2, 2, 1.0));
        assert!((nuclear - 2.0).abs() < 1e-12, "{nuclear}");
        assert_close(&g, [[0.5, 0.5], [0.5, 0.5]]);
        let (nuclear, g) = nuclear_norm(DMatrix::zeros(2, 2));
        assert_eq!(nuclear, 0.0);
        assert_close(&g, [[0.0, 0.0], [0.0, 0.0]]);
    }

    #[test]
    fn non_finite_input_gives_nan_not_a_panic() {
        let (v, g) = sycl_loss(
            &[f64::NAN, 0.0, 1.0, 2.0],
            &[1.0, 0.0, 0.0, 1.0],
            &[true; 4],
            2,
            2,
            1.0,
        );
        assert!(v.is_nan(), "{v}");
        assert!(g.iter().any(|g| g.is_nan()), "{g:?}");
    }

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
