//! Masked softmax and the masks the recipes build: own-list blocks for in-batch negatives,
//! likely false negatives by teacher score, and duplicate document ids.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

/// A finite stand-in for -infinity in f32: masked logits get it, so softmax gives them
/// probability 0 without producing NaN in `0 * log 0` terms or their gradients. Other dtypes
/// get `densify_core::masked_logit` (f16: -3e4, where -1e30 would be -inf).
pub const MASKED_LOGIT: f32 = -1e30;

/// `log_softmax` over the valid (`true`) columns of each row; masked columns get a very
/// negative finite value (their probability is 0).
///
/// # Shapes
/// - `logits`, `valid`: `[batch, columns]` -> `[batch, columns]`
pub fn masked_log_softmax(logits: Tensor<2>, valid: Tensor<2, Bool>) -> Tensor<2> {
    log_softmax(densify_core::mask_logits(logits, valid.bool_not()), 1)
}

/// For in-batch layouts: row `b` is `true` on columns `b * list .. (b + 1) * list`, the query's
/// own list among all `batch * list` passages of the batch.
///
/// # Shapes
/// - returns `[batch, batch * list]`
pub fn own_list_mask(batch: usize, list: usize, device: &Device) -> Tensor<2, Bool> {
    let values: Vec<bool> = (0..batch)
        .flat_map(|b| (0..batch * list).map(move |c| c / list == b))
        .collect();
    Tensor::from_data(TensorData::new(values, [batch, batch * list]), device)
}

/// Likely false negatives (paper B): `true` where the teacher's score, min-max normalised over
/// its row to [0, 1], exceeds `ratio` (paper B: 0.6), except at the positive. Use as exclusions
/// from the candidates.
///
/// The scale is stated so the rule does not depend on the teacher's sign or offset: paper B
/// normalises teacher scores to [0, 1] before taking "more than 0.6 of the top score", while
/// cross-encoder logits are often all negative, where "> 0.6 x top" on raw scores would mark
/// the wrong documents. With the row's minimum at 0 and its top at 1, the rule is paper B's. A
/// row whose scores are all equal marks nothing.
///
/// # Shapes
/// - `teacher`: `[batch, columns]`, `positive`: `[batch]` -> `[batch, columns]`
pub fn false_negative_mask(
    teacher: Tensor<2>,
    positive: Tensor<1, Int>,
    ratio: f64,
) -> Tensor<2, Bool> {
    let [batch, columns] = teacher.dims();
    let top = teacher.clone().max_dim(1).expand([batch, columns]);
    let bottom = teacher.clone().min_dim(1).expand([batch, columns]);
    let above_bottom = teacher - bottom.clone();
    let range = top - bottom;
    let likely = above_bottom.greater(range.mul_scalar(ratio));
    likely.bool_and(positive_mask(positive, columns).bool_not())
}

/// `true` at each row's positive column.
///
/// # Shapes
/// - `positive`: `[batch]` -> `[batch, columns]`
pub fn positive_mask(positive: Tensor<1, Int>, columns: usize) -> Tensor<2, Bool> {
    // burn's `one_hot` refuses a single class; with one column every row's positive is it (a
    // batch of one pair without negatives, as a no-duplicates batch can be).
    if columns == 1 {
        let [batch] = positive.dims();
        return positive.reshape([batch, 1]).equal_elem(0);
    }
    positive.one_hot::<2>(columns).equal_elem(1)
}

/// Duplicate document ids (host-side, from the ids of every column): `true` where a column holds
/// the same document as the row's positive, or repeats a document already seen earlier in the
/// row. Use as exclusions from the candidates.
///
/// # Shapes
/// - `ids`: `batch` rows of `columns` ids; `positive`: one column per row -> `[batch, columns]`
pub fn duplicate_id_mask<T: PartialEq + std::hash::Hash + Eq>(
    ids: &[Vec<T>],
    positive: &[usize],
    device: &Device,
) -> Tensor<2, Bool> {
    let columns = ids.first().map_or(0, Vec::len);
    let mut values = Vec::with_capacity(ids.len() * columns);
    for (row, &p) in ids.iter().zip(positive) {
        assert_eq!(
            row.len(),
            columns,
            "every row of ids needs {columns} columns"
        );
        let mut seen = std::collections::HashSet::new();
        for (c, id) in row.iter().enumerate() {
            let repeat = !seen.insert(id);
            values.push(c != p && (repeat || *id == row[p]));
        }
    }
    Tensor::from_data(TensorData::new(values, [ids.len(), columns]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bools(t: Tensor<2, Bool>) -> Vec<bool> {
        t.into_data().iter::<bool>().collect()
    }

    #[test]
    fn masks_have_the_documented_layout() {
        let device = Device::flex();
        assert_eq!(
            bools(own_list_mask(2, 2, &device)),
            [true, true, false, false, false, false, true, true]
        );
        // Row 0 normalised: (1, 0.4, 0, 0.88); row 1 (negative logits -10..-2): (1, 0.75,
        // 0, 0.5); row 2 all equal marks nothing.
        let teacher = Tensor::<2>::from_data(
            [
                [1.0, 0.7, 0.5, 0.94],
                [-2.0, -4.0, -10.0, -6.0],
                [3.0, 3.0, 3.0, 3.0],
            ],
            &device,
        );
        let positive = Tensor::<1, Int>::from_data([0, 0, 1], &device);
        assert_eq!(
            bools(false_negative_mask(teacher, positive, 0.6)),
            [
                false, false, false, true, //
                false, true, false, false, //
                false, false, false, false,
            ]
        );
        let ids = vec![vec!["a", "b", "a", "c", "b"]];
        assert_eq!(
            bools(duplicate_id_mask(&ids, &[0], &device)),
            [false, false, true, false, true]
        );
    }

    #[test]
    fn a_single_column_is_every_rows_positive() {
        let device = Device::flex();
        let positive = Tensor::<1, Int>::from_data([0, 0], &device);
        assert_eq!(bools(positive_mask(positive.clone(), 1)), [true, true]);
        assert_eq!(
            bools(positive_mask(
                Tensor::<1, Int>::from_data([1, 0], &device),
                2
            )),
            [false, true, true, false]
        );
        // InfoNCE over one pair and no negative: -log 1 = 0, not a panic.
        use crate::RankingLoss;
        let loss = crate::InfoNceConfig::default()
            .init()
            .unwrap()
            .forward_no_reduction(&crate::ScoredLists::new(Tensor::<2>::from_data(
                [[0.3]],
                &device,
            )));
        let value: Vec<f32> = loss.into_data().iter::<f32>().collect();
        assert!(value[0].abs() < 1e-6, "{value:?}");
    }

    #[test]
    fn masked_log_softmax_ignores_masked_columns() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_data([[0.0, 0.0, 100.0]], &device);
        let valid = Tensor::<2, Bool>::from_data([[true, true, false]], &device);
        let out: Vec<f32> = masked_log_softmax(logits, valid)
            .into_data()
            .iter::<f32>()
            .collect();
        assert!((out[0] - 0.5f32.ln()).abs() < 1e-6 && (out[1] - 0.5f32.ln()).abs() < 1e-6);
        assert!(out[2] < -1e29);
    }
}
