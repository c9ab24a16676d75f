//! One batch's loss and gradients: scores from the loaded (tokenised, noised) batch, the
//! loss's targets, backward; with GradCache for bi-encoders (Gao et al., "Scaling Deep
//! Contrastive Learning Batch Size under Memory Limited Setup", 2021).

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use densify_loss::masking::{false_negative_mask, own_list_mask};
use densify_loss::{RankingLoss, Reduction, ScoredLists};
use densify_model::{BiEncoder, BiEncoderModel, CrossEncoder, Encoded, Side, in_batch_scores};

use super::lists::{StepList, list_targets};
use super::loader::LoadedBatch;
use super::plan::mix;
use super::{Encoder, Student, Trainer};
use crate::error::Result;

/// What one batch's loss reads.
#[derive(Clone, Copy)]
pub(crate) struct BatchInputs<'a> {
    pub lists: &'a [StepList],
    /// Example indices into `lists`.
    pub batch: &'a [usize],
    pub loaded: &'a LoadedBatch,
    pub loss: &'a dyn RankingLoss,
    /// Every query scored against every passage of the batch (bi-encoders; InfoNCE and
    /// listwise distillation), `None` for each query's own list.
    pub in_batch: Option<InBatch>,
    pub list_size: usize,
}

/// How an in-batch layout excludes columns from a query's negatives besides the other
/// columns holding its judged positives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct InBatch {
    /// Paper B's false-negative mask: with teacher scores, a column of the query's own list
    /// (other than its positive) whose teacher score, min-max normalised over the list, exceeds
    /// this ratio is left out of the negatives ([`densify_loss::masking::false_negative_mask`]).
    /// `None` excludes none.
    pub false_negative_ratio: Option<f64>,
}

/// The batch's mean loss under `student` on `device` (autodiff for training, the inner device
/// for dev evaluation).
///
/// # Shapes
/// - returns `[1]`
pub(crate) fn batch_loss(
    encoder: &Encoder,
    student: &Student,
    inputs: BatchInputs<'_>,
    device: &Device,
) -> Tensor<1> {
    let scored = match (encoder, student, inputs.loaded) {
        (Encoder::Bi(bi), Student::Bi(model), LoadedBatch::Bi { queries, passages }) => {
            let q = embed(bi, model, queries, Side::Query, device);
            let p = embed(bi, model, passages, Side::Passage, device);
            bi_scored(bi, inputs, q, p, device)
        }
        (Encoder::Cross(cross), Student::Cross(model), LoadedBatch::Cross { pairs }) => {
            cross_scored(cross, model, inputs, pairs, device)
        }
        _ => unreachable!("the student and the batch match the encoder"),
    };
    inputs.loss.forward(&scored, Reduction::Mean)
}

/// Embeds tokenised texts of one side.
///
/// # Shapes
/// - returns `[items, dim]`
fn embed(
    bi: &BiEncoder,
    model: &BiEncoderModel,
    items: &[Encoded],
    side: Side,
    device: &Device,
) -> Tensor<2> {
    let refs: Vec<&Encoded> = items.iter().collect();
    let tokens = bi.tokenizer(side).batch(&refs, device);
    model.embed(&tokens, side)
}

/// A cross-encoder's scores of every (query, candidate) pair of the batch, each query's list
/// `[b, list]` with its targets (positive first, teacher scores and labels from the examples).
fn cross_scored(
    cross: &CrossEncoder,
    model: &densify_model::CrossEncoderModel,
    inputs: BatchInputs<'_>,
    pairs: &[Encoded],
    device: &Device,
) -> ScoredLists {
    let refs: Vec<&Encoded> = pairs.iter().collect();
    let tokens = cross.tokenizer().batch(&refs, device);
    let scores = model
        .score(&tokens)
        .reshape([inputs.batch.len(), inputs.list_size]);
    list_targets(inputs.lists, inputs.batch, inputs.list_size, device, scores)
}

/// A bi-encoder batch's scores with the targets its loss reads.
///
/// In-batch: `[b, b·list]`, every query against every passage of the batch, the query's own
/// positive at column `row · list`, any other column holding one of the query's judged
/// positives excluded from the negatives (sentence-transformers' no-duplicates sampling).
/// With teacher scores (listwise distillation), the KL term's mask is the query's own list,
/// its teacher scores laid out in those columns, and the columns the false-negative rule
/// marks are excluded from the negatives too. Otherwise each query's own list `[b, list]`.
///
/// # Shapes
/// - `q`: `[b, dim]`, `p`: `[b · list, dim]`
fn bi_scored(
    bi: &BiEncoder,
    inputs: BatchInputs<'_>,
    q: Tensor<2>,
    p: Tensor<2>,
    device: &Device,
) -> ScoredLists {
    let BatchInputs {
        lists,
        batch,
        list_size,
        ..
    } = inputs;
    let similarity = bi.settings.similarity;
    let Some(in_batch) = inputs.in_batch else {
        return list_targets(lists, batch, list_size, device, similarity.lists(q, p));
    };
    in_batch_targets(
        lists,
        batch,
        list_size,
        in_batch,
        in_batch_scores(q, p, similarity),
        device,
    )
}

/// The targets of in-batch `scores` (see [`bi_scored`]).
///
/// # Shapes
/// - `scores`: `[b, b·list]`
fn in_batch_targets(
    lists: &[StepList],
    batch: &[usize],
    list_size: usize,
    in_batch: InBatch,
    scores: Tensor<2>,
    device: &Device,
) -> ScoredLists {
    let b = batch.len();
    let columns = b * list_size;
    let doc_ids: Vec<&str> = batch
        .iter()
        .flat_map(|&i| lists[i].doc_ids.iter().map(String::as_str))
        .collect();
    // Each row's own list as `[b, list]` targets (teacher scores when every list has them).
    let own = list_targets(
        lists,
        batch,
        list_size,
        device,
        Tensor::zeros([b, list_size], device),
    );
    let false_negatives: Option<Vec<bool>> = own
        .teacher
        .clone()
        .zip(in_batch.false_negative_ratio)
        .map(|(teacher, ratio)| {
            false_negative_mask(teacher, Tensor::<1, Int>::zeros([b], device), ratio)
                .into_data()
                .iter::<bool>()
                .collect()
        });
    let mut candidates = Vec::with_capacity(b * columns);
    for (row, &i) in batch.iter().enumerate() {
        for (column, doc) in doc_ids.iter().enumerate() {
            let positive = column == row * list_size;
            let in_own = column / list_size == row;
            let false_negative = in_own
                && false_negatives
                    .as_ref()
                    .is_some_and(|marked| marked[row * list_size + column % list_size]);
            candidates.push(positive || (!lists[i].positives.contains(*doc) && !false_negative));
        }
    }
    let positive: Vec<i64> = (0..b).map(|r| (r * list_size) as i64).collect();
    let mut scored = ScoredLists::new(scores)
        .with_positive(Tensor::<1, Int>::from_data(
            TensorData::new(positive, [b]),
            device,
        ))
        .with_candidates(Tensor::<2, Bool>::from_data(
            TensorData::new(candidates, [b, columns]),
            device,
        ));
    if let Some(teacher) = own.teacher {
        // Row `r`'s teacher scores in its own columns `r·list .. (r+1)·list`, 0 (masked) elsewhere.
        let values: Vec<f32> = teacher.into_data().iter::<f32>().collect();
        let laid_out: Vec<f32> = (0..b)
            .flat_map(|row| {
                let values = &values;
                (0..columns).map(move |column| {
                    if column / list_size == row {
                        values[row * list_size + column % list_size]
                    } else {
                        0.0
                    }
                })
            })
            .collect();
        scored = scored
            .with_mask(own_list_mask(b, list_size, device))
            .with_teacher(Tensor::from_data(
                TensorData::new(laid_out, [b, columns]),
                device,
            ));
    }
    scored
}

/// The value of a one-element loss.
pub(crate) fn value_of(t: &Tensor<1>) -> f64 {
    f64::from(t.clone().into_scalar::<f32>())
}

impl Trainer {
    /// The loss of one batch and the parameters' gradients (`None` when the loss is not
    /// finite). Without GradCache, one forward over the whole batch. With it, embeddings are
    /// computed in mini-batches whose graphs are dropped at once, the loss and its gradient
    /// with respect to the embeddings are taken on the full batch, and each mini-batch is run
    /// again under the same dropout seed to back-propagate `Σ embedding · gradient` into the
    /// weights: the same gradients in the memory of one mini-batch.
    pub(crate) fn batch_gradients(
        &self,
        encoder: &Encoder,
        student: &Student,
        inputs: BatchInputs<'_>,
        seed: u64,
    ) -> Result<(f64, Option<GradientsParams>)> {
        let device = &self.device;
        let grad_cache = match (encoder, student, inputs.loaded) {
            (Encoder::Bi(bi), Student::Bi(model), LoadedBatch::Bi { queries, passages }) => self
                .config
                .grad_cache_mini_batch
                .map(|mini| (bi, model, queries, passages, mini)),
            _ => None,
        };
        let Some((bi, model, queries, passages, mini)) = grad_cache else {
            device.seed(seed);
            let value = batch_loss(encoder, student, inputs, device);
            let number = value_of(&value);
            if !number.is_finite() {
                return Ok((number, None));
            }
            return Ok((
                number,
                Some(GradientsParams::from_grads(value.backward(), student)),
            ));
        };
        // Each chunk's dropout seed, the same in both passes.
        let chunk_seed = |side: u64, chunk: usize| mix(seed, (side << 32) | chunk as u64);
        let sides = [
            (Side::Query, 0u64, queries.as_slice(), mini),
            (
                Side::Passage,
                1u64,
                passages.as_slice(),
                mini * inputs.list_size,
            ),
        ];
        // The first pass records no graph: the same weights with `require_grad` off (dropout
        // still draws, the device being autodiff), so its memory is one mini-batch's
        // activations, not the batch's graph.
        let frozen = model.clone().no_grad();
        let mut full = Vec::new();
        for &(side, tag, items, size) in &sides {
            let mut parts = Vec::new();
            for (c, chunk) in items.chunks(size).enumerate() {
                device.seed(chunk_seed(tag, c));
                parts.push(embed(bi, &frozen, chunk, side, device).detach());
            }
            full.push(Tensor::cat(parts, 0).require_grad());
        }
        let (q, p) = (full[0].clone(), full[1].clone());
        let value = inputs.loss.forward(
            &bi_scored(bi, inputs, q.clone(), p.clone(), device),
            Reduction::Mean,
        );
        let number = value_of(&value);
        if !number.is_finite() {
            return Ok((number, None));
        }
        let mut grads = value.backward();
        let embedding_grads = [
            q.grad_remove(&mut grads)
                .expect("the loss reads the queries"),
            p.grad_remove(&mut grads)
                .expect("the loss reads the passages"),
        ];
        drop(grads);
        let mut accumulated = burn::optim::GradientsAccumulator::<BiEncoderModel>::new();
        for (&(side, tag, items, size), gradient) in sides.iter().zip(embedding_grads) {
            for (c, chunk) in items.chunks(size).enumerate() {
                device.seed(chunk_seed(tag, c));
                let e = embed(bi, model, chunk, side, device);
                let g = gradient.clone().narrow(0, c * size, chunk.len());
                // A constant on the autodiff device (no host round trip).
                let g = Tensor::<2>::from_inner(g);
                let surrogate = (e * g).sum();
                accumulated.accumulate(
                    model,
                    GradientsParams::from_grads(surrogate.backward(), model),
                );
            }
        }
        Ok((number, Some(accumulated.grads())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn list(id: &str, doc_ids: &[&str], teacher: Option<Vec<f32>>) -> StepList {
        StepList {
            id: id.into(),
            query: id.into(),
            doc_ids: doc_ids.iter().map(|&d| d.to_owned()).collect(),
            texts: doc_ids.iter().map(|&d| d.to_owned()).collect(),
            positives: HashSet::from([doc_ids[0].to_owned()]),
            teacher,
            labels: None,
        }
    }

    fn bools(t: Tensor<2, Bool>) -> Vec<bool> {
        t.into_data().iter::<bool>().collect()
    }

    #[test]
    fn listwise_in_batch_targets_mask_own_lists_and_likely_false_negatives() {
        let device = Device::flex();
        // Lists of 3. Query 0's teacher (5, 4, 1) normalises to (1, 0.75, 0): "b" is above
        // 0.6 and leaves its negatives, and so does query 1's "a" (query 0's positive again).
        // Query 1's (2, 0, 1) normalises to (1, 0, 0.5): nothing marked; query 0's positive
        // "a" stays a negative of query 1, whose only judged positive is "d".
        let lists = vec![
            list("q0", &["a", "b", "c"], Some(vec![5.0, 4.0, 1.0])),
            list("q1", &["d", "a", "c"], Some(vec![2.0, 0.0, 1.0])),
        ];
        let targets = |ratio| {
            in_batch_targets(
                &lists,
                &[0, 1],
                3,
                InBatch {
                    false_negative_ratio: ratio,
                },
                Tensor::zeros([2, 6], &device),
                &device,
            )
        };
        let scored = targets(Some(0.6));
        assert_eq!(
            bools(scored.candidates.clone().unwrap()),
            [
                // q0: own a (positive), b marked, c; q1's d, a (q0's positive: excluded), c.
                true, false, true, true, false, true, //
                // q1: q0's a, b, c; own d (positive), a, c.
                true, true, true, true, true, true,
            ]
        );
        assert_eq!(
            bools(scored.mask.clone().unwrap()),
            [
                true, true, true, false, false, false, //
                false, false, false, true, true, true,
            ]
        );
        let teacher: Vec<f32> = scored.teacher.unwrap().into_data().iter::<f32>().collect();
        assert_eq!(
            teacher,
            [5.0, 4.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 1.0]
        );
        let positive: Vec<i64> = scored.positive.unwrap().into_data().iter::<i64>().collect();
        assert_eq!(positive, [0, 3]);
        // Without the ratio only duplicate positives leave the negatives.
        assert_eq!(
            bools(targets(None).candidates.unwrap()),
            [
                true, true, true, true, false, true, //
                true, true, true, true, true, true,
            ]
        );
    }
}
