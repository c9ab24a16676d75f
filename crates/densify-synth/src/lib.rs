//! # densify-synth
//!
//! The data side of densify's three recipes (`docs/synthetic-data.md`):
//!
//! - [`generator`]: the [`Generator`] trait (passage -> query, query -> graded document) and
//!   [`LlmGenerator`], which prompts any OpenAI-compatible server ([`openai`]) with
//!   [`template`]s and [`few_shot`] examples; [`inverse_cloze`] is the no-LLM baseline;
//! - [`query_type`]: questions, claims, titles, keywords, web and random queries (paper B);
//! - [`clean`]: what is cut from answers and why answers are dropped;
//! - [`generate`]: resumable runs writing JSONL with provenance and a BEIR dataset;
//!   [`query_dataset`] and [`document_dataset`] are each one call from a dataset to its
//!   synthetic queries or graded documents;
//! - [`filter`]: round trip, fusion, teacher top-1, percentile cut, train/dev split;
//! - [`local_server`]: llama.cpp's `llama-server` started on a free loopback port and
//!   stopped when dropped ([`LocalServer`]), for runs that bring their own LLM.
//!
//! The generators and filters follow InPars, GPL and Promptagator (queries), paper B
//! (arXiv 2502.19712: query types, filters, normalisation) and paper C (arXiv 2503.23239:
//! graded documents).

pub mod clean;
pub mod config;
pub mod document_dataset;
pub mod error;
pub mod few_shot;
pub mod filter;
pub mod generate;
pub mod generator;
pub mod inverse_cloze;
pub mod jsonl_store;
pub mod local_server;
pub mod openai;
pub mod passage;
pub mod pool;
pub mod query_dataset;
pub mod query_type;
pub mod template;

pub use clean::{CleanConfig, DropReason};
pub use config::{FewShotSource, GeneratorKind, SynthConfig};
pub use document_dataset::{DocumentDatasetReport, generate_document_dataset};
pub use error::{Result, SynthError};
pub use few_shot::{FewShotExample, FewShotPool};
pub use filter::{FilterConfig, FilterStage};
pub use generate::{GenerationSummary, generate_documents, generate_queries};
pub use generator::{Generated, Generator, LlmGenerator, PromptConfig, Provenance};
pub use inverse_cloze::{
    InverseClozeConfig, InverseClozeGenerator, MIN_CONTEXT_WORDS, remove_query,
};
pub use local_server::{LocalServer, LocalServerConfig};
pub use openai::{Endpoint, LlmConfig, OpenAiClient};
pub use passage::Passage;
pub use query_dataset::{QueryDatasetReport, generate_query_dataset};
pub use query_type::QueryType;
pub use template::Template;
