//! Metrics a person can plot: `metrics.jsonl` in the output folder, one JSON object per line,
//! `{"kind": "step", "step": 12, "epoch": 0, "loss": 0.31, "lr": 1.9e-5, "grad_norm": 4.2,
//! "examples_per_s": 5.1, "seconds": 80.2}` per optimizer step and `{"kind": "eval", "step": 12,
//! "ndcg@10": 0.66, "recall@100": 0.9}` per evaluation.
//!
//! Each record is appended and flushed as it happens. On resume the records after the
//! checkpoint's step are dropped (rewritten atomically), so the file tells one history.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, TrainError};

/// The open metrics file.
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Opens `path` for appending, first dropping records of steps after `resumed_step` (all
    /// records when starting fresh, `resumed_step` 0 and `fresh`).
    pub fn open(path: &Path, resumed_step: usize, fresh: bool) -> Result<Self> {
        if path.exists() {
            let text =
                densify_core::read_regular_to_string(path).map_err(|e| TrainError::io(path, e))?;
            let kept: String = if fresh {
                String::new()
            } else {
                text.lines()
                    .filter(|line| {
                        serde_json::from_str::<serde_json::Value>(line)
                            .ok()
                            .and_then(|v| v["step"].as_u64())
                            .is_some_and(|s| s as usize <= resumed_step)
                    })
                    .map(|l| format!("{l}\n"))
                    .collect()
            };
            densify_core::write_atomic(path, kept.as_bytes())
                .map_err(|e| TrainError::io(path, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| TrainError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends one record.
    pub fn write(&mut self, record: &serde_json::Value) -> Result<()> {
        let mut line = serde_json::to_vec(record).expect("JSON");
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.flush())
            .map_err(|e| TrainError::io(&self.path, e))
    }
}
