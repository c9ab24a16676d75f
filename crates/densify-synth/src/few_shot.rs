//! Few-shot examples for query prompts: 3 (passage, query) pairs drawn at random, seeded per
//! passage, from a pool that is either user-given (JSONL) or the task's own labelled pairs
//! (a BEIR split's qrels), which is the LLM counterpart of paper A's generator trained on the
//! task's labelled data.
//!
//! # Pool file (JSONL)
//!
//! ```json
//! {"passage": "Vitamin C deficiency causes scurvy ...", "query": "what causes scurvy", "type": "question"}
//! ```
//!
//! `type` is optional: a prompt of type `t` draws from the pool's entries of type `t` when
//! there are any, else from the untyped entries (and from all entries when there are neither).

use std::path::Path;

use densify_data::Dataset;
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::error::{Result, SynthError};
use crate::openai::request_seed;
use crate::passage::cut_chars;
use crate::query_type::QueryType;

/// One example pair.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FewShotExample {
    /// The passage text.
    pub passage: String,
    /// A query for it.
    pub query: String,
    /// The query type it illustrates; `None` for any.
    #[serde(default, rename = "type")]
    pub kind: Option<QueryType>,
}

/// A pool of examples to draw from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FewShotPool {
    examples: Vec<FewShotExample>,
}

impl FewShotPool {
    /// A pool of the given examples.
    pub fn new(examples: Vec<FewShotExample>) -> Self {
        Self { examples }
    }

    /// Reads a JSONL pool; errors name the file and line.
    pub fn from_jsonl(path: &Path) -> Result<Self> {
        let mut examples = Vec::new();
        densify_data::lines::for_each_line(path, |line, text| {
            if text.trim().is_empty() {
                return Ok(());
            }
            let e: FewShotExample = serde_json::from_str(text).map_err(|e| {
                densify_data::DataError::parse(
                    path,
                    line,
                    densify_core::config::strip_json_position(&e.to_string()),
                )
            })?;
            if e.passage.trim().is_empty() || e.query.trim().is_empty() {
                return Err(densify_data::DataError::parse(
                    path,
                    line,
                    "`passage` and `query` must not be empty",
                ));
            }
            examples.push(e);
            Ok(())
        })?;
        if examples.is_empty() {
            return Err(SynthError::NoFewShotExamples {
                path: path.to_path_buf(),
                what: "the few-shot pool holds no examples".into(),
            });
        }
        Ok(Self { examples })
    }

    /// The labelled (passage, query) pairs of a BEIR split: every judgement with grade > 0.
    pub fn from_dataset(dataset: &Dataset, split: &str) -> Result<Self> {
        let (queries, qrels) = dataset.split_queries(split)?;
        let texts: std::collections::HashMap<String, String> =
            dataset.corpus_items()?.into_iter().collect();
        let mut examples = Vec::new();
        for query in &queries {
            let Some(judged) = qrels.query(&query.id) else {
                continue;
            };
            let mut docs: Vec<(&String, &i32)> = judged.iter().filter(|(_, g)| **g > 0).collect();
            docs.sort();
            for (doc, _) in docs {
                // A judged passage outside the corpus: the qrels and the corpus do not belong
                // together (an error naming the qrels line, never a silently smaller pool).
                let Some(text) = texts.get(doc) else {
                    let qrels_path = dataset.qrels_path(split);
                    let message = format!(
                        "query `{}`: the judged passage `{doc}` is not in the corpus ({}), so it \
                         cannot be a few-shot example",
                        query.id,
                        dataset.corpus_path().display()
                    );
                    return Err(
                        match densify_data::corpus_check::judgement_line(
                            &qrels_path,
                            &query.id,
                            doc,
                        ) {
                            Some(line) => SynthError::Parse {
                                path: qrels_path,
                                line,
                                message,
                            },
                            None => SynthError::QrelsOutsideCorpus {
                                path: qrels_path,
                                message,
                            },
                        },
                    );
                };
                examples.push(FewShotExample {
                    passage: text.clone(),
                    query: query.text.clone(),
                    kind: None,
                });
            }
        }
        if examples.is_empty() {
            return Err(SynthError::NoFewShotExamples {
                path: dataset.root().to_path_buf(),
                what: format!(
                    "split `{split}` has no judged (query, passage) pairs for few-shot examples"
                ),
            });
        }
        Ok(Self { examples })
    }

    /// Examples in the pool.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// Draws up to `n` distinct examples for `kind`, never one whose passage is `passage`
    /// itself, seeded by (`seed`, `key`): the same passage always gets the same examples.
    pub fn draw(
        &self,
        kind: QueryType,
        passage: &str,
        n: usize,
        seed: u64,
        key: &str,
    ) -> Vec<&FewShotExample> {
        let typed: Vec<&FewShotExample> = self
            .examples
            .iter()
            .filter(|e| e.kind == Some(kind))
            .collect();
        let untyped: Vec<&FewShotExample> =
            self.examples.iter().filter(|e| e.kind.is_none()).collect();
        let source = if !typed.is_empty() {
            typed
        } else if !untyped.is_empty() {
            untyped
        } else {
            self.examples.iter().collect()
        };
        let source: Vec<&FewShotExample> = source
            .into_iter()
            .filter(|e| e.passage != passage)
            .collect();
        let n = n.min(source.len());
        let mut rng = ChaCha8Rng::seed_from_u64(request_seed(seed, key));
        sample(&mut rng, source.len(), n)
            .into_iter()
            .map(|i| source[i])
            .collect()
    }
}

/// The `{examples}` block: one `Passage: ...` / `<Label>: ...` pair per example, passages cut
/// to `max_chars`, followed by a blank line.
pub fn render_examples(examples: &[&FewShotExample], kind: QueryType, max_chars: usize) -> String {
    let mut out = String::new();
    for e in examples {
        out.push_str(&format!(
            "\nPassage: {}\n{}: {}\n",
            cut_chars(e.passage.trim(), max_chars),
            kind.answer_label(),
            e.query.trim()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> FewShotPool {
        FewShotPool::new(
            (0..10)
                .map(|i| FewShotExample {
                    passage: format!("p{i}"),
                    query: format!("q{i}"),
                    kind: if i == 9 { Some(QueryType::Title) } else { None },
                })
                .collect(),
        )
    }

    #[test]
    fn draws_are_seeded_per_passage_and_exclude_the_passage_itself() {
        let p = pool();
        let a = p.draw(QueryType::Question, "p0", 3, 42, "d1");
        assert_eq!(a.len(), 3);
        assert_eq!(a, p.draw(QueryType::Question, "p0", 3, 42, "d1"));
        assert!(a.iter().all(|e| e.passage != "p0" && e.kind.is_none()));
        let others: Vec<_> = (0..20)
            .map(|i| p.draw(QueryType::Question, "x", 3, 42, &format!("d{i}")))
            .collect();
        assert!(
            others.iter().any(|o| *o != others[0]),
            "different passages draw differently"
        );
    }

    #[test]
    fn typed_examples_are_preferred() {
        let p = pool();
        let t = p.draw(QueryType::Title, "x", 3, 1, "k");
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].query, "q9");
    }

    #[test]
    fn renders_pairs_with_the_type_label() {
        let e = FewShotExample {
            passage: "a b c d".into(),
            query: "q".into(),
            kind: None,
        };
        assert_eq!(
            render_examples(&[&e], QueryType::Claim, 3),
            "\nPassage: a b\nClaim: q\n"
        );
    }
}
