//! The data loader: tokenises each step's texts and applies token noise on a background
//! thread, `ahead` steps before the training thread needs them, so the step only pads and
//! moves tensors. Noise draws are keyed by example id, list position and epoch, so what a step
//! reads does not depend on the thread or on whether the run was resumed.

use std::sync::mpsc::{Receiver, sync_channel};

use densify_model::{Encoded, Side, TextPipeline, TextTokenizer};
use densify_noise::{NoiseConfig, TokenVocab};

use super::lists::StepList;
use super::plan::{ExampleWidth, PlannedStep};
use crate::error::Result;

/// The text side of the model being trained (one per run).
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum TextSide {
    /// A bi-encoder's query and passage tokenizers and prefixes.
    Bi(TextPipeline),
    /// A cross-encoder's pair tokenizer.
    Cross(TextTokenizer),
}

/// One batch, tokenised (and noised).
#[derive(Debug, Clone)]
pub(crate) enum LoadedBatch {
    /// Queries `[b]` and their lists' passages `[b · list]`, example by example.
    Bi {
        queries: Vec<Encoded>,
        passages: Vec<Encoded>,
    },
    /// (query, candidate) pairs `[b · list]`, example by example.
    Cross { pairs: Vec<Encoded> },
}

/// Tokenises batches of `lists`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Loader<'a> {
    pub text: &'a TextSide,
    pub lists: &'a [StepList],
    /// Token noise with the model's vocabulary (bi-encoders).
    pub noise: Option<&'a (NoiseConfig, TokenVocab)>,
}

impl Loader<'_> {
    /// The batch of examples `batch` in `epoch`.
    pub fn load(&self, batch: &[usize], epoch: usize) -> Result<LoadedBatch> {
        let lists = self.lists;
        match self.text {
            TextSide::Bi(text) => {
                let queries: Vec<&str> = batch.iter().map(|&i| lists[i].query.as_str()).collect();
                let passages: Vec<&str> = batch
                    .iter()
                    .flat_map(|&i| lists[i].texts.iter().map(String::as_str))
                    .collect();
                let mut queries = text.tokenize(&queries, Side::Query)?;
                let mut passages = text.tokenize(&passages, Side::Passage)?;
                if let Some((noise, vocab)) = self.noise {
                    let list = passages.len() / batch.len().max(1);
                    for (e, &i) in queries.iter_mut().zip(batch) {
                        // A new draw each epoch, the same on a resumed run.
                        let key = format!("{}@{epoch}", lists[i].id);
                        e.ids = noise.noisy_query(&e.ids, vocab, &key);
                        e.type_ids = vec![0; e.ids.len()];
                    }
                    for (n, e) in passages.iter_mut().enumerate() {
                        let key = format!("{}@{epoch}", lists[batch[n / list]].id);
                        e.ids = noise.noisy_passage(&e.ids, vocab, &key, (n % list) as u32);
                        e.type_ids = vec![0; e.ids.len()];
                    }
                }
                Ok(LoadedBatch::Bi { queries, passages })
            }
            TextSide::Cross(tokenizer) => {
                let pairs: Vec<(&str, &str)> = batch
                    .iter()
                    .flat_map(|&i| {
                        let list = &lists[i];
                        list.texts.iter().map(|t| (list.query.as_str(), t.as_str()))
                    })
                    .collect();
                Ok(LoadedBatch::Cross {
                    pairs: tokenizer.encode_pairs(&pairs)?,
                })
            }
        }
    }

    /// Each example's widths without noise (noise only keeps, masks, replaces, reorders or
    /// deletes tokens, so these bound the noised widths): what a token budget plans with.
    pub fn widths(&self) -> Result<Vec<ExampleWidth>> {
        let all: Vec<usize> = (0..self.lists.len()).collect();
        let mut widths = Vec::with_capacity(all.len());
        for chunk in all.chunks(1024) {
            let loaded = Loader {
                noise: None,
                ..*self
            }
            .load(chunk, 0)?;
            let longest = |items: &[Encoded]| items.iter().map(|e| e.ids.len()).max();
            let (queries, items): (Option<&[Encoded]>, &[Encoded]) = match &loaded {
                LoadedBatch::Bi { queries, passages } => (Some(queries), passages),
                LoadedBatch::Cross { pairs } => (None, pairs),
            };
            let mut start = 0;
            for (n, &i) in chunk.iter().enumerate() {
                let len = self.lists[i].texts.len();
                widths.push(ExampleWidth {
                    query: queries.map_or(0, |q| q[n].ids.len()),
                    item: longest(&items[start..start + len]).unwrap_or(0),
                });
                start += len;
            }
        }
        Ok(widths)
    }

    /// Loads `steps` in order on a background thread of `scope`, at most `ahead` steps before
    /// the receiver. The thread stops after the last step, at the first error (which it sends),
    /// or when the receiver is dropped.
    pub fn spawn<'scope>(
        self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        steps: &'scope [PlannedStep],
        ahead: usize,
    ) -> Receiver<Result<Vec<LoadedBatch>>>
    where
        Self: 'scope,
    {
        let (sender, receiver) = sync_channel(ahead.max(1));
        std::thread::Builder::new()
            .name("densify-loader".into())
            .spawn_scoped(scope, move || {
                for step in steps {
                    let loaded: Result<Vec<LoadedBatch>> = step
                        .batches
                        .iter()
                        .map(|batch| self.load(batch, step.epoch))
                        .collect();
                    let failed = loaded.is_err();
                    if sender.send(loaded).is_err() || failed {
                        return;
                    }
                }
            })
            .expect("the loader thread starts");
        receiver
    }
}
