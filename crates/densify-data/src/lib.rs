//! # densify-data
//!
//! The files densify reads and writes, as streams with errors that name the file and line:
//!
//! - [`beir`]: BEIR datasets (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`), readers
//!   and writers that round-trip, and named datasets on a search path;
//! - [`Qrels`]: TREC qrels and BEIR tsv judgements;
//! - [`Run`]: TREC run files, parsed on all cores;
//! - [`embeddings`]: embeddings files (safetensors with the ids in the header);
//! - `download` (feature `download`): published BEIR zips fetched, checked and unpacked
//!   atomically.
//!
//! Every writer goes through `densify_core::AtomicFile`: a kill or an error midway leaves the
//! previous file as it was.

mod error;
mod lines;

pub mod beir;
#[cfg(feature = "download")]
pub mod download;
pub mod embeddings;
pub mod qrels;
pub mod run;

pub use beir::{Dataset, Document, Query};
pub use embeddings::Embeddings;
pub use error::{DataError, Result};
pub use qrels::Qrels;
pub use run::{Run, ScorePrecision, ScoredDoc};
