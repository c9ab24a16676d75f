//! Small tensor functions every other crate needs.

use burn::tensor::Tensor;

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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn rows_get_unit_length_and_zero_rows_stay_zero() {
        let device = Device::flex();
        let x = Tensor::<2>::from_data([[3.0, 4.0], [0.0, 0.0]], &device);
        let v: Vec<f32> = l2_normalize(x).into_data().iter::<f32>().collect();
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert_eq!(v[2..], [0.0, 0.0]);
    }
}
