//! The one configuration convention of densify.
//!
//! Every library configuration (search, BM25, fusion, evaluation, noise, each loss, model
//! loading, and the trainer and generator configurations to come) is a plain serde struct with
//! `#[serde(default, deny_unknown_fields)]`, a `Default` that documents the published defaults,
//! and an implementation of [`Config`]. A recipe is then one TOML (or JSON) file whose tables are
//! these structs, and a mistake in it is reported with the file, the 1-based line and column and
//! the dotted field path:
//!
//! ```text
//! recipe.toml:7:1: `loss.kl.studnet_temperature`: unknown field `studnet_temperature`, expected one of ...
//! recipe.toml:8: `loss.kl.student_temperature`: must be > 0, found -1
//! ```
//!
//! Why serde and not burn's `Config` derive: burn's derive generates its own serde impls, which
//! neither reject unknown fields (a misspelt key would silently keep its default) nor apply the
//! declared defaults to missing fields. Builders in burn's style (`new()`, `with_field(..)`)
//! come from [`setters!`](crate::setters).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A configuration value that serde could parse but that is out of range; the path is dotted
/// (`loss.temperature`) and relative to the struct that found it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{field}` {message}")]
pub struct InvalidField {
    /// The dotted field path.
    pub field: String,
    /// What is wrong, e.g. "must be > 0, found -1".
    pub message: String,
}

impl InvalidField {
    /// A field with a bad value.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error seen from a parent struct: `prefix.field`.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

/// Errors unless `value` is finite and `> 0`.
pub fn positive(field: &str, value: f64) -> Result<(), InvalidField> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(InvalidField::new(
            field,
            format!("must be a finite number > 0, found {value}"),
        ))
    }
}

/// Errors unless the count `value` is at least 1.
pub fn at_least_one(field: &str, value: u64) -> Result<(), InvalidField> {
    if value == 0 {
        return Err(InvalidField::new(field, "must be at least 1, found 0"));
    }
    Ok(())
}

/// Errors unless `value` is finite and `>= 0`.
pub fn non_negative(field: &str, value: f64) -> Result<(), InvalidField> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(InvalidField::new(
            field,
            format!("must be a finite number >= 0, found {value}"),
        ))
    }
}

/// Errors unless `value` is finite.
pub fn finite(field: &str, value: f64) -> Result<(), InvalidField> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(InvalidField::new(
            field,
            format!("must be a finite number, found {value}"),
        ))
    }
}

/// Errors unless `value` is in `[0, 1)` (a dropout or noise probability).
pub fn probability(field: &str, value: f64) -> Result<(), InvalidField> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(InvalidField::new(
            field,
            format!("must be a probability in [0, 1), found {value}"),
        ))
    }
}

/// A configuration that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Bad syntax, an unknown or missing field, or a value of the wrong type.
    #[error("{}:{line}:{column}: {}{message}", path.display(), field_prefix(field))]
    Parse {
        /// The file (or the name given to text parsed directly).
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The dotted path of the field, when the parser got that far.
        field: Option<String>,
        /// What is wrong, as the parser says it.
        message: String,
    },
    /// A value that parsed but is out of range.
    #[error("{}{}: {invalid}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The 1-based line that sets the field, when it can be found.
        line: Option<usize>,
        /// The field and what is wrong with it.
        invalid: InvalidField,
    },
}

fn field_prefix(field: &Option<String>) -> String {
    field
        .as_deref()
        .filter(|f| !f.is_empty() && *f != ".")
        .map(|f| format!("`{f}`: "))
        .unwrap_or_default()
}

/// A densify configuration: serde (with unknown fields rejected), validated after parsing, read
/// from TOML or JSON with located errors.
pub trait Config: Serialize + DeserializeOwned {
    /// Checks what serde cannot (ranges, finiteness, combinations). Default: accepts.
    fn validate(&self) -> Result<(), InvalidField> {
        Ok(())
    }

    /// Parses TOML text; `origin` names it in errors.
    fn from_toml_str(text: &str, origin: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let origin = origin.as_ref();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value: Self = parse_toml(text, origin)?;
        checked(value, text, origin, Format::Toml)
    }

    /// Parses JSON text; `origin` names it in errors.
    fn from_json_str(text: &str, origin: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let origin = origin.as_ref();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let json_error = |e: serde_json::Error, field: Option<String>| ConfigError::Parse {
            path: origin.to_path_buf(),
            line: e.line(),
            column: e.column(),
            field,
            message: strip_json_position(&e.to_string()),
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let value: Self = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            json_error(e.into_inner(), Some(field))
        })?;
        de.end().map_err(|e| json_error(e, None))?;
        checked(value, text, origin, Format::Json)
    }

    /// Reads a file: `.toml` as TOML, anything else as JSON.
    fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text =
            crate::input::read_regular_to_string(path).map_err(|source| ConfigError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        if path.extension().is_some_and(|e| e == "toml") {
            Self::from_toml_str(&text, path)
        } else {
            Self::from_json_str(&text, path)
        }
    }

    /// The configuration as TOML (every field, defaults included), for saving beside a run.
    fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# not representable: {e}\n"))
    }
}

#[derive(Clone, Copy)]
enum Format {
    Toml,
    Json,
}

fn parse_toml<T: DeserializeOwned>(text: &str, origin: &Path) -> Result<T, ConfigError> {
    let located = |e: &toml::de::Error, field: Option<String>| {
        let message = e.message().trim_end().to_owned();
        let (line, column) = e
            .span()
            .filter(|span| span.start > 0 || !message.contains("unknown field"))
            .map(|span| line_and_column(text, span.start))
            .or_else(|| unknown_field_line(text, &message, Format::Toml).map(|l| (l, 1)))
            .unwrap_or((1, 1));
        ConfigError::Parse {
            path: origin.to_path_buf(),
            line,
            column,
            field,
            message,
        }
    };
    let de = toml::Deserializer::parse(text).map_err(|e| located(&e, None))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        located(e.inner(), Some(field))
    })
}

fn checked<T: Config>(
    value: T,
    text: &str,
    origin: &Path,
    format: Format,
) -> Result<T, ConfigError> {
    value.validate().map_err(|invalid| ConfigError::Invalid {
        path: origin.to_path_buf(),
        line: find_key_line(text, &invalid.field, format),
        invalid,
    })?;
    Ok(value)
}

/// Where a field that serde reports as unknown is written. Internally tagged enums (a loss
/// chosen by `type`) are buffered by serde, which then reports no position of its own.
fn unknown_field_line(text: &str, message: &str, format: Format) -> Option<usize> {
    let rest = message.split("unknown field `").nth(1)?;
    let key = rest.split('`').next()?;
    find_key_line(text, key, format)
}

/// serde_json appends " at line L column C"; the error already carries both (or the caller
/// names the line itself).
pub fn strip_json_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// 1-based line and column of byte `offset` in `text`.
pub fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

/// The line that sets the last segment of `field` (`key = ` in TOML, `"key":` in JSON), the last
/// such line when several do; `None` when it is not written (a default).
fn find_key_line(text: &str, field: &str, format: Format) -> Option<usize> {
    let key = field.rsplit('.').next().unwrap_or(field);
    let key = key.split('[').next().unwrap_or(key);
    if key.is_empty() {
        return None;
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim_start();
            match format {
                Format::Toml => line
                    .strip_prefix(key)
                    .or_else(|| line.strip_prefix(&format!("\"{key}\"")))
                    .is_some_and(|rest| rest.trim_start().starts_with('=')),
                Format::Json => line.contains(&format!("\"{key}\"")),
            }
        })
        .map(|(i, _)| i + 1)
        .last()
}

/// Builder methods in burn's style for a configuration struct: `new()` (the defaults) and one
/// `with_<field>(value)` per listed field.
///
/// ```
/// #[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
/// #[serde(default, deny_unknown_fields)]
/// pub struct Example { pub k: usize, pub temperature: f64 }
/// densify_core::setters!(Example { k: usize, temperature: f64 });
/// assert_eq!(Example::new().with_k(3).k, 3);
/// ```
#[macro_export]
macro_rules! setters {
    ($ty:ident { $($field:ident : $fty:ty),* $(,)? }) => {
        $crate::__pastey::paste! {
            impl $ty {
                /// The defaults (see each field's documentation).
                pub fn new() -> Self {
                    <Self as ::core::default::Default>::default()
                }
                $(
                    #[doc = concat!("Sets `", stringify!($field), "`.")]
                    #[must_use]
                    pub fn [<with_ $field>](mut self, value: $fty) -> Self {
                        self.$field = value;
                        self
                    }
                )*
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Inner {
        temperature: f64,
        k: usize,
    }

    impl Default for Inner {
        fn default() -> Self {
            Self {
                temperature: 1.0,
                k: 10,
            }
        }
    }

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    impl Config for Outer {
        fn validate(&self) -> Result<(), InvalidField> {
            positive("temperature", self.inner.temperature).map_err(|e| e.within("inner"))
        }
    }

    #[test]
    fn at_least_one_refuses_zero_and_names_the_field() {
        assert_eq!(at_least_one("slots", 1), Ok(()));
        let e = at_least_one("slots", 0).unwrap_err();
        assert_eq!(e.field, "slots");
        assert_eq!(e.message, "must be at least 1, found 0");
    }

    #[test]
    fn defaults_fill_missing_fields() {
        let c = Outer::from_toml_str("name = \"x\"\n[inner]\nk = 3\n", "a.toml").unwrap();
        assert_eq!(
            c.inner,
            Inner {
                temperature: 1.0,
                k: 3
            }
        );
        let c = Outer::from_json_str(r#"{"inner": {"temperature": 2}}"#, "a.json").unwrap();
        assert_eq!(c.inner.temperature, 2.0);
        assert_eq!(Outer::from_toml_str(&c.to_toml_string(), "b").unwrap(), c);
    }

    #[test]
    fn unknown_fields_name_file_line_and_path() {
        let e = Outer::from_toml_str("name = \"x\"\n[inner]\nk = 3\ntemprature = 2\n", "r.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("r.toml:4:1: `inner.temprature`: unknown field `temprature`"),
            "{e}"
        );
        let e = Outer::from_json_str("{\n \"inner\": {\"kk\": 1}\n}", "r.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("r.json:2:") && e.contains("unknown field `kk`"),
            "{e}"
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = Outer::from_toml_str("[inner]\nk = \"three\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.toml:2:5: `inner.k`: "), "{e}");
        let e = Outer::from_json_str("{\"inner\": {\"k\": -1}}", "t.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`inner.k`") && e.contains("-1"), "{e}");
    }

    #[test]
    fn out_of_range_values_name_file_line_and_field() {
        let e = Outer::from_toml_str("[inner]\nk = 1\ntemperature = -1.0\n", "v.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "v.toml:3: `inner.temperature` must be a finite number > 0, found -1"
        );
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        assert!(Outer::from_toml_str("\u{feff}name = \"x\"\n", "bom.toml").is_ok());
    }

    #[test]
    fn lines_and_columns_are_one_based() {
        assert_eq!(line_and_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_and_column("ab\ncd", 4), (2, 2));
    }
}
