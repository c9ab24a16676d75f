//! Cross-encoders: BERT over a (query, passage) pair, the pooler and a classification head,
//! giving one relevance score per pair (`BertForSequenceClassification`).

use std::path::Path;

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::{Device, Tensor};

use crate::bert::BertModel;
use crate::config::BertConfig;
use crate::error::{ModelError, Result};
use crate::model_folder::{config_and_tokenizer, copy_tokenizer_files, require, write_json};
use crate::tokenize::{Encoded, TextTokenizer, TokenBatch, length_sorted_batches};
use crate::weights;

/// The trainable part of a cross-encoder (checkpoint keys `bert.*`, `classifier.*`).
#[derive(Module, Debug)]
pub struct CrossEncoderModel {
    /// The encoder, with its pooler.
    pub bert: BertModel,
    /// `hidden -> num_labels`.
    pub classifier: Linear,
    dropout: Dropout,
}

impl CrossEncoderModel {
    /// The same model with dropout off (encoder and head), for exact comparisons.
    pub fn without_dropout(mut self) -> Self {
        self.bert = self.bert.without_dropout();
        self.dropout.prob = 0.0;
        self
    }

    /// The first logit of each pair: its relevance score.
    ///
    /// # Shapes
    /// - `batch`: `[pairs, seq]` token tensors -> `[pairs]`
    pub fn score(&self, batch: &TokenBatch) -> Tensor<1> {
        let hidden = self.bert.forward(
            batch.input_ids.clone(),
            batch.token_type_ids.clone(),
            batch.attention_mask.clone(),
        );
        let pooled = self
            .bert
            .pooler
            .as_ref()
            .expect("a cross-encoder has a pooler")
            .forward(hidden);
        let logits = self.classifier.forward(self.dropout.forward(pooled));
        let [pairs, _] = logits.dims();
        logits.narrow(1, 0, 1).reshape([pairs])
    }
}

/// The max length a cross-encoder's tokenizer is loaded with before the caller's is checked.
const LOAD_LENGTH: usize = 512;

/// A cross-encoder ready to score pairs.
#[derive(Debug)]
pub struct CrossEncoder {
    /// The trainable model.
    pub model: CrossEncoderModel,
    /// The BERT configuration.
    pub config: BertConfig,
    tokenizer: TextTokenizer,
    source: std::path::PathBuf,
    /// True when the classification head was newly initialised (a bare encoder checkpoint).
    pub new_head: bool,
}

impl CrossEncoder {
    /// Loads a `BertForSequenceClassification` folder, or starts a new one-label head on a
    /// BERT encoder checkpoint (the head and, when absent, the pooler are initialised randomly).
    pub fn load(dir: impl AsRef<Path>, max_length: usize, device: &Device) -> Result<Self> {
        let dir = dir.as_ref();
        // Loaded at a length every tokenizer has room for; `max_length` is set once checked.
        let (config, tokenizer) = config_and_tokenizer(dir, LOAD_LENGTH)?;
        let config_path = dir.join("config.json");
        let unsupported = |message: String| ModelError::Unsupported {
            path: config_path.clone(),
            message,
        };
        tokenizer.check_max_length("max_length", max_length, true)?;
        if max_length > config.max_position_embeddings {
            return Err(unsupported(format!(
                "max_length {max_length} is more than the model's max_position_embeddings \
                 ({}): a longer pair would index past the position table",
                config.max_position_embeddings
            )));
        }
        let tokenizer = tokenizer.with_max_length(max_length)?;
        if config.type_vocab_size < 2 {
            return Err(unsupported(format!(
                "a cross-encoder reads (query, passage) pairs with token types 0 and 1, but \
                 type_vocab_size is {}",
                config.type_vocab_size
            )));
        }
        if config.labels() > 1 {
            return Err(unsupported(format!(
                "the classification head has {} labels; densify's cross-encoders score \
                 relevance with one label (num_labels = 1)",
                config.labels()
            )));
        }
        let path = require(
            dir,
            "model.safetensors",
            "the weights in safetensors format",
        )?;
        let labels = config.labels();
        let mut model = CrossEncoderModel {
            bert: BertModel::new(&config, true, device),
            // A head missing from the checkpoint starts as transformers starts one.
            classifier: crate::bert::hf_linear(config.hidden_size, labels, device),
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
        };
        let report = weights::load(
            &mut model,
            &path,
            &[(r"^(embeddings|encoder|pooler)\.", "bert.$1.")],
            true,
        )?;
        let new_head = report.missing.iter().any(|k| k.starts_with("classifier."));
        report.check(&path, &|k| {
            new_head && (k.starts_with("classifier.") || k.starts_with("bert.pooler."))
        })?;
        // Loaded weights are trainable on an autodiff device, as PyTorch parameters are.
        let model = model.set_require_grad(true);
        Ok(Self {
            model,
            config,
            tokenizer,
            source: dir.to_path_buf(),
            new_head,
        })
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// Scores `(query, passage)` pairs in batches of similar length, in input order.
    pub fn score(
        &self,
        pairs: &[(&str, &str)],
        batch_size: usize,
        device: &Device,
    ) -> Result<Vec<f32>> {
        let encoded = self.tokenizer.encode_pairs(pairs)?;
        let mut out = vec![0.0f32; pairs.len()];
        for batch in length_sorted_batches(&encoded, batch_size) {
            let items: Vec<&Encoded> = batch.iter().map(|&i| &encoded[i]).collect();
            let data = self
                .model
                .score(&self.tokenizer.batch(&items, device))
                .into_data()
                .convert::<f32>();
            let scores = data
                .as_slice::<f32>()
                .map_err(|e| ModelError::Input(format!("scores could not be read back: {e:?}")))?;
            for (s, &i) in scores.iter().zip(&batch) {
                out[i] = *s;
            }
        }
        Ok(out)
    }

    /// Saves in the Hugging Face layout (`config.json` with `BertForSequenceClassification`,
    /// `model.safetensors`, `tokenizer.json`), which sentence-transformers' `CrossEncoder(dir)`
    /// loads.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
        let mut config = serde_json::to_value(&self.config).expect("config serialises");
        let labels = self.config.labels();
        config["architectures"] = serde_json::json!(["BertForSequenceClassification"]);
        config["num_labels"] = labels.into();
        config["id2label"] = (0..labels)
            .map(|i| (i.to_string(), serde_json::Value::from(format!("LABEL_{i}"))))
            .collect::<serde_json::Map<_, _>>()
            .into();
        config["label2id"] = (0..labels)
            .map(|i| (format!("LABEL_{i}"), serde_json::Value::from(i)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        write_json(&dir.join("config.json"), &config)?;
        weights::save(&self.model, &dir.join("model.safetensors"))?;
        self.tokenizer.save(dir.join("tokenizer.json"))?;
        copy_tokenizer_files(&self.source, dir)
    }
}
