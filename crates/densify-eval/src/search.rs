//! Exact top-k dense search on any burn `Device`, in memory bounded by a chunk size.
//!
//! Scores are computed one `[query_batch, corpus_chunk]` block at a time (a matrix product),
//! and a running top-k per query is merged with each block's top-k, so memory is the corpus plus
//! one block, never the full `[queries, corpus]` score matrix.

use burn::tensor::{Device, Int, Tensor};

use crate::embeddings::Embeddings;
use crate::error::Result;
use crate::run::{Run, ScoredDoc};

/// How query and document embeddings are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Similarity {
    /// Dot product.
    Dot,
    /// Cosine similarity: dot product of L2-normalised vectors (norm clamped at 1e-12, as
    /// `torch.nn.functional.normalize`).
    #[default]
    Cosine,
}

/// Exact search parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactSearchConfig {
    /// Documents returned per query. Default 1000 (BEIR's top_k).
    pub k: usize,
    /// Similarity. Default cosine.
    pub similarity: Similarity,
    /// Corpus rows scored at once. Default 50,000.
    pub corpus_chunk: usize,
    /// Queries scored at once. Default 1,024.
    pub query_batch: usize,
    /// Drop a hit whose document id equals the query id (BEIR's `ignore_identical_ids`: fetch
    /// k + 1, drop the self-hit, keep k). Default false.
    pub ignore_identical_ids: bool,
}

impl Default for ExactSearchConfig {
    fn default() -> Self {
        Self {
            k: 1000,
            similarity: Similarity::Cosine,
            corpus_chunk: 50_000,
            query_batch: 1024,
            ignore_identical_ids: false,
        }
    }
}

/// L2-normalises the rows of `x`.
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

/// The best `k` corpus rows for every query row, best first.
///
/// # Shapes
/// - `queries`: `[q, dim]`, `corpus`: `[n, dim]` on the same device;
/// - returns `q` lists of up to `k` `(corpus_row, score)` pairs.
pub fn top_k(
    queries: Tensor<2>,
    corpus: Tensor<2>,
    k: usize,
    similarity: Similarity,
    corpus_chunk: usize,
    query_batch: usize,
) -> Vec<Vec<(usize, f32)>> {
    let [q, _] = queries.dims();
    let [n, _] = corpus.dims();
    let k = k.min(n);
    if q == 0 || k == 0 {
        return vec![Vec::new(); q];
    }
    let (queries, corpus) = match similarity {
        Similarity::Dot => (queries, corpus),
        Similarity::Cosine => (l2_normalize(queries), l2_normalize(corpus)),
    };
    let corpus_chunk = corpus_chunk.max(1);
    let mut out = Vec::with_capacity(q);
    for q_start in (0..q).step_by(query_batch.max(1)) {
        let q_len = query_batch.max(1).min(q - q_start);
        let batch = queries.clone().narrow(0, q_start, q_len);
        let mut best: Option<(Tensor<2>, Tensor<2, Int>)> = None;
        for c_start in (0..n).step_by(corpus_chunk) {
            let c_len = corpus_chunk.min(n - c_start);
            let chunk = corpus.clone().narrow(0, c_start, c_len);
            let scores = batch.clone().matmul(chunk.transpose());
            let (values, indices) = scores.topk_with_indices(k.min(c_len), 1);
            let indices = indices.add_scalar(c_start as i64);
            best = Some(match best {
                None => (values, indices),
                Some((best_values, best_indices)) => {
                    let values = Tensor::cat(vec![best_values, values], 1);
                    let indices = Tensor::cat(vec![best_indices, indices], 1);
                    let keep = k.min(values.dims()[1]);
                    let (values, picked) = values.topk_with_indices(keep, 1);
                    (values, indices.gather(1, picked))
                }
            });
        }
        let (values, indices) = best.expect("corpus is not empty");
        let width = values.dims()[1];
        let values: Vec<f32> = values.into_data().iter::<f32>().collect();
        let indices: Vec<i64> = indices.into_data().iter::<i64>().collect();
        for row in 0..q_len {
            let span = row * width..(row + 1) * width;
            out.push(
                indices[span.clone()]
                    .iter()
                    .zip(&values[span])
                    .map(|(&i, &s)| (i as usize, s))
                    .collect(),
            );
        }
    }
    out
}

/// Searches `corpus` for every row of `queries` on `device` and returns a run keyed by ids.
///
/// Fails when the two files' dimensions differ.
pub fn search_embeddings(
    queries: &Embeddings,
    corpus: &Embeddings,
    config: ExactSearchConfig,
    device: &Device,
) -> Result<Run> {
    queries.check_same_dim(
        std::path::Path::new("corpus embeddings"),
        corpus,
        std::path::Path::new("query embeddings"),
    )?;
    let fetch = config.k + usize::from(config.ignore_identical_ids);
    let hits = top_k(
        queries.to_tensor(device),
        corpus.to_tensor(device),
        fetch,
        config.similarity,
        config.corpus_chunk,
        config.query_batch,
    );
    let mut run = Run::new();
    for (query_id, list) in queries.ids().iter().zip(hits) {
        let mut docs: Vec<ScoredDoc> = list
            .into_iter()
            .map(|(i, s)| ScoredDoc {
                doc_id: corpus.ids()[i].clone(),
                score: f64::from(s),
            })
            .filter(|d| !(config.ignore_identical_ids && &d.doc_id == query_id))
            .collect();
        docs.truncate(config.k);
        run.set_query(query_id, docs);
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_force(q: &[Vec<f32>], c: &[Vec<f32>], k: usize) -> Vec<Vec<usize>> {
        q.iter()
            .map(|qv| {
                let mut s: Vec<(usize, f32)> = c
                    .iter()
                    .enumerate()
                    .map(|(i, cv)| (i, qv.iter().zip(cv).map(|(a, b)| a * b).sum()))
                    .collect();
                s.sort_by(|a, b| b.1.total_cmp(&a.1));
                s.into_iter().take(k).map(|(i, _)| i).collect()
            })
            .collect()
    }

    #[test]
    fn chunked_search_equals_brute_force() {
        let device = Device::flex();
        // Deterministic pseudo-random vectors without ties.
        let vec_of = |seed: usize, n: usize| -> Vec<Vec<f32>> {
            (0..n)
                .map(|i| {
                    (0..8)
                        .map(|j| {
                            (((seed + i * 31 + j * 17) * 2654435761usize % 1000) as f32) / 1000.0
                                - 0.5
                        })
                        .collect()
                })
                .collect()
        };
        let (q, c) = (vec_of(1, 5), vec_of(7, 37));
        let flat = |v: &[Vec<f32>]| {
            Tensor::<2>::from_data(
                burn::tensor::TensorData::new(v.concat(), [v.len(), 8]),
                &device,
            )
        };
        let expected = brute_force(&q, &c, 6);
        for (chunk, batch) in [(37, 5), (10, 2), (4, 1), (1, 3)] {
            let got = top_k(flat(&q), flat(&c), 6, Similarity::Dot, chunk, batch);
            let got: Vec<Vec<usize>> = got
                .iter()
                .map(|l| l.iter().map(|p| p.0).collect())
                .collect();
            assert_eq!(got, expected, "chunk {chunk} batch {batch}");
        }
    }

    #[test]
    fn drops_self_hits_when_asked() {
        let device = Device::flex();
        let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let corpus =
            Embeddings::new(ids(&["a", "b", "c"]), 2, vec![1., 0., 0.9, 0.1, 0., 1.]).unwrap();
        let queries = Embeddings::new(ids(&["a"]), 2, vec![1., 0.]).unwrap();
        let config = ExactSearchConfig {
            k: 2,
            ignore_identical_ids: true,
            ..Default::default()
        };
        let run = search_embeddings(&queries, &corpus, config, &device).unwrap();
        let docs: Vec<_> = run
            .query("a")
            .unwrap()
            .iter()
            .map(|d| d.doc_id.as_str())
            .collect();
        assert_eq!(docs, ["b", "c"]);
        let config = ExactSearchConfig {
            k: 2,
            ..Default::default()
        };
        let run = search_embeddings(&queries, &corpus, config, &device).unwrap();
        assert_eq!(run.query("a").unwrap()[0].doc_id, "a");
        // Cosine similarity of identical directions is 1.
        assert!((run.query("a").unwrap()[0].score - 1.0).abs() < 1e-6);
        let wrong = Embeddings::new(ids(&["q"]), 3, vec![1., 0., 0.]).unwrap();
        assert!(search_embeddings(&wrong, &corpus, config, &device).is_err());
    }
}
