//! Finite-difference gradient checks of every loss, extreme-input stability, and bad inputs.

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use densify::loss::masking::own_list_mask;
use densify::loss::*;

const ROWS: usize = 3;
const COLUMNS: usize = 5;

fn all_losses() -> Vec<Box<dyn RankingLoss>> {
    vec![
        Box::new(InfoNceConfig::new().with_temperature(0.5).init().unwrap()),
        Box::new(
            KlDistillationConfig::new()
                .with_student_temperature(0.7)
                .init()
                .unwrap(),
        ),
        Box::new(
            ListwiseDistillationConfig::new()
                .with_student_temperature(0.5)
                .with_contrastive_temperature(0.5)
                .init()
                .unwrap(),
        ),
        Box::new(MarginMseConfig::new().init().unwrap()),
        Box::new(ListNetConfig::new().init().unwrap()),
        Box::new(ListMleConfig::new().init().unwrap()),
        Box::new(
            ListMleConfig::new()
                .with_position_aware(true)
                .init()
                .unwrap(),
        ),
        Box::new(RankNetConfig::new().init().unwrap()),
        Box::new(
            BinaryCrossEntropyConfig::new()
                .with_pos_weight(3.0)
                .init()
                .unwrap(),
        ),
        Box::new(SyclWassersteinConfig::new().init().unwrap()),
        Box::new(Wasserstein1dConfig::new().init().unwrap()),
    ]
}

fn pseudo_random(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state % 10_000) as f32 / 10_000.0 - 0.5) * scale
        })
        .collect()
}

fn batch(scores: Tensor<2>, device: &Device) -> ScoredLists {
    let mask = vec![
        true, true, true, true, true, true, true, true, false, false, true, true, true, true, false,
    ];
    let labels: Vec<f32> = (0..ROWS * COLUMNS).map(|i| ((i * 7) % 4) as f32).collect();
    ScoredLists::new(scores)
        .with_teacher(Tensor::from_data(
            TensorData::new(pseudo_random(2, ROWS * COLUMNS, 4.0), [ROWS, COLUMNS]),
            device,
        ))
        .with_labels(Tensor::from_data(
            TensorData::new(labels, [ROWS, COLUMNS]),
            device,
        ))
        .with_mask(Tensor::from_data(
            TensorData::new(mask, [ROWS, COLUMNS]),
            device,
        ))
        .with_positive(Tensor::<1, Int>::from_data([1, 0, 2], device))
}

fn loss_value(loss: &dyn RankingLoss, scores: &[f32], device: &Device) -> f64 {
    let t = Tensor::<2>::from_data(TensorData::new(scores.to_vec(), [ROWS, COLUMNS]), device);
    loss.forward(&batch(t, device), Reduction::Mean)
        .into_data()
        .iter::<f64>()
        .next()
        .unwrap()
}

#[test]
fn gradients_match_central_finite_differences() {
    let device = Device::flex().autodiff();
    let plain = Device::flex();
    let scores = pseudo_random(1, ROWS * COLUMNS, 3.0);
    for loss in all_losses() {
        let t = Tensor::<2>::from_data(TensorData::new(scores.clone(), [ROWS, COLUMNS]), &device)
            .require_grad();
        let value = loss.forward(&batch(t.clone(), &device), Reduction::Mean);
        let grads = value.backward();
        let analytic: Vec<f64> = t.grad(&grads).unwrap().into_data().iter::<f64>().collect();
        let h = 1e-2f32;
        for i in 0..scores.len() {
            let (mut up, mut down) = (scores.clone(), scores.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (loss_value(loss.as_ref(), &up, &plain)
                - loss_value(loss.as_ref(), &down, &plain))
                / (2.0 * f64::from(h));
            assert!(
                (numeric - analytic[i]).abs() <= 2e-3 * analytic[i].abs().max(1.0),
                "{}: d/ds[{i}] analytic {} vs finite difference {numeric}",
                loss.name(),
                analytic[i]
            );
        }
    }
}

#[test]
fn extreme_inputs_stay_finite() {
    let device = Device::flex().autodiff();
    for scale in [2e4f32, 0.0] {
        for loss in all_losses() {
            let scores = pseudo_random(5, ROWS * COLUMNS, scale);
            let t = Tensor::<2>::from_data(TensorData::new(scores, [ROWS, COLUMNS]), &device)
                .require_grad();
            let value = loss.forward(&batch(t.clone(), &device), Reduction::Sum);
            let grads = value.backward();
            let v = value.into_data().iter::<f64>().next().unwrap();
            assert!(v.is_finite(), "{} at scale {scale}: {v}", loss.name());
            assert!(
                t.grad(&grads)
                    .unwrap()
                    .into_data()
                    .iter::<f64>()
                    .all(f64::is_finite),
                "{}",
                loss.name()
            );
        }
    }
}

#[test]
fn weighted_sum_adds_its_terms() {
    let device = Device::flex();
    let scores = Tensor::<2>::from_data(
        TensorData::new(pseudo_random(9, ROWS * COLUMNS, 2.0), [ROWS, COLUMNS]),
        &device,
    );
    let b = batch(scores, &device);
    let kl = KlDistillationConfig::new().init().unwrap();
    let nce = InfoNceConfig::new().init().unwrap();
    let parts = kl.forward(&b, Reduction::Mean).into_scalar::<f32>()
        + 0.25 * nce.forward(&b, Reduction::Mean).into_scalar::<f32>();
    let sum = WeightedSum::new()
        .with(1.0, kl)
        .with(0.25, nce)
        .forward(&b, Reduction::Mean)
        .into_scalar::<f32>();
    assert!((sum - parts).abs() < 1e-5);
}

#[test]
fn bad_configs_and_batches_are_clear_errors() {
    let err = InfoNceConfig::new()
        .with_temperature(0.0)
        .init()
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "InfoNCE: `temperature` must be a finite number > 0, got 0"
    );
    assert!(
        KlDistillationConfig::new()
            .with_teacher_temperature(-1.0)
            .init()
            .is_err()
    );
    assert!(
        SyclWassersteinConfig::new()
            .with_temperature(f64::NAN)
            .init()
            .is_err()
    );
    assert!(
        ListwiseDistillationConfig::new()
            .with_contrastive_temperature(0.0)
            .init()
            .is_err()
    );

    let device = Device::flex();
    let scores = Tensor::<2>::zeros([2, 3], &device);
    let wrong = ScoredLists::new(scores.clone()).with_teacher(Tensor::zeros([2, 4], &device));
    assert!(
        wrong
            .validate()
            .unwrap_err()
            .to_string()
            .contains("`teacher` has shape [2, 4]")
    );
    let empty_row =
        Tensor::<2, Bool>::from_data([[true, false, false], [false, false, false]], &device);
    let err = ScoredLists::new(scores.clone())
        .with_mask(empty_row)
        .validate()
        .unwrap_err();
    assert_eq!(err.to_string(), "list 1 of the batch has no valid entry");
    let positive = Tensor::<1, Int>::from_data([0, 3], &device);
    assert!(
        ScoredLists::new(scores.clone())
            .with_positive(positive)
            .validate()
            .unwrap_err()
            .to_string()
            .contains("outside 0..3")
    );
    let probabilities = Tensor::<2>::from_data([[0.5, 0.5, 0.0], [1.5, -0.5, 0.0]], &device);
    let err = ScoredLists::new(scores)
        .with_teacher(probabilities)
        .validate_teacher_probabilities()
        .unwrap_err();
    assert!(err.to_string().contains("list 1, column 0 is 1.5"), "{err}");
}

#[test]
fn in_batch_info_nce_equals_cross_entropy_over_all_passages() {
    // 2 queries x 2 passages; columns are every passage of the batch, positives 0 and 2.
    let device = Device::flex();
    let s = [[2.0f32, 0.5, 1.0, -1.0], [0.0, 1.0, 3.0, 0.5]];
    let scores = Tensor::<2>::from_data(s, &device);
    let b = ScoredLists::new(scores)
        .with_mask(own_list_mask(2, 2, &device))
        .with_candidates(Tensor::<2>::ones([2, 4], &device).equal_elem(1.0))
        .with_positive(Tensor::<1, Int>::from_data([0, 2], &device));
    let loss = InfoNceConfig::new().with_temperature(1.0).init().unwrap();
    let got: Vec<f32> = loss
        .forward_no_reduction(&b)
        .into_data()
        .iter::<f32>()
        .collect();
    let ce = |row: [f32; 4], p: usize| row.iter().map(|x| x.exp()).sum::<f32>().ln() - row[p];
    assert!((got[0] - ce(s[0], 0)).abs() < 1e-5 && (got[1] - ce(s[1], 2)).abs() < 1e-5);
}
