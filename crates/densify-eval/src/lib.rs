//! # densify-eval
//!
//! Retrieval evaluation that agrees with trec_eval / pytrec_eval to 1e-6, and the retrieval
//! around it (the files it reads are densify-data's):
//!
//! - [`Measure`] and [`evaluate`]: `ndcg_cut.k`, `recall.k`, `P.k`, `map`, `map_cut.k`,
//!   `recip_rank` (and MRR@k), `success.k`, per query and averaged as trec_eval does;
//! - [`search`]: exact top-k dense search on any burn `Device`, in bounded memory;
//! - [`fusion`]: reciprocal rank fusion of runs;
//! - [`bm25`]: a BM25 lexical baseline that produces runs.
//!
//! The conventions each number follows are in `docs/evaluation.md` of the repository.

mod error;

pub mod bm25;
pub mod evaluate;
pub mod fusion;
pub mod measure;
pub mod metrics;
pub mod search;

pub use densify_data::{Qrels, Run, ScorePrecision, ScoredDoc};
pub use error::{EvalError, Result};
pub use evaluate::{Averaging, EvalConfig, Evaluation, evaluate};
pub use measure::{DEFAULT_MEASURES, Measure, parse_measures};
