//! Data parallel steps on burn's own collective: a step's batch is split into contiguous
//! shards, one per device; each device's thread forks the student to its device, marks every
//! parameter for burn's gradient all-reduce ([`mark_distributed`]), computes its shard's
//! loss and runs `backward`, in which burn all-reduces (sums) the marked gradients across
//! the devices. Each shard's loss is weighted by its share of the batch, so the sum is the
//! full batch's mean loss and every device ends with the single-device step's gradients.
//!
//! burn 0.22 implements the collective on its CUDA backend (NCCL) only; on other backends a
//! run with several devices is refused (see `docs/architecture.md`).
//!
//! What does not split: InfoNCE's in-batch negatives are each shard's own (as in
//! sentence-transformers without `gather_across_devices`), and GradCache is not combined with
//! several devices.

use std::ops::Range;
use std::sync::{Barrier, Mutex};

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::distributed::{DistributedConfig, DistributedContext, ReduceOperation};

use super::loader::LoadedBatch;
use super::plan::mix;
use super::step::{BatchInputs, batch_loss, value_of};
use super::{Encoder, Student, Trainer};
use crate::error::{Result, TrainError};

/// Marks every float parameter of `module` for burn's gradient all-reduce, under its own
/// parameter id (the key the devices' gradients meet under), as burn-train's DDP does.
/// Values and ids are unchanged.
pub fn mark_distributed<M: Module>(module: M) -> M {
    module.map(&mut DistributedMarker)
}

struct DistributedMarker;

impl ModuleMapper for DistributedMarker {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let id = param.id;
        param.map(|tensor| tensor.set_distributed(id))
    }
}

/// `n` examples cut into `parts` contiguous shards whose sizes differ by at most one, the
/// larger first.
pub(crate) fn shard_ranges(n: usize, parts: usize) -> Vec<Range<usize>> {
    let (base, extra) = (n / parts, n % parts);
    let mut start = 0;
    (0..parts)
        .map(|p| {
            let len = base + usize::from(p < extra);
            start += len;
            start - len..start
        })
        .collect()
}

impl LoadedBatch {
    /// The examples `examples` of the batch (each with its `list` items).
    pub(crate) fn slice(&self, examples: Range<usize>, list: usize) -> Self {
        let items = examples.start * list..examples.end * list;
        match self {
            Self::Bi { queries, passages } => Self::Bi {
                queries: queries[examples].to_vec(),
                passages: passages[items].to_vec(),
            },
            Self::Cross { pairs } => Self::Cross {
                pairs: pairs[items].to_vec(),
            },
        }
    }
}

/// The devices of a data parallel run, checked: at least two, distinct, each with burn's
/// collective all-reduce.
pub(crate) fn check_devices(devices: &[burn::tensor::Device]) -> Result<()> {
    if devices.len() < 2 {
        return Err(TrainError::TooFewDevices(devices.len()));
    }
    for (i, device) in devices.iter().enumerate() {
        if devices[..i].contains(device) {
            return Err(TrainError::DeviceListedTwice(format!("{device:?}")));
        }
        if !densify_core::backend::has_collective(device) {
            return Err(TrainError::NoCollective(format!("{device:?}")));
        }
    }
    Ok(())
}

/// burn's sync server for `devices`, summing the marked gradients; it stops when dropped.
pub(crate) fn collective(devices: &[burn::tensor::Device]) -> DistributedContext {
    DistributedContext::init(
        devices.to_vec(),
        DistributedConfig {
            all_reduce_op: ReduceOperation::Sum,
        },
    )
}

/// One rank's share of a step: its weighted loss and its gradients (`None` when any rank's
/// loss is not finite; then no rank runs `backward`, so none waits on the all-reduce).
pub(crate) type RankGradients = (f64, Option<GradientsParams>);

impl Trainer {
    /// The batch's loss and gradients computed by `devices.len()` threads, shard `r` on
    /// `devices[r]`. With `all_reduce` (burn's sync server running, [`collective`]) the
    /// parameters are marked and every rank returns the all-reduced gradients, the full
    /// batch's. Without it nothing is marked (burn's dispatch refuses marks on backends
    /// without a collective) and each rank keeps its own shard's share, whose sum over ranks
    /// is the full batch's: how the split is checked on a CPU.
    pub(crate) fn shard_gradients(
        &self,
        encoder: &Encoder,
        student: &Student,
        inputs: BatchInputs<'_>,
        seed: u64,
        devices: &[burn::tensor::Device],
        all_reduce: bool,
    ) -> Result<Vec<RankGradients>> {
        let n = inputs.batch.len();
        if n < devices.len() {
            return Err(TrainError::BatchSmallerThanDevices {
                batch: n,
                devices: devices.len(),
            });
        }
        let shards = shard_ranges(n, devices.len());
        let losses = Mutex::new(vec![0.0; devices.len()]);
        let all_computed = Barrier::new(devices.len());
        let results = std::thread::scope(|scope| {
            let handles: Vec<_> = devices
                .iter()
                .zip(&shards)
                .enumerate()
                .map(|(rank, (device, shard))| {
                    let (losses, all_computed) = (&losses, &all_computed);
                    scope.spawn(move || {
                        let forked = student.clone().fork(device);
                        let model = if all_reduce {
                            mark_distributed(forked)
                        } else {
                            forked
                        };
                        let loaded = inputs.loaded.slice(shard.clone(), inputs.list_size);
                        let shard_inputs = BatchInputs {
                            batch: &inputs.batch[shard.clone()],
                            loaded: &loaded,
                            ..inputs
                        };
                        device.seed(mix(seed, rank as u64));
                        let weight = shard.len() as f64 / n as f64;
                        let value =
                            batch_loss(encoder, &model, shard_inputs, device).mul_scalar(weight);
                        let number = value_of(&value);
                        losses.lock().expect("no rank panics holding the lock")[rank] = number;
                        all_computed.wait();
                        let finite = losses
                            .lock()
                            .expect("no rank panics holding the lock")
                            .iter()
                            .all(|v| v.is_finite());
                        let grads =
                            finite.then(|| GradientsParams::from_grads(value.backward(), &model));
                        (number, grads)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        Ok(results)
    }

    /// The batch's loss (the ranks' weighted losses summed) and the all-reduced gradients of
    /// the first rank, on the trainer's device.
    pub(crate) fn data_parallel_gradients(
        &self,
        encoder: &Encoder,
        student: &Student,
        inputs: BatchInputs<'_>,
        seed: u64,
    ) -> Result<(f64, Option<GradientsParams>)> {
        let ranks = self.shard_gradients(encoder, student, inputs, seed, &self.peers, true)?;
        let loss = ranks.iter().map(|(l, _)| l).sum();
        let first = ranks.into_iter().next().and_then(|(_, g)| g);
        Ok((loss, first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_in_order_with_sizes_one_apart() {
        assert_eq!(shard_ranges(8, 2), vec![0..4, 4..8]);
        assert_eq!(shard_ranges(7, 3), vec![0..3, 3..5, 5..7]);
        assert_eq!(shard_ranges(2, 2), vec![0..1, 1..2]);
        // The weights |shard| / n sum to one: the ranks' losses sum to the batch mean.
        let weights: f64 = shard_ranges(7, 3)
            .iter()
            .map(|r| r.len() as f64 / 7.0)
            .sum();
        assert!((weights - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_slice_keeps_each_example_s_list() {
        let e = |id: u32| densify_model::Encoded {
            ids: vec![id],
            type_ids: vec![0],
        };
        let batch = LoadedBatch::Bi {
            queries: (0..3).map(e).collect(),
            passages: (10..16).map(e).collect(),
        };
        let LoadedBatch::Bi { queries, passages } = batch.slice(1..3, 2) else {
            unreachable!()
        };
        assert_eq!(queries, vec![e(1), e(2)]);
        assert_eq!(passages, vec![e(12), e(13), e(14), e(15)]);
    }
}
