//! The input every loss takes: student scores `[batch, list]` and what to compare them with.

use burn::tensor::{Bool, Int, Tensor};

use crate::error::{LossError, Result};

/// Scores of a batch of queries over their candidate lists, with the targets losses need.
///
/// Columns are candidates: either each query's own list (`[batch, list]`), or every passage of
/// the batch (`[batch, batch * list]`, in-batch negatives; see
/// [`crate::masking::own_list_mask`]).
///
/// | field | used by |
/// |---|---|
/// | `scores` | every loss (the student; gradients flow into it) |
/// | `mask` | list losses: which columns belong to the query's list (default: all) |
/// | `teacher` | KL distillation, MarginMSE, false-negative masking |
/// | `labels` | ListNet, ListMLE, RankNet, both Wasserstein losses |
/// | `positive` | InfoNCE, MarginMSE: the positive's column (default: column 0) |
/// | `candidates` | InfoNCE: which columns compete with the positive (default: `mask`) |
///
/// Teacher scores and labels are treated as constants (no gradient flows into them).
#[derive(Debug, Clone)]
pub struct ScoredLists {
    /// Student scores. Shape `[batch, columns]`.
    pub scores: Tensor<2>,
    /// `true` where a column is a valid member of the query's list. Shape `[batch, columns]`.
    pub mask: Option<Tensor<2, Bool>>,
    /// Teacher scores (or probabilities, per the loss's config). Shape `[batch, columns]`.
    pub teacher: Option<Tensor<2>>,
    /// Graded relevance labels. Shape `[batch, columns]`.
    pub labels: Option<Tensor<2>>,
    /// Column of each query's positive. Shape `[batch]`.
    pub positive: Option<Tensor<1, Int>>,
    /// `true` where a column competes with the positive in contrastive losses (the positive
    /// itself is always included). Shape `[batch, columns]`.
    pub candidates: Option<Tensor<2, Bool>>,
}

impl ScoredLists {
    /// Student scores alone; add targets with the `with_*` methods.
    pub fn new(scores: Tensor<2>) -> Self {
        Self {
            scores,
            mask: None,
            teacher: None,
            labels: None,
            positive: None,
            candidates: None,
        }
    }

    /// Sets the list mask.
    pub fn with_mask(mut self, mask: Tensor<2, Bool>) -> Self {
        self.mask = Some(mask);
        self
    }

    /// Sets the teacher scores or probabilities.
    pub fn with_teacher(mut self, teacher: Tensor<2>) -> Self {
        self.teacher = Some(teacher);
        self
    }

    /// Sets the graded labels.
    pub fn with_labels(mut self, labels: Tensor<2>) -> Self {
        self.labels = Some(labels);
        self
    }

    /// Sets the positive column of every query.
    pub fn with_positive(mut self, positive: Tensor<1, Int>) -> Self {
        self.positive = Some(positive);
        self
    }

    /// Sets the contrastive candidates.
    pub fn with_candidates(mut self, candidates: Tensor<2, Bool>) -> Self {
        self.candidates = Some(candidates);
        self
    }

    /// `[batch, columns]`.
    pub fn dims(&self) -> [usize; 2] {
        self.scores.dims()
    }

    /// The list mask, or all-true.
    pub fn mask_or_all(&self) -> Tensor<2, Bool> {
        self.mask.clone().unwrap_or_else(|| {
            Tensor::<2>::ones(self.dims(), &self.scores.device()).equal_elem(1.0)
        })
    }

    /// The positive columns, or column 0 for every query.
    pub fn positive_or_first(&self) -> Tensor<1, Int> {
        self.positive
            .clone()
            .unwrap_or_else(|| Tensor::<1, Int>::zeros([self.dims()[0]], &self.scores.device()))
    }

    /// Checks the batch before a training step: shapes agree, every list has a valid entry,
    /// positives are in range and valid. Reads small summaries back from the device once.
    pub fn validate(&self) -> Result<()> {
        let dims = self.dims();
        let check = |name: &str, other: [usize; 2]| {
            if other == dims {
                Ok(())
            } else {
                Err(LossError::Input(format!(
                    "`{name}` has shape {other:?} but the student scores have shape {dims:?}"
                )))
            }
        };
        if dims[0] == 0 || dims[1] == 0 {
            return Err(LossError::Input(format!("empty score tensor {dims:?}")));
        }
        if let Some(m) = &self.mask {
            check("mask", m.dims())?;
        }
        if let Some(t) = &self.teacher {
            check("teacher", t.dims())?;
        }
        if let Some(l) = &self.labels {
            check("labels", l.dims())?;
        }
        if let Some(c) = &self.candidates {
            check("candidates", c.dims())?;
        }
        if let Some(m) = &self.mask {
            let valid: Vec<bool> = m.clone().any_dim(1).into_data().iter::<bool>().collect();
            if let Some(row) = valid.iter().position(|v| !v) {
                return Err(LossError::Input(format!(
                    "list {row} of the batch has no valid entry"
                )));
            }
        }
        if let Some(p) = &self.positive {
            if p.dims() != [dims[0]] {
                return Err(LossError::Input(format!(
                    "`positive` has shape {:?}, expected [{}]",
                    p.dims(),
                    dims[0]
                )));
            }
            let columns: Vec<i64> = p.clone().into_data().iter::<i64>().collect();
            let mask: Vec<bool> = self.mask_or_all().into_data().iter::<bool>().collect();
            for (row, &c) in columns.iter().enumerate() {
                if c < 0 || c as usize >= dims[1] {
                    return Err(LossError::Input(format!(
                        "`positive` of list {row} is column {c}, outside 0..{}",
                        dims[1]
                    )));
                }
                if !mask[row * dims[1] + c as usize] {
                    return Err(LossError::Input(format!(
                        "`positive` of list {row} (column {c}) is masked out"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks that the teacher holds probabilities: every value in [0, 1].
    pub fn validate_teacher_probabilities(&self) -> Result<()> {
        let Some(t) = &self.teacher else {
            return Err(LossError::Input("no teacher given".into()));
        };
        let values: Vec<f32> = t.clone().into_data().iter::<f32>().collect();
        if let Some((i, v)) = values
            .iter()
            .enumerate()
            .find(|(_, v)| !(0.0..=1.0).contains(*v))
        {
            let columns = self.dims()[1];
            return Err(LossError::Input(format!(
                "teacher probability at list {}, column {} is {v}, outside [0, 1]",
                i / columns,
                i % columns
            )));
        }
        Ok(())
    }

    /// The teacher, or a panic naming the loss (a precondition inside a training step).
    pub(crate) fn teacher_for(&self, loss: &str) -> Tensor<2> {
        self.teacher
            .clone()
            .unwrap_or_else(|| panic!("{loss} needs `teacher` scores in the batch"))
            .detach()
    }

    /// The labels, or a panic naming the loss.
    pub(crate) fn labels_for(&self, loss: &str) -> Tensor<2> {
        self.labels
            .clone()
            .unwrap_or_else(|| panic!("{loss} needs `labels` in the batch"))
            .detach()
    }
}
