//! # densify
//!
//! Train dense retrievers (bi-encoders) and rerankers (cross-encoders) with synthetic data and
//! soft-label distillation, on any burn backend. This facade re-exports the member crates; depend
//! on a single one (`densify-eval`, ...) when that is all you need.
//!
//! Backends are Cargo features: `flex` (default, pure-Rust CPU), `ndarray`, `tch` (libtorch),
//! `wgpu`, `cuda`. Library code never picks one: it runs on whichever `Device` you pass.

pub use densify_core as core;
pub use densify_core::device;
pub use densify_data as data;
pub use densify_eval as eval;
pub use densify_loss as loss;
pub use densify_model as model;
pub use densify_noise as noise;
pub use densify_recipe as recipe;
pub use densify_synth as synth;
pub use densify_train as train;
