//! Dev evaluation during training, on the inner (non-autodiff) model: a bi-encoder retrieves
//! from the dataset's whole corpus (nDCG@10, Recall@100 by exact search); a cross-encoder
//! reranks the dev examples' candidate lists (nDCG@10); both log the mean training loss over
//! the dev examples when there are some.

use std::collections::{HashMap, HashSet};

use burn::module::Module;
use densify_data::{Dataset, Run};
use densify_eval::search::{ExactSearchConfig, search_embeddings};
use densify_eval::{Measure, evaluate};
use densify_loss::RankingLoss;
use densify_model::Side;
use serde_json::json;

use super::lists::{StepList, corpus_index};
use super::loader::{LoadedBatch, Loader, TextSide};
use super::step::{BatchInputs, InBatch, batch_loss};
use super::{Encoder, Student, Trainer};
use crate::error::Result;
use crate::example::TrainingExample;
use crate::log::MetricsLog;

/// What a dev evaluation reads.
#[derive(Debug)]
pub(crate) struct DevData {
    /// The dataset whose split's qrels judge the dev queries.
    pub dataset: Dataset,
    /// Its corpus as `(id, text)` items, read once for every evaluation.
    pub corpus: Vec<(String, String)>,
    /// The dev examples (for the loss, and a cross-encoder's reranking); may be empty.
    pub examples: Vec<TrainingExample>,
    /// The same laid out as training lists.
    pub lists: Vec<StepList>,
}

/// One evaluation's figures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DevFigures {
    pub ndcg: f64,
}

impl Trainer {
    /// Evaluates `student` on the dev data and logs the figures at `step`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn evaluate(
        &self,
        encoder: &mut Encoder,
        student: &Student,
        dev: &DevData,
        text: &TextSide,
        loss: &dyn RankingLoss,
        in_batch: Option<InBatch>,
        log: &mut MetricsLog,
        step: usize,
    ) -> Result<DevFigures> {
        let eval = self.config.eval.clone().unwrap_or_default();
        let inner = self.device.clone().inner();
        let valid = student.valid();
        let dev_loss = (!dev.lists.is_empty())
            .then(|| self.dev_loss(encoder, &valid, dev, text, loss, in_batch, &inner))
            .transpose()?;
        let mut record = json!({"kind": "eval", "step": step});
        let ndcg = match (encoder, valid) {
            (Encoder::Bi(bi), Student::Bi(model)) => {
                bi.model = model;
                let dataset = &dev.dataset;
                let corpus =
                    bi.encode_items(&dev.corpus, Side::Passage, 32, &inner, &mut |_| {})?;
                let (queries, qrels) = dataset.split_queries(&eval.split)?;
                let items: Vec<(String, String)> =
                    queries.into_iter().map(|q| (q.id, q.text)).collect();
                let queries = bi.encode_items(&items, Side::Query, 32, &inner, &mut |_| {})?;
                let run = search_embeddings(
                    &queries,
                    &corpus,
                    ExactSearchConfig::new()
                        .with_k(100)
                        .with_similarity(bi.settings.similarity),
                    &inner,
                )?;
                let measures = [Measure::NdcgCut(10), Measure::Recall(100)];
                let evaluation = evaluate(&qrels, &run, &measures, Default::default())?;
                let ndcg = evaluation.mean(Measure::NdcgCut(10)).unwrap_or(0.0);
                record["recall@100"] = evaluation.mean(Measure::Recall(100)).unwrap_or(0.0).into();
                ndcg
            }
            (Encoder::Cross(cross), Student::Cross(model)) => {
                cross.model = model;
                let corpus = corpus_index(&dev.corpus);
                // Every candidate of the query's examples, once.
                let mut lists: Vec<(&str, &str, Vec<&str>)> = Vec::new();
                let mut index: HashMap<&str, usize> = HashMap::new();
                let mut seen: HashSet<(&str, &str)> = HashSet::new();
                for e in &dev.examples {
                    let at = *index.entry(e.query_id.as_str()).or_insert_with(|| {
                        lists.push((e.query_id.as_str(), e.query.as_str(), Vec::new()));
                        lists.len() - 1
                    });
                    for c in &e.candidates {
                        if seen.insert((e.query_id.as_str(), c.doc_id.as_str())) {
                            lists[at].2.push(c.doc_id.as_str());
                        }
                    }
                }
                let pairs: Vec<(&str, &str)> = lists
                    .iter()
                    .flat_map(|(_, q, docs)| docs.iter().map(|d| (*q, corpus[*d])))
                    .collect();
                let scores = cross.score(&pairs, 32, &inner)?;
                let mut run = Run::new();
                let mut next = scores.iter();
                for (query_id, _, docs) in &lists {
                    for (doc, score) in docs.iter().zip(&mut next) {
                        run.push(query_id, doc, f64::from(*score));
                    }
                }
                let qrels = dev.dataset.qrels(&eval.split)?;
                let evaluation =
                    evaluate(&qrels, &run, &[Measure::NdcgCut(10)], Default::default())?;
                evaluation.mean(Measure::NdcgCut(10)).unwrap_or(0.0)
            }
            _ => unreachable!("the student matches its encoder"),
        };
        record["ndcg@10"] = ndcg.into();
        if let Some(value) = dev_loss {
            record["dev_loss"] = value.into();
        }
        log.write(&record)?;
        self.plot()?;
        Ok(DevFigures { ndcg })
    }

    /// The mean loss over the dev examples: batches of `batch_size` in file order, scored as
    /// training scores them (in-batch negatives included), without dropout.
    #[allow(clippy::too_many_arguments)]
    fn dev_loss(
        &self,
        encoder: &Encoder,
        student: &Student,
        dev: &DevData,
        text: &TextSide,
        loss: &dyn RankingLoss,
        in_batch: Option<InBatch>,
        device: &burn::tensor::Device,
    ) -> Result<f64> {
        let loader = Loader {
            text,
            lists: &dev.lists,
            noise: None,
        };
        let all: Vec<usize> = (0..dev.lists.len()).collect();
        let mut sum = 0.0;
        for batch in all.chunks(self.config.batch_size) {
            let loaded: LoadedBatch = loader.load(batch, 0)?;
            let inputs = BatchInputs {
                lists: &dev.lists,
                batch,
                loaded: &loaded,
                loss,
                in_batch,
                list_size: self.config.list_size,
            };
            let value = batch_loss(encoder, student, inputs, device);
            sum += f64::from(value.into_scalar::<f32>()) * batch.len() as f64;
        }
        // A non-finite mean is logged as null (JSON has no NaN).
        Ok(sum / all.len() as f64)
    }
}
