//! # densify-noise
//!
//! Host-side noise on token-id sequences and on words, with a seeded, platform-independent RNG,
//! for the student of noisy self-training (arXiv 2311.15563) and for robustness evaluation.
//!
//! - [`NoiseOp`]: `shuffle`, `delete`, `mask`, `replace`, the paper's `sequential`, any
//!   `sequence`; a serde-tagged enum, so a pipeline is one JSON/TOML value. Special tokens
//!   ([`TokenVocab::special_ids`]) are never touched.
//! - [`NoiseConfig`]: separate pipelines for queries and passages plus a seed, loaded from JSON or
//!   TOML with errors that name the file, line and field.
//! - [`noisy_queries`]: word-level noisy copies of a query set.
//!
//! ```
//! use densify_noise::{NoiseOp, NoiseRng, TokenVocab};
//! let vocab = TokenVocab::bert_uncased();
//! let op = NoiseOp::Mask { p: 1.0 };
//! let out = op.apply_tokens(&[101, 2054, 2003, 102], &vocab, &mut NoiseRng::new(7, 0));
//! assert_eq!(out, [101, 103, 103, 102]); // [CLS] and [SEP] untouched
//! ```

mod config;
mod error;
mod ops;
mod queries;
mod rng;
mod vocab;

pub use config::{NoiseConfig, Side};
pub use error::{NoiseError, Result};
pub use ops::NoiseOp;
pub use queries::noisy_queries;
pub use rng::NoiseRng;
pub use vocab::{TokenVocab, WordVocab};
