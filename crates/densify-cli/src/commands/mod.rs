//! One module per `densify` command: its arguments and a `run` that calls the libraries.

pub mod bm25;
pub mod data;
pub mod dense;
pub mod encode;
pub mod eval;
pub mod filter;
pub mod fuse;
pub mod generate;
pub mod mine;
pub mod noise_queries;
pub mod recipe;
pub mod rerank;
pub mod score;
pub mod search;
pub mod train;
