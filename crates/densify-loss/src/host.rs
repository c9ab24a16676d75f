//! Losses computed on the host in f64 with exact hand-derived gradients, attached to the
//! device graph so autodiff carries them into the model.
//!
//! Used where the method needs f64 (the SyCL Wasserstein loss) or where no stable device form
//! exists (ListMLE's suffix log-sum-exp). The returned tensor's value is the host value exactly,
//! and its gradient with respect to `scores` is the host gradient: `value + Σ (s − detach(s)) ⊙ G`
//! (the bracket is exactly zero in value and the identity in gradient).

use burn::tensor::{Tensor, TensorData};

/// A batch read back to the host in f64, row-major: one read per call.
pub(crate) struct HostLists {
    /// Student scores.
    pub scores: Vec<f64>,
    /// Labels.
    pub labels: Vec<f64>,
    /// List mask (all `true` when the batch has none).
    pub mask: Vec<bool>,
    /// Number of lists.
    pub rows: usize,
    /// Columns per list.
    pub columns: usize,
}

impl HostLists {
    /// Reads scores, labels (a panic naming `loss` when absent) and the mask.
    pub fn read(batch: &crate::batch::ScoredLists, loss: &str) -> Self {
        let [rows, columns] = batch.dims();
        Self {
            scores: batch
                .scores
                .clone()
                .detach()
                .into_data()
                .iter::<f64>()
                .collect(),
            labels: batch.labels_for(loss).into_data().iter::<f64>().collect(),
            mask: mask_vec(&batch.mask, rows * columns),
            rows,
            columns,
        }
    }
}

/// `(s − detach(s)) ⊙ G`: zero in value, gradient `G` with respect to `scores`.
fn carrier(scores: &Tensor<2>, grad: Vec<f64>) -> Tensor<2> {
    let grad: Vec<f32> = grad.iter().map(|&g| g as f32).collect();
    let grad = Tensor::<2>::from_data(TensorData::new(grad, scores.dims()), &scores.device());
    (scores.clone() - scores.clone().detach()) * grad
}

fn values_tensor(values: &[f64], device: &burn::tensor::Device) -> Tensor<1> {
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// Per-row values `[batch]` with gradient `grad` (row-major `[batch, columns]`).
pub(crate) fn attach_rows(scores: &Tensor<2>, values: Vec<f64>, grad: Vec<f64>) -> Tensor<1> {
    let [batch, _] = scores.dims();
    values_tensor(&values, &scores.device()) + carrier(scores, grad).sum_dim(1).reshape([batch])
}

/// One batch-level value `[1]` with gradient `grad` (row-major `[batch, columns]`).
pub(crate) fn attach_total(scores: &Tensor<2>, value: f64, grad: Vec<f64>) -> Tensor<1> {
    values_tensor(&[value], &scores.device()) + carrier(scores, grad).sum()
}

/// The mask as a row-major vector (all `true` when absent).
pub(crate) fn mask_vec(
    mask: &Option<burn::tensor::Tensor<2, burn::tensor::Bool>>,
    n: usize,
) -> Vec<bool> {
    match mask {
        Some(m) => m.clone().into_data().iter::<bool>().collect(),
        None => vec![true; n],
    }
}
