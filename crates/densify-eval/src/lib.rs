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

#[cfg(test)]
mod config_tests {
    use densify_core::Config;

    use crate::EvalConfig;
    use crate::bm25::Bm25Config;
    use crate::fusion::RrfConfig;
    use crate::search::ExactSearchConfig;

    fn error<T: Config + std::fmt::Debug>(text: &str) -> String {
        T::from_toml_str(text, "c.toml").unwrap_err().to_string()
    }

    #[test]
    fn every_config_rejects_unknown_fields_and_bad_values() {
        assert!(error::<ExactSearchConfig>("k = 10\ntop_k = 5\n").starts_with("c.toml:2:1: "));
        assert_eq!(
            error::<ExactSearchConfig>("k = 0\n"),
            "c.toml:1: `k` must be at least 1, found 0"
        );
        assert!(
            error::<ExactSearchConfig>("similarity = \"jaccard\"\n").contains("unknown variant")
        );
        assert!(error::<Bm25Config>("k1 = 0.9\nk3 = 1\n").contains("unknown field `k3`"));
        assert_eq!(
            error::<Bm25Config>("b = 1.5\n"),
            "c.toml:1: `b` must be in [0, 1], found 1.5"
        );
        assert!(error::<RrfConfig>("kk = 60\n").contains("unknown field `kk`"));
        assert!(error::<RrfConfig>("k = -1.0\n").contains("`k` must be a finite number >= 0"));
        assert!(error::<EvalConfig>("averaging = \"some\"\n").contains("unknown variant"));
        let c =
            ExactSearchConfig::from_toml_str("similarity = \"manhattan\"\nk = 5\n", "ok").unwrap();
        assert_eq!(
            c,
            ExactSearchConfig::new()
                .with_k(5)
                .with_similarity(crate::search::Similarity::Manhattan)
        );
    }
}
