//! # densify-eval
//!
//! Retrieval evaluation that agrees with trec_eval / pytrec_eval to 1e-6, and the I/O and search
//! around it:
//!
//! - [`Qrels`] and [`Run`]: TREC and BEIR judgement files, TREC run files, streamed;
//! - [`Measure`] and [`evaluate`]: `ndcg_cut.k`, `recall.k`, `P.k`, `map`, `map_cut.k`,
//!   `recip_rank` (and MRR@k), `success.k`, per query and averaged as trec_eval does;
//! - [`beir`]: BEIR corpora, queries and qrels, and named datasets on a search path;
//! - [`search`]: exact top-k dense search on any burn `Device`, in bounded memory;
//! - [`fusion`]: reciprocal rank fusion of runs;
//! - [`bm25`]: a BM25 lexical baseline that produces runs.
//!
//! The conventions each number follows are in `docs/evaluation.md` of the repository.

mod error;
mod lines;

pub mod backend;
pub mod beir;
pub mod bm25;
pub mod embeddings;
pub mod evaluate;
pub mod fusion;
pub mod measure;
pub mod metrics;
pub mod qrels;
pub mod run;
pub mod search;

pub use error::{EvalError, Result};
pub use evaluate::{Averaging, EvalConfig, Evaluation, evaluate};
pub use measure::Measure;
pub use qrels::Qrels;
pub use run::{Run, ScorePrecision, ScoredDoc};
