//! ListMLE and its position-aware variant (p-ListMLE): the negative log-likelihood of the
//! label ordering under the Plackett–Luce model of the scores.
//!
//! ```text
//! π = valid columns sorted by label descending (ties: lower column first)
//! loss_b = Σ_{i=1..n} w_i · ( log Σ_{k ≥ i} exp(s_π(k)) − s_π(i) )
//! ```
//! with `w_i = 1` (ListMLE) or, position-aware, `w_i = (2^(n−i+1) − 1) / (2^n − 1)`: Lan et al.'s
//! exponentially decreasing weights `2^(n−i+1) − 1`, divided by the first weight so long lists
//! do not overflow. sentence-transformers 6.2.0's `PListMLELoss` differs: its default weights
//! are `2^(n−i) − 1` normalised to sum to 1 (shifted by one position), about 0.4-0.5 relative
//! apart from these on the reference cases (`scripts/loss_reference.py` checks the relation).
//!
//! The suffix log-sum-exp has no stable device form, so the loss and its exact gradient are
//! computed on the host in f64 (see `host.rs`); one read-back per call.
//!
//! References: Xia et al., "Listwise Approach to Learning to Rank", ICML 2008; Lan et al.,
//! "Position-Aware ListMLE", UAI 2014.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::batch::ScoredLists;

use crate::host::{HostLists, attach_rows};
use crate::loss::RankingLoss;

/// Configuration of [`ListMle`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListMleConfig {
    /// Weight positions as p-ListMLE does. Default false (plain ListMLE).
    pub position_aware: bool,
}

densify_core::setters!(ListMleConfig {
    position_aware: bool
});

impl densify_core::Config for ListMleConfig {
    fn validate(&self) -> std::result::Result<(), densify_core::InvalidField> {
        self.init()
            .map(|_| ())
            .map_err(crate::error::LossError::into_invalid_field)
    }
}

impl ListMleConfig {
    /// Builds the loss.
    pub fn init(&self) -> crate::error::Result<ListMle> {
        Ok(ListMle {
            position_aware: self.position_aware,
        })
    }
}

/// ListMLE / p-ListMLE; see the module docs.
#[derive(Debug, Clone)]
pub struct ListMle {
    position_aware: bool,
}

/// `w_i` for `i = 1..=n` (1-based position `i` at index `i − 1`).
fn position_weights(n: usize, position_aware: bool) -> Vec<f64> {
    if !position_aware {
        return vec![1.0; n];
    }
    // (2^(n-i+1) - 1) / (2^n - 1) = 2^-(i-1) (1 - 2^-(n-i+1)) / (1 - 2^-n), stable for any n.
    let denominator = 1.0 - 0.5f64.powi(n as i32);
    (1..=n)
        .map(|i| 0.5f64.powi(i as i32 - 1) * (1.0 - 0.5f64.powi((n - i + 1) as i32)) / denominator)
        .collect()
}

/// Loss and gradient of one list already in label order.
fn ordered_loss(x: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
    let n = x.len();
    let mut lse = vec![0.0; n];
    for i in (0..n).rev() {
        lse[i] = if i + 1 == n {
            x[i]
        } else {
            let (a, b) = (x[i], lse[i + 1]);
            let m = a.max(b);
            m + ((a - m).exp() + (b - m).exp()).ln()
        };
    }
    let value = (0..n).map(|i| w[i] * (lse[i] - x[i])).sum();
    let mut grad = vec![0.0; n];
    let mut acc = 0.0;
    for j in 0..n {
        acc = if j == 0 {
            w[0]
        } else {
            acc * (lse[j] - lse[j - 1]).exp() + w[j]
        };
        grad[j] = (x[j] - lse[j]).exp() * acc - w[j];
    }
    (value, grad)
}

impl RankingLoss for ListMle {
    fn name(&self) -> &'static str {
        if self.position_aware {
            "p_list_mle"
        } else {
            "list_mle"
        }
    }

    /// # Shapes
    /// - `scores`, `labels`, `mask`: `[batch, columns]` -> `[batch]`
    fn forward_no_reduction(&self, batch: &ScoredLists) -> Tensor<1> {
        let HostLists {
            scores,
            labels,
            mask,
            rows,
            columns,
        } = HostLists::read(batch, "ListMLE");
        let mut values = vec![0.0; rows];
        let mut grad = vec![0.0; rows * columns];
        for (b, value) in values.iter_mut().enumerate() {
            let at = |c: usize| b * columns + c;
            let mut order: Vec<usize> = (0..columns).filter(|&c| mask[at(c)]).collect();
            order.sort_by(|&i, &j| labels[at(j)].total_cmp(&labels[at(i)]).then(i.cmp(&j)));
            let x: Vec<f64> = order.iter().map(|&c| scores[at(c)]).collect();
            let (row_value, g) = ordered_loss(&x, &position_weights(x.len(), self.position_aware));
            *value = row_value;
            for (&c, g) in order.iter().zip(g) {
                grad[at(c)] = g;
            }
        }
        attach_rows(&batch.scores, values, grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_items_give_the_logistic_loss() {
        // n = 2, order (a, b): loss = log(e^a + e^b) − a + (b − b) = softplus(b − a).
        let (v, g) = ordered_loss(&[1.0, 0.0], &[1.0, 1.0]);
        assert!((v - (1.0 + (-1.0f64).exp()).ln()).abs() < 1e-12);
        let sig = 1.0 / (1.0 + 1.0f64.exp()); // σ(b − a)
        assert!((g[0] + sig).abs() < 1e-12 && (g[1] - sig).abs() < 1e-12);
    }

    #[test]
    fn position_weights_decay_from_one() {
        let w = position_weights(3, true);
        // (2^3−1, 2^2−1, 2^1−1) / 7 = (1, 3/7, 1/7)
        assert!(
            (w[0] - 1.0).abs() < 1e-15
                && (w[1] - 3.0 / 7.0).abs() < 1e-15
                && (w[2] - 1.0 / 7.0).abs() < 1e-15
        );
        assert!(position_weights(5000, true).iter().all(|w| w.is_finite()));
    }
}
