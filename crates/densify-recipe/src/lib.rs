//! # densify-recipe
//!
//! densify's recipes end to end, one library call each ([`run_recipe`]), driven by one TOML
//! file ([`RecipeConfig`]) whose tables are the stages' own configurations. A run folder keeps
//! a content-addressed [`manifest`]: a re-run skips every stage whose configuration and inputs
//! are unchanged, re-runs from the first that changed, and resumes an interrupted stage from
//! what it wrote (the generation JSONL, the trainer's checkpoints). Every run ends with the
//! base model and the adapted model side by side ([`evaluate`]).
//!
//! The recipes: `adapt` (no labels at all; [`adapt`]), `noisy_self_training` (paper A, one
//! iteration; [`noisy_self_training`]), `listwise_distillation` (paper B, with its InfoNCE
//! baseline; [`listwise_distillation`]) and `graded` (SyCL, with its InfoNCE baseline and the
//! synthetic + real mix; [`graded`]).

pub mod adapt;
pub mod config;
pub mod driver;
pub mod error;
pub mod evaluate;
pub mod graded;
pub mod listwise_distillation;
pub mod manifest;
pub mod noisy_self_training;
pub mod unlabelled_queries;

pub use adapt::{RecipeReport, run_recipe};
pub use config::{IterateConfig, RecipeConfig, RecipeKind};
pub use error::{RecipeError, Result};
pub use manifest::Manifest;
