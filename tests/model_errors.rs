//! Bad model folders and inputs give clear errors, never panics.

mod common;

use std::path::Path;

use burn::tensor::Device;
use common::minilm_dir;
use densify::model::{BiEncoder, CrossEncoder, ModelError, Side};

fn copy_model(to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        if !skip.contains(&file) {
            std::fs::copy(minilm_dir().join(file), to.join(file)).unwrap();
        }
    }
}

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "densify-model-errors-{}-{name}",
        std::process::id()
    ))
}

#[test]
fn bad_model_folders_are_clear_errors() {
    let device = Device::flex();
    let load = |dir: &Path| {
        BiEncoder::load(dir, &device, |_| {})
            .unwrap_err()
            .to_string()
    };

    let dir = temp("no-config");
    copy_model(&dir, &["config.json"]);
    assert!(load(&dir).contains("no config.json"), "{}", load(&dir));

    let dir = temp("no-weights");
    copy_model(&dir, &["model.safetensors"]);
    assert!(load(&dir).contains("no model.safetensors"));

    let dir = temp("roberta");
    copy_model(&dir, &[]);
    let config = std::fs::read_to_string(dir.join("config.json"))
        .unwrap()
        .replace("\"bert\"", "\"roberta\"");
    std::fs::write(dir.join("config.json"), config).unwrap();
    assert!(
        load(&dir).contains("model_type `roberta` is not supported"),
        "{}",
        load(&dir)
    );

    let dir = temp("small-vocab");
    copy_model(&dir, &[]);
    let config = std::fs::read_to_string(dir.join("config.json"))
        .unwrap()
        .replace("30522", "1000");
    std::fs::write(dir.join("config.json"), config).unwrap();
    assert!(
        load(&dir).contains(
            "the tokenizer has 30522 tokens but the embedding matrix of config.json has 1000 rows"
        ),
        "{}",
        load(&dir)
    );

    let dir = temp("fewer-layers");
    copy_model(&dir, &[]);
    let config = std::fs::read_to_string(dir.join("config.json"))
        .unwrap()
        .replace("\"num_hidden_layers\": 6", "\"num_hidden_layers\": 7");
    std::fs::write(dir.join("config.json"), config).unwrap();
    let err = load(&dir);
    assert!(
        err.contains("missing keys") && err.contains("encoder.layer.6."),
        "{err}"
    );

    let dir = temp("broken-json");
    copy_model(&dir, &[]);
    std::fs::write(
        dir.join("config.json"),
        "{\n  \"vocab_size\": 30522,\n  oops\n}",
    )
    .unwrap();
    let err = load(&dir);
    assert!(err.contains("config.json:3:"), "{err}");
    assert!(matches!(
        BiEncoder::load(temp("nowhere"), &device, |_| {}),
        Err(ModelError::Io { .. })
    ));
}

#[test]
fn empty_text_encodes_as_cls_sep_and_cross_encoders_round_trip() {
    let device = Device::flex();
    let model = BiEncoder::load(minilm_dir(), &device, |_| {}).unwrap();
    let encoded = model.tokenize(&[""], Side::Query).unwrap();
    assert_eq!(encoded[0].ids, [101, 102]);
    let embedding = model
        .encode(&[""], Side::Query, 4, &device, &mut |_| {})
        .unwrap();
    assert!(embedding.iter().all(|v| v.is_finite()));

    // A new classification head on the MiniLM encoder: scores, save, reload, same scores.
    let cross = CrossEncoder::load(minilm_dir(), 128, &device).unwrap();
    assert!(cross.new_head);
    let pairs = [
        ("what is a cat", "a cat is a small animal"),
        ("what is a cat", "stock markets fell"),
        ("vitamin d", ""),
    ];
    let scores = cross.score(&pairs, 2, &device).unwrap();
    assert_eq!(scores.len(), 3);
    let dir = temp("cross");
    cross.save(&dir).unwrap();
    let reloaded = CrossEncoder::load(&dir, 128, &device).unwrap();
    assert!(!reloaded.new_head);
    assert_eq!(reloaded.score(&pairs, 3, &device).unwrap(), scores);
}

#[test]
fn corrupt_weights_are_named_in_the_file_s_own_layout() {
    let device = Device::flex();
    let load = |dir: &Path| {
        BiEncoder::load(dir, &device, |_| {})
            .unwrap_err()
            .to_string()
    };

    // A config that disagrees with the weights: shapes as PyTorch stores them, file first.
    let dir = temp("wrong-shape");
    copy_model(&dir, &[]);
    let config = std::fs::read_to_string(dir.join("config.json"))
        .unwrap()
        .replace("\"intermediate_size\": 1536", "\"intermediate_size\": 1000");
    std::fs::write(dir.join("config.json"), config).unwrap();
    let err = load(&dir);
    assert!(
        err.contains(
            "`encoder.layer.0.intermediate.dense.weight` has shape [1536, 384] in the file but \
             config.json implies [1000, 384]"
        ),
        "{err}"
    );

    // One NaN in one matrix: refused by name instead of NaN scores ranked first.
    let dir = temp("nan-weight");
    copy_model(&dir, &["model.safetensors"]);
    let bytes = std::fs::read(minilm_dir().join("model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut owned: Vec<(String, Vec<u8>, Vec<usize>, safetensors::Dtype)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            (
                name,
                view.data().to_vec(),
                view.shape().to_vec(),
                view.dtype(),
            )
        })
        .collect();
    let target = owned
        .iter_mut()
        .find(|(name, ..)| name == "encoder.layer.2.attention.output.LayerNorm.weight")
        .unwrap();
    target.1[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = owned
        .iter()
        .map(|(name, data, shape, dtype)| {
            (
                name.clone(),
                safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors")).unwrap();
    let err = load(&dir);
    assert!(
        err.contains("1 tensor(s) hold NaN or infinite values")
            && err.contains("encoder.layer.2.attention.output.LayerNorm.weight"),
        "{err}"
    );
}

#[test]
fn saving_over_a_model_is_atomic_and_leaves_no_temporaries() {
    let device = Device::flex();
    let model = BiEncoder::load(minilm_dir(), &device, |_| {}).unwrap();
    let dir = temp("resave");
    model.save(&dir).unwrap();
    let first = std::fs::metadata(dir.join("model.safetensors"))
        .unwrap()
        .len();
    model.save(&dir).unwrap();
    // (The header's key order may differ between saves; the content may not.)
    assert_eq!(
        std::fs::metadata(dir.join("model.safetensors"))
            .unwrap()
            .len(),
        first
    );
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("densify-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let reloaded = BiEncoder::load(&dir, &device, |_| {}).unwrap();
    let a = model
        .encode(&["a cat"], Side::Query, 1, &device, &mut |_| {})
        .unwrap();
    let b = reloaded
        .encode(&["a cat"], Side::Query, 1, &device, &mut |_| {})
        .unwrap();
    assert_eq!(a, b);
}
