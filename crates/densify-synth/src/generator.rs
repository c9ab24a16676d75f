//! The generator trait (passage -> query; query -> graded document) and its LLM implementation.
//!
//! A generator returns the raw answer and the provenance of the prompt; cleaning, de-duplication
//! and bookkeeping are the runner's ([`crate::generate`]), so every generator is treated alike.
//! The trait is object-safe and `Sync`, which leaves room for an in-process generator (a burn
//! seq2seq model, as paper A trains) beside the HTTP one.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use densify_core::config::InvalidField;

use crate::error::{Result, SynthError};
use crate::few_shot::{FewShotPool, render_examples};
use crate::openai::{OpenAiClient, request_seed};
use crate::passage::{Passage, cut_chars};
use crate::query_type::QueryType;
use crate::template::Template;

/// What made an answer: stored with every generated row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The generator's kind (`openai`, `inverse_cloze`).
    pub generator: String,
    /// The model (the name sent to the server), or the method's parameters.
    pub model: String,
    /// Where the template came from (`built-in query_question`, a path); empty without one.
    pub template: String,
    /// The template's hash (16 hex digits); empty without one.
    pub template_hash: String,
    /// The request's seed.
    pub seed: u64,
}

/// A raw answer and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The answer's text; `None` when the server's answer had no text where the API puts it.
    pub raw: Option<String>,
    /// Provenance.
    pub provenance: Provenance,
}

/// Writes queries for passages and documents for queries.
pub trait Generator: Sync {
    /// A query of type `kind` for `passage`; `key` identifies the request (seeds derive from
    /// it, so a re-run asks the same thing).
    fn query(&self, passage: &Passage, kind: QueryType, key: &str) -> Result<Generated>;

    /// A document of relevance `level` (3, 2, 1 or 0) for `query`. Default: unsupported.
    fn document(&self, query: &str, level: u8, key: &str) -> Result<Generated> {
        let _ = (query, level, key);
        Err(SynthError::NeedsLlm {
            what: "writing documents".into(),
        })
    }
}

/// Templates and few-shot settings of the LLM generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromptConfig {
    /// Passages are cut to this many characters. Default 2,048 (paper B).
    pub max_passage_chars: usize,
    /// Few-shot examples per prompt. Default 3 (paper B).
    pub few_shot: usize,
    /// Passages of few-shot examples are cut to this many characters. Default 512.
    pub example_chars: usize,
    /// One few-shot set per query type for the whole run instead of one draw per passage, so
    /// every prompt of a type shares its instructions and examples and a server's prompt cache
    /// (llama.cpp's `cache_prompt`, on by default) computes only the passage. A passage that
    /// is one of the examples gets its own draw. Default false (paper B draws per passage).
    pub fixed_examples: bool,
    /// Template files that replace the built-in query templates, by type
    /// (`question = "prompts/q.txt"`); placeholders `{passage}` (required) and `{examples}`.
    pub query_templates: BTreeMap<QueryType, PathBuf>,
    /// Template files that replace the built-in document templates, by level (`"3" = "..."`);
    /// placeholder `{query}` (required).
    pub document_templates: BTreeMap<String, PathBuf>,
}

impl Default for PromptConfig {
    fn default() -> Self {
        Self {
            max_passage_chars: 2048,
            few_shot: 3,
            example_chars: 512,
            fixed_examples: false,
            query_templates: BTreeMap::new(),
            document_templates: BTreeMap::new(),
        }
    }
}

/// The placeholders of query templates.
pub const QUERY_PLACEHOLDERS: &[&str] = &["passage", "examples"];
/// The placeholders of document templates.
pub const DOCUMENT_PLACEHOLDERS: &[&str] = &["query"];

/// The relevance levels of paper C and their built-in templates.
pub fn builtin_document_template(level: u8) -> Option<&'static str> {
    match level {
        3 => Some(include_str!("../templates/document_3.txt")),
        2 => Some(include_str!("../templates/document_2.txt")),
        1 => Some(include_str!("../templates/document_1.txt")),
        0 => Some(include_str!("../templates/document_0.txt")),
        _ => None,
    }
}

/// Loads the query templates: the built-in ones, replaced by any file the config names.
pub fn load_query_templates(config: &PromptConfig) -> Result<HashMap<QueryType, Template>> {
    let mut out = HashMap::new();
    for kind in QueryType::ALL {
        let template = match config.query_templates.get(&kind) {
            Some(path) => Template::from_file(path, QUERY_PLACEHOLDERS, &["passage"])?,
            None => Template::parse(
                kind.builtin_template(),
                format!("built-in query_{}", kind.name()),
                QUERY_PLACEHOLDERS,
                &["passage"],
            )?,
        };
        out.insert(kind, template);
    }
    Ok(out)
}

/// Loads the document templates of levels 0 to 3, replaced by any file the config names.
pub fn load_document_templates(config: &PromptConfig) -> Result<HashMap<u8, Template>> {
    for key in config.document_templates.keys() {
        if !matches!(key.as_str(), "0" | "1" | "2" | "3") {
            return Err(SynthError::Setting {
                section: "prompts",
                field: InvalidField::new(
                    "document_templates",
                    format!("names the unknown level `{key}`; the levels are 0, 1, 2 and 3"),
                ),
            });
        }
    }
    let mut out = HashMap::new();
    for level in 0..=3u8 {
        let template = match config.document_templates.get(&level.to_string()) {
            Some(path) => Template::from_file(path, DOCUMENT_PLACEHOLDERS, &["query"])?,
            None => Template::parse(
                builtin_document_template(level).unwrap_or_default(),
                format!("built-in document_{level}"),
                DOCUMENT_PLACEHOLDERS,
                &["query"],
            )?,
        };
        out.insert(level, template);
    }
    Ok(out)
}

/// An LLM behind an OpenAI-compatible API, prompted with templates and few-shot examples.
#[derive(Debug)]
pub struct LlmGenerator {
    client: OpenAiClient,
    prompts: PromptConfig,
    query_templates: HashMap<QueryType, Template>,
    document_templates: HashMap<u8, Template>,
    pool: FewShotPool,
}

impl LlmGenerator {
    /// A generator over `client`; templates are loaded (and checked) now. An empty `pool`
    /// gives zero-shot prompts.
    pub fn new(client: OpenAiClient, prompts: PromptConfig, pool: FewShotPool) -> Result<Self> {
        Ok(Self {
            query_templates: load_query_templates(&prompts)?,
            document_templates: load_document_templates(&prompts)?,
            client,
            prompts,
            pool,
        })
    }

    /// The HTTP client (its counters, its log).
    pub fn client(&self) -> &OpenAiClient {
        &self.client
    }

    /// The prompt for a query request, and its template.
    pub fn query_prompt(
        &self,
        passage: &Passage,
        kind: QueryType,
        key: &str,
    ) -> Result<(String, &Template)> {
        let template = &self.query_templates[&kind];
        let text = cut_chars(passage.text.trim(), self.prompts.max_passage_chars);
        let examples = if template.uses("examples") && kind.uses_examples() {
            let drawn = self.pool.draw(
                kind,
                &passage.text,
                self.prompts.few_shot,
                self.client.config().seed,
                &self.examples_key(kind, key),
            );
            render_examples(&drawn, kind, self.prompts.example_chars)
        } else {
            String::new()
        };
        let values = BTreeMap::from([("passage", text), ("examples", examples.as_str())]);
        Ok((template.render(&values)?, template))
    }

    /// The key few-shot examples are drawn with: the request's own, or with
    /// `fixed_examples` the query type's, the same for every passage.
    fn examples_key(&self, kind: QueryType, key: &str) -> String {
        if self.prompts.fixed_examples {
            format!("fixed-examples-{}", kind.name())
        } else {
            key.to_owned()
        }
    }

    fn ask(&self, prompt: &str, template: &Template, key: &str) -> Result<Generated> {
        let seed = request_seed(self.client.config().seed, key);
        let completion = self.client.complete(prompt, seed)?;
        Ok(Generated {
            raw: completion.text,
            provenance: Provenance {
                generator: "openai".into(),
                model: self.client.config().model.clone(),
                template: template.origin().to_owned(),
                template_hash: template.hash(),
                seed,
            },
        })
    }
}

impl Generator for LlmGenerator {
    fn query(&self, passage: &Passage, kind: QueryType, key: &str) -> Result<Generated> {
        let (prompt, template) = self.query_prompt(passage, kind, key)?;
        self.ask(&prompt, template, key)
    }

    fn document(&self, query: &str, level: u8, key: &str) -> Result<Generated> {
        let template = self
            .document_templates
            .get(&level)
            .ok_or(SynthError::UnknownLevel { level })?;
        let prompt = template.render(&BTreeMap::from([("query", query.trim())]))?;
        self.ask(&prompt, template, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::few_shot::FewShotExample;
    use crate::openai::LlmConfig;
    use std::collections::HashSet;

    fn generator(prompts: PromptConfig) -> LlmGenerator {
        let client = OpenAiClient::new(LlmConfig {
            base_url: Some("http://127.0.0.1:9/v1".into()),
            ..LlmConfig::default()
        })
        .unwrap();
        let pool = FewShotPool::new(vec![FewShotExample {
            passage: "x".repeat(1000),
            query: "an example query".into(),
            kind: None,
        }]);
        LlmGenerator::new(client, prompts, pool).unwrap()
    }

    #[test]
    fn prompts_cut_the_passage_and_the_examples() {
        let g = generator(PromptConfig {
            max_passage_chars: 50,
            example_chars: 20,
            ..PromptConfig::default()
        });
        let passage = Passage {
            id: "d1".into(),
            text: "word ".repeat(100),
            title: String::new(),
        };
        let (prompt, template) = g
            .query_prompt(&passage, QueryType::Question, "d1-question-0")
            .unwrap();
        assert_eq!(template.origin(), "built-in query_question");
        assert!(
            prompt.contains(&format!("Passage: {}\n", "x".repeat(20))),
            "{prompt}"
        );
        assert!(prompt.contains("Question: an example query"), "{prompt}");
        assert!(
            prompt.contains(&format!(
                "Passage: {}\nQuestion:",
                "word ".repeat(10).trim_end()
            )),
            "{prompt}"
        );
        let builtin = QueryType::Question.builtin_template().len();
        assert!(
            prompt.len() < builtin + 150,
            "{} chars: {prompt}",
            prompt.len()
        );
        // `random` is zero-shot.
        let (prompt, _) = g.query_prompt(&passage, QueryType::Random, "k").unwrap();
        assert!(!prompt.contains("an example query"));
    }

    #[test]
    fn fixed_examples_give_every_passage_of_a_type_the_same_prompt_head() {
        let pool = || {
            FewShotPool::new(
                (0..20)
                    .map(|i| FewShotExample {
                        passage: format!("example passage {i}"),
                        query: format!("example query {i}"),
                        kind: None,
                    })
                    .collect(),
            )
        };
        let make = |fixed_examples| {
            let client = OpenAiClient::new(LlmConfig {
                base_url: Some("http://127.0.0.1:9/v1".into()),
                ..LlmConfig::default()
            })
            .unwrap();
            let prompts = PromptConfig {
                fixed_examples,
                ..PromptConfig::default()
            };
            LlmGenerator::new(client, prompts, pool()).unwrap()
        };
        let head = |g: &LlmGenerator, id: &str| {
            let passage = Passage {
                id: id.into(),
                text: format!("the passage of {id}"),
                title: String::new(),
            };
            let (prompt, _) = g
                .query_prompt(&passage, QueryType::Claim, &format!("{id}-claim-0"))
                .unwrap();
            prompt[..prompt.rfind("Passage: the passage").unwrap()].to_owned()
        };
        let fixed = make(true);
        assert_eq!(head(&fixed, "d1"), head(&fixed, "d2"));
        assert!(head(&fixed, "d1").contains("example query"));
        // Per-passage draws (the default): 3 of 20 examples, different for most passages.
        let drawn = make(false);
        let heads: HashSet<String> = (0..5).map(|i| head(&drawn, &format!("d{i}"))).collect();
        assert!(heads.len() > 1);
    }
}
