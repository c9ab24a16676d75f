//! densify-loss against PyTorch: values and input gradients of every loss on the cases of
//! `tests/fixtures/loss/reference.json` (made by `scripts/make_loss_fixtures.sh`: masked and
//! ragged lists, scores of ±1e4, all-equal scores, temperatures 0.01 to 10, batch sizes 1 and 64).

use std::path::Path;

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use densify::loss::*;
use serde_json::Value;

fn cases() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/loss/reference.json");
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all["cases"].as_array().unwrap().clone()
}

fn matrix(v: &Value) -> (Vec<f32>, [usize; 2]) {
    let rows = v.as_array().unwrap();
    let columns = rows[0].as_array().unwrap().len();
    let flat = rows
        .iter()
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
        })
        .collect();
    (flat, [rows.len(), columns])
}

fn float(v: &Value, device: &Device) -> Tensor<2> {
    let (data, shape) = matrix(v);
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn boolean(v: &Value, device: &Device) -> Tensor<2, Bool> {
    let rows = v.as_array().unwrap();
    let columns = rows[0].as_array().unwrap().len();
    let flat: Vec<bool> = rows
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_bool().unwrap()))
        .collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), columns]), device)
}

/// `defaults` (a serialised burn `Config`) with the case's fields laid over it.
fn overlay<C: serde::Serialize + serde::de::DeserializeOwned>(defaults: C, fields: &Value) -> C {
    let mut value = serde_json::to_value(defaults).unwrap();
    for (k, v) in fields.as_object().unwrap() {
        assert!(value.get(k).is_some(), "config has no field {k}");
        value[k] = v.clone();
    }
    serde_json::from_value(value).unwrap()
}

/// Builds the loss named by the case from its JSON config (configs are serde values).
pub fn build(name: &str, c: &Value) -> Box<dyn RankingLoss> {
    match name {
        "info_nce" => Box::new(overlay(InfoNceConfig::new(), c).init().unwrap()),
        "kl_distillation" => Box::new(overlay(KlDistillationConfig::new(), c).init().unwrap()),
        "listwise_distillation" => Box::new(
            overlay(ListwiseDistillationConfig::new(), c)
                .init()
                .unwrap(),
        ),
        "margin_mse" => Box::new(overlay(MarginMseConfig::new(), c).init().unwrap()),
        "list_net" => Box::new(overlay(ListNetConfig::new(), c).init().unwrap()),
        "list_mle" => Box::new(overlay(ListMleConfig::new(), c).init().unwrap()),
        "rank_net" => Box::new(overlay(RankNetConfig::new(), c).init().unwrap()),
        "binary_cross_entropy" => {
            Box::new(overlay(BinaryCrossEntropyConfig::new(), c).init().unwrap())
        }
        "sycl_wasserstein" => Box::new(overlay(SyclWassersteinConfig::new(), c).init().unwrap()),
        "wasserstein_1d" => Box::new(overlay(Wasserstein1dConfig::new(), c).init().unwrap()),
        other => panic!("unknown loss {other}"),
    }
}

#[test]
fn every_loss_matches_pytorch_values_and_gradients() {
    let device = Device::flex().autodiff();
    let cases = cases();
    assert!(cases.len() >= 60);
    let mut report = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let loss = build(case["loss"].as_str().unwrap(), &case["config"]);
        let scores = float(&case["scores"], &device).require_grad();
        let mut batch = ScoredLists::new(scores.clone())
            .with_teacher(float(&case["teacher"], &device))
            .with_labels(float(&case["labels"], &device));
        let positive: Vec<i64> = case["positive"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_i64().unwrap())
            .collect();
        batch = batch.with_positive(Tensor::<1, Int>::from_data(
            TensorData::new(positive.clone(), [positive.len()]),
            &device,
        ));
        if !case["mask"].is_null() {
            batch = batch.with_mask(boolean(&case["mask"], &device));
        }
        if !case["candidates"].is_null() {
            batch = batch.with_candidates(boolean(&case["candidates"], &device));
        }
        batch.validate().unwrap();
        let value = loss.forward(&batch, Reduction::Mean);
        let per_query: Vec<f64> = loss
            .forward_no_reduction(&batch)
            .into_data()
            .iter::<f64>()
            .collect();
        let grads = value.backward();
        let got = value.into_data().iter::<f64>().next().unwrap();
        let want = case["value"].as_f64().unwrap();
        assert!(got.is_finite(), "{name}: loss {got}");
        assert!(
            (got - want).abs() <= 1e-5 * want.abs() + 1e-6,
            "{name}: loss {got}, PyTorch {want}"
        );
        for (i, (g, w)) in per_query
            .iter()
            .zip(case["per_query"].as_array().unwrap())
            .enumerate()
        {
            let w = w.as_f64().unwrap();
            assert!(
                (g - w).abs() <= 1e-5 * w.abs() + 1e-6,
                "{name}: query {i}: {g} vs {w}"
            );
        }
        let grad: Vec<f64> = scores
            .grad(&grads)
            .unwrap()
            .into_data()
            .iter::<f64>()
            .collect();
        let (want_grad, _) = matrix(&case["grad"]);
        let scale = want_grad.iter().fold(0f32, |m, g| m.max(g.abs())).max(1e-3) as f64;
        let mut worst = 0.0f64;
        let subgradient = case["subgradient"].as_bool().unwrap_or(false);
        for (i, (g, w)) in grad.iter().zip(&want_grad).enumerate() {
            assert!(g.is_finite(), "{name}: gradient {i} is {g}");
            if subgradient {
                continue; // a non-differentiable point: any subgradient is right
            }
            let err = (g - f64::from(*w)).abs() / scale;
            worst = worst.max(err);
            assert!(
                err <= 1e-4,
                "{name}: d/ds[{i}] = {g}, PyTorch {w} (relative to max |grad| {scale})"
            );
        }
        report.push(format!(
            "{name}: |Δloss| {:.1e}, max |Δgrad|/max|grad| {worst:.1e}",
            (got - want).abs()
        ));
    }
    println!("{}", report.join("\n"));
}
