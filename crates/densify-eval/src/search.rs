//! Exact top-k dense search on any burn `Device`, in memory bounded by a chunk size.
//!
//! Scores are computed one `[query_batch, corpus_chunk]` block at a time (a matrix product),
//! and a running top-k per query is merged with each block's top-k, so memory is the corpus plus
//! one block, never the full `[queries, corpus]` score matrix.

use burn::tensor::{Device, Int, Tensor};
use densify_core::config::{Config, InvalidField};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use densify_core::Backend;
use densify_data::embeddings::Embeddings;
use densify_data::run::{Run, ScoredDoc};

pub use densify_core::Similarity;

/// Where the per-block top-k is selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// [`Selection::Device`] on libtorch CUDA, where PyTorch's `topk` is fast and reading each
    /// score block back would cost more than it saves; [`Selection::Host`] everywhere else:
    /// CPU devices (burn's `topk` took 7.9 s on flex for the 1.6 s benchmark) and burn's cubecl
    /// backends (on wgpu with an H100, `topk` over 300 × 5,183 scores had not finished after
    /// 90 s, while the host selection took 0.2 s).
    #[default]
    Auto,
    /// Read each score block back and select with `select_nth_unstable` on all cores.
    Host,
    /// burn's `topk_with_indices` on the device.
    Device,
}

impl Selection {
    fn on_host(self, device: &Device) -> bool {
        match self {
            Selection::Host => true,
            Selection::Device => false,
            Selection::Auto => Backend::of(device) != Backend::LibTorch { cuda: true },
        }
    }
}

/// Exact search parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    /// Where the top-k of each score block is selected. Default [`Selection::Auto`].
    pub selection: Selection,
}

impl Default for ExactSearchConfig {
    fn default() -> Self {
        Self {
            k: 1000,
            similarity: Similarity::Cosine,
            corpus_chunk: 50_000,
            query_batch: 1024,
            ignore_identical_ids: false,
            selection: Selection::Auto,
        }
    }
}

impl Config for ExactSearchConfig {
    fn validate(&self) -> std::result::Result<(), InvalidField> {
        for (field, value) in [
            ("k", self.k),
            ("corpus_chunk", self.corpus_chunk),
            ("query_batch", self.query_batch),
        ] {
            if value == 0 {
                return Err(InvalidField::new(field, "must be at least 1, found 0"));
            }
        }
        Ok(())
    }
}

densify_core::setters!(ExactSearchConfig {
    k: usize,
    similarity: Similarity,
    corpus_chunk: usize,
    query_batch: usize,
    ignore_identical_ids: bool,
    selection: Selection,
});

pub use densify_core::l2_normalize;

/// One query's running best hits: `(corpus_row, score)`, best first after [`finish`].
type Hits = Vec<(usize, f32)>;

/// Orders hits by score descending, then row ascending (deterministic among ties).
fn by_score(a: &(usize, f32), b: &(usize, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Merges one row of a score block (corpus rows from `offset`) into `best`, keeping `k`.
///
/// Scores not above the current k-th best are skipped (a later row never wins a tie), and the
/// candidate list is cut back to `k` whenever it reaches `2k`, so the work is linear in the block.
fn merge_row(best: &mut Hits, scores: &[f32], offset: usize, k: usize) {
    let cut = |best: &mut Hits| {
        best.select_nth_unstable_by(k - 1, by_score);
        best.truncate(k);
        best[k - 1].1
    };
    let mut threshold = if best.len() >= k {
        cut(best)
    } else {
        f32::NEG_INFINITY
    };
    for (i, &s) in scores.iter().enumerate() {
        if s > threshold || best.len() < k {
            best.push((offset + i, s));
            if best.len() >= 2 * k {
                threshold = cut(best);
            }
        }
    }
    if best.len() > k {
        cut(best);
    }
}

/// The best `k` corpus rows for every query row, best first.
///
/// # Shapes
/// - `queries`: `[q, dim]`, `corpus`: `[n, dim]` on the same device;
/// - returns `q` lists of up to `config.k` `(corpus_row, score)` pairs.
pub fn top_k(queries: Tensor<2>, corpus: Tensor<2>, config: &ExactSearchConfig) -> Vec<Hits> {
    let [q, _] = queries.dims();
    let [n, _] = corpus.dims();
    let k = config.k.min(n);
    if q == 0 || k == 0 {
        return vec![Vec::new(); q];
    }
    let on_host = config.selection.on_host(&queries.device());
    // Cosine is the dot product of normalised rows: normalise once, not per block.
    let (queries, corpus, similarity) = match config.similarity {
        Similarity::Cosine => (l2_normalize(queries), l2_normalize(corpus), Similarity::Dot),
        other => (queries, corpus, other),
    };
    let (mut corpus_chunk, mut query_batch) =
        (config.corpus_chunk.max(1), config.query_batch.max(1));
    if similarity == Similarity::Manhattan {
        // Manhattan scores broadcast [queries, rows, dim]: keep that under 2^24 values.
        let dim = corpus.dims()[1].max(1);
        query_batch = query_batch.min(64);
        corpus_chunk = corpus_chunk.min(((1 << 24) / (query_batch * dim)).max(1));
    }
    let mut out = Vec::with_capacity(q);
    for q_start in (0..q).step_by(query_batch) {
        let q_len = query_batch.min(q - q_start);
        let batch = queries.clone().narrow(0, q_start, q_len);
        let mut host_best: Vec<Hits> = vec![Vec::with_capacity(2 * k); q_len];
        let mut device_best: Option<(Tensor<2>, Tensor<2, Int>)> = None;
        for c_start in (0..n).step_by(corpus_chunk) {
            let c_len = corpus_chunk.min(n - c_start);
            let chunk = corpus.clone().narrow(0, c_start, c_len);
            let scores = similarity.matrix(batch.clone(), chunk);
            if on_host {
                let scores: Vec<f32> = scores
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .expect("scores are f32");
                host_best
                    .par_iter_mut()
                    .zip(scores.par_chunks(c_len))
                    .for_each(|(best, row)| merge_row(best, row, c_start, k));
                continue;
            }
            let (values, indices) = scores.topk_with_indices(k.min(c_len), 1);
            let indices = indices.add_scalar(c_start as i64);
            device_best = Some(match device_best {
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
        if let Some((values, indices)) = device_best {
            let width = values.dims()[1];
            let values: Vec<f32> = values.into_data().iter::<f32>().collect();
            let indices: Vec<i64> = indices.into_data().iter::<i64>().collect();
            for (row, best) in host_best.iter_mut().enumerate() {
                let span = row * width..(row + 1) * width;
                best.extend(
                    indices[span.clone()]
                        .iter()
                        .zip(&values[span])
                        .map(|(&i, &s)| (i as usize, s)),
                );
            }
        }
        for mut best in host_best {
            best.sort_unstable_by(by_score);
            out.push(best);
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
    let fetch = ExactSearchConfig {
        k: config.k + usize::from(config.ignore_identical_ids),
        ..config
    };
    let hits = top_k(queries.to_tensor(device), corpus.to_tensor(device), &fetch);
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
        for (chunk, batch, selection) in [
            (37, 5, Selection::Host),
            (10, 2, Selection::Host),
            (4, 1, Selection::Device),
            (1, 3, Selection::Device),
            (10, 2, Selection::Auto),
        ] {
            let config = ExactSearchConfig {
                k: 6,
                similarity: Similarity::Dot,
                corpus_chunk: chunk,
                query_batch: batch,
                selection,
                ..Default::default()
            };
            let got = top_k(flat(&q), flat(&c), &config);
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
