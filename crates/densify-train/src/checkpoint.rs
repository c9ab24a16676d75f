//! Checkpoints: `checkpoints/step-NNNNNNNN/` holding the model and the optimizer in burn's own
//! record format (burnpack, parameter ids included, so Adam's moments find their parameters
//! again) and `state.json` (the loop's position).
//!
//! A checkpoint is written into `checkpoints/.checkpoint.densify-tmp-PID/`, each file fsynced,
//! and the folder renamed into place: a kill or a full disk mid-write leaves the previous
//! checkpoints as they were, and the next run removes the dead writer's folder. The newest
//! complete `step-*` folder is the one `--resume` reads.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

const TMP_PREFIX: &str = ".checkpoint.densify-tmp-";

/// Where the loop stands: enough, with the records, to continue bit-identically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Optimizer steps done.
    pub step: usize,
    /// Total optimizer steps of the schedule.
    pub total_steps: usize,
    /// The seed the run started with (order and dropout derive from it and the step).
    pub seed: u64,
    /// Best dev nDCG@10 so far.
    pub best_ndcg: Option<f64>,
    /// Evaluations since the best.
    pub evaluations_since_best: usize,
}

/// Writes a checkpoint of `model`, `optimizer` and `state`, then keeps the newest `keep`.
pub fn save<M: Module>(
    folder: &Path,
    model: &M,
    optimizer: &ModuleOptimizer,
    state: &LoopState,
    keep: usize,
) -> Result<PathBuf> {
    std::fs::create_dir_all(folder).map_err(|e| TrainError::io(folder, e))?;
    densify_core::remove_stale(folder, TMP_PREFIX);
    let temporary = folder.join(format!("{TMP_PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&temporary);
    std::fs::create_dir_all(&temporary).map_err(|e| TrainError::io(&temporary, e))?;
    let failed = |message: String| TrainError::Checkpoint {
        path: temporary.clone(),
        message,
    };
    let result = (|| {
        model
            .clone()
            .save_file(temporary.join("model.bpk"))
            .map_err(|e| failed(format!("model: {e}")))?;
        optimizer
            .save(temporary.join("optimizer.bpk"))
            .map_err(|e| failed(format!("optimizer: {e}")))?;
        let json = serde_json::to_vec_pretty(state).expect("state serialises");
        densify_core::write_atomic(temporary.join("state.json"), &json)
            .map_err(|e| TrainError::io(temporary.join("state.json"), e))?;
        for file in ["model.bpk", "optimizer.bpk"] {
            let path = temporary.join(file);
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| TrainError::io(&path, e))?;
        }
        let destination = folder.join(format!("step-{:08}", state.step));
        let _ = std::fs::remove_dir_all(&destination);
        std::fs::rename(&temporary, &destination).map_err(|e| TrainError::io(&destination, e))?;
        if let Ok(dir) = std::fs::File::open(folder) {
            let _ = dir.sync_all();
        }
        Ok(destination)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&temporary);
        return result;
    }
    let mut all = complete(folder);
    while all.len() > keep {
        let (_, oldest) = all.remove(0);
        let _ = std::fs::remove_dir_all(oldest);
    }
    result
}

/// Complete checkpoints of `folder`, oldest first.
pub fn complete(folder: &Path) -> Vec<(usize, PathBuf)> {
    let mut found: Vec<(usize, PathBuf)> = std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let step = name.to_str()?.strip_prefix("step-")?.parse().ok()?;
            let path = entry.path();
            path.join("state.json").is_file().then_some((step, path))
        })
        .collect();
    found.sort();
    found
}

/// The newest complete checkpoint of `folder`, if any.
pub fn latest(folder: &Path) -> Option<PathBuf> {
    complete(folder).pop().map(|(_, path)| path)
}

/// Reads a checkpoint's `state.json` alone (cheap: a resumed run checks it against its plan
/// before loading the records).
pub fn read_state(checkpoint: &Path) -> Result<LoopState> {
    let state_path = checkpoint.join("state.json");
    let text = densify_core::read_regular_to_string(&state_path)
        .map_err(|e| TrainError::io(&state_path, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
        path: checkpoint.to_path_buf(),
        message: format!("state.json: {e}"),
    })
}

/// Reads a checkpoint into `model` and `optimizer` (built as for a fresh run).
pub fn load<M: Module>(
    checkpoint: &Path,
    model: M,
    optimizer: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, LoopState)> {
    let failed = |message: String| TrainError::Checkpoint {
        path: checkpoint.to_path_buf(),
        message,
    };
    let state = read_state(checkpoint)?;
    let model = model
        .try_load_file(checkpoint.join("model.bpk"))
        .map_err(|e| failed(format!("model.bpk: {e}")))?;
    let optimizer = optimizer
        .load(checkpoint.join("optimizer.bpk"))
        .map_err(|e| failed(format!("optimizer.bpk: {e}")))?;
    Ok((model, optimizer, state))
}
