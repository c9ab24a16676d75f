//! # densify-model
//!
//! BERT-family retrievers in burn 0.22, on whichever `Device` the caller passes:
//!
//! - [`BertModel`]: embeddings and post-LayerNorm transformer layers, configured from a Hugging
//!   Face `config.json` ([`BertConfig`]): all-MiniLM-L6-v2, bge-small/base, e5, contriever,
//!   ms-marco cross-encoders.
//! - [`BiEncoder`]: shared or separate towers, CLS / mean / max pooling, optional L2
//!   normalisation, query and passage prefixes, defaults read from sentence-transformers'
//!   `modules.json` and `1_Pooling/config.json`; [`list_scores`] and [`in_batch_scores`] give the
//!   `[batch, list]` score tensors densify-loss takes.
//! - [`CrossEncoder`]: BERT + pooler + classification head (`BertForSequenceClassification`).
//! - [`teacher`]: a cross-encoder or bi-encoder as a teacher, scoring every candidate of a
//!   training list (`densify score`, the synthetic-data teacher filter).
//! - Weights in and out of `model.safetensors` through burn-store (key table in [`weights`]);
//!   saved folders load in `SentenceTransformer(dir)` and `CrossEncoder(dir)`.
//! - [`TextTokenizer`]: `tokenizer.json` via the `tokenizers` crate, padding to the longest of
//!   each batch, batches sorted by length; [`TextPipeline`]: both sides' tokenizers and
//!   prefixes apart from the model, for data loaders.

mod error;

pub mod bert;
pub mod bi_encoder;
pub mod config;
pub mod cross_encoder;
mod model_folder;
pub mod pooling;
pub mod st_layout;
pub mod teacher;
pub mod text_pipeline;
pub mod tokenize;
pub mod weights;

pub use bert::BertModel;
pub use bi_encoder::{
    BiEncoder, BiEncoderModel, BiEncoderSettings, Side, Similarity, in_batch_scores, list_scores,
};
pub use config::BertConfig;
pub use cross_encoder::{CrossEncoder, CrossEncoderModel};
pub use error::{ModelError, Result};
pub use pooling::{Pooling, l2_normalize, pool};
pub use text_pipeline::TextPipeline;
pub use tokenize::{Encoded, TextTokenizer, TokenBatch};
