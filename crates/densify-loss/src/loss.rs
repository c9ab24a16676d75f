//! The trait every loss implements, reductions, and weighted sums of losses.

use burn::tensor::Tensor;

use crate::batch::ScoredLists;

/// How per-query losses are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The mean over queries (PyTorch's `batchmean` for KL). Default.
    #[default]
    Mean,
    /// The sum over queries.
    Sum,
}

/// A loss over scored lists. Implement it to plug a new loss into densify's trainer.
pub trait RankingLoss: std::fmt::Debug + Send + Sync {
    /// A short name for logs (`"info_nce"`).
    fn name(&self) -> &'static str;

    /// The loss of each query.
    ///
    /// # Shapes
    /// - returns `[batch]`, or `[1]` for batch-level losses that have no per-query form
    ///   (the SyCL Wasserstein loss).
    fn forward_no_reduction(&self, batch: &ScoredLists) -> Tensor<1>;

    /// The reduced loss.
    ///
    /// # Shapes
    /// - returns `[1]`
    fn forward(&self, batch: &ScoredLists, reduction: Reduction) -> Tensor<1> {
        let per_query = self.forward_no_reduction(batch);
        match reduction {
            Reduction::Mean => per_query.mean(),
            Reduction::Sum => per_query.sum(),
        }
    }
}

/// `Σ weight_i · loss_i`: combines losses that read the same batch (for example listwise
/// distillation = KL + 0.1 × InfoNCE).
#[derive(Debug)]
pub struct WeightedSum {
    terms: Vec<(f64, Box<dyn RankingLoss>)>,
}

impl WeightedSum {
    /// An empty sum.
    pub fn new() -> Self {
        Self { terms: Vec::new() }
    }

    /// Adds `weight × loss`.
    pub fn with(mut self, weight: f64, loss: impl RankingLoss + 'static) -> Self {
        self.terms.push((weight, Box::new(loss)));
        self
    }

    /// The terms.
    pub fn terms(&self) -> &[(f64, Box<dyn RankingLoss>)] {
        &self.terms
    }
}

impl Default for WeightedSum {
    fn default() -> Self {
        Self::new()
    }
}

impl RankingLoss for WeightedSum {
    fn name(&self) -> &'static str {
        "weighted_sum"
    }

    /// # Panics
    /// If the sum is empty, or mixes batch-level and per-query terms.
    fn forward_no_reduction(&self, batch: &ScoredLists) -> Tensor<1> {
        self.terms
            .iter()
            .map(|(w, loss)| loss.forward_no_reduction(batch).mul_scalar(*w))
            .reduce(|a, b| a + b)
            .expect("WeightedSum needs at least one term")
    }
}
