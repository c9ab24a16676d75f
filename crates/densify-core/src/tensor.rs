//! Small tensor functions every other crate needs.

use burn::tensor::{Bool, DType, Tensor};

/// L2-normalises the rows of `x` (a zero row stays zero: the norm is clamped at 1e-12, as
/// `torch.nn.functional.normalize` does).
///
/// # Shapes
/// - `x`: `[n, dim]` -> `[n, dim]`
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12);
    x / norm
}

/// The lowest finite value of a float dtype: what a mask writes instead of `-inf` or a fixed
/// `-1e30`, which overflow to `-inf` in f16 and turn a fully masked row, or `-inf - -inf` in a
/// softmax, into NaN.
pub fn lowest_finite(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => -65504.0,
        DType::BF16 => -3.389_531_389_251_535_5e38,
        DType::F64 => f64::from(f32::MIN),
        _ => f64::from(f32::MIN),
    }
}

/// The logit a mask writes in `dtype`: -1e30 in f32, f64 and bf16 (exp underflows to exactly
/// 0, and subtracting any real logit stays finite), -3e4 in f16, whose range ends at 65504:
/// -1e30 would be `-inf` there, and a fully masked row or `-inf - -inf` in a softmax gives NaN.
pub fn masked_logit(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => -3.0e4,
        _ => -1e30,
    }
}

/// `x` with `mask` positions set to [`masked_logit`] of `x`'s dtype.
///
/// # Shapes
/// - `x`, `mask`: the same shape -> that shape
pub fn mask_logits<const D: usize>(x: Tensor<D>, mask: Tensor<D, Bool>) -> Tensor<D> {
    let value = masked_logit(x.dtype());
    x.mask_fill(mask, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn masked_logits_stay_finite_in_half_precision() {
        use burn::tensor::activation::log_softmax;
        let device = Device::flex();
        for dtype in [DType::F32, DType::F16, DType::BF16] {
            let x = Tensor::<2>::from_data([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]], &device).cast(dtype);
            let mask =
                Tensor::<2, Bool>::from_data([[false, true, false], [true, true, true]], &device);
            let masked = mask_logits(x, mask);
            let values: Vec<f32> = masked
                .clone()
                .cast(DType::F32)
                .into_data()
                .iter::<f32>()
                .collect();
            assert!(
                values.iter().all(|v| v.is_finite()),
                "{dtype:?}: {values:?}"
            );
            // A fully masked row gives a uniform distribution, not NaN.
            let p: Vec<f32> = log_softmax(masked, 1)
                .cast(DType::F32)
                .into_data()
                .iter::<f32>()
                .collect();
            assert!(p.iter().all(|v| !v.is_nan()), "{dtype:?}: {p:?}");
            assert!(
                (p[3] - (1.0f32 / 3.0).ln()).abs() < 1e-2,
                "{dtype:?}: {p:?}"
            );
            assert!(
                p[1] < -1e3,
                "{dtype:?}: the masked column keeps no mass: {p:?}"
            );
            assert!(lowest_finite(dtype) < masked_logit(dtype));
        }
    }

    #[test]
    fn rows_get_unit_length_and_zero_rows_stay_zero() {
        let device = Device::flex();
        let x = Tensor::<2>::from_data([[3.0, 4.0], [0.0, 0.0]], &device);
        let v: Vec<f32> = l2_normalize(x).into_data().iter::<f32>().collect();
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert_eq!(v[2..], [0.0, 0.0]);
    }
}
