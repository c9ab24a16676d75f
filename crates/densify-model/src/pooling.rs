//! Pooling token states into one vector, and L2 normalisation, as sentence-transformers does.

use std::path::Path;

use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use densify_core::Similarity;

use crate::error::{ModelError, Result, key_position, read_json};

/// How token states become a text embedding: sentence-transformers' `Pooling` modes (one at a
/// time; a `1_Pooling/config.json` that sets several is refused when loading).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The `[CLS]` state (`pooling_mode_cls_token`).
    Cls,
    /// The mean over non-padding tokens (`pooling_mode_mean_tokens`, the default).
    #[default]
    Mean,
    /// The element-wise max over non-padding tokens, padding set to -1e9 first
    /// (`pooling_mode_max_tokens`).
    Max,
    /// The sum over non-padding tokens divided by the square root of their number
    /// (`pooling_mode_mean_sqrt_len_tokens`).
    MeanSqrtLen,
    /// The mean weighted by position, token i (from 1) weighing i
    /// (`pooling_mode_weightedmean_tokens`, SGPT).
    WeightedMean,
    /// The state of the last non-padding token (`pooling_mode_lasttoken`; right padding).
    LastToken,
}

impl Pooling {
    /// The `1_Pooling/config.json` flag of this mode.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Cls => "pooling_mode_cls_token",
            Self::Mean => "pooling_mode_mean_tokens",
            Self::Max => "pooling_mode_max_tokens",
            Self::MeanSqrtLen => "pooling_mode_mean_sqrt_len_tokens",
            Self::WeightedMean => "pooling_mode_weightedmean_tokens",
            Self::LastToken => "pooling_mode_lasttoken",
        }
    }

    /// Every mode, in sentence-transformers' concatenation order.
    pub const ALL: [Pooling; 6] = [
        Self::Cls,
        Self::Max,
        Self::Mean,
        Self::MeanSqrtLen,
        Self::WeightedMean,
        Self::LastToken,
    ];
}

/// Pools token states.
///
/// # Shapes
/// - `hidden`: `[batch, seq, dim]`, `attention_mask`: `[batch, seq]` -> `[batch, dim]`
pub fn pool(hidden: Tensor<3>, attention_mask: Tensor<2, Int>, pooling: Pooling) -> Tensor<2> {
    let [batch, seq, dim] = hidden.dims();
    let device = hidden.device();
    let weighted_sum = |weights: Tensor<2>| {
        let w = weights.clone().reshape([batch, seq, 1]);
        let summed = (hidden.clone() * w.expand([batch, seq, dim]))
            .sum_dim(1)
            .reshape([batch, dim]);
        (summed, weights.sum_dim(1).reshape([batch, 1]))
    };
    match pooling {
        Pooling::Cls => hidden.narrow(1, 0, 1).reshape([batch, dim]),
        Pooling::Mean => {
            let (summed, counts) = weighted_sum(attention_mask.float());
            summed / counts.clamp_min(1e-9)
        }
        Pooling::MeanSqrtLen => {
            let (summed, counts) = weighted_sum(attention_mask.float());
            summed / counts.sqrt()
        }
        Pooling::WeightedMean => {
            let positions = Tensor::<1, Int>::arange(1..seq as i64 + 1, &device)
                .float()
                .reshape([1, seq])
                .expand([batch, seq]);
            let (summed, total) = weighted_sum(attention_mask.float() * positions);
            summed / total.clamp_min(1e-9)
        }
        Pooling::LastToken => {
            let last = attention_mask
                .sum_dim(1)
                .sub_scalar(1)
                .clamp_min(0)
                .reshape([batch, 1, 1])
                .expand([batch, 1, dim]);
            hidden.gather(1, last).reshape([batch, dim])
        }
        Pooling::Max => {
            let padded = attention_mask
                .equal_elem(0)
                .reshape([batch, seq, 1])
                .expand([batch, seq, dim]);
            hidden
                .mask_fill(padded, -1e9)
                .max_dim(1)
                .reshape([batch, dim])
        }
    }
}

pub use densify_core::l2_normalize;

/// What a sentence-transformers folder says about pooling, normalisation, length and similarity.
#[derive(Debug, Clone, PartialEq)]
pub struct SentenceTransformerSettings {
    /// From `1_Pooling/config.json` (default mean).
    pub pooling: Pooling,
    /// True when `modules.json` lists a `Normalize` module.
    pub normalize: bool,
    /// `max_seq_length` of `sentence_bert_config.json`, if any.
    pub max_seq_length: Option<usize>,
    /// `prompts` of `config_sentence_transformers.json` (e.g. `{"query": "query: "}`).
    pub prompts: serde_json::Map<String, serde_json::Value>,
    /// `similarity_fn_name` of `config_sentence_transformers.json` (default cosine, as
    /// sentence-transformers).
    pub similarity: Similarity,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

/// The modules densify builds; any other module (`Dense`, `LayerNorm`, `WordEmbeddings`, ...)
/// is refused by name rather than silently skipped.
const KNOWN_MODULES: [&str; 3] = ["Transformer", "Pooling", "Normalize"];

/// The keys of sentence-transformers' `1_Pooling/config.json` that densify reads or accepts,
/// with the JSON type each must have.
const POOLING_BOOLEANS: [&str; 7] = [
    "pooling_mode_cls_token",
    "pooling_mode_mean_tokens",
    "pooling_mode_max_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
    "include_prompt",
];

/// The `pooling_mode` names sentence-transformers' `Pooling` takes, and their modes.
const POOLING_MODE_NAMES: [(&str, Pooling); 6] = [
    ("cls", Pooling::Cls),
    ("mean", Pooling::Mean),
    ("max", Pooling::Max),
    ("mean_sqrt_len_tokens", Pooling::MeanSqrtLen),
    ("weightedmean", Pooling::WeightedMean),
    ("lasttoken", Pooling::LastToken),
];

/// Reads a `1_Pooling/config.json`: its one pooling mode (mean when it sets none). A flag
/// that is not `true`/`false` (`"yes"`, `1`, `null`), a `word_embedding_dimension` that is not
/// a positive integer, a `pooling_mode_*` key densify does not know (a misspelt flag would
/// otherwise leave the default) and several modes at once are errors naming the file, and the
/// line, column and field where there is one.
fn read_pooling_config(path: &Path) -> Result<Pooling> {
    let text = densify_core::read_regular_to_string(path).map_err(|e| ModelError::io(path, e))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ModelError::json(path, &e))?;
    let at = |key: &str, message: String| {
        let (line, column) = key_position(&text, key).unwrap_or((1, 1));
        ModelError::Config {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let Some(object) = value.as_object() else {
        return Err(ModelError::Config {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: format!("expected an object of pooling settings, found {value}"),
        });
    };
    for (key, v) in object {
        let key = key.as_str();
        if POOLING_BOOLEANS.contains(&key) {
            if !v.is_boolean() {
                return Err(at(key, format!("`{key}` must be true or false, found {v}")));
            }
        } else if key == "word_embedding_dimension" {
            if v.as_u64().is_none_or(|n| n == 0) {
                return Err(at(
                    key,
                    format!("`{key}` must be a positive integer, found {v}"),
                ));
            }
        } else if key == "pooling_mode" {
            let known = v.as_str().is_some_and(|name| {
                POOLING_MODE_NAMES
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case(name))
            });
            if !known && !v.is_null() {
                let names: Vec<&str> = POOLING_MODE_NAMES.iter().map(|(n, _)| *n).collect();
                return Err(at(
                    key,
                    format!("`{key}` must be one of {}, found {v}", names.join(", ")),
                ));
            }
        } else if key.starts_with("pooling_mode") {
            return Err(at(
                key,
                format!(
                    "unknown field `{key}`: densify reads {} (a misspelt flag would leave mean \
                     pooling)",
                    POOLING_BOOLEANS[..6].join(", ")
                ),
            ));
        }
    }
    // `pooling_mode`, as sentence-transformers' constructor takes it, overrides the flags.
    let named = object
        .get("pooling_mode")
        .and_then(serde_json::Value::as_str)
        .and_then(|name| {
            POOLING_MODE_NAMES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
        });
    if let Some((_, mode)) = named {
        return Ok(*mode);
    }
    let set: Vec<Pooling> = Pooling::ALL
        .into_iter()
        .filter(|p| object.get(p.flag()).and_then(serde_json::Value::as_bool) == Some(true))
        .collect();
    match set.as_slice() {
        [] => Ok(Pooling::Mean),
        [one] => Ok(*one),
        several => {
            let flags: Vec<&str> = several.iter().map(|p| p.flag()).collect();
            Err(ModelError::Unsupported {
                path: path.to_path_buf(),
                message: format!(
                    "several pooling modes at once ({}) concatenate embeddings, which densify does not build; set one",
                    flags.join(", ")
                ),
            })
        }
    }
}

impl SentenceTransformerSettings {
    /// Reads the sentence-transformers files of `dir`; absent files give the defaults (mean
    /// pooling, no normalisation, cosine). Unsupported modules, several pooling modes at once,
    /// a `max_seq_length` that is not a positive integer and an unknown similarity are errors
    /// naming the file.
    pub fn read(dir: &Path) -> Result<Self> {
        let mut settings = Self {
            pooling: Pooling::Mean,
            normalize: false,
            max_seq_length: None,
            prompts: serde_json::Map::new(),
            similarity: Similarity::Cosine,
        };
        let unsupported = |path: &Path, message: String| ModelError::Unsupported {
            path: path.to_path_buf(),
            message,
        };
        let modules_path = dir.join("modules.json");
        let mut pooling_dir = dir.join("1_Pooling");
        if modules_path.is_file() {
            let modules: Vec<ModuleEntry> = read_json(&modules_path)?;
            for m in &modules {
                let name = m.kind.rsplit('.').next().unwrap_or(&m.kind);
                if !KNOWN_MODULES.contains(&name) {
                    return Err(unsupported(
                        &modules_path,
                        format!(
                            "module `{}` (path `{}`) is not supported: densify builds Transformer, Pooling and Normalize modules",
                            m.kind, m.path
                        ),
                    ));
                }
            }
            settings.normalize = modules.iter().any(|m| m.kind.ends_with("Normalize"));
            if let Some(p) = modules.iter().find(|m| m.kind.ends_with("Pooling")) {
                pooling_dir = dir.join(&p.path);
            }
        }
        let pooling_path = pooling_dir.join("config.json");
        if pooling_path.is_file() {
            settings.pooling = read_pooling_config(&pooling_path)?;
        }
        let bert_config = dir.join("sentence_bert_config.json");
        if bert_config.is_file() {
            let v: serde_json::Value = read_json(&bert_config)?;
            settings.max_seq_length = match v.get("max_seq_length") {
                None | Some(serde_json::Value::Null) => None,
                Some(n) => match n.as_u64() {
                    Some(n) if n > 0 => Some(n as usize),
                    _ => {
                        return Err(unsupported(
                            &bert_config,
                            format!("`max_seq_length` must be a positive integer, found {n}"),
                        ));
                    }
                },
            };
        }
        let st_config = dir.join("config_sentence_transformers.json");
        if st_config.is_file() {
            let v: serde_json::Value = read_json(&st_config)?;
            if let Some(p) = v.get("prompts").and_then(|p| p.as_object()) {
                settings.prompts = p.clone();
            }
            match v.get("similarity_fn_name") {
                None | Some(serde_json::Value::Null) => {}
                Some(name) => {
                    settings.similarity = name
                        .as_str()
                        .and_then(Similarity::from_name)
                        .ok_or_else(|| {
                            unsupported(
                                &st_config,
                                format!(
                                    "`similarity_fn_name` {name} is not one of cosine, dot, euclidean, manhattan"
                                ),
                            )
                        })?;
                }
            }
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn pooling_matches_hand_computation() {
        let device = Device::flex();
        let hidden = Tensor::<3>::from_data([[[1.0, 2.0], [3.0, 6.0], [100.0, 100.0]]], &device);
        let mask = Tensor::<2, Int>::from_data([[1, 1, 0]], &device);
        let v = |t: Tensor<2>| t.into_data().iter::<f32>().collect::<Vec<_>>();
        assert_eq!(
            v(pool(hidden.clone(), mask.clone(), Pooling::Mean)),
            [2.0, 4.0]
        );
        assert_eq!(
            v(pool(hidden.clone(), mask.clone(), Pooling::Max)),
            [3.0, 6.0]
        );
        assert_eq!(
            v(pool(hidden.clone(), mask.clone(), Pooling::Cls)),
            [1.0, 2.0]
        );
        // sum (4, 8) / sqrt(2)
        let s = v(pool(hidden.clone(), mask.clone(), Pooling::MeanSqrtLen));
        assert!((s[0] - 4.0 / 2f32.sqrt()).abs() < 1e-6 && (s[1] - 8.0 / 2f32.sqrt()).abs() < 1e-6);
        // weights 1 and 2: (1*1 + 2*3) / 3, (1*2 + 2*6) / 3
        let w = v(pool(hidden.clone(), mask.clone(), Pooling::WeightedMean));
        assert!((w[0] - 7.0 / 3.0).abs() < 1e-6 && (w[1] - 14.0 / 3.0).abs() < 1e-6);
        assert_eq!(v(pool(hidden, mask, Pooling::LastToken)), [3.0, 6.0]);
        let n = v(l2_normalize(Tensor::<2>::from_data([[3.0, 4.0]], &device)));
        assert!((n[0] - 0.6).abs() < 1e-6 && (n[1] - 0.8).abs() < 1e-6);
    }
}

#[cfg(test)]
mod reading_tests {
    use super::*;

    fn folder(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("densify-st-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (file, text) in files {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_similarity_and_each_pooling_mode() {
        let dir = folder(
            "dot",
            &[
                (
                    "config_sentence_transformers.json",
                    r#"{"similarity_fn_name": "dot"}"#,
                ),
                (
                    "1_Pooling/config.json",
                    r#"{"pooling_mode_lasttoken": true, "pooling_mode_mean_tokens": false}"#,
                ),
            ],
        );
        let s = SentenceTransformerSettings::read(&dir).unwrap();
        assert_eq!(s.similarity, Similarity::Dot);
        assert_eq!(s.pooling, Pooling::LastToken);
    }

    #[test]
    fn refuses_what_it_would_otherwise_get_wrong() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case; 4] = [
            (
                "dense",
                &[(
                    "modules.json",
                    r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"2_Dense","type":"sentence_transformers.models.Dense"}]"#,
                )],
                "sentence_transformers.models.Dense",
            ),
            (
                "two",
                &[(
                    "1_Pooling/config.json",
                    r#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true}"#,
                )],
                "pooling_mode_cls_token, pooling_mode_mean_tokens",
            ),
            (
                "len",
                &[("sentence_bert_config.json", r#"{"max_seq_length": "256"}"#)],
                "max_seq_length",
            ),
            (
                "sim",
                &[(
                    "config_sentence_transformers.json",
                    r#"{"similarity_fn_name": "jaccard"}"#,
                )],
                "jaccard",
            ),
        ];
        for (name, files, expected) in cases {
            let err = SentenceTransformerSettings::read(&folder(name, files))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{name}: {err}");
        }
    }

    #[test]
    fn pooling_fields_of_the_wrong_type_are_located_errors() {
        let text = |flag: &str| {
            format!(
                "{{\n  \"word_embedding_dimension\": 384,\n  \"pooling_mode_cls_token\": false,\n  {flag}\n}}"
            )
        };
        for (i, (name, line, expected)) in [
            (
                "\"pooling_mode_mean_tokens\": \"yes\"",
                4,
                "`pooling_mode_mean_tokens` must be true or false, found \"yes\"",
            ),
            (
                "\"pooling_mode_mean_tokens\": 1",
                4,
                "`pooling_mode_mean_tokens` must be true or false, found 1",
            ),
            (
                "\"include_prompt\": null",
                4,
                "`include_prompt` must be true or false, found null",
            ),
            (
                "\"pooling_mode_mean_token\": true",
                4,
                "unknown field `pooling_mode_mean_token`",
            ),
            (
                "\"pooling_mode\": \"average\"",
                4,
                "`pooling_mode` must be one of cls, mean, max",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let dir = folder(
                &format!("type-{i}"),
                &[("1_Pooling/config.json", text(name).as_str())],
            );
            let err = SentenceTransformerSettings::read(&dir)
                .unwrap_err()
                .to_string();
            let at = format!("1_Pooling/config.json:{line}:3: ");
            assert!(err.contains(&at) && err.contains(expected), "{name}: {err}");
        }
        let dimension = folder(
            "type-dim",
            &[(
                "1_Pooling/config.json",
                "{\"word_embedding_dimension\": \"384\", \"pooling_mode_cls_token\": true}",
            )],
        );
        let err = SentenceTransformerSettings::read(&dimension)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("config.json:1:2: `word_embedding_dimension` must be a positive integer"),
            "{err}"
        );
        // sentence-transformers' `pooling_mode` string sets the mode.
        let named = folder(
            "type-named",
            &[(
                "1_Pooling/config.json",
                r#"{"pooling_mode": "CLS", "pooling_mode_mean_tokens": false}"#,
            )],
        );
        assert_eq!(
            SentenceTransformerSettings::read(&named).unwrap().pooling,
            Pooling::Cls
        );
    }
}
