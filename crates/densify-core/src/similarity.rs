//! Similarity functions between query and passage embeddings, as sentence-transformers names
//! them (`similarity_fn_name` in `config_sentence_transformers.json`).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::tensor::l2_normalize;

/// How query and passage embeddings are compared; higher is more similar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Similarity {
    /// Cosine similarity: the dot product of L2-normalised vectors (norms clamped at 1e-12).
    #[default]
    Cosine,
    /// Dot product (contriever, TAS-B, DPR).
    #[serde(alias = "dot_product")]
    Dot,
    /// Negative Euclidean distance, `-‖q − p‖₂`.
    Euclidean,
    /// Negative Manhattan distance, `-‖q − p‖₁`.
    Manhattan,
}

impl Similarity {
    /// Parses sentence-transformers' `similarity_fn_name` (`cosine`, `dot`, `dot_product`,
    /// `euclidean`, `manhattan`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "cosine" => Some(Self::Cosine),
            "dot" | "dot_product" => Some(Self::Dot),
            "euclidean" => Some(Self::Euclidean),
            "manhattan" => Some(Self::Manhattan),
            _ => None,
        }
    }

    /// The name sentence-transformers writes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cosine => "cosine",
            Self::Dot => "dot",
            Self::Euclidean => "euclidean",
            Self::Manhattan => "manhattan",
        }
    }

    /// Scores one pair of host vectors (computed in f64), the same function as [`Self::matrix`].
    ///
    /// # Shapes
    /// - `a`, `b`: `[dim]` each
    pub fn pair(self, a: &[f32], b: &[f32]) -> f32 {
        let dot: f64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        let norm = |v: &[f32]| {
            v.iter()
                .map(|x| f64::from(*x).powi(2))
                .sum::<f64>()
                .sqrt()
                .max(1e-12)
        };
        let value = match self {
            Self::Dot => dot,
            Self::Cosine => dot / (norm(a) * norm(b)),
            Self::Euclidean => -a
                .iter()
                .zip(b)
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
                .sum::<f64>()
                .sqrt(),
            Self::Manhattan => -a
                .iter()
                .zip(b)
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
                .sum::<f64>(),
        };
        value as f32
    }

    /// Scores every query against every passage.
    ///
    /// # Shapes
    /// - `queries`: `[q, dim]`, `passages`: `[n, dim]` -> `[q, n]`
    pub fn matrix(self, queries: Tensor<2>, passages: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Dot => queries.matmul(passages.transpose()),
            Self::Cosine => l2_normalize(queries).matmul(l2_normalize(passages).transpose()),
            Self::Euclidean => {
                let [q, _] = queries.dims();
                let [n, _] = passages.dims();
                let qq = queries.clone().powf_scalar(2.0).sum_dim(1); // [q, 1]
                let pp = passages.clone().powf_scalar(2.0).sum_dim(1).reshape([1, n]);
                let squared = qq.expand([q, n]) + pp.expand([q, n])
                    - queries.matmul(passages.transpose()).mul_scalar(2.0);
                squared.clamp_min(0.0).sqrt().neg()
            }
            Self::Manhattan => {
                let [q, dim] = queries.dims();
                let [n, _] = passages.dims();
                let diff = queries.reshape([q, 1, dim]).expand([q, n, dim])
                    - passages.reshape([1, n, dim]).expand([q, n, dim]);
                diff.abs().sum_dim(2).reshape([q, n]).neg()
            }
        }
    }

    /// Scores each query against its own list of passages.
    ///
    /// # Shapes
    /// - `queries`: `[batch, dim]`, `passages`: `[batch * list, dim]` (query b's list is rows
    ///   `b * list .. (b + 1) * list`) -> `[batch, list]`
    pub fn lists(self, queries: Tensor<2>, passages: Tensor<2>) -> Tensor<2> {
        let [batch, dim] = queries.dims();
        let [rows, _] = passages.dims();
        let list = rows / batch;
        let (q, p) = match self {
            Self::Cosine => (l2_normalize(queries), l2_normalize(passages)),
            _ => (queries, passages),
        };
        let q = q.reshape([batch, 1, dim]).expand([batch, list, dim]);
        let p = p.reshape([batch, list, dim]);
        let per_dim = match self {
            Self::Cosine | Self::Dot => return (p * q).sum_dim(2).reshape([batch, list]),
            Self::Euclidean => (p - q).powf_scalar(2.0),
            Self::Manhattan => (p - q).abs(),
        };
        let summed = per_dim.sum_dim(2).reshape([batch, list]);
        match self {
            Self::Euclidean => summed.sqrt().neg(),
            _ => summed.neg(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_scores_by_hand() {
        let (a, b) = ([3.0f32, 4.0], [4.0f32, 3.0]);
        assert!((Similarity::Dot.pair(&a, &b) - 24.0).abs() < 1e-6);
        assert!((Similarity::Cosine.pair(&a, &b) - 0.96).abs() < 1e-6);
        assert!((Similarity::Euclidean.pair(&a, &b) + 2f32.sqrt()).abs() < 1e-6);
        assert!((Similarity::Manhattan.pair(&a, &b) + 2.0).abs() < 1e-6);
    }
    use burn::tensor::Device;

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().iter::<f32>().collect()
    }

    #[test]
    fn matches_hand_computed_scores() {
        let device = Device::flex();
        let q = Tensor::<2>::from_data([[1.0, 0.0], [3.0, 4.0]], &device);
        let p = Tensor::<2>::from_data([[0.0, 2.0], [3.0, 4.0]], &device);
        let close = |a: Vec<f32>, b: &[f32]| {
            assert!(
                a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5),
                "{a:?} vs {b:?}"
            )
        };
        close(
            values(Similarity::Dot.matrix(q.clone(), p.clone())),
            &[0.0, 3.0, 8.0, 25.0],
        );
        close(
            values(Similarity::Cosine.matrix(q.clone(), p.clone())),
            &[0.0, 0.6, 0.8, 1.0],
        );
        let s2 = 2f32.sqrt();
        let e = [
            -(1.0 + 4.0f32).sqrt(),
            -(4.0f32 + 16.0).sqrt(),
            -(9.0f32 + 4.0).sqrt(),
            0.0,
        ];
        close(
            values(Similarity::Euclidean.matrix(q.clone(), p.clone())),
            &e,
        );
        close(
            values(Similarity::Manhattan.matrix(q.clone(), p.clone())),
            &[-3.0, -6.0, -5.0, 0.0],
        );
        // Lists: query 0 against p rows 0..2 is the first row of the matrix.
        let lists = |s: Similarity| values(s.lists(q.clone().narrow(0, 0, 1), p.clone()));
        close(lists(Similarity::Euclidean), &e[..2]);
        close(lists(Similarity::Manhattan), &[-3.0, -6.0]);
        close(lists(Similarity::Cosine), &[0.0, 0.6]);
        let _ = s2;
    }

    #[test]
    fn names_round_trip() {
        for s in [
            Similarity::Cosine,
            Similarity::Dot,
            Similarity::Euclidean,
            Similarity::Manhattan,
        ] {
            assert_eq!(Similarity::from_name(s.name()), Some(s));
        }
        assert_eq!(Similarity::from_name("dot_product"), Some(Similarity::Dot));
        assert_eq!(Similarity::from_name("jaccard"), None);
    }
}
