//! Cleaning of LLM answers: what a small instruction model wraps around the text asked for
//! (a "Query:" prefix, numbering, quotes, a second line of commentary) is removed, and answers
//! that are empty or of the wrong length are dropped with a counted reason.

use serde::{Deserialize, Serialize};

use crate::query_type::QueryType;

/// Limits applied after cleaning.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CleanConfig {
    /// Shortest query kept, in characters. Default 3.
    pub min_query_chars: usize,
    /// Longest query kept, in characters. Default 256.
    pub max_query_chars: usize,
    /// Keywords kept of a `keywords` answer. Default 5 (paper B).
    pub max_keywords: usize,
    /// Shortest synthetic document kept, in characters. Default 20.
    pub min_document_chars: usize,
    /// Longest synthetic document kept, in characters (longer ones are cut at a word).
    /// Default 4,096.
    pub max_document_chars: usize,
}

impl Default for CleanConfig {
    fn default() -> Self {
        Self {
            min_query_chars: 3,
            max_query_chars: 256,
            max_keywords: 5,
            min_document_chars: 20,
            max_document_chars: 4096,
        }
    }
}

/// Why an answer was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Nothing was left after cleaning.
    Empty,
    /// Shorter than the minimum.
    TooShort,
    /// Longer than the maximum.
    TooLong,
    /// The same text as an earlier query of the same passage and type.
    Duplicate,
    /// The server's answer was not in the expected shape (no text in it).
    Malformed,
}

impl DropReason {
    /// The name used in summaries.
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooShort => "too_short",
            Self::TooLong => "too_long",
            Self::Duplicate => "duplicate",
            Self::Malformed => "malformed",
        }
    }
}

const PREFIXES: &[&str] = &[
    "web search query",
    "search query",
    "query",
    "question",
    "claim",
    "title",
    "keywords",
    "keyword",
    "answer",
    "output",
];

/// Cleans an answer to a query prompt of type `kind`.
pub fn clean_query(raw: &str, kind: QueryType, config: &CleanConfig) -> Result<String, DropReason> {
    let line = raw
        .lines()
        .map(str::trim)
        .map(strip_decoration)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let mut text = collapse_whitespace(&line);
    if kind == QueryType::Keywords {
        let mut seen = Vec::<String>::new();
        for word in text.split([',', ';']) {
            let word = strip_quotes(word.trim()).to_owned();
            if !word.is_empty() && !seen.iter().any(|s| s.eq_ignore_ascii_case(&word)) {
                seen.push(word);
            }
        }
        seen.truncate(config.max_keywords);
        text = seen.join(", ");
    }
    let chars = text.chars().count();
    if chars == 0 {
        Err(DropReason::Empty)
    } else if chars < config.min_query_chars {
        Err(DropReason::TooShort)
    } else if chars > config.max_query_chars {
        Err(DropReason::TooLong)
    } else {
        Ok(text)
    }
}

/// Cleans an answer to a document prompt: a leading "Passage:" and quotes go, lines are joined,
/// and a text over the maximum is cut at a word boundary.
pub fn clean_document(raw: &str, config: &CleanConfig) -> Result<String, DropReason> {
    let mut text = collapse_whitespace(raw.trim());
    for prefix in ["passage:", "document:", "answer:"] {
        // `get`, not indexing: the text's first bytes may be inside a multi-byte character.
        if text
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        {
            text = text[prefix.len()..].trim().to_owned();
        }
    }
    let text = strip_quotes(&text).to_owned();
    let chars = text.chars().count();
    if chars == 0 {
        return Err(DropReason::Empty);
    }
    if chars < config.min_document_chars {
        return Err(DropReason::TooShort);
    }
    if chars > config.max_document_chars {
        let cut: String = text.chars().take(config.max_document_chars).collect();
        let end = cut.rfind(' ').unwrap_or(cut.len());
        return Ok(cut[..end].trim_end().to_owned());
    }
    Ok(text)
}

/// Removes list markers, markdown emphasis, known prefixes and quotes from one line.
fn strip_decoration(line: &str) -> String {
    let mut s = line.trim().to_owned();
    loop {
        let before = s.clone();
        // "1." "2)" "-" "*" "•" list markers
        let digits = s.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && s[digits..].starts_with(['.', ')', ':']) {
            s = s[digits + 1..].trim_start().to_owned();
        }
        for marker in ["- ", "* ", "• "] {
            if let Some(rest) = s.strip_prefix(marker) {
                s = rest.trim_start().to_owned();
            }
        }
        s = s
            .trim_matches(|c| c == '*' || c == '_' || c == '#')
            .trim()
            .to_owned();
        let lower = s.to_ascii_lowercase();
        for prefix in PREFIXES {
            if lower.starts_with(prefix) && s[prefix.len()..].trim_start().starts_with(':') {
                let rest = s[prefix.len()..].trim_start();
                s = rest[1..].trim().to_owned();
                break;
            }
        }
        s = strip_quotes(&s).to_owned();
        if s == before {
            return s;
        }
    }
}

fn strip_quotes(s: &str) -> &str {
    let pairs = [('"', '"'), ('\'', '\''), ('`', '`'), ('“', '”'), ('«', '»')];
    let t = s.trim();
    for (open, close) in pairs {
        if t.len() >= 2 && t.starts_with(open) && t.ends_with(close) {
            return t[open.len_utf8()..t.len() - close.len_utf8()].trim();
        }
    }
    t
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(raw: &str) -> Result<String, DropReason> {
        clean_query(raw, QueryType::Question, &CleanConfig::default())
    }

    #[test]
    fn strips_prefixes_numbering_quotes_and_later_lines() {
        assert_eq!(
            q("Query: \"what is scurvy?\"\nThis query asks...").unwrap(),
            "what is scurvy?"
        );
        assert_eq!(
            q("\n\n1. **Question:** Does  vitamin C help?").unwrap(),
            "Does vitamin C help?"
        );
        assert_eq!(q("- 'how do bees fly'").unwrap(), "how do bees fly");
        assert_eq!(
            q("Search query: “ocean acidification”").unwrap(),
            "ocean acidification"
        );
    }

    #[test]
    fn drops_empty_short_and_long_answers() {
        assert_eq!(q("  \n \"\" \n"), Err(DropReason::Empty));
        assert_eq!(q("ab"), Err(DropReason::TooShort));
        assert_eq!(q(&"x".repeat(257)), Err(DropReason::TooLong));
    }

    #[test]
    fn keywords_are_deduplicated_and_capped_at_five() {
        let out = clean_query(
            "Keywords: bees, flight, Bees, wings; \"insects\", pollen, honey",
            QueryType::Keywords,
            &CleanConfig::default(),
        )
        .unwrap();
        assert_eq!(out, "bees, flight, wings, insects, pollen");
    }

    #[test]
    fn a_document_starting_with_multi_byte_characters_is_kept_whole() {
        // Byte 7 (the length of "answer:") falls inside the first "β".
        let raw = "AXOX2-β/β-arrested microtubules are two key processes in axonal transport.";
        assert_eq!(clean_document(raw, &CleanConfig::default()).unwrap(), raw);
        assert_eq!(
            clean_document("Passage: ββββ ββββ ββββ ββββ ββββ", &CleanConfig::default()).unwrap(),
            "ββββ ββββ ββββ ββββ ββββ"
        );
    }

    #[test]
    fn documents_are_joined_and_cut_at_a_word() {
        let c = CleanConfig {
            max_document_chars: 30,
            ..CleanConfig::default()
        };
        let out = clean_document(
            "Passage: Vitamin C prevents scurvy.\nIt is found in fruit.",
            &c,
        )
        .unwrap();
        assert_eq!(out, "Vitamin C prevents scurvy. It");
        assert_eq!(clean_document("Passage:", &c), Err(DropReason::Empty));
        assert_eq!(clean_document("too short", &c), Err(DropReason::TooShort));
    }
}
