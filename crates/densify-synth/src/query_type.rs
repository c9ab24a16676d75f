//! The kinds of query an LLM is asked for (paper B, arXiv 2502.19712): questions, claims,
//! titles, keywords (up to 5), web-search queries, and zero-shot "random" search queries.

use serde::{Deserialize, Serialize};

/// A kind of synthetic query; each has its own built-in prompt template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryType {
    /// A question the passage answers.
    Question,
    /// A claim the passage supports or refutes.
    Claim,
    /// A title for the passage.
    Title,
    /// Up to five comma-separated keywords.
    Keywords,
    /// A web-search query.
    Web,
    /// A natural search query written zero-shot (no few-shot examples).
    Random,
}

impl QueryType {
    /// Every type, in a fixed order.
    pub const ALL: [QueryType; 6] = [
        Self::Question,
        Self::Claim,
        Self::Title,
        Self::Keywords,
        Self::Web,
        Self::Random,
    ];

    /// The name used in configs, ids and provenance.
    pub fn name(self) -> &'static str {
        match self {
            Self::Question => "question",
            Self::Claim => "claim",
            Self::Title => "title",
            Self::Keywords => "keywords",
            Self::Web => "web",
            Self::Random => "random",
        }
    }

    /// Parses a name as [`QueryType::name`] writes it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The built-in prompt template (`templates/query_<name>.txt` in the crate).
    pub fn builtin_template(self) -> &'static str {
        match self {
            Self::Question => include_str!("../templates/query_question.txt"),
            Self::Claim => include_str!("../templates/query_claim.txt"),
            Self::Title => include_str!("../templates/query_title.txt"),
            Self::Keywords => include_str!("../templates/query_keywords.txt"),
            Self::Web => include_str!("../templates/query_web.txt"),
            Self::Random => include_str!("../templates/query_random.txt"),
        }
    }

    /// The word that introduces an answer of this type in few-shot examples (`Question:`).
    pub fn answer_label(self) -> &'static str {
        match self {
            Self::Question => "Question",
            Self::Claim => "Claim",
            Self::Title => "Title",
            Self::Keywords => "Keywords",
            Self::Web | Self::Random => "Query",
        }
    }

    /// Whether prompts of this type carry few-shot examples (all but `random`).
    pub fn uses_examples(self) -> bool {
        self != Self::Random
    }
}

impl std::fmt::Display for QueryType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Template;

    #[test]
    fn names_round_trip_and_builtin_templates_parse() {
        for t in QueryType::ALL {
            assert_eq!(QueryType::from_name(t.name()), Some(t));
            let template = Template::parse(
                t.builtin_template(),
                t.name(),
                &["passage", "examples"],
                &["passage"],
            )
            .unwrap();
            assert_eq!(template.uses("examples"), t.uses_examples(), "{t}");
        }
        assert_eq!(QueryType::from_name("questions"), None);
    }
}
