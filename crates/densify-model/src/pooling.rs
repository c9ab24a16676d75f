//! Pooling token states into one vector, and L2 normalisation, as sentence-transformers does.

use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

/// How token states become a text embedding: sentence-transformers' `Pooling` modes (one at a
/// time; a `1_Pooling/config.json` that sets several is refused when loading).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The `[CLS]` state (`pooling_mode_cls_token`).
    Cls,
    /// The mean over non-padding tokens (`pooling_mode_mean_tokens`, the default).
    #[default]
    Mean,
    /// The element-wise max over non-padding tokens, padding set to -1e9 first
    /// (`pooling_mode_max_tokens`).
    Max,
    /// The sum over non-padding tokens divided by the square root of their number
    /// (`pooling_mode_mean_sqrt_len_tokens`).
    MeanSqrtLen,
    /// The mean weighted by position, token i (from 1) weighing i
    /// (`pooling_mode_weightedmean_tokens`, SGPT).
    WeightedMean,
    /// The state of the last non-padding token (`pooling_mode_lasttoken`; right padding).
    LastToken,
}

impl Pooling {
    /// The `1_Pooling/config.json` flag of this mode.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Cls => "pooling_mode_cls_token",
            Self::Mean => "pooling_mode_mean_tokens",
            Self::Max => "pooling_mode_max_tokens",
            Self::MeanSqrtLen => "pooling_mode_mean_sqrt_len_tokens",
            Self::WeightedMean => "pooling_mode_weightedmean_tokens",
            Self::LastToken => "pooling_mode_lasttoken",
        }
    }

    /// Every mode, in sentence-transformers' concatenation order.
    pub const ALL: [Pooling; 6] = [
        Self::Cls,
        Self::Max,
        Self::Mean,
        Self::MeanSqrtLen,
        Self::WeightedMean,
        Self::LastToken,
    ];
}

/// Pools token states.
///
/// # Shapes
/// - `hidden`: `[batch, seq, dim]`, `attention_mask`: `[batch, seq]` -> `[batch, dim]`
pub fn pool(hidden: Tensor<3>, attention_mask: Tensor<2, Int>, pooling: Pooling) -> Tensor<2> {
    let [batch, seq, dim] = hidden.dims();
    let device = hidden.device();
    let weighted_sum = |weights: Tensor<2>| {
        let w = weights.clone().reshape([batch, seq, 1]);
        let summed = (hidden.clone() * w.expand([batch, seq, dim]))
            .sum_dim(1)
            .reshape([batch, dim]);
        (summed, weights.sum_dim(1).reshape([batch, 1]))
    };
    match pooling {
        Pooling::Cls => hidden.narrow(1, 0, 1).reshape([batch, dim]),
        Pooling::Mean => {
            let (summed, counts) = weighted_sum(attention_mask.float());
            summed / counts.clamp_min(1e-9)
        }
        Pooling::MeanSqrtLen => {
            let (summed, counts) = weighted_sum(attention_mask.float());
            summed / counts.sqrt()
        }
        Pooling::WeightedMean => {
            let positions = Tensor::<1, Int>::arange(1..seq as i64 + 1, &device)
                .float()
                .reshape([1, seq])
                .expand([batch, seq]);
            let (summed, total) = weighted_sum(attention_mask.float() * positions);
            summed / total.clamp_min(1e-9)
        }
        Pooling::LastToken => {
            let last = attention_mask
                .sum_dim(1)
                .sub_scalar(1)
                .clamp_min(0)
                .reshape([batch, 1, 1])
                .expand([batch, 1, dim]);
            hidden.gather(1, last).reshape([batch, dim])
        }
        Pooling::Max => {
            let padded = attention_mask
                .equal_elem(0)
                .reshape([batch, seq, 1])
                .expand([batch, seq, dim]);
            hidden
                .mask_fill(padded, -1e9)
                .max_dim(1)
                .reshape([batch, dim])
        }
    }
}

pub use densify_core::l2_normalize;

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn pooling_matches_hand_computation() {
        let device = Device::flex();
        let hidden = Tensor::<3>::from_data([[[1.0, 2.0], [3.0, 6.0], [100.0, 100.0]]], &device);
        let mask = Tensor::<2, Int>::from_data([[1, 1, 0]], &device);
        let v = |t: Tensor<2>| t.into_data().iter::<f32>().collect::<Vec<_>>();
        assert_eq!(
            v(pool(hidden.clone(), mask.clone(), Pooling::Mean)),
            [2.0, 4.0]
        );
        assert_eq!(
            v(pool(hidden.clone(), mask.clone(), Pooling::Max)),
            [3.0, 6.0]
        );
        assert_eq!(
            v(pool(hidden.clone(), mask.clone(), Pooling::Cls)),
            [1.0, 2.0]
        );
        // sum (4, 8) / sqrt(2)
        let s = v(pool(hidden.clone(), mask.clone(), Pooling::MeanSqrtLen));
        assert!((s[0] - 4.0 / 2f32.sqrt()).abs() < 1e-6 && (s[1] - 8.0 / 2f32.sqrt()).abs() < 1e-6);
        // weights 1 and 2: (1*1 + 2*3) / 3, (1*2 + 2*6) / 3
        let w = v(pool(hidden.clone(), mask.clone(), Pooling::WeightedMean));
        assert!((w[0] - 7.0 / 3.0).abs() < 1e-6 && (w[1] - 14.0 / 3.0).abs() < 1e-6);
        assert_eq!(v(pool(hidden, mask, Pooling::LastToken)), [3.0, 6.0]);
        let n = v(l2_normalize(Tensor::<2>::from_data([[3.0, 4.0]], &device)));
        assert!((n[0] - 0.6).abs() < 1e-6 && (n[1] - 0.8).abs() < 1e-6);
    }
}
