//! The sentence-transformers folder layout, read and written in one place: `modules.json`,
//! `1_Pooling/config.json`, `2_Normalize/`, `sentence_bert_config.json`,
//! `config_sentence_transformers.json`, and densify's `densify_lengths.json` beside them (one
//! max length per side, where sentence-transformers keeps one).

use std::path::Path;

use serde::{Deserialize, Serialize};

use densify_core::Similarity;

use crate::bi_encoder::BiEncoderSettings;
use crate::config::BertConfig;
use crate::error::{ModelError, Result, key_position, read_json};
use crate::model_folder::write_json;
use crate::pooling::Pooling;

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

/// The file beside sentence-transformers' that keeps each side's max length.
pub(crate) const LENGTHS_FILE: &str = "densify_lengths.json";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SideLengths {
    query_max_length: usize,
    passage_max_length: usize,
}

/// The settings a sentence-transformers folder gives a bi-encoder (`config` supplies the
/// default max length: its `max_position_embeddings`, at most 512).
pub(crate) fn read_settings(dir: &Path, config: &BertConfig) -> Result<BiEncoderSettings> {
    let st = SentenceTransformerSettings::read(dir)?;
    let max = st
        .max_seq_length
        .unwrap_or(config.max_position_embeddings.min(512));
    let prompt = |keys: &[&str]| -> String {
        keys.iter()
            .find_map(|k| st.prompts.get(*k).and_then(|v| v.as_str()))
            .unwrap_or_default()
            .to_owned()
    };
    let mut settings = BiEncoderSettings {
        pooling: st.pooling,
        normalize: st.normalize,
        similarity: st.similarity,
        query_prefix: prompt(&["query"]),
        passage_prefix: prompt(&["passage", "document"]),
        query_max_length: max,
        passage_max_length: max,
    };
    // sentence-transformers keeps one max_seq_length; densify's own file keeps one per side.
    let lengths_path = dir.join(LENGTHS_FILE);
    if lengths_path.is_file() {
        let lengths: SideLengths = crate::error::read_json(&lengths_path)?;
        settings.query_max_length = lengths.query_max_length;
        settings.passage_max_length = lengths.passage_max_length;
    }
    Ok(settings)
}

/// Writes the sentence-transformers files of a bi-encoder with `settings` into `dir` (the
/// weights, config and tokenizer are written by the caller).
pub(crate) fn write_layout(
    dir: &Path,
    hidden_size: usize,
    settings: &BiEncoderSettings,
) -> Result<()> {
    let mut modules = vec![
        serde_json::json!({"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}),
        serde_json::json!({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}),
    ];
    if settings.normalize {
        modules.push(serde_json::json!({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}));
        std::fs::create_dir_all(dir.join("2_Normalize"))
            .map_err(|e| ModelError::io(dir.join("2_Normalize"), e))?;
    }
    write_json(
        &dir.join("modules.json"),
        &serde_json::Value::Array(modules),
    )?;
    let mut pooling = serde_json::Map::new();
    pooling.insert("word_embedding_dimension".into(), hidden_size.into());
    for mode in Pooling::ALL {
        pooling.insert(mode.flag().into(), (mode == settings.pooling).into());
    }
    pooling.insert("include_prompt".into(), true.into());
    write_json(
        &dir.join("1_Pooling/config.json"),
        &serde_json::Value::Object(pooling),
    )?;
    write_json(
        &dir.join("sentence_bert_config.json"),
        &serde_json::json!({"max_seq_length": settings.passage_max_length, "do_lower_case": false}),
    )?;
    write_json(
        &dir.join(LENGTHS_FILE),
        &serde_json::to_value(SideLengths {
            query_max_length: settings.query_max_length,
            passage_max_length: settings.passage_max_length,
        })
        .expect("lengths serialise"),
    )?;
    let mut prompts = serde_json::Map::new();
    if !settings.query_prefix.is_empty() {
        prompts.insert("query".into(), settings.query_prefix.clone().into());
    }
    if !settings.passage_prefix.is_empty() {
        prompts.insert("passage".into(), settings.passage_prefix.clone().into());
    }
    let similarity = settings.similarity.name();
    write_json(
        &dir.join("config_sentence_transformers.json"),
        &serde_json::json!({"prompts": prompts, "default_prompt_name": null, "similarity_fn_name": similarity}),
    )
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
