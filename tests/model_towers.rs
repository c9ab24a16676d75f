//! `BiEncoder::random` and the separate passage tower, on a tiny configuration with the real
//! all-MiniLM-L6-v2 tokenizer: shapes, the towers' independence, and a save/load round trip that
//! keeps the passage tower.

mod common;

use burn::tensor::Device;
use densify::model::{
    BertConfig, BiEncoder, BiEncoderSettings, Pooling, Side, Similarity, TextTokenizer,
};

fn tiny() -> BertConfig {
    let mut c = BertConfig::from_file(common::minilm_dir().join("config.json")).unwrap();
    c.hidden_size = 32;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.intermediate_size = 64;
    c.max_position_embeddings = 64;
    c
}

#[test]
fn random_bi_encoder_with_a_passage_tower_round_trips() {
    let device = Device::flex();
    device.seed(7);
    let tokenizer =
        TextTokenizer::from_file(common::minilm_dir().join("tokenizer.json"), 64).unwrap();
    let settings = BiEncoderSettings {
        pooling: Pooling::Cls,
        normalize: false,
        similarity: Similarity::Dot,
        query_prefix: "query: ".into(),
        passage_prefix: "passage: ".into(),
        query_max_length: 16,
        passage_max_length: 32,
    };
    let mut model = BiEncoder::random(tiny(), tokenizer, settings, &device).unwrap();
    assert_eq!(model.dim(), 32);
    let texts = ["what is a bi-encoder", "two towers embed two sides"];
    // The text pipeline on its own tokenises as the model does, prefix and max length included.
    let pipeline = model.text_pipeline().unwrap();
    let long = "word ".repeat(40);
    for side in [Side::Query, Side::Passage] {
        assert_eq!(
            pipeline.tokenize(&texts, side).unwrap(),
            model.tokenize(&texts, side).unwrap()
        );
    }
    assert_eq!(
        pipeline.tokenize(&[&long], Side::Query).unwrap()[0]
            .ids
            .len(),
        16
    );
    assert_eq!(
        pipeline.tokenize(&[&long], Side::Passage).unwrap()[0]
            .ids
            .len(),
        32
    );
    // A token budget changes batching, not results.
    let unbudgeted = model
        .encode(&texts, Side::Query, 2, &device, &mut |_| {})
        .unwrap();
    model.max_batch_tokens = Some(8);
    assert_eq!(
        model
            .encode(&texts, Side::Query, 2, &device, &mut |_| {})
            .unwrap(),
        unbudgeted
    );
    model.max_batch_tokens = None;
    let shared_q = model
        .encode(&texts, Side::Query, 2, &device, &mut |_| {})
        .unwrap();
    let shared_p = model
        .encode(&texts, Side::Passage, 2, &device, &mut |_| {})
        .unwrap();
    assert_eq!(shared_q.len(), 2 * 32);
    // Prefixes differ, so even a shared tower embeds the sides differently.
    assert_ne!(shared_q, shared_p);

    // A separate passage tower changes passages only.
    model.model.passage_encoder = Some(densify::model::BertModel::new(&tiny(), false, &device));
    let q = model
        .encode(&texts, Side::Query, 2, &device, &mut |_| {})
        .unwrap();
    let p = model
        .encode(&texts, Side::Passage, 2, &device, &mut |_| {})
        .unwrap();
    assert_eq!(q, shared_q);
    assert_ne!(p, shared_p);

    let dir = std::env::temp_dir().join(format!("densify-towers-{}", std::process::id()));
    model.save(&dir).unwrap();
    assert!(dir.join("passage_encoder/model.safetensors").is_file());
    let reloaded = BiEncoder::load(&dir, &device, |_| {}).unwrap();
    assert_eq!(reloaded.settings, model.settings);
    assert_eq!(
        reloaded
            .encode(&texts, Side::Passage, 2, &device, &mut |_| {})
            .unwrap(),
        p
    );
    assert_eq!(
        reloaded
            .encode(&texts, Side::Query, 2, &device, &mut |_| {})
            .unwrap(),
        q
    );
}
