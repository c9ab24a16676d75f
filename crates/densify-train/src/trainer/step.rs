//! One batch's loss and gradients: scores from the loaded (tokenised, noised) batch, the
//! loss's targets, backward; with GradCache for bi-encoders (Gao et al., "Scaling Deep
//! Contrastive Learning Batch Size under Memory Limited Setup", 2021).

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
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
    /// InfoNCE over every passage of the batch (bi-encoders).
    pub in_batch: bool,
    pub list_size: usize,
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
/// Otherwise each query's own list `[b, list]`.
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
    let b = batch.len();
    let similarity = bi.settings.similarity;
    if !inputs.in_batch {
        return list_targets(lists, batch, list_size, device, similarity.lists(q, p));
    }
    let scores = in_batch_scores(q, p, similarity);
    let columns = b * list_size;
    let doc_ids: Vec<&str> = batch
        .iter()
        .flat_map(|&i| lists[i].doc_ids.iter().map(String::as_str))
        .collect();
    let mut candidates = Vec::with_capacity(b * columns);
    for (row, &i) in batch.iter().enumerate() {
        for (column, doc) in doc_ids.iter().enumerate() {
            let own = column == row * list_size;
            candidates.push(own || !lists[i].positives.contains(*doc));
        }
    }
    let positive: Vec<i64> = (0..b).map(|r| (r * list_size) as i64).collect();
    ScoredLists::new(scores)
        .with_positive(Tensor::<1, Int>::from_data(
            TensorData::new(positive, [b]),
            device,
        ))
        .with_candidates(Tensor::<2, Bool>::from_data(
            TensorData::new(candidates, [b, columns]),
            device,
        ))
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
