//! Fuzzing the configuration parsers (the one `Config` convention every densify config uses)
//! with proptest: each configuration's own default TOML with one mutation (a value replaced by
//! NaN, an infinity, a negative, huge or wrong-typed value, a line dropped, duplicated or cut, a
//! key misspelt, random text inserted), plus arbitrary text as TOML and as JSON.
//!
//! The property: no panic; an error names the file and, when it has a line, one that exists;
//! and anything accepted passes `validate` and survives a write and a re-read (so a config that
//! a run saves beside its output can always be read back).
//!
//! CI runs `DENSIFY_FUZZ_CASES` cases (256 by default); `docs/robustness.md` records a longer run.

use densify::core::{Config, ConfigError};
use densify::eval::EvalConfig;
use densify::eval::bm25::Bm25Config;
use densify::eval::fusion::RrfConfig;
use densify::eval::search::ExactSearchConfig;
use densify::loss::{
    KlDistillationConfig, ListwiseDistillationConfig, LossConfig, SyclWassersteinConfig,
    Wasserstein1dConfig,
};
use densify::model::BiEncoderSettings;
use densify::noise::NoiseConfig;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("DENSIFY_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const ORIGIN: &str = "fuzz.toml";

/// The property for one configuration type on one text.
fn check<T: Config + std::fmt::Debug>(text: &str, json: bool) -> Result<(), TestCaseError> {
    let parsed = if json {
        T::from_json_str(text, "fuzz.json")
    } else {
        T::from_toml_str(text, ORIGIN)
    };
    match parsed {
        Ok(value) => {
            prop_assert!(value.validate().is_ok());
            let saved = value.to_toml_string();
            let again = T::from_toml_str(&saved, "saved.toml");
            prop_assert!(
                again.is_ok(),
                "accepted but not re-readable:\n{saved}\n{again:?}"
            );
        }
        Err(error) => {
            let message = error.to_string();
            let origin = if json { "fuzz.json" } else { ORIGIN };
            prop_assert!(message.starts_with(origin), "{message}");
            let lines = text.lines().count().max(1);
            let line = match &error {
                ConfigError::Parse { line, .. } => Some(*line),
                ConfigError::Invalid { line, .. } => *line,
                ConfigError::Io { .. } => None,
            };
            if let Some(line) = line {
                prop_assert!(
                    line >= 1 && line <= lines + 1,
                    "line {line} of {lines}: {message}"
                );
            }
        }
    }
    Ok(())
}

/// Every configuration a recipe file can hold, as (name, default TOML, checker).
type Checker = fn(&str, bool) -> Result<(), TestCaseError>;

fn targets() -> Vec<(&'static str, String, Checker)> {
    vec![
        (
            "bm25",
            Bm25Config::default().to_toml_string(),
            check::<Bm25Config>,
        ),
        (
            "search",
            ExactSearchConfig::default().to_toml_string(),
            check::<ExactSearchConfig>,
        ),
        (
            "rrf",
            RrfConfig::default().to_toml_string(),
            check::<RrfConfig>,
        ),
        (
            "eval",
            EvalConfig::default().to_toml_string(),
            check::<EvalConfig>,
        ),
        (
            "noise",
            NoiseConfig::default().to_toml_string(),
            check::<NoiseConfig>,
        ),
        (
            "bi-encoder",
            // No default: a model folder supplies it; this is what a recipe states.
            "pooling = \"mean\"\nnormalize = true\nsimilarity = \"cosine\"\n\
             query_prefix = \"\"\npassage_prefix = \"\"\nquery_max_length = 256\n\
             passage_max_length = 256\n"
                .to_owned(),
            check::<BiEncoderSettings>,
        ),
        (
            "kl",
            LossConfig::KlDistillation(KlDistillationConfig::default()).to_toml_string(),
            check::<LossConfig>,
        ),
        (
            "listwise",
            LossConfig::ListwiseDistillation(ListwiseDistillationConfig::default())
                .to_toml_string(),
            check::<LossConfig>,
        ),
        (
            "sycl",
            LossConfig::SyclWasserstein(SyclWassersteinConfig::default()).to_toml_string(),
            check::<LossConfig>,
        ),
        (
            "w1d",
            LossConfig::Wasserstein1d(Wasserstein1dConfig::default()).to_toml_string(),
            check::<LossConfig>,
        ),
    ]
}

/// One mutation of a TOML text: (line selector, kind, token).
fn mutation() -> impl Strategy<Value = (usize, u8, String)> {
    (
        0usize..64,
        0u8..8,
        prop_oneof![
            Just("nan".to_owned()),
            Just("inf".to_owned()),
            Just("-inf".to_owned()),
            Just("-1".to_owned()),
            Just("0".to_owned()),
            Just("1e308".to_owned()),
            Just("18446744073709551616".to_owned()),
            Just("\"text\"".to_owned()),
            Just("[1, 2]".to_owned()),
            Just("{ a = 1 }".to_owned()),
            Just("true".to_owned()),
            "\\PC{0,10}",
        ],
    )
}

fn mutate(text: &str, (at, kind, token): &(usize, u8, String)) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let i = at % lines.len();
    match kind {
        // A value replaced.
        0..=2 => {
            if let Some((key, _)) = lines[i].split_once(" = ") {
                lines[i] = format!("{key} = {token}");
            } else {
                lines[i] = format!("{} = {token}", lines[i]);
            }
        }
        // A key misspelt.
        3 => lines[i] = format!("x{}", lines[i]),
        // A line dropped, duplicated or cut.
        4 => {
            lines.remove(i);
        }
        5 => {
            let copy = lines[i].clone();
            lines.insert(i, copy);
        }
        6 => {
            let cut = at % (lines[i].len() + 1);
            let cut = (0..=cut)
                .rev()
                .find(|&c| lines[i].is_char_boundary(c))
                .unwrap_or(0);
            lines[i].truncate(cut);
        }
        // Random text inserted as a line.
        _ => lines.insert(i, token.clone()),
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn near_valid_toml(m in mutation()) {
        for (_, text, check) in targets() {
            check(&mutate(&text, &m), false)?;
        }
    }

    #[test]
    fn arbitrary_text(text in "\\PC{0,200}", toml_like in "([a-z_]{1,12} = [-0-9a-z.\"\\[\\]{}, ]{0,12}\n){0,6}") {
        for (_, _, check) in targets() {
            check(&text, false)?;
            check(&text, true)?;
            check(&toml_like, false)?;
        }
    }
}

#[test]
fn nan_and_infinity_literals_are_refused_by_field_and_line() {
    let error = Bm25Config::from_toml_str("k1 = nan\nb = 0.4\n", "bm25.toml")
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("bm25.toml:1:") && error.contains("k1"),
        "{error}"
    );
    let error = LossConfig::from_toml_str(
        "type = \"kl_distillation\"\nlabel_temperature = inf\n",
        "loss.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("loss.toml:2:") && error.contains("label_temperature"),
        "{error}"
    );
}

#[test]
fn every_fuzz_seed_is_itself_a_valid_config() {
    for (name, text, check) in targets() {
        // `check` accepts errors too, so parse through the TOML round trip explicitly.
        assert!(check(&text, false).is_ok(), "{name}");
        assert!(
            !text.trim().is_empty() && text.contains(" = "),
            "{name}: {text}"
        );
    }
    BiEncoderSettings::from_toml_str(&targets()[5].1, "seed.toml").unwrap();
    LossConfig::from_toml_str(&targets()[9].1, "seed.toml").unwrap();
}
