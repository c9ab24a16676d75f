//! The stage runner: each stage is skipped when the manifest shows it done with the same
//! configuration and inputs and its outputs unchanged, resumed in place when it was started
//! with them and interrupted, and otherwise run afresh in an emptied folder of its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use densify_core::Progress;

use crate::error::{RecipeError, Result};
use crate::manifest::{Manifest, StageRecord, StageStatus, hash_bytes, hash_path, peak_rss_bytes};

/// What a stage's work reports besides its files.
pub type Counts = BTreeMap<String, f64>;

/// How a stage ended in this invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageOutcome {
    /// Its record matched: nothing ran.
    UpToDate,
    /// It ran from the start.
    Ran,
    /// It continued the interrupted run of the same configuration and inputs.
    Resumed,
}

/// A stage as the driver sees it: a name (also its folder under the run folder), the
/// configuration text it hashes, its inputs by role and its outputs by path relative to the
/// run folder.
pub struct Stage<'a> {
    /// `generate`, `candidates`, ...
    pub name: &'a str,
    /// The stage's configuration as resolved (serialised as JSON).
    pub config: String,
    /// Files or folders the stage reads, by role (`qrels/test`); roles are unique.
    pub inputs: Vec<(String, PathBuf)>,
    /// Files or folders the stage writes, relative to the run folder.
    pub outputs: Vec<&'a str>,
    /// Whether an interrupted run continues from the files it left (generation, training);
    /// any other stage starts again in an emptied folder.
    pub resumable: bool,
}

/// Runs stages of one run folder against its manifest.
pub struct Driver {
    dir: PathBuf,
    manifest: Manifest,
}

impl Driver {
    /// Opens the run folder `dir` (created) and its manifest.
    pub fn open(dir: &Path, recipe: &str) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| RecipeError::io(dir, e))?;
        let mut manifest = Manifest::read(dir)?;
        manifest.recipe = recipe.to_owned();
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest as it stands.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Runs `stage` unless it is up to date: `work` gets the stage's folder (empty for a fresh
    /// run; as left for a resumed one), whether it resumes, and the counts to fill.
    pub fn run(
        &mut self,
        stage: Stage<'_>,
        progress: &mut dyn Progress,
        work: impl FnOnce(&Path, bool, &mut Counts, &mut dyn Progress) -> Result<()>,
    ) -> Result<StageOutcome> {
        let config_hash = hash_bytes(stage.config.as_bytes());
        let mut inputs = BTreeMap::new();
        for (role, path) in &stage.inputs {
            inputs.insert(role.clone(), hash_path(path)?);
        }
        let folder = self.dir.join(stage.name);
        let same = |r: &StageRecord| r.config_hash == config_hash && r.inputs == inputs;
        let previous = self.manifest.stage(stage.name).cloned();
        if let Some(record) = previous
            .as_ref()
            .filter(|r| r.status == StageStatus::Done && same(r))
            && self.outputs_unchanged(record)
        {
            progress.note(&format!("{}: up to date", stage.name));
            return Ok(StageOutcome::UpToDate);
        }
        let resume = stage.resumable
            && previous
                .as_ref()
                .is_some_and(|r| r.status == StageStatus::Started && same(r));
        if !resume && folder.exists() {
            // Another configuration's (or input's) files: never reused.
            std::fs::remove_dir_all(&folder).map_err(|e| RecipeError::io(&folder, e))?;
        }
        std::fs::create_dir_all(&folder).map_err(|e| RecipeError::io(&folder, e))?;
        let mut record = StageRecord {
            name: stage.name.to_owned(),
            status: StageStatus::Started,
            config_hash,
            inputs,
            outputs: BTreeMap::new(),
            counts: BTreeMap::new(),
            wall_seconds: 0.0,
            peak_rss_bytes: 0,
        };
        self.manifest.set(record.clone());
        self.manifest.write(&self.dir)?;
        progress.note(&format!(
            "{}: {}",
            stage.name,
            if resume { "resuming" } else { "running" }
        ));
        let started = Instant::now();
        let mut counts = Counts::new();
        work(&folder, resume, &mut counts, progress)?;
        for output in &stage.outputs {
            record
                .outputs
                .insert((*output).to_owned(), hash_path(&self.dir.join(output))?);
        }
        record.status = StageStatus::Done;
        record.counts = counts;
        record.wall_seconds = started.elapsed().as_secs_f64();
        record.peak_rss_bytes = peak_rss_bytes();
        self.manifest.set(record);
        self.manifest.write(&self.dir)?;
        Ok(if resume {
            StageOutcome::Resumed
        } else {
            StageOutcome::Ran
        })
    }

    fn outputs_unchanged(&self, record: &StageRecord) -> bool {
        record
            .outputs
            .iter()
            .all(|(path, hash)| hash_path(&self.dir.join(path)).is_ok_and(|now| now == *hash))
    }
}

/// A person's view of a manifest: one line per stage.
pub fn status_lines(manifest: &Manifest) -> Vec<String> {
    manifest
        .stages
        .iter()
        .map(|s| {
            let counts: Vec<String> = s
                .counts
                .iter()
                .map(|(k, v)| {
                    if v.fract() == 0.0 && v.abs() < 1e15 {
                        format!("{k} {}", *v as i64)
                    } else {
                        format!("{k} {v:.4}")
                    }
                })
                .collect();
            format!(
                "{:<11} {:<8} {:>8.1} s  peak RSS {:>6.0} MB  {}",
                s.name,
                match s.status {
                    StageStatus::Done => "done",
                    StageStatus::Started => "started",
                },
                s.wall_seconds,
                s.peak_rss_bytes as f64 / 1e6,
                counts.join(", ")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use densify_core::NoProgress;

    fn stage<'a>(config: &str, input: &Path) -> Stage<'a> {
        Stage {
            name: "copy",
            config: config.to_owned(),
            inputs: vec![("source".into(), input.to_path_buf())],
            outputs: vec!["copy/out.txt"],
            resumable: true,
        }
    }

    #[test]
    fn a_stage_runs_once_then_again_only_when_its_config_input_or_output_changes() {
        let dir = std::env::temp_dir().join(format!("densify-driver-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("in.txt");
        std::fs::write(&input, "a").unwrap();
        let run = |config: &str| {
            let mut driver = Driver::open(&dir.join("run"), "test").unwrap();
            driver
                .run(
                    stage(config, &input),
                    &mut NoProgress,
                    |folder, _, counts, _| {
                        let text = std::fs::read_to_string(&input).unwrap();
                        std::fs::write(folder.join("out.txt"), format!("{config}{text}")).unwrap();
                        counts.insert("chars".into(), text.len() as f64);
                        Ok(())
                    },
                )
                .unwrap()
        };
        assert_eq!(run("x"), StageOutcome::Ran);
        assert_eq!(run("x"), StageOutcome::UpToDate);
        assert_eq!(run("y"), StageOutcome::Ran, "a changed config");
        std::fs::write(&input, "b").unwrap();
        assert_eq!(run("y"), StageOutcome::Ran, "a changed input");
        std::fs::write(dir.join("run/copy/out.txt"), "edited").unwrap();
        assert_eq!(run("y"), StageOutcome::Ran, "a changed output");
        assert_eq!(run("y"), StageOutcome::UpToDate);
        let manifest = Manifest::read(&dir.join("run")).unwrap();
        assert_eq!(manifest.stages[0].counts["chars"], 1.0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_interrupted_stage_resumes_with_its_files_and_a_changed_one_starts_empty() {
        let dir =
            std::env::temp_dir().join(format!("densify-driver-resume-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("in.txt");
        std::fs::write(&input, "a").unwrap();
        let mut driver = Driver::open(&dir.join("run"), "test").unwrap();
        let failed = driver.run(
            stage("x", &input),
            &mut NoProgress,
            |folder, resume, _, _| {
                assert!(!resume);
                std::fs::write(folder.join("partial.txt"), "half").unwrap();
                Err(RecipeError::NoRun(folder.to_path_buf()))
            },
        );
        assert!(failed.is_err());
        let mut driver = Driver::open(&dir.join("run"), "test").unwrap();
        let outcome = driver
            .run(
                stage("x", &input),
                &mut NoProgress,
                |folder, resume, _, _| {
                    assert!(resume && folder.join("partial.txt").exists());
                    std::fs::write(folder.join("out.txt"), "done").unwrap();
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(outcome, StageOutcome::Resumed);
        // Interrupted again under another configuration: its folder starts empty.
        let mut driver = Driver::open(&dir.join("run"), "test").unwrap();
        let _ = driver.run(stage("z", &input), &mut NoProgress, |folder, _, _, _| {
            std::fs::write(folder.join("partial.txt"), "z").unwrap();
            Err(RecipeError::NoRun(folder.to_path_buf()))
        });
        let mut driver = Driver::open(&dir.join("run"), "test").unwrap();
        driver
            .run(
                stage("w", &input),
                &mut NoProgress,
                |folder, resume, _, _| {
                    assert!(!resume && !folder.join("partial.txt").exists());
                    std::fs::write(folder.join("out.txt"), "w").unwrap();
                    Ok(())
                },
            )
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
