//! Prompt templates: text files with named placeholders (`{passage}`, `{examples}`, `{query}`),
//! overridable by users. `{{` and `}}` write literal braces.
//!
//! A template is checked when it is loaded: an unclosed brace, a placeholder the task does not
//! know, or one the task needs but the template lacks are errors naming the file.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Result, SynthError};

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Slot(String),
}

/// A parsed prompt template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    origin: String,
    source: String,
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `source`, allowing the placeholders `known` and requiring `required`. `origin`
    /// names the template in errors (a path, or `built-in <name>`).
    pub fn parse(
        source: &str,
        origin: impl Into<String>,
        known: &[&str],
        required: &[&str],
    ) -> Result<Self> {
        let origin = origin.into();
        let error = |message: String| SynthError::Template {
            origin: origin.clone(),
            message,
        };
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = source.char_indices().peekable();
        let line_of = |offset: usize| source[..offset].matches('\n').count() + 1;
        while let Some((offset, c)) = chars.next() {
            match c {
                '{' if chars.peek().is_some_and(|(_, n)| *n == '{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek().is_some_and(|(_, n)| *n == '}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, n) in chars.by_ref() {
                        if n == '}' {
                            closed = true;
                            break;
                        }
                        name.push(n);
                    }
                    if !closed || name.contains('\n') {
                        return Err(error(format!(
                            "line {}: `{{` opens a placeholder that is never closed (write `{{{{` for a literal brace)",
                            line_of(offset)
                        )));
                    }
                    if !known.contains(&name.as_str()) {
                        return Err(error(format!(
                            "line {}: unknown placeholder `{{{name}}}`; this template may use {}",
                            line_of(offset),
                            list(known)
                        )));
                    }
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Slot(name));
                }
                '}' => {
                    return Err(error(format!(
                        "line {}: a lone `}}` (write `}}}}` for a literal brace)",
                        line_of(offset)
                    )));
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        for name in required {
            if !pieces
                .iter()
                .any(|p| matches!(p, Piece::Slot(s) if s == name))
            {
                return Err(error(format!(
                    "the placeholder `{{{name}}}` is missing; this template must contain {}",
                    list(required)
                )));
            }
        }
        Ok(Self {
            origin,
            source: source.to_owned(),
            pieces,
        })
    }

    /// Reads and parses a template file.
    pub fn from_file(path: &Path, known: &[&str], required: &[&str]) -> Result<Self> {
        let text =
            densify_core::read_regular_to_string(path).map_err(|e| SynthError::io(path, e))?;
        Self::parse(&text, path.display().to_string(), known, required)
    }

    /// Fills the placeholders. Every placeholder of the template must have a value.
    pub fn render(&self, values: &BTreeMap<&str, &str>) -> Result<String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Slot(name) => {
                    let value = values
                        .get(name.as_str())
                        .ok_or_else(|| SynthError::Template {
                            origin: self.origin.clone(),
                            message: format!("no value for the placeholder `{{{name}}}`"),
                        })?;
                    out.push_str(value);
                }
            }
        }
        Ok(out)
    }

    /// Whether the template uses the placeholder `name`.
    pub fn uses(&self, name: &str) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Slot(s) if s == name))
    }

    /// Where the template came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The first 16 hex digits of the SHA-256 of the template's text (provenance).
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.source.as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        return "no placeholders".into();
    }
    names
        .iter()
        .map(|n| format!("`{{{n}}}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(pairs: &[(&'a str, &'a str)]) -> BTreeMap<&'a str, &'a str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn renders_placeholders_and_escaped_braces() {
        let t = Template::parse(
            "P: {passage}\n{{json}} {q}",
            "t",
            &["passage", "q"],
            &["passage"],
        )
        .unwrap();
        let out = t
            .render(&values(&[("passage", "text"), ("q", "x")]))
            .unwrap();
        assert_eq!(out, "P: text\n{json} x");
        assert!(t.uses("q"));
        assert_eq!(t.hash().len(), 16);
    }

    #[test]
    fn unknown_placeholder_names_line_and_name() {
        let e = Template::parse("a\n{pasage}", "my.txt", &["passage"], &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("my.txt: line 2: unknown placeholder `{pasage}`"),
            "{e}"
        );
    }

    #[test]
    fn missing_required_placeholder_is_an_error() {
        let e = Template::parse("no slots", "t.txt", &["passage"], &["passage"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`{passage}` is missing"), "{e}");
    }

    #[test]
    fn unclosed_and_lone_braces_are_errors() {
        assert!(Template::parse("{passage", "t", &["passage"], &[]).is_err());
        assert!(Template::parse("a } b", "t", &[], &[]).is_err());
    }

    #[test]
    fn hash_changes_with_the_text() {
        let a = Template::parse("{passage}", "a", &["passage"], &[]).unwrap();
        let b = Template::parse("{passage} ", "a", &["passage"], &[]).unwrap();
        assert_ne!(a.hash(), b.hash());
    }
}
