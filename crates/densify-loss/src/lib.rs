//! # densify-loss
//!
//! Every loss of densify's three recipes, and the usual ranking losses beside them, over score
//! tensors `[batch, list]` with an optional mask for ragged lists, on any burn `Device`:
//!
//! | loss | file | targets |
//! |---|---|---|
//! | [`InfoNce`] (in-batch + hard negatives, false-negative masking) | `info_nce.rs` | positive column |
//! | [`KlDistillation`] (separate temperatures, batchmean, T² scaling) | `kl_distillation.rs` | teacher scores or probabilities |
//! | listwise distillation = KL + 0.1 × InfoNCE ([`ListwiseDistillationConfig`]) | `listwise_distillation.rs` | teacher + positive |
//! | [`SyclWasserstein`]: SyCL's batch 2-Wasserstein (Fréchet), f64 | `sycl_wasserstein.rs` | graded labels |
//! | [`Wasserstein1d`]: per-query 1-D Wasserstein over grades | `wasserstein_1d.rs` | graded labels |
//! | [`MarginMse`] | `margin_mse.rs` | teacher scores |
//! | [`ListNet`] | `list_net.rs` | labels |
//! | [`ListMle`] and p-ListMLE | `list_mle.rs` | labels |
//! | [`RankNet`] (pairwise logistic) | `rank_net.rs` | labels |
//! | [`BinaryCrossEntropy`] (pointwise, sentence-transformers' `CrossEncoder` default) | `binary_cross_entropy.rs` | a positive |
//!
//! All implement [`RankingLoss`] on a [`ScoredLists`] batch, so a trainer can swap them and a
//! user can add one outside the crate; [`WeightedSum`] combines them.
//! [`LossConfig::requirements`] says what each reads from every example (a positive, teacher
//! scores, labels), so a trainer checks its data before the first step. Configs validate on
//! `init` (a temperature <= 0 is an error); [`ScoredLists::validate`] checks a batch (shapes,
//! lists without a valid entry, positives). Numerics use log-sum-exp forms and finite masking,
//! so scores of ±1e4 and temperatures from 0.01 to 10 give no NaN or Inf. Values and gradients
//! are checked against PyTorch (`scripts/loss_reference.py`) and finite differences.

mod batch;
mod config;
mod error;
mod host;
mod loss;

pub mod binary_cross_entropy;
pub mod info_nce;
pub mod kl_distillation;
pub mod list_mle;
pub mod list_net;
pub mod listwise_distillation;
pub mod margin_mse;
pub mod masking;
pub mod rank_net;
pub mod sycl_wasserstein;
pub mod wasserstein_1d;

pub use batch::ScoredLists;
pub use binary_cross_entropy::{BinaryCrossEntropy, BinaryCrossEntropyConfig};
pub use config::{LossConfig, LossRequirements};
pub use error::{LossError, Result};
pub use info_nce::{InfoNce, InfoNceConfig};
pub use kl_distillation::{KlDistillation, KlDistillationConfig, TeacherInput};
pub use list_mle::{ListMle, ListMleConfig};
pub use list_net::{ListNet, ListNetConfig};
pub use listwise_distillation::ListwiseDistillationConfig;
pub use loss::{RankingLoss, Reduction, WeightedSum};
pub use margin_mse::{MarginMse, MarginMseConfig};
pub use rank_net::{RankNet, RankNetConfig};
pub use sycl_wasserstein::{SyclWasserstein, SyclWassersteinConfig};
pub use wasserstein_1d::{Wasserstein1d, Wasserstein1dConfig};
