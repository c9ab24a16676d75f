//! The first step's gradients, computed without training: how tests check GradCache and the
//! data-parallel split against the plain step.

use burn::tensor::Device;

use super::loader::LoadedBatch;
use super::plan::mix;
use super::prepare::Prepared;
use super::student::{NamedTensors, autodiff, named_gradients};
use super::{Trainer, data_parallel};
use crate::error::{Result, TrainError};

impl Trainer {
    /// The loss and the named parameter gradients of the first step of the run (its first
    /// batch), without changing anything: for checking that GradCache gives the uncached
    /// step's gradients.
    pub fn first_step_gradients(&self) -> Result<(f64, NamedTensors)> {
        let (prepared, batch, loaded) = self.first_batch()?;
        let student = prepared.encoder.student();
        let inputs = prepared.inputs(&batch, &loaded, self.config.list_size);
        let (value, grads) = self.batch_gradients(
            &prepared.encoder,
            &student,
            inputs,
            mix(self.config.seed, 0),
        )?;
        let grads = grads.ok_or(TrainError::LossNotFinite(value))?;
        Ok((value, named_gradients(&student, &grads)))
    }

    /// The first step split across `devices` (one contiguous shard each), each rank's
    /// size-weighted loss and named gradients. With `all_reduce` (devices as
    /// [`Trainer::data_parallel`] accepts them) burn's collective runs and every rank holds
    /// the whole step's gradients; without it each rank keeps its shard's share, whose sum is
    /// the whole step's: how the split is checked where burn has no collective (a CPU).
    pub fn first_step_gradients_split(
        &self,
        devices: &[Device],
        all_reduce: bool,
    ) -> Result<Vec<(f64, NamedTensors)>> {
        let devices: Vec<Device> = devices.iter().map(autodiff).collect();
        if all_reduce {
            data_parallel::check_devices(&devices)?;
        }
        let (prepared, batch, loaded) = self.first_batch()?;
        let student = prepared.encoder.student();
        let inputs = prepared.inputs(&batch, &loaded, self.config.list_size);
        let _collective = all_reduce.then(|| data_parallel::collective(&devices));
        let ranks = self.shard_gradients(
            &prepared.encoder,
            &student,
            inputs,
            mix(self.config.seed, 0),
            &devices,
            all_reduce,
        )?;
        ranks
            .into_iter()
            .map(|(value, grads)| {
                let grads = grads.ok_or(TrainError::LossNotFinite(value))?;
                Ok((value, named_gradients(&student, &grads)))
            })
            .collect()
    }

    /// The run's data, the first batch of its plan and that batch loaded.
    pub(super) fn first_batch(&self) -> Result<(Prepared, Vec<usize>, LoadedBatch)> {
        let prepared = self.prepare()?;
        let loader = prepared.loader();
        let plan = self.plan(&loader)?;
        let batch = plan[0].batches[0].clone();
        let loaded = loader.load(&batch, 0)?;
        Ok((prepared, batch, loaded))
    }
}
