//! # densify-core
//!
//! What every densify crate shares, and nothing else:
//!
//! - [`device`]: device names (`cpu`, `cuda:0`, `wgpu`, ...) to burn `Device`s, limited to the
//!   backends compiled in (features `flex`, `ndarray`, `tch`, `wgpu`, `cuda`);
//! - [`backend`]: which backend a `Device` is on, for the few backend-specific paths;
//! - [`config`]: the one configuration convention (serde, unknown fields rejected, TOML or
//!   JSON, errors with file, line and field);
//! - [`atomic`]: the one way densify writes files (temporary, fsync, rename);
//! - [`input`]: the one rule for reading them (regular files only, so a FIFO never blocks);
//! - [`similarity`]: cosine, dot, Euclidean and Manhattan scores, as sentence-transformers
//!   defines them;
//! - [`tensor`]: small tensor functions (`l2_normalize`).

pub mod atomic;
pub mod backend;
pub mod config;
pub mod device;
pub mod input;
pub mod progress;
pub mod safetensors_header;
pub mod similarity;
pub mod tensor;

pub use atomic::{
    AtomicFile, output_folder, refuse_folder_holding_inputs, refuse_overwriting_input,
    refuse_special_destination, remove_stale, write_atomic,
};
pub use backend::Backend;
pub use config::{Config, ConfigError, InvalidField};
pub use input::{open_regular, read_regular, read_regular_to_string, regular_file};
pub use progress::{LineProgress, NoProgress, Progress};
pub use safetensors_header::canonical_safetensors_header;
pub use similarity::Similarity;
pub use tensor::{l2_normalize, lowest_finite, mask_logits, masked_logit};

#[doc(hidden)]
pub use pastey as __pastey;
