//! Bi-encoders: a BERT encoder (shared, or one per side) with pooling, producing text embeddings
//! and `[batch, list]` score tensors for the loss crate.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::bert::BertModel;
use crate::config::BertConfig;
use crate::error::{ModelError, Result};
use crate::model_folder::{
    check_vocabulary, config_and_tokenizer, copy_tokenizer_files, require, write_json,
};
use crate::pooling::{Pooling, l2_normalize, pool};
use crate::st_layout::LENGTHS_FILE;
use crate::text_pipeline::TextPipeline;

use crate::tokenize::{TextTokenizer, TokenBatch, length_sorted_batches_within};
use crate::weights;

pub use crate::text_pipeline::Side;
pub use densify_core::Similarity;

/// The trainable part of a bi-encoder.
#[derive(Module, Debug)]
pub struct BiEncoderModel {
    /// Encodes queries (and passages when `passage_encoder` is `None`).
    pub query_encoder: BertModel,
    /// A separate passage tower, or `None` for a shared encoder.
    pub passage_encoder: Option<BertModel>,
    #[module(skip)]
    pooling: Pooling,
    #[module(skip)]
    normalize: bool,
}

impl BiEncoderModel {
    /// The same model with dropout off in every tower (see [`BertModel::without_dropout`]).
    pub fn without_dropout(self) -> Self {
        Self {
            query_encoder: self.query_encoder.without_dropout(),
            passage_encoder: self.passage_encoder.map(BertModel::without_dropout),
            ..self
        }
    }

    /// Text embeddings of a tokenised batch.
    ///
    /// # Shapes
    /// - `batch`: `[batch, seq]` token tensors -> `[batch, hidden]`
    pub fn embed(&self, batch: &TokenBatch, side: Side) -> Tensor<2> {
        let encoder = match (side, &self.passage_encoder) {
            (Side::Passage, Some(p)) => p,
            _ => &self.query_encoder,
        };
        let hidden = encoder.forward(
            batch.input_ids.clone(),
            batch.token_type_ids.clone(),
            batch.attention_mask.clone(),
        );
        let pooled = pool(hidden, batch.attention_mask.clone(), self.pooling);
        if self.normalize {
            l2_normalize(pooled)
        } else {
            pooled
        }
    }
}

/// Scores each query against its own list of passages.
///
/// # Shapes
/// - `queries`: `[batch, dim]`, `passages`: `[batch * list, dim]` (query b's list is rows
///   `b * list .. (b + 1) * list`) -> `[batch, list]`
pub fn list_scores(queries: Tensor<2>, passages: Tensor<2>, similarity: Similarity) -> Tensor<2> {
    similarity.lists(queries, passages)
}

/// Scores each query against every passage of the batch (in-batch negatives).
///
/// # Shapes
/// - `queries`: `[batch, dim]`, `passages`: `[n, dim]` -> `[batch, n]`
pub fn in_batch_scores(
    queries: Tensor<2>,
    passages: Tensor<2>,
    similarity: Similarity,
) -> Tensor<2> {
    similarity.matrix(queries, passages)
}

/// Settings of a bi-encoder beyond its weights. Defaults come from the sentence-transformers
/// files of the model folder when present; a recipe can state them in TOML (every field, unknown
/// fields rejected).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BiEncoderSettings {
    /// Pooling. Default: `1_Pooling/config.json`, else mean.
    pub pooling: Pooling,
    /// L2-normalise embeddings. Default: a `Normalize` module in `modules.json`.
    pub normalize: bool,
    /// Similarity for scores. Default: `similarity_fn_name` of
    /// `config_sentence_transformers.json`, else cosine.
    pub similarity: Similarity,
    /// Text put before every query (e5: `"query: "`; bge: its instruction). Default: the
    /// `query` prompt of `config_sentence_transformers.json`, else empty.
    pub query_prefix: String,
    /// Text put before every passage (e5: `"passage: "`). Default: the `passage`/`document`
    /// prompt, else empty.
    pub passage_prefix: String,
    /// Max query length in tokens. Default: `max_seq_length`, else 512.
    pub query_max_length: usize,
    /// Max passage length in tokens. Default: `max_seq_length`, else 512.
    pub passage_max_length: usize,
}

impl densify_core::Config for BiEncoderSettings {
    fn validate(&self) -> std::result::Result<(), densify_core::InvalidField> {
        for (field, n) in [
            ("query_max_length", self.query_max_length),
            ("passage_max_length", self.passage_max_length),
        ] {
            if n == 0 {
                return Err(densify_core::InvalidField::new(
                    field,
                    "must be at least 1, found 0",
                ));
            }
        }
        Ok(())
    }
}

/// A bi-encoder ready to embed text: model, tokenizers and settings.
#[derive(Debug)]
pub struct BiEncoder {
    /// The trainable model.
    pub model: BiEncoderModel,
    /// The BERT configuration.
    pub config: BertConfig,
    /// Settings.
    pub settings: BiEncoderSettings,
    /// Token budget of an encoding batch: a batch closes before its padded size passes it (as
    /// well as at the batch size). Default none.
    pub max_batch_tokens: Option<usize>,
    /// Each side's tokenizer at its max length (prefixes are read from `settings` at each
    /// call, so a change to them applies to encoding as it does to `save`).
    text: TextPipeline,
    source: PathBuf,
}

/// Errors unless both max lengths leave room for the tokenizer's special tokens and one token
/// of text ([`TextTokenizer::check_max_length`], naming the setting) and are at most the
/// model's `max_position_embeddings`: a longer input would index past the position table.
fn check_max_lengths(
    config_path: &Path,
    config: &BertConfig,
    tokenizer: &TextTokenizer,
    s: &BiEncoderSettings,
) -> Result<()> {
    for (name, n) in [
        ("query_max_length", s.query_max_length),
        ("passage_max_length", s.passage_max_length),
    ] {
        tokenizer
            .check_max_length(name, n, false)
            .map_err(|e| match e {
                ModelError::Input(message) => ModelError::Input(format!(
                    "{message} (set by --max-length, --query-max-length, --passage-max-length, \
                 `{name}` in {LENGTHS_FILE} or max_seq_length in sentence_bert_config.json)"
                )),
                other => other,
            })?;
        if n > config.max_position_embeddings {
            return Err(ModelError::Unsupported {
                path: config_path.to_path_buf(),
                message: format!(
                    "{name} is {n} tokens, but the model has max_position_embeddings = {} \
                     (set by --max-length, --query-max-length, --passage-max-length or \
                     max_seq_length in sentence_bert_config.json); use {}..={}",
                    config.max_position_embeddings,
                    tokenizer.least_max_length(false),
                    config.max_position_embeddings
                ),
            });
        }
    }
    Ok(())
}

/// The text side of `settings` (prefixes and max lengths) over `tokenizer`.
fn text_pipeline_of(
    tokenizer: &TextTokenizer,
    settings: &BiEncoderSettings,
) -> Result<TextPipeline> {
    TextPipeline::new(
        tokenizer,
        (&settings.query_prefix, settings.query_max_length),
        (&settings.passage_prefix, settings.passage_max_length),
    )
}

impl BiEncoder {
    /// Loads a Hugging Face / sentence-transformers folder (`config.json`, `model.safetensors`,
    /// `tokenizer.json`, and optionally `modules.json`, `1_Pooling/`, ...). `adjust` may change
    /// the settings read from the folder before the model is built.
    pub fn load(
        dir: impl AsRef<Path>,
        device: &Device,
        adjust: impl FnOnce(&mut BiEncoderSettings),
    ) -> Result<Self> {
        let dir = dir.as_ref();
        let (config, tokenizer) = config_and_tokenizer(dir, 512)?;
        let mut settings = crate::st_layout::read_settings(dir, &config)?;
        adjust(&mut settings);
        check_max_lengths(&dir.join("config.json"), &config, &tokenizer, &settings)?;
        let text = text_pipeline_of(&tokenizer, &settings)?;
        let weights_path = require(
            dir,
            "model.safetensors",
            "the weights in safetensors format",
        )?;
        let mut encoder = BertModel::new(&config, false, device);
        weights::load(&mut encoder, &weights_path, &[(r"^bert\.", "")], false)?
            .check(&weights_path, &|_| false)?;
        let passage_dir = dir.join("passage_encoder");
        let passage_encoder = if passage_dir.join("model.safetensors").is_file() {
            let path = passage_dir.join("model.safetensors");
            let mut p = BertModel::new(&config, false, device);
            weights::load(&mut p, &path, &[(r"^bert\.", "")], false)?.check(&path, &|_| false)?;
            Some(p)
        } else {
            None
        };
        Ok(Self {
            // Loaded weights are trainable on an autodiff device, as PyTorch parameters are.
            model: BiEncoderModel {
                query_encoder: encoder.set_require_grad(true),
                passage_encoder: passage_encoder.map(|p| p.set_require_grad(true)),
                pooling: settings.pooling,
                normalize: settings.normalize,
            },
            config,
            settings,
            max_batch_tokens: None,
            text,
            source: dir.to_path_buf(),
        })
    }

    /// A randomly initialised bi-encoder over `config` (tests, pre-training from scratch).
    pub fn random(
        config: BertConfig,
        tokenizer: TextTokenizer,
        settings: BiEncoderSettings,
        device: &Device,
    ) -> Result<Self> {
        config.check(Path::new("<random config>"))?;
        check_vocabulary(&tokenizer, &config, Path::new("<random config>"))?;
        check_max_lengths(Path::new("<random config>"), &config, &tokenizer, &settings)?;
        let text = text_pipeline_of(&tokenizer, &settings)?;
        Ok(Self {
            model: BiEncoderModel {
                query_encoder: BertModel::new(&config, false, device),
                passage_encoder: None,
                pooling: settings.pooling,
                normalize: settings.normalize,
            },
            source: tokenizer
                .path()
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            config,
            settings,
            max_batch_tokens: None,
            text,
        })
    }

    /// The tokenizer of one side.
    pub fn tokenizer(&self, side: Side) -> &TextTokenizer {
        self.text.tokenizer(side)
    }

    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.config.hidden_size
    }

    /// Tokenises texts of one side, prefix included.
    pub fn tokenize(&self, texts: &[&str], side: Side) -> Result<Vec<crate::tokenize::Encoded>> {
        let prefix = match side {
            Side::Query => &self.settings.query_prefix,
            Side::Passage => &self.settings.passage_prefix,
        };
        crate::text_pipeline::tokenize_with_prefix(self.tokenizer(side), prefix, texts)
    }

    /// The text side on its own (tokenizers, max lengths and prefixes of the current settings),
    /// for a data loader that tokenises away from the model.
    pub fn text_pipeline(&self) -> Result<TextPipeline> {
        Ok(self
            .text
            .clone()
            .with_prefixes(&self.settings.query_prefix, &self.settings.passage_prefix))
    }

    /// Embeds texts in batches of similar length, returning row-major `[texts, dim]` values in
    /// the input order. `progress` is called with the number of texts done after each batch.
    pub fn encode(
        &self,
        texts: &[&str],
        side: Side,
        batch_size: usize,
        device: &Device,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<f32>> {
        let encoded = self.tokenize(texts, side)?;
        let dim = self.dim();
        let mut out = vec![0.0f32; texts.len() * dim];
        let mut done = 0;
        for batch in length_sorted_batches_within(&encoded, batch_size, self.max_batch_tokens) {
            let items: Vec<&crate::tokenize::Encoded> =
                batch.iter().map(|&i| &encoded[i]).collect();
            let tokens = self.tokenizer(side).batch(&items, device);
            // Rows are copied straight from the read-back buffer into place (one copy).
            let data = self.model.embed(&tokens, side).into_data().convert::<f32>();
            let embeddings = data.as_slice::<f32>().map_err(|e| {
                ModelError::Input(format!("embeddings could not be read back: {e:?}"))
            })?;
            for (row, &i) in batch.iter().enumerate() {
                out[i * dim..(i + 1) * dim]
                    .copy_from_slice(&embeddings[row * dim..(row + 1) * dim]);
            }
            done += batch.len();
            progress(done);
        }
        Ok(out)
    }

    /// Embeds `(id, text)` items into an embeddings table (ids kept, rows in input order), as
    /// [`BiEncoder::encode`].
    pub fn encode_items(
        &self,
        items: &[(String, String)],
        side: Side,
        batch_size: usize,
        device: &Device,
        progress: &mut dyn FnMut(usize),
    ) -> Result<densify_data::Embeddings> {
        let texts: Vec<&str> = items.iter().map(|(_, t)| t.as_str()).collect();
        let values = self.encode(&texts, side, batch_size, device, progress)?;
        densify_data::Embeddings::new(
            items.iter().map(|(i, _)| i.clone()).collect(),
            self.dim(),
            values,
        )
        .map_err(|e| ModelError::Input(e.to_string()))
    }

    /// Saves in the Hugging Face / sentence-transformers layout: `config.json`,
    /// `model.safetensors`, `tokenizer.json` (plus the source's other tokenizer files),
    /// `modules.json`, `1_Pooling/config.json`, `sentence_bert_config.json`,
    /// `config_sentence_transformers.json` (prefixes as prompts) and `2_Normalize/` when
    /// normalising. A separate passage tower goes to `passage_encoder/` (densify reads it back;
    /// sentence-transformers uses the query tower).
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
        let mut config = serde_json::to_value(&self.config).expect("config serialises");
        config["architectures"] = serde_json::json!(["BertModel"]);
        write_json(&dir.join("config.json"), &config)?;
        weights::save(&self.model.query_encoder, &dir.join("model.safetensors"))?;
        if let Some(p) = &self.model.passage_encoder {
            write_json(&dir.join("passage_encoder/config.json"), &config)?;
            weights::save(p, &dir.join("passage_encoder/model.safetensors"))?;
        }
        self.text
            .tokenizer(Side::Query)
            .save(dir.join("tokenizer.json"))?;
        copy_tokenizer_files(&self.source, dir)?;
        crate::st_layout::write_layout(dir, self.config.hidden_size, &self.settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn matrix(rows: &[&[f32]], device: &Device) -> Tensor<2> {
        let width = rows[0].len();
        Tensor::from_data(TensorData::new(rows.concat(), [rows.len(), width]), device)
    }

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().iter::<f32>().collect()
    }

    #[test]
    fn settings_read_from_toml_with_located_errors() {
        use densify_core::Config;
        let text = "pooling = \"cls\"\nnormalize = false\nsimilarity = \"dot\"\nquery_prefix = \"\"\npassage_prefix = \"\"\nquery_max_length = 64\npassage_max_length = 0\n";
        let e = BiEncoderSettings::from_toml_str(text, "m.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "m.toml:7: `passage_max_length` must be at least 1, found 0"
        );
        let e = BiEncoderSettings::from_toml_str(&format!("{text}pooling_mode = 1\n"), "m.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("m.toml:8:1:") && e.contains("unknown field `pooling_mode`"),
            "{e}"
        );
    }

    /// A word-level tokenizer.json with BERT's post-processor ([CLS] text [SEP]) over
    /// `vocab` (JSON object text), in a fresh folder.
    fn word_level_tokenizer(name: &str, vocab: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("densify-bi-encoder-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let json = format!(
            r#"{{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
"normalizer": null, "pre_tokenizer": {{"type": "Whitespace"}},
"post_processor": {{"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]}},
"decoder": null, "model": {{"type": "WordLevel", "vocab": {vocab}, "unk_token": "[UNK]"}}}}"#
        );
        let path = dir.join("tokenizer.json");
        std::fs::write(&path, json).unwrap();
        path
    }

    const VOCAB: &str = r#"{"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[UNK]": 3, "hello": 4}"#;

    #[test]
    fn max_lengths_leave_room_for_the_special_tokens() {
        let path = word_level_tokenizer("room", VOCAB);
        let tokenizer = TextTokenizer::from_file(&path, 8).unwrap();
        assert_eq!(tokenizer.encode(&["hello"]).unwrap()[0].ids, [1, 4, 2]);
        // [CLS] and [SEP] on a text, [CLS] a [SEP] b [SEP] on a pair.
        assert_eq!(tokenizer.special_token_count(false), 2);
        assert_eq!(tokenizer.special_token_count(true), 3);
        assert_eq!(tokenizer.least_max_length(false), 3);
        assert_eq!(tokenizer.least_max_length(true), 5);
        let err = tokenizer
            .check_max_length("query_max_length", 1, false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "query_max_length 1 leaves no room for the 2 special tokens ([CLS] [SEP]); the \
                 least is 3: the special tokens {} adds to every text and one token of text",
                path.display()
            )
        );
        assert!(
            tokenizer
                .check_max_length("query_max_length", 3, false)
                .is_ok()
        );
        let err = tokenizer
            .check_max_length("max_length", 4, true)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("max_length 4 leaves no room for a (query, passage) pair and its 3 special tokens ([CLS] [SEP] [SEP]); the least is 5"),
            "{err}"
        );
        // Below the special tokens, loading and re-truncating refuse instead of overflowing.
        for n in [0, 1, 2] {
            assert!(TextTokenizer::from_file(&path, n).is_err(), "{n}");
            assert!(tokenizer.with_max_length(n).is_err(), "{n}");
        }
        let short = tokenizer.with_max_length(3).unwrap();
        assert_eq!(short.encode(&["hello hello"]).unwrap()[0].ids, [1, 4, 2]);
        assert!(short.encode_pairs(&[("hello", "hello")]).is_err());
    }

    #[test]
    fn prefixes_are_read_from_the_settings_at_each_call() {
        let path = word_level_tokenizer("prefix", VOCAB);
        let tokenizer = TextTokenizer::from_file(&path, 8).unwrap();
        let settings = BiEncoderSettings {
            pooling: Pooling::Mean,
            normalize: false,
            similarity: Similarity::Cosine,
            query_prefix: "hello ".into(),
            passage_prefix: String::new(),
            query_max_length: 8,
            passage_max_length: 4,
        };
        let mut bi =
            BiEncoder::random(BertConfig::tiny(5), tokenizer, settings, &Device::flex()).unwrap();
        let ids = |bi: &BiEncoder, side| {
            bi.tokenize(&["hello hello hello"], side).unwrap()[0]
                .ids
                .clone()
        };
        // The query side: its prefix, then up to 8 tokens; the passage side: no prefix, 4 tokens.
        assert_eq!(ids(&bi, Side::Query), [1, 4, 4, 4, 4, 2]);
        assert_eq!(ids(&bi, Side::Passage), [1, 4, 4, 2]);
        let pipeline = bi.text_pipeline().unwrap();
        assert_eq!(
            pipeline.tokenize(&["hello"], Side::Query).unwrap()[0].ids,
            [1, 4, 4, 2]
        );
        bi.settings.query_prefix.clear();
        assert_eq!(ids(&bi, Side::Query), [1, 4, 4, 4, 2]);
        let pipeline = bi.text_pipeline().unwrap();
        assert_eq!(
            pipeline.tokenize(&["hello"], Side::Query).unwrap()[0].ids,
            [1, 4, 2]
        );
    }

    #[test]
    fn tokenizer_ids_beyond_the_embedding_matrix_are_refused() {
        let path = word_level_tokenizer("vocab", VOCAB);
        let config_path = path.with_file_name("config.json");
        std::fs::write(&config_path, "{\n  \"vocab_size\": 4\n}").unwrap();
        let tokenizer = TextTokenizer::from_file(&path, 8).unwrap();
        assert!(check_vocabulary(&tokenizer, &BertConfig::tiny(5), &config_path).is_ok());
        let err = check_vocabulary(&tokenizer, &BertConfig::tiny(4), &config_path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tokenizer.json: the tokenizer has 5 tokens but the embedding matrix of config.json has 4 rows")
                && err.contains(&format!(
                    "{}:2: `vocab_size` is 4, the tokenizer needs at least 5",
                    config_path.display()
                )),
            "{err}"
        );
        // Five tokens, but ids that are not contiguous: "hello" is id 40.
        let sparse = word_level_tokenizer(
            "sparse",
            r#"{"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[UNK]": 3, "hello": 40}"#,
        );
        let tokenizer = TextTokenizer::from_file(&sparse, 8).unwrap();
        assert_eq!(tokenizer.vocab_size(), 5);
        assert_eq!(tokenizer.largest_id(), Some((40, "hello".to_owned())));
        let err = check_vocabulary(&tokenizer, &BertConfig::tiny(30), &config_path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the tokenizer's token `hello` has id 40 but the embedding matrix of config.json has 30 rows")
                && err.contains("the tokenizer needs at least 41"),
            "{err}"
        );
    }

    #[test]
    fn list_and_in_batch_scores_match_hand_computation() {
        let device = Device::flex();
        let q = matrix(&[&[1.0, 0.0], &[0.0, 2.0]], &device);
        // Query 0's list: rows 0, 1; query 1's list: rows 2, 3.
        let p = matrix(
            &[&[2.0, 0.0], &[0.0, 1.0], &[1.0, 1.0], &[0.0, -3.0]],
            &device,
        );
        assert_eq!(
            values(list_scores(q.clone(), p.clone(), Similarity::Dot)),
            [2.0, 0.0, 2.0, -6.0]
        );
        assert_eq!(
            values(in_batch_scores(q.clone(), p.clone(), Similarity::Dot)),
            [2.0, 0.0, 1.0, 0.0, 0.0, 2.0, 2.0, -6.0]
        );
        let cos = values(list_scores(q, p, Similarity::Cosine));
        let expected = [1.0, 0.0, std::f32::consts::FRAC_1_SQRT_2, -1.0];
        assert!(
            cos.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6),
            "{cos:?}"
        );
    }
}
