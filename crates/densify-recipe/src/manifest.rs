//! `manifest.json`: what each stage of a recipe run was given and what it made, by content.
//!
//! A stage's record holds the hash of its configuration, the hashes of its inputs and of its
//! outputs, its counts, wall time and the process's peak resident memory after it. Before a
//! stage runs, the driver compares: the same configuration and inputs, and outputs still
//! holding the recorded bytes, mean the stage is done and is skipped. Anything else re-runs it,
//! and every stage after it sees new input hashes in turn. A stage that was started with the
//! same configuration and inputs and then killed is resumed in place (its own files: the
//! generation JSONL, the trainer's checkpoints); one started with other settings is wiped
//! first, so nothing stale is reused.
//!
//! The file is rewritten atomically after every change.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{RecipeError, Result};

/// The manifest's file name inside the run folder.
pub const MANIFEST: &str = "manifest.json";

/// One stage's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// The stage's name (`generate`, `candidates`, ...).
    pub name: String,
    /// `started` while it runs (or after a kill), `done` once its outputs are recorded.
    pub status: StageStatus,
    /// sha256 of the stage's configuration (its TOML as resolved).
    pub config_hash: String,
    /// sha256 of each input, by role.
    pub inputs: BTreeMap<String, String>,
    /// sha256 of each output, by path relative to the run folder.
    pub outputs: BTreeMap<String, String>,
    /// What the stage counted (queries kept, lists, steps, ...).
    pub counts: BTreeMap<String, f64>,
    /// Seconds the stage ran (its last run).
    pub wall_seconds: f64,
    /// The process's peak resident memory after the stage, in bytes (Linux `VmHWM`; 0
    /// elsewhere).
    pub peak_rss_bytes: u64,
}

/// Where a stage stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    /// Begun, not finished (running, or killed).
    Started,
    /// Finished; its outputs are recorded.
    Done,
}

/// A run's manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The recipe (`adapt`, ...).
    pub recipe: String,
    /// The stages in run order.
    pub stages: Vec<StageRecord>,
}

impl Manifest {
    /// Reads `dir/manifest.json`; an empty manifest when there is none.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        if !path.exists() {
            return Ok(Self::default());
        }
        let text =
            densify_core::read_regular_to_string(&path).map_err(|e| RecipeError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| RecipeError::Manifest {
            path,
            message: e.to_string(),
        })
    }

    /// Writes `dir/manifest.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST);
        let text = serde_json::to_string_pretty(self).expect("a manifest serialises") + "\n";
        densify_core::write_atomic(&path, text.as_bytes()).map_err(|e| RecipeError::io(&path, e))
    }

    /// The record of stage `name`.
    pub fn stage(&self, name: &str) -> Option<&StageRecord> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// Puts `record` in place of the stage's earlier record (or appends it).
    pub fn set(&mut self, record: StageRecord) {
        match self.stages.iter_mut().find(|s| s.name == record.name) {
            Some(slot) => *slot = record,
            None => self.stages.push(record),
        }
    }
}

/// sha256 of `bytes`, hex.
pub fn hash_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of a file's bytes, streamed; of a folder, of its files' relative paths and hashes
/// in sorted order (so the same tree hashes the same wherever it lies).
pub fn hash_path(path: &Path) -> Result<String> {
    if path.is_dir() {
        let mut files = Vec::new();
        collect_files(path, path, &mut files)?;
        files.sort();
        let mut hasher = Sha256::new();
        for relative in files {
            let file_hash = hash_path(&path.join(&relative))?;
            hasher.update(relative.to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update(file_hash.as_bytes());
            hasher.update([b'\n']);
        }
        return Ok(hex(&hasher.finalize()));
    }
    let mut file = densify_core::open_regular(path).map_err(|e| RecipeError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| RecipeError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| RecipeError::io(dir, e))? {
        let path = entry.map_err(|e| RecipeError::io(dir, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.contains(".densify-tmp-") {
            continue; // a dead writer's temporary is no part of the output
        }
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            out.push(
                path.strip_prefix(root)
                    .expect("under the root")
                    .to_path_buf(),
            );
        }
    }
    Ok(())
}

/// The process's peak resident memory in bytes (`VmHWM` of `/proc/self/status`; 0 where
/// there is none).
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_bytes() {
        assert_eq!(
            hash_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_folder_hashes_by_relative_paths_and_contents() {
        let root = std::env::temp_dir().join(format!("densify-manifest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for name in ["a", "b"] {
            std::fs::create_dir_all(root.join(name).join("sub")).unwrap();
            std::fs::write(root.join(name).join("x.txt"), b"x").unwrap();
            std::fs::write(root.join(name).join("sub/y.txt"), b"y").unwrap();
        }
        std::fs::write(root.join("b/.x.txt.densify-tmp-1"), b"partial").unwrap();
        let a = hash_path(&root.join("a")).unwrap();
        assert_eq!(
            a,
            hash_path(&root.join("b")).unwrap(),
            "temporaries are skipped"
        );
        std::fs::write(root.join("b/sub/y.txt"), b"z").unwrap();
        assert_ne!(a, hash_path(&root.join("b")).unwrap());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn records_replace_by_name_and_round_trip() {
        let dir = std::env::temp_dir().join(format!("densify-manifest-rt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut m = Manifest {
            recipe: "adapt".into(),
            stages: Vec::new(),
        };
        let record = |status| StageRecord {
            name: "generate".into(),
            status,
            config_hash: "c".into(),
            inputs: BTreeMap::new(),
            outputs: BTreeMap::new(),
            counts: BTreeMap::new(),
            wall_seconds: 1.5,
            peak_rss_bytes: 0,
        };
        m.set(record(StageStatus::Started));
        m.set(record(StageStatus::Done));
        assert_eq!(m.stages.len(), 1);
        m.write(&dir).unwrap();
        assert_eq!(Manifest::read(&dir).unwrap(), m);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
