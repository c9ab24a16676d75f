//! densify-model against sentence-transformers: all-MiniLM-L6-v2 embeddings of 50 SciFact
//! passages and 50 queries within 1e-4 of the reference (`scripts/make_model_fixtures.sh`), and
//! a saved model that reloads with identical outputs.
//!
//! The model comes from `scripts/fetch_minilm.sh` (run by `.ci/run`), or `$DENSIFY_MODEL_DIR`.

mod common;

use std::path::Path;

use densify::data::beir::Dataset;
use densify::data::embeddings::Embeddings;
use densify::model::{BiEncoder, Side};

/// (id, text) pairs.
type Items = Vec<(String, String)>;

fn texts() -> (Items, Items) {
    let dataset = Dataset::find("scifact").unwrap();
    let passages = dataset
        .corpus()
        .unwrap()
        .into_iter()
        .take(50)
        .map(|d| (d.id.clone(), d.full_text()))
        .collect();
    let (queries, _) = dataset.split_queries("test").unwrap();
    (
        passages,
        queries
            .into_iter()
            .take(50)
            .map(|q| (q.id, q.text))
            .collect(),
    )
}

fn max_difference(a: &[f32], b: &Embeddings) -> f32 {
    (0..b.len())
        .flat_map(|i| {
            b.row(i)
                .iter()
                .zip(&a[i * b.dim()..(i + 1) * b.dim()])
                .map(|(x, y)| (x - y).abs())
                .collect::<Vec<_>>()
        })
        .fold(0.0, f32::max)
}

#[test]
fn minilm_embeddings_match_sentence_transformers_and_survive_save() {
    let device = common::test_device();
    println!("device: {device:?}");
    let model = BiEncoder::load(common::minilm_dir(), &device, |_| {}).unwrap();
    assert!(model.settings.normalize);
    assert_eq!(model.settings.passage_max_length, 256);
    let (passages, queries) = texts();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model");
    let mut outputs = Vec::new();
    for (name, items, side) in [
        ("passages", &passages, Side::Passage),
        ("queries", &queries, Side::Query),
    ] {
        let reference = Embeddings::read(fixtures.join(format!("{name}.safetensors"))).unwrap();
        let ids: Vec<&String> = items.iter().map(|(i, _)| i).collect();
        assert_eq!(reference.ids().iter().collect::<Vec<_>>(), ids);
        let refs: Vec<&str> = items.iter().map(|(_, t)| t.as_str()).collect();
        let got = model.encode(&refs, side, 16, &device, &mut |_| {}).unwrap();
        let diff = max_difference(&got, &reference);
        println!("{name}: max |densify - sentence-transformers| = {diff:.2e}");
        assert!(diff <= 1e-4, "{name}: max difference {diff}");
        outputs.push((
            refs.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            side,
            got,
        ));
    }
    // Save in the Hugging Face layout and reload: identical outputs.
    let dir = std::env::temp_dir().join(format!("densify-minilm-{}", std::process::id()));
    model.save(&dir).unwrap();
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "modules.json",
        "1_Pooling/config.json",
        "sentence_bert_config.json",
    ] {
        assert!(dir.join(file).is_file(), "{file} not saved");
    }
    let reloaded = BiEncoder::load(&dir, &device, |_| {}).unwrap();
    assert_eq!(reloaded.settings, model.settings);
    for (texts, side, before) in outputs {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        assert_eq!(
            reloaded
                .encode(&refs, side, 16, &device, &mut |_| {})
                .unwrap(),
            before
        );
    }
}

/// The autodiff forward (the explicit attention path a trainer takes), dropout off, gives the
/// same embeddings as the fused inference path and as sentence-transformers.
#[test]
fn autodiff_forward_matches_inference_and_sentence_transformers() {
    let plain = burn::tensor::Device::flex();
    let training = plain.clone().autodiff();
    let inference = BiEncoder::load(common::minilm_dir(), &plain, |_| {}).unwrap();
    let mut trainable = BiEncoder::load(common::minilm_dir(), &training, |_| {}).unwrap();
    trainable.model = trainable.model.without_dropout();
    let (passages, queries) = texts();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model");
    for (name, items, side) in [
        ("passages", &passages, Side::Passage),
        ("queries", &queries, Side::Query),
    ] {
        let reference = Embeddings::read(fixtures.join(format!("{name}.safetensors"))).unwrap();
        let refs: Vec<&str> = items.iter().map(|(_, t)| t.as_str()).collect();
        let fused = inference
            .encode(&refs, side, 16, &plain, &mut |_| {})
            .unwrap();
        let explicit = trainable
            .encode(&refs, side, 16, &training, &mut |_| {})
            .unwrap();
        let to_fused = explicit
            .iter()
            .zip(&fused)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        let to_reference = max_difference(&explicit, &reference);
        println!(
            "{name}: autodiff path vs fused {to_fused:.2e}, vs sentence-transformers {to_reference:.2e}"
        );
        assert!(to_fused <= 1e-5 && to_reference <= 1e-5);
    }
}
