//! The output folder's guards: inputs inside it, an earlier run's results, the config copy,
//! and a checkpoint checked against the run it resumes; what `metrics.jsonl` records of a run.

use std::path::{Path, PathBuf};

use densify_core::Config;

use crate::checkpoint::LoopState;
use crate::config::TrainConfig;
use crate::error::{Result, TrainError};

/// Refuses an output folder holding an input of the run (the model, the training or dev
/// examples: `final/`, `best/` or a checkpoint could overwrite them), and a config file
/// (`config_file`) that is the copy the run writes (`config.toml` in the output folder)
/// unless it already reads exactly as the copy would, so the user's file stays byte for byte.
pub(super) fn refuse_inputs_in_output(
    config: &TrainConfig,
    config_file: Option<&Path>,
) -> Result<()> {
    let output = &config.output;
    let name = || config_file.map_or_else(|| PathBuf::from("<train config>"), Path::to_path_buf);
    let mut inputs: Vec<(&'static str, &Path)> = vec![("model", config.model.as_path())];
    if let Some(path) = &config.examples {
        inputs.push(("examples", path.as_path()));
    }
    if let Some(path) = config.eval.as_ref().and_then(|e| e.examples.as_ref()) {
        inputs.push(("eval.examples", path.as_path()));
    }
    for (field, path) in inputs {
        densify_core::refuse_folder_holding_inputs(output, [path]).map_err(|source| {
            TrainError::InputInOutput {
                config: name(),
                field,
                source,
            }
        })?;
    }
    if let Some(file) = config_file {
        let copy = output.join("config.toml");
        let is_the_copy = densify_core::refuse_overwriting_input(&copy, [file]).is_err();
        if is_the_copy && !copy_is_current(config, &copy) {
            return Err(TrainError::ConfigInOutput {
                config: file.to_path_buf(),
                output: output.clone(),
            });
        }
    }
    Ok(())
}

/// Refuses an output folder holding an earlier run's results (`final/`, `best/`,
/// `metrics.jsonl`) with no checkpoint to resume from: a run would replace them.
pub(super) fn refuse_earlier_run(output: &Path) -> Result<()> {
    let found: Vec<&str> = ["final/", "best/", "metrics.jsonl"]
        .into_iter()
        .filter(|name| output.join(name.trim_end_matches('/')).exists())
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    Err(TrainError::EarlierRun {
        output: output.to_path_buf(),
        found: found.join(", "),
    })
}

/// Whether `copy` already holds exactly the resolved configuration a run of `config` writes.
pub(super) fn copy_is_current(config: &TrainConfig, copy: &Path) -> bool {
    densify_core::read_regular(copy).ok().as_deref() == Some(config.to_toml_string().as_bytes())
}

/// Writes the resolved configuration to `config.toml` in the output folder, unless it already
/// reads so (a run resumed with that copy as its config file leaves it as it is).
pub(super) fn write_config_copy(config: &TrainConfig) -> Result<()> {
    let copy = config.output.join("config.toml");
    if copy_is_current(config, &copy) {
        return Ok(());
    }
    densify_core::write_atomic(&copy, config.to_toml_string().as_bytes())
        .map_err(|e| TrainError::io(&copy, e))
}

/// Errors unless the checkpoint state `saved` (read from `path`) belongs to this run of
/// `config` (read from `config_name`): its seed and schedule length, and a step within the
/// steps this run plans (`total_steps`, `last_step` under `max_steps`), naming the field at
/// fault.
pub(super) fn check_state(
    config: &TrainConfig,
    config_name: &Path,
    path: &Path,
    saved: &LoopState,
    total_steps: usize,
    last_step: usize,
) -> Result<()> {
    let fault = |field: &'static str, found: usize, problem: String| -> Result<()> {
        Err(TrainError::CheckpointState {
            path: path.to_path_buf(),
            field,
            found: found.to_string(),
            problem,
        })
    };
    let name = config_name.display();
    let elsewhere = "resume with the run's own config, or train into another output folder";
    if saved.step > saved.total_steps {
        return fault(
            "step",
            saved.step,
            format!(
                "beyond the run's {} steps (`total_steps`): the checkpoint is damaged; delete its \
                 folder to resume from an earlier one, or train into another output folder",
                saved.total_steps
            ),
        );
    }
    if saved.total_steps != total_steps {
        return fault(
            "total_steps",
            saved.total_steps,
            format!(
                "but {name} plans {total_steps} steps (from its examples, epochs, batch_size, \
                 max_tokens_per_batch and gradient_accumulation_steps): {elsewhere}"
            ),
        );
    }
    if saved.seed != config.seed {
        return Err(TrainError::CheckpointState {
            path: path.to_path_buf(),
            field: "seed",
            found: saved.seed.to_string(),
            problem: format!("but the `seed` of {name} is {}: {elsewhere}", config.seed),
        });
    }
    if saved.step > last_step {
        return fault(
            "step",
            saved.step,
            format!(
                "beyond this run's last step {last_step} (`max_steps` of {name}): raise \
                 `max_steps` to continue, or train into another output folder"
            ),
        );
    }
    Ok(())
}

/// Whether the checkpoint state `saved` is the end of this run of `config`: its last step, or
/// stopped by `eval.patience` (the loop stops there and checkpoints no later).
pub(super) fn is_complete(config: &TrainConfig, saved: &LoopState, last_step: usize) -> bool {
    let patience = config.eval.as_ref().map_or(0, |e| e.patience);
    saved.step == last_step || (patience > 0 && saved.evaluations_since_best >= patience)
}

/// What `metrics.jsonl` holds of a run up to a step: for a run found complete on resume.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Logged {
    /// The last step record's loss.
    pub(super) loss: Option<f64>,
    /// The last evaluation's nDCG@10.
    pub(super) ndcg: Option<f64>,
    /// Whether an evaluation is recorded at the step itself.
    pub(super) eval_at_step: bool,
}

impl Logged {
    /// Reads the records of steps up to `step` (nothing when the file is missing or
    /// unreadable: the figures are then unknown).
    pub(super) fn read(metrics: &Path, step: usize) -> Self {
        let text = densify_core::read_regular_to_string(metrics).unwrap_or_default();
        Self::parse(&text, step)
    }

    fn parse(text: &str, step: usize) -> Self {
        let mut logged = Self::default();
        for line in text.lines() {
            let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let Some(at) = record["step"].as_u64().map(|s| s as usize) else {
                continue;
            };
            if at > step {
                continue;
            }
            match record["kind"].as_str() {
                Some("step") => {
                    if let Some(loss) = record["loss"].as_f64() {
                        logged.loss = Some(loss);
                    }
                }
                Some("eval") => {
                    if let Some(ndcg) = record["ndcg@10"].as_f64() {
                        logged.ndcg = Some(ndcg);
                    }
                    logged.eval_at_step |= at == step;
                }
                _ => {}
            }
        }
        logged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("densify-trainer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn config_in(root: &Path) -> TrainConfig {
        TrainConfig {
            model: root.join("model"),
            output: root.join("out"),
            dataset: "d".into(),
            ..TrainConfig::default()
        }
    }

    #[test]
    fn inputs_inside_the_output_folder_are_refused_by_field() {
        let root = dir("inputs");
        let mut c = config_in(&root);
        std::fs::create_dir_all(root.join("out/final")).unwrap();
        std::fs::create_dir_all(root.join("model")).unwrap();
        refuse_inputs_in_output(&c, None).unwrap();
        c.model = root.join("out/final");
        let e = refuse_inputs_in_output(&c, Some(Path::new("t.toml")))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.toml: `model`: the output folder ")
                && e.ends_with("; write somewhere else"),
            "{e}"
        );
        c.model = root.join("model");
        std::fs::write(root.join("out/train.jsonl"), "{}\n").unwrap();
        c.examples = Some(root.join("out/train.jsonl"));
        let e = refuse_inputs_in_output(&c, None).unwrap_err().to_string();
        assert!(e.starts_with("<train config>: `examples`: "), "{e}");
    }

    #[test]
    fn a_config_file_at_the_copy_s_path_stays_byte_for_byte() {
        let root = dir("copy");
        let c = config_in(&root);
        std::fs::create_dir_all(&c.output).unwrap();
        let file = c.output.join("config.toml");
        let mine = format!("# my run\n{}", c.to_toml_string());
        std::fs::write(&file, &mine).unwrap();
        let e = refuse_inputs_in_output(&c, Some(file.as_path())).unwrap_err();
        assert!(matches!(e, TrainError::ConfigInOutput { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), mine);
        // The run's own copy given back as the config file (a resume): accepted, left alone.
        std::fs::write(&file, c.to_toml_string()).unwrap();
        refuse_inputs_in_output(&c, Some(file.as_path())).unwrap();
        write_config_copy(&c).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), c.to_toml_string());
        refuse_inputs_in_output(&c, Some(root.join("elsewhere.toml").as_path())).unwrap();
    }

    #[test]
    fn an_earlier_run_without_checkpoints_is_refused_naming_what_is_there() {
        let out = dir("earlier").join("out");
        refuse_earlier_run(&out).unwrap();
        std::fs::create_dir_all(out.join("final")).unwrap();
        std::fs::write(out.join("config.toml"), "").unwrap();
        std::fs::write(out.join("metrics.jsonl"), "").unwrap();
        let e = refuse_earlier_run(&out).unwrap_err().to_string();
        assert!(
            e.contains("holds an earlier run (final/, metrics.jsonl) and no checkpoint")
                && e.contains("delete"),
            "{e}"
        );
    }

    #[test]
    fn checkpoint_states_are_checked_against_the_run() {
        let c = TrainConfig::default();
        let state = |step, total_steps, seed| LoopState {
            step,
            total_steps,
            seed,
            best_ndcg: None,
            evaluations_since_best: 0,
        };
        let check = |s: LoopState, last: usize| {
            let (config, path) = (Path::new("train.toml"), Path::new("ck/state.json"));
            check_state(&c, config, path, &s, 12, last).map_err(|e| e.to_string())
        };
        assert_eq!(check(state(5, 12, 42), 12), Ok(()));
        let e = check(state(999, 12, 42), 12).unwrap_err();
        assert!(
            e.starts_with("ck/state.json: `step` is 999, beyond the run's 12 steps"),
            "{e}"
        );
        let e = check(state(5, 20, 42), 12).unwrap_err();
        assert!(
            e.starts_with("ck/state.json: `total_steps` is 20, but train.toml plans 12 steps"),
            "{e}"
        );
        let e = check(state(5, 12, 7), 12).unwrap_err();
        assert!(
            e.starts_with("ck/state.json: `seed` is 7, but the `seed` of train.toml is 42"),
            "{e}"
        );
        let e = check(state(8, 12, 42), 5).unwrap_err();
        assert!(
            e.contains("`step` is 8, beyond this run's last step 5 (`max_steps`"),
            "{e}"
        );
        assert!(is_complete(&c, &state(12, 12, 42), 12));
        assert!(is_complete(&c, &state(5, 12, 42), 5));
        assert!(!is_complete(&c, &state(11, 12, 42), 12));
    }

    #[test]
    fn the_log_gives_a_complete_run_s_last_figures() {
        let text = "{\"kind\":\"step\",\"step\":1,\"loss\":0.5}\n\
                    {\"kind\":\"eval\",\"step\":1,\"ndcg@10\":0.25}\n\
                    {\"kind\":\"step\",\"step\":2,\"loss\":0.125}\n\
                    torn\n\
                    {\"kind\":\"step\",\"step\":3,\"loss\":9}\n";
        let logged = |loss, ndcg, eval_at_step| Logged {
            loss: Some(loss),
            ndcg: Some(ndcg),
            eval_at_step,
        };
        assert_eq!(Logged::parse(text, 2), logged(0.125, 0.25, false));
        assert_eq!(Logged::parse(text, 1), logged(0.5, 0.25, true));
        assert_eq!(Logged::parse("", 4), Logged::default());
    }
}
