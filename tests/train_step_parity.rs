//! The training path, checked against PyTorch before a trainer stands on it.
//!
//! One real step: all-MiniLM-L6-v2 on 8 SciFact (query, positive) pairs, in-batch InfoNCE at
//! scale 20 (sentence-transformers' `MultipleNegativesRankingLoss`, the library's own class, run
//! by `scripts/train_step_reference.py`), dropout off. The autodiff forward must give
//! sentence-transformers' embeddings, the loss must equal its loss to 1e-5 relative, and the
//! gradients of the word-embedding matrix, the first layer's query projection and the last
//! LayerNorm must equal PyTorch's to 1e-4 of their largest magnitude.

mod common;

use std::path::Path;

use burn::tensor::{Device, Int, Tensor};
use densify::loss::{InfoNceConfig, RankingLoss, Reduction, ScoredLists};
use densify::model::{BiEncoder, Side, in_batch_scores};
use safetensors::SafeTensors;

struct Fixture {
    bytes: Vec<u8>,
}

impl Fixture {
    fn load() -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/train/minilm_mnrl_step.safetensors");
        Self {
            bytes: std::fs::read(path).expect("fixture: scripts/make_train_fixtures.sh"),
        }
    }

    fn texts(&self, key: &str) -> Vec<String> {
        let (_, header) = SafeTensors::read_metadata(&self.bytes).unwrap();
        let meta = header.metadata().clone().unwrap();
        serde_json::from_str(&meta[key]).unwrap()
    }

    fn f32s(&self, name: &str) -> Vec<f32> {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        st.tensor(name)
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    fn i64s(&self, name: &str) -> Vec<i64> {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        st.tensor(name)
            .unwrap()
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    fn loss(&self) -> f64 {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        f64::from_le_bytes(st.tensor("loss").unwrap().data()[..8].try_into().unwrap())
    }
}

/// max |a - b| / max |b|.
fn relative_to_max(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    diff / scale
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

#[test]
fn one_mnrl_step_matches_sentence_transformers() {
    let fixture = Fixture::load();
    let device = Device::flex().autodiff();
    let mut encoder = BiEncoder::load(common::minilm_dir(), &device, |_| {}).unwrap();
    assert_eq!(encoder.settings.query_max_length, 256);
    encoder.model = encoder.model.without_dropout();
    let embed = |key: &str, side: Side| {
        let texts = fixture.texts(key);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encoded = encoder.tokenize(&refs, side).unwrap();
        let items: Vec<_> = encoded.iter().collect();
        let batch = encoder.tokenizer(side).batch(&items, &device);
        encoder.model.embed(&batch, side)
    };
    let queries = embed("queries", Side::Query);
    let passages = embed("passages", Side::Passage);

    // MultipleNegativesRankingLoss: cross-entropy over cos-sim * 20, positives on the diagonal.
    let scores = in_batch_scores(
        queries.clone(),
        passages.clone(),
        encoder.settings.similarity,
    );
    let positives = Tensor::<1, Int>::arange(0..8, &device);
    let loss = InfoNceConfig::new()
        .with_temperature(1.0 / 20.0)
        .init()
        .unwrap()
        .forward(
            &ScoredLists::new(scores).with_positive(positives),
            Reduction::Mean,
        );
    let grads = loss.backward();
    let value = f64::from(values(loss)[0]);
    // The autodiff (explicit attention) forward gives sentence-transformers' embeddings.
    let q_diff = relative_to_max(&values(queries.clone()), &fixture.f32s("query_embeddings"));
    let p_diff = relative_to_max(
        &values(passages.clone()),
        &fixture.f32s("passage_embeddings"),
    );
    println!("embeddings: queries {q_diff:.2e}, passages {p_diff:.2e} (relative to max)");
    assert!(q_diff < 1e-5 && p_diff < 1e-5);

    let reference = fixture.loss();
    println!("loss: densify {value:.9}, sentence-transformers {reference:.9}");
    assert!((value - reference).abs() / reference < 1e-5);

    let bert = &encoder.model.query_encoder;
    let grad = |t: Tensor<2>| values(t.grad(&grads).expect("a gradient"));
    let grad1 = |t: Tensor<1>| values(t.grad(&grads).expect("a gradient"));

    // Word embeddings: the rows of the batch's tokens, and zero elsewhere.
    let word = grad(bert.embeddings.word_embeddings.weight.val());
    let rows = fixture.i64s("grad.word_embeddings.rows");
    let dim = 384;
    let picked: Vec<f32> = rows
        .iter()
        .flat_map(|&r| word[r as usize * dim..(r as usize + 1) * dim].to_vec())
        .collect();
    let word_diff = relative_to_max(&picked, &fixture.f32s("grad.word_embeddings.values"));
    let mut other = word.clone();
    for &r in &rows {
        other[r as usize * dim..(r as usize + 1) * dim].fill(0.0);
    }
    let stray = other.iter().fold(0f32, |m, v| m.max(v.abs()));

    // First layer's query projection: burn stores Linear weights [in, out], PyTorch [out, in].
    let layer0 = &bert.encoder.layer[0].attention.self_attention.query;
    let q_weight = values(
        layer0
            .weight
            .val()
            .grad(&grads)
            .expect("a gradient")
            .transpose(),
    );
    let q_weight_diff = relative_to_max(
        &q_weight,
        &fixture.f32s("grad.encoder.layer.0.attention.self.query.weight"),
    );
    let q_bias_diff = relative_to_max(
        &grad1(layer0.bias.as_ref().unwrap().val()),
        &fixture.f32s("grad.encoder.layer.0.attention.self.query.bias"),
    );
    let norm = &bert.encoder.layer[5].output.layer_norm;
    let gamma_diff = relative_to_max(
        &grad1(norm.gamma.val()),
        &fixture.f32s("grad.encoder.layer.5.output.LayerNorm.weight"),
    );
    let beta_diff = relative_to_max(
        &grad1(norm.beta.as_ref().unwrap().val()),
        &fixture.f32s("grad.encoder.layer.5.output.LayerNorm.bias"),
    );
    println!(
        "gradients (max |densify - PyTorch| / max |PyTorch|): word embeddings {word_diff:.2e} \
         ({} rows, stray {stray:.1e}), layer 0 query weight {q_weight_diff:.2e}, bias \
         {q_bias_diff:.2e}, layer 5 LayerNorm gamma {gamma_diff:.2e}, beta {beta_diff:.2e}",
        rows.len()
    );
    for (name, diff) in [
        ("word embeddings", word_diff),
        ("layer 0 query weight", q_weight_diff),
        ("layer 0 query bias", q_bias_diff),
        ("layer 5 LayerNorm gamma", gamma_diff),
        ("layer 5 LayerNorm beta", beta_diff),
    ] {
        assert!(diff < 1e-4, "{name}: {diff}");
    }
    assert!(
        stray < 1e-7,
        "gradient on rows of tokens not in the batch: {stray}"
    );
}
