//! One TOML file per recipe run: the base model, the corpus, the run folder, then one table per
//! stage, each the configuration of the library call that stage makes, so nothing is
//! configured twice. `densify recipe --print-config adapt` prints a complete, commented one.

use std::path::PathBuf;

use densify_core::config::at_least_one;
use densify_core::{Config, InvalidField};
use densify_eval::bm25::Bm25Config;
use densify_loss::{KlDistillationConfig, LossConfig, SyclWassersteinConfig};
use densify_noise::{NoiseConfig, NoiseOp};
use densify_synth::filter::{
    FilterConfig, FilterStage, FuseConfig, PercentileCutConfig, RoundTripConfig,
    TeacherConfig as FilterTeacherConfig,
};
use densify_synth::{GeneratorKind, LocalServerConfig, SynthConfig};
use densify_train::hybrid::HybridTeacherConfig;
use densify_train::score::TeacherKind;
use densify_train::{MineConfig, TrainConfig};
use serde::{Deserialize, Serialize};

pub use crate::graded::GradedListsConfig;
pub use crate::unlabelled_queries::UnlabelledQueriesConfig;

/// Which recipe (`../shared/docs/METHODS.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipeKind {
    /// Label-free adaptation to a corpus: synthetic queries, BM25 + base-model candidates, the
    /// hybrid teacher, listwise distillation with token noise. Default.
    #[default]
    Adapt,
    /// Paper A, noisy self-training: a teacher fine-tuned on the dataset's labels gives soft
    /// labels over its own hard negatives for synthetic queries; the student is pre-trained on
    /// them with token noise, then fine-tuned on the labels (one iteration).
    NoisySelfTraining,
    /// Paper B, listwise distillation: synthetic queries kept by a round trip, fused
    /// candidates scored by a teacher (a cross-encoder, or any bi-encoder), the teacher's
    /// top-1 and percentile filters, listwise KL + 0.1 x InfoNCE; beside it the InfoNCE-only
    /// baseline on the same lists.
    ListwiseDistillation,
    /// SyCL: LLM-written documents at four relevance levels for the labelled split's queries,
    /// the Wasserstein list loss; beside it the binary InfoNCE baseline and the synthetic +
    /// real mix.
    Graded,
}

impl RecipeKind {
    /// The name in a recipe file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Adapt => "adapt",
            Self::NoisySelfTraining => "noisy_self_training",
            Self::ListwiseDistillation => "listwise_distillation",
            Self::Graded => "graded",
        }
    }
}

/// The candidates stage: BM25 and the base model's exact search over the synthetic queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CandidatesConfig {
    /// Documents per query in each run. Default 100.
    pub depth: usize,
    /// BM25's parameters. Default k1 = 0.9, b = 0.4 (Pyserini's BEIR settings).
    pub bm25: Bm25Config,
    /// Texts per encoding batch. Default 32.
    pub batch_size: usize,
}

impl Default for CandidatesConfig {
    fn default() -> Self {
        Self {
            depth: 100,
            bm25: Bm25Config::default(),
            batch_size: 32,
        }
    }
}

impl Config for CandidatesConfig {
    fn validate(&self) -> Result<(), InvalidField> {
        at_least_one("depth", self.depth as u64)?;
        at_least_one("batch_size", self.batch_size as u64)?;
        self.bm25.validate().map_err(|e| e.within("bm25"))
    }
}

/// The final evaluation: base and adapted model on every split of the dataset with qrels, and
/// on noised test queries (paper A's robustness figure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluateConfig {
    /// Splits evaluated. Default: every `qrels/*.tsv` of the dataset.
    pub splits: Vec<String>,
    /// The split whose queries are also evaluated with token noise. Default `test`.
    pub noised_split: String,
    /// Probability of the noise (densify-noise's `sequential`: shuffle, delete, replace, each
    /// at `p`). Default 0.1 (arXiv 2311.15563). 0 turns the noised rows off.
    pub noise_p: f64,
    /// Seed of the query noise. Default 0.
    pub noise_seed: u64,
    /// Texts per encoding batch. Default 32.
    pub batch_size: usize,
}

impl Default for EvaluateConfig {
    fn default() -> Self {
        Self {
            splits: Vec::new(),
            noised_split: "test".into(),
            noise_p: 0.1,
            noise_seed: 0,
            batch_size: 32,
        }
    }
}

impl Config for EvaluateConfig {
    fn validate(&self) -> Result<(), InvalidField> {
        at_least_one("batch_size", self.batch_size as u64)?;
        densify_core::config::probability("noise_p", self.noise_p)
    }
}

/// `noisy_self_training`'s loop (paper A, arXiv 2311.15563, step 7): the student of one
/// iteration is the next iteration's teacher, "tracking a held-out dev metric per iteration
/// and stopping when it stops improving" (the paper gives no criterion; this one is
/// `../shared/docs/METHODS.md`'s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IterateConfig {
    /// Iterations at most, each candidates -> lists -> pretrain -> finetune with the previous
    /// iteration's student as the teacher (the synthetic queries are the same). Default 1.
    pub max_iterations: usize,
    /// A split with qrels, not the labelled one, whose nDCG@10 decides: the labels-only
    /// teacher and each student are scored on it, the loop stops after the first student that
    /// is not above its teacher there, and the best student is the adapted model. Default
    /// none: every iteration runs and the last student is the adapted model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_split: Option<String>,
}

impl Default for IterateConfig {
    fn default() -> Self {
        Self {
            max_iterations: 1,
            dev_split: None,
        }
    }
}

impl Config for IterateConfig {
    fn validate(&self) -> Result<(), InvalidField> {
        at_least_one("max_iterations", self.max_iterations as u64)?;
        if self.dev_split.as_deref().is_some_and(str::is_empty) {
            return Err(InvalidField::new(
                "dev_split",
                "is empty: name a split with qrels, or leave it out",
            ));
        }
        Ok(())
    }
}

/// A recipe run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecipeConfig {
    /// Which recipe. Default `adapt`.
    pub recipe: RecipeKind,
    /// The base model folder (sentence-transformers layout). Required.
    pub model: PathBuf,
    /// The BEIR dataset (name or folder) whose corpus is adapted to. Required.
    pub dataset: String,
    /// The run folder: `manifest.json`, one folder per stage, `results.md`. Required.
    pub output: PathBuf,
    /// Synthetic queries (densify-synth's `SynthConfig`): inverse cloze without an LLM.
    pub generate: SynthConfig,
    /// A llama.cpp server (`llama-server`, densify-synth's `LocalServerConfig`) the recipe
    /// starts for the generate stage and stops after it; generation then uses an LLM at its
    /// URL (`generate.llm.base_url` is left unset). Default none.
    pub server: Option<LocalServerConfig>,
    /// BM25 and dense candidates.
    pub candidates: CandidatesConfig,
    /// `adapt`: filter stages over the synthetic queries. A `fuse` or `round_trip` stage with
    /// no `runs` gets the candidates stage's BM25 and dense runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterConfig>,
    /// `adapt`: the label-free teacher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<HybridTeacherConfig>,
    /// `adapt`: real queries without labels (a query log) in place of synthetic ones
    /// ([`crate::unlabelled_queries`]); the `generate` table is then not used. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries: Option<UnlabelledQueriesConfig>,
    /// `noisy_self_training`: fine-tuning on the dataset's labelled split, run twice (the
    /// teacher from `model`, then the pre-trained student); `model`, `output` and `dataset`
    /// are filled in by the driver, `split` names the labelled split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervised: Option<TrainConfig>,
    /// `noisy_self_training`: the teacher's hard negatives for each synthetic query, mined
    /// from its top `candidates.depth` (the run's scores become the soft labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mine: Option<MineConfig>,
    /// `noisy_self_training`: how many iterations, and the dev split that stops them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterate: Option<IterateConfig>,
    /// `listwise_distillation` and `graded`: the InfoNCE baseline trained on the same queries
    /// (densify-train's `TrainConfig`; `model`, `output`, `dataset` and `examples` filled in
    /// by the driver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<TrainConfig>,
    /// `graded`: which queries get documents and how the lists are built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graded: Option<GradedListsConfig>,
    /// The student's training on the synthetic lists (densify-train's `TrainConfig`);
    /// `model`, `output`, `dataset` and `examples` are the run's own and are filled in by the
    /// driver.
    pub train: TrainConfig,
    /// The final evaluation.
    pub evaluate: EvaluateConfig,
}

impl Default for RecipeConfig {
    /// The adapt recipe at a scale that runs in under an hour on 2 CPU cores for a corpus of
    /// a few thousand passages: 1000 synthetic queries, lists of 4 (the source passage and 3
    /// fused hard negatives), listwise distillation (KL at τ_t = 0.3, τ_s = 0.05, plus 0.1 ×
    /// InfoNCE; arXiv 2502.19712) with sequential token noise at p = 0.1 on both towers
    /// (arXiv 2311.15563), batch 16, lr 2e-5, one epoch.
    fn default() -> Self {
        let mut generate = SynthConfig::default();
        generate.queries.max_passages = Some(1000);
        let filter = FilterConfig {
            stages: vec![FilterStage::Fuse(FuseConfig {
                runs: Vec::new(),
                k: 60.0,
                depth: 30,
                min_candidates: 4,
                insert_source: true,
            })],
            ..FilterConfig::default()
        };
        let noise = NoiseOp::Sequential { p: 0.1 };
        let mut train = TrainConfig {
            loss: LossConfig::ListwiseDistillation(Default::default()),
            batch_size: 16,
            list_size: 4,
            checkpoint_every: 10,
            noise: Some(NoiseConfig {
                query: noise.clone(),
                passage: noise,
                ..NoiseConfig::default()
            }),
            ..TrainConfig::default()
        };
        train.optimizer.learning_rate = 2e-5;
        Self {
            recipe: RecipeKind::Adapt,
            model: PathBuf::new(),
            dataset: String::new(),
            output: PathBuf::new(),
            generate,
            server: None,
            candidates: CandidatesConfig::default(),
            filter: Some(filter),
            teacher: Some(HybridTeacherConfig::default()),
            queries: None,
            supervised: None,
            mine: None,
            iterate: None,
            baseline: None,
            graded: None,
            train,
            evaluate: EvaluateConfig::default(),
        }
    }
}

impl RecipeConfig {
    /// The defaults of recipe `kind`:
    /// - `adapt`: [`RecipeConfig::default`];
    /// - `noisy_self_training` (arXiv 2311.15563): 500 synthetic queries, the teacher's top 30,
    ///   lists of 8 (the source passage and the teacher's 7 best negatives, its scores the soft
    ///   labels), the student pre-trained with KL(teacher || student) at τ = 0.05 (the paper's
    ///   τ = 1 is for DPR's dot products; all-MiniLM-L6-v2 scores by cosine, so InfoNCE's
    ///   0.05), sequential noise p = 0.1 on both towers, passages cut at 128 tokens (the
    ///   paper's MS MARCO length), batch 16, lr 2e-5, then fine-tuned on the labels as the
    ///   teacher was (InfoNCE with in-batch negatives, batch 32, one epoch);
    /// - `listwise_distillation` (arXiv 2502.19712): 500 synthetic queries; the source passage
    ///   in the top 20 of BM25 and of the base model (round trip); RRF (k = 60) of both runs,
    ///   top 30; the teacher's scores, its first must be the source; queries whose top
    ///   teacher score is below the 25th percentile dropped, scores min-max normalised at the
    ///   1st/99th percentiles, lists of the teacher's best 8 (paper B: 20; 8 fits the CPU
    ///   budget); listwise KL (τ_t = 0.3, τ_s = 0.05) + 0.1 x InfoNCE (τ = 0.01), passages at
    ///   128 tokens, batch 16, lr 2e-5, one epoch; the baseline InfoNCE (τ = 0.05, in-batch
    ///   and list negatives) with the same data and schedule. The teacher's folder has no
    ///   default (`filter.stages`' `teacher` stage);
    /// - `graded` (SyCL, arXiv 2503.23239): documents at levels 3, 2, 1, 0 for 200 of the
    ///   `train` split's queries; the Wasserstein loss at τ = 0.05 (SyCL's τ = 1 is for
    ///   contriever's dot products; cosine scores need InfoNCE's scale), batch 16, lr 2e-5,
    ///   one epoch; the binary InfoNCE baseline (positive = level >= 2) and the synthetic +
    ///   real mix (the real positive at level 3, two BM25 negatives at level 1).
    pub fn defaults(kind: RecipeKind) -> Self {
        let mut config = Self {
            recipe: kind,
            ..Self::default()
        };
        match kind {
            RecipeKind::Adapt => {}
            RecipeKind::NoisySelfTraining => {
                config.generate.queries.max_passages = Some(500);
                config.candidates.depth = 30;
                config.filter = None;
                config.teacher = None;
                config.supervised = Some(TrainConfig::default());
                config.mine = Some(MineConfig {
                    range_max: 30,
                    num_negatives: 7,
                    output_scores: true,
                    ..MineConfig::default()
                });
                config.iterate = Some(IterateConfig::default());
                config.train.loss = LossConfig::KlDistillation(KlDistillationConfig {
                    teacher_temperature: 0.05,
                    student_temperature: 0.05,
                    ..KlDistillationConfig::default()
                });
                config.train.list_size = 8;
                config.train.passage_max_length = Some(128);
            }
            RecipeKind::ListwiseDistillation => {
                config.generate.queries.max_passages = Some(500);
                config.teacher = None;
                config.filter = Some(FilterConfig {
                    stages: vec![
                        FilterStage::RoundTrip(RoundTripConfig {
                            runs: Vec::new(),
                            top_k: 20,
                        }),
                        FilterStage::Fuse(FuseConfig {
                            runs: Vec::new(),
                            k: 60.0,
                            depth: 30,
                            min_candidates: 8,
                            insert_source: true,
                        }),
                        FilterStage::Teacher(FilterTeacherConfig {
                            model: PathBuf::new(),
                            kind: TeacherKind::CrossEncoder,
                            max_length: 512,
                            batch_size: 32,
                            require_top1: true,
                        }),
                        FilterStage::PercentileCut(PercentileCutConfig {
                            keep: 8,
                            ..PercentileCutConfig::default()
                        }),
                    ],
                    ..FilterConfig::default()
                });
                config.train.noise = None;
                config.train.list_size = 8;
                config.train.passage_max_length = Some(128);
                let mut baseline = config.train.clone();
                baseline.loss = LossConfig::InfoNce(Default::default());
                config.baseline = Some(baseline);
            }
            RecipeKind::Graded => {
                config.filter = None;
                config.teacher = None;
                config.generate.documents.max_queries = Some(200);
                config.graded = Some(GradedListsConfig::default());
                config.train.noise = None;
                config.train.loss =
                    LossConfig::SyclWasserstein(SyclWassersteinConfig { temperature: 0.05 });
                config.train.list_size = 4;
                let mut baseline = config.train.clone();
                baseline.loss = LossConfig::InfoNce(Default::default());
                baseline.list_size = 3;
                config.baseline = Some(baseline);
            }
        }
        config
    }

    /// The generation configuration the generate stage runs with a local server at
    /// `base_url`: the recipe's `generate` table with the server's URL and the LLM generator.
    /// Without a `server` table, the `generate` table as it is.
    pub fn resolved_generate(&self, base_url: Option<String>) -> SynthConfig {
        let mut generate = self.generate.clone();
        if self.server.is_some() {
            generate.llm.base_url = base_url;
            generate.generator = GeneratorKind::Openai;
        }
        generate
    }

    /// A training stage as the driver runs it: `table` from the base model into the run's
    /// `folder`, on the lists `examples` whose texts are the corpus of the run's `dataset`
    /// folder (paths relative to the run folder); with a dev evaluation, on `dev`'s lists.
    pub fn resolved_training(
        &self,
        table: &TrainConfig,
        dataset: &str,
        examples: &str,
        dev: Option<&str>,
        folder: &str,
    ) -> TrainConfig {
        let mut train = table.clone();
        train.model = self.model.clone();
        train.output = self.output.join(folder);
        train.dataset = self.output.join(dataset).display().to_string();
        train.examples = Some(self.output.join(examples));
        if let (Some(eval), Some(dev)) = (&mut train.eval, dev) {
            eval.dataset = Some(self.output.join(dataset).display().to_string());
            eval.split = "dev".into();
            eval.examples = Some(self.output.join(dev));
        }
        train
    }

    /// The student's training (`train`) as the driver runs it: on the teacher's lists
    /// (`adapt`), the filter stage's (`listwise_distillation`) or the graded lists (`graded`,
    /// whose list size is the number of levels).
    pub fn resolved_train(&self) -> TrainConfig {
        match self.recipe {
            RecipeKind::ListwiseDistillation => self.resolved_training(
                &self.train,
                "filter",
                "filter/train.jsonl",
                Some("filter/dev.jsonl"),
                "train",
            ),
            RecipeKind::Graded => {
                let mut train = self.resolved_training(
                    &self.train,
                    "lists",
                    "lists/graded.jsonl",
                    None,
                    "train",
                );
                train.list_size = self.generate.documents.levels.len();
                train
            }
            _ => self.resolved_training(
                &self.train,
                "filter",
                "teacher/train.jsonl",
                Some("teacher/dev.jsonl"),
                "train",
            ),
        }
    }

    /// The InfoNCE baseline (`baseline`) as the driver runs it, on the student's queries:
    /// the filter stage's lists (`listwise_distillation`), or the graded lists with the
    /// levels >= 2 as positives (`graded`, lists of one positive and the levels below 2).
    /// `None` for recipes without one.
    pub fn resolved_baseline(&self) -> Option<TrainConfig> {
        let table = self.baseline.as_ref()?;
        Some(match self.recipe {
            RecipeKind::Graded => {
                let mut train =
                    self.resolved_training(table, "lists", "lists/binary.jsonl", None, "baseline");
                train.list_size = crate::graded::binary_list_size(&self.generate.documents.levels);
                train
            }
            _ => self.resolved_training(
                table,
                "filter",
                "filter/train.jsonl",
                Some("filter/dev.jsonl"),
                "baseline",
            ),
        })
    }

    /// `graded`'s synthetic + real student: the `train` table on the mixed lists, whose size
    /// is the levels plus the real positive and the BM25 negatives. `None` unless `graded.mix`.
    pub fn resolved_mixed(&self) -> Option<TrainConfig> {
        let graded = self.graded.as_ref().filter(|g| g.mix)?;
        let mut train =
            self.resolved_training(&self.train, "lists", "lists/mixed.jsonl", None, "mixed");
        train.list_size = self.generate.documents.levels.len() + 1 + graded.bm25_negatives;
        Some(train)
    }

    /// `noisy_self_training`'s fine-tuning on the labels as the driver runs it: the
    /// `supervised` table (its defaults when absent) from `model` into the run's `folder`
    /// (`teacher` or `finetune`), on the recipe's dataset.
    pub fn resolved_supervised(&self, model: &std::path::Path, folder: &str) -> TrainConfig {
        let mut train = self.supervised.clone().unwrap_or_default();
        train.model = model.to_path_buf();
        train.output = self.output.join(folder);
        train.dataset.clone_from(&self.dataset);
        train
    }

    /// `noisy_self_training`'s student pre-training as the driver runs it: the `train` table
    /// from the base model on the mined lists (`lists/train.jsonl`), whose texts are the
    /// generate stage's corpus.
    pub fn resolved_pretrain(&self) -> TrainConfig {
        self.resolved_pretrain_in("pretrain", "lists")
    }

    /// [`RecipeConfig::resolved_pretrain`] for one iteration: into the run's `folder`, on
    /// `lists/train.jsonl` of the run's `lists` folder.
    pub fn resolved_pretrain_in(&self, folder: &str, lists: &str) -> TrainConfig {
        let mut train = self.train.clone();
        train.model = self.model.clone();
        train.output = self.output.join(folder);
        train.dataset = self.output.join("generate").display().to_string();
        train.examples = Some(self.output.join(lists).join("train.jsonl"));
        train
    }

    /// The candidates stage's runs: BM25 and the base model's dense run.
    pub fn candidate_runs(&self) -> Vec<PathBuf> {
        let folder = self.output.join("candidates");
        vec![folder.join("bm25.trec"), folder.join("dense.trec")]
    }

    /// The filter stages the driver runs: a `fuse` or `round_trip` stage without `runs` gets
    /// [`RecipeConfig::candidate_runs`].
    pub fn resolved_filter(&self) -> FilterConfig {
        let runs = self.candidate_runs();
        let mut filter = self.filter.clone().unwrap_or_default();
        for stage in &mut filter.stages {
            match stage {
                FilterStage::Fuse(f) if f.runs.is_empty() => f.runs.clone_from(&runs),
                FilterStage::RoundTrip(r) if r.runs.is_empty() => r.runs.clone_from(&runs),
                _ => {}
            }
        }
        filter
    }

    /// A complete, commented recipe file for `kind` (the defaults, with the required fields
    /// as placeholders to edit).
    pub fn template(kind: RecipeKind) -> String {
        let mut config = Self {
            model: PathBuf::from("models/all-MiniLM-L6-v2"),
            dataset: "scifact".into(),
            output: PathBuf::from(format!("runs/scifact-{}", kind.name())),
            ..Self::defaults(kind)
        };
        for stage in config.filter.iter_mut().flat_map(|f| f.stages.iter_mut()) {
            if let FilterStage::Teacher(t) = stage
                && t.model.as_os_str().is_empty()
            {
                t.model = PathBuf::from("models/cross-encoder");
            }
        }
        let stages = match kind {
            RecipeKind::NoisySelfTraining => {
                "teacher (supervised) -> generate -> candidates -> lists (mine) -> pretrain \
                 (train) -> finetune (supervised) [-> dev], then again from candidates with the \
                 student as the teacher up to `iterate.max_iterations` times (`candidates-2`, \
                 ...; `iterate.dev_split` stops the loop at the first student no better than \
                 its teacher there) -> evaluate"
            }
            RecipeKind::ListwiseDistillation => {
                "generate -> candidates -> filter (round trip, fuse, teacher, percentile cut; \
                 set the teacher stage's `model`) -> train -> baseline -> evaluate"
            }
            RecipeKind::Graded => {
                "generate (graded documents; needs an LLM: [server] or generate.llm.base_url) \
                 -> lists (graded) -> train -> baseline -> mixed -> evaluate"
            }
            RecipeKind::Adapt => "generate -> candidates -> filter -> teacher -> train -> evaluate",
        };
        format!(
            "# densify recipe `{}` (densify recipe run THIS_FILE). Every table is the\n\
             # configuration of one stage's library call; unknown fields are errors.\n\
             # Stages: {stages}.\n\
             # `train.model`, `train.output`, `train.dataset` and `train.examples` are filled in\n\
             # by the driver from `model` and `output`.\n\
             # For LLM queries from a llama.cpp server the recipe starts and stops itself, add\n\
             # [server] with `binary` (llama-server) and `model` (a GGUF file);\n\
             # scripts/fetch_llama_server.sh builds and fetches both.\n{}{}",
            kind.name(),
            match kind {
                RecipeKind::Adapt => {
                    "# With a log of real queries but no labels, use them instead of synthetic ones:\n\
                     # [queries] with `file` (BEIR queries.jsonl or id<TAB>text lines) or `split`\n\
                     # (a split of the dataset, its query texts only); `max_queries` to cap them.\n"
                }
                RecipeKind::NoisySelfTraining => {
                    "# To iterate while a held-out figure improves, set `iterate.max_iterations` above 1\n\
                     # and `iterate.dev_split` to a split with qrels other than the labelled one\n\
                     # (NFCorpus: \"dev\"); the best student there is kept.\n"
                }
                _ => "",
            },
            config.to_toml_string(),
            stages = stages,
        )
    }
}

fn required(field: &str, empty: bool) -> Result<(), InvalidField> {
    if empty {
        return Err(InvalidField::new(field, "is required"));
    }
    Ok(())
}

/// The recipe file as written, without the recipe's defaults: parsed first, so a type error or
/// an unknown field is named with its line.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct AsWritten(RecipeConfig);

impl Config for AsWritten {}

/// Lays `over` onto `base`: tables merge key by key, anything else (values, arrays such as
/// `[[filter.stages]]`) replaces.
fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(base), toml::Value::Table(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

impl Config for RecipeConfig {
    /// Parses a recipe file over the recipe's defaults ([`RecipeConfig::default`]), table by
    /// table: a `[train]` table that sets `batch_size` keeps the recipe's loss, list size and
    /// noise (a plain serde default would start the whole table from `TrainConfig`'s own
    /// defaults). An optional setting the recipe turns on (`train.noise`) is changed by
    /// setting it, not removed.
    fn from_toml_str(
        text: &str,
        origin: impl AsRef<std::path::Path>,
    ) -> Result<Self, densify_core::ConfigError> {
        let origin = origin.as_ref();
        let kind = AsWritten::from_toml_str(text, origin)?.0.recipe;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let parse_error = |message: String| densify_core::ConfigError::Parse {
            path: origin.to_path_buf(),
            line: 1,
            column: 1,
            field: None,
            message,
        };
        let written: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| parse_error(e.to_string()))?;
        let mut merged =
            toml::Value::try_from(Self::defaults(kind)).expect("the defaults serialise");
        merge(&mut merged, toml::Value::Table(written));
        let config: Self = merged
            .try_into()
            .map_err(|e: toml::de::Error| parse_error(e.message().to_owned()))?;
        config
            .validate()
            .map_err(|invalid| densify_core::ConfigError::Invalid {
                path: origin.to_path_buf(),
                line: None,
                invalid,
            })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), InvalidField> {
        required("model", self.model.as_os_str().is_empty())?;
        required("dataset", self.dataset.is_empty())?;
        required("output", self.output.as_os_str().is_empty())?;
        self.generate.validate().map_err(|e| e.within("generate"))?;
        if let Some(server) = &self.server {
            server.validate().map_err(|e| e.within("server"))?;
            if self.generate.generator == GeneratorKind::InverseCloze {
                return Err(InvalidField::new(
                    "server",
                    "is set, but `generate.generator` is inverse_cloze, which uses no LLM",
                ));
            }
            if self.generate.llm.base_url.is_some() {
                return Err(InvalidField::new(
                    "server",
                    "is set together with `generate.llm.base_url`: give one (the server's URL is its own)",
                ));
            }
        }
        self.candidates
            .validate()
            .map_err(|e| e.within("candidates"))?;
        // Each recipe's own tables: present, valid; another recipe's: refused, so a table
        // the run would ignore is never mistaken for a setting.
        let present = [
            ("filter", self.filter.is_some()),
            ("teacher", self.teacher.is_some()),
            ("supervised", self.supervised.is_some()),
            ("mine", self.mine.is_some()),
            ("iterate", self.iterate.is_some()),
            ("baseline", self.baseline.is_some()),
            ("graded", self.graded.is_some()),
        ];
        if let Some(queries) = &self.queries {
            if self.recipe != RecipeKind::Adapt {
                return Err(InvalidField::new(
                    "queries",
                    format!(
                        "is not read by recipe `{}` (only `adapt` takes unlabelled queries)",
                        self.recipe.name()
                    ),
                ));
            }
            if self.server.is_some() {
                return Err(InvalidField::new(
                    "server",
                    "is set together with `[queries]`: given queries are not generated",
                ));
            }
            queries.validate().map_err(|e| e.within("queries"))?;
        }
        let own: &[&str] = match self.recipe {
            RecipeKind::Adapt => &["filter", "teacher"],
            RecipeKind::NoisySelfTraining => &["supervised", "mine", "iterate"],
            RecipeKind::ListwiseDistillation => &["filter", "baseline"],
            RecipeKind::Graded => &["graded", "baseline"],
        };
        for (table, is_present) in present {
            let is_own = own.contains(&table);
            if is_own && !is_present {
                return Err(InvalidField::new(
                    table,
                    format!("is required by recipe `{}`", self.recipe.name()),
                ));
            }
            if !is_own && is_present {
                return Err(InvalidField::new(
                    table,
                    format!(
                        "is not read by recipe `{}` (remove the table)",
                        self.recipe.name()
                    ),
                ));
            }
        }
        match self.recipe {
            RecipeKind::NoisySelfTraining => {
                let supervised = self.resolved_supervised(&self.model, "teacher");
                supervised.validate().map_err(|e| e.within("supervised"))?;
                if let Some(mine) = &self.mine {
                    mine.validate().map_err(|e| e.within("mine"))?;
                }
                if let Some(iterate) = &self.iterate {
                    iterate.validate().map_err(|e| e.within("iterate"))?;
                    if iterate.dev_split.as_deref() == Some(supervised.split.as_str()) {
                        return Err(InvalidField::new(
                            "iterate.dev_split",
                            format!(
                                "is `{}`, the labelled split the teacher and the students are \
                                 fine-tuned on: name a held-out split",
                                supervised.split
                            ),
                        ));
                    }
                }
                self.resolved_pretrain()
                    .validate()
                    .map_err(|e| e.within("train"))?;
            }
            RecipeKind::Adapt | RecipeKind::ListwiseDistillation => {
                self.validate_filter()?;
                if let Some(teacher) = &self.teacher {
                    teacher.validate().map_err(|e| e.within("teacher"))?;
                }
                self.resolved_train()
                    .validate()
                    .map_err(|e| e.within("train"))?;
            }
            RecipeKind::Graded => {
                if self.generate.generator == GeneratorKind::InverseCloze {
                    return Err(InvalidField::new(
                        "generate.generator",
                        "is inverse_cloze, but recipe `graded` has an LLM write documents \
                         (give [server] or `generate.llm.base_url`)",
                    ));
                }
                if let Some(graded) = &self.graded {
                    graded.validate().map_err(|e| e.within("graded"))?;
                }
                let levels = &self.generate.documents.levels;
                if !(levels.iter().any(|&l| l >= 2) && levels.iter().any(|&l| l < 2)) {
                    return Err(InvalidField::new(
                        "generate.documents.levels",
                        format!(
                            "is {levels:?}: recipe `graded` needs a level of 2 or more (the \
                             baseline's positives) and one below 2 (its negatives)"
                        ),
                    ));
                }
                self.resolved_train()
                    .validate()
                    .map_err(|e| e.within("train"))?;
                if let Some(mixed) = self.resolved_mixed() {
                    mixed.validate().map_err(|e| e.within("train"))?;
                }
            }
        }
        if let Some(baseline) = self.resolved_baseline() {
            baseline.validate().map_err(|e| e.within("baseline"))?;
        }
        self.evaluate.validate().map_err(|e| e.within("evaluate"))
    }
}

impl RecipeConfig {
    /// The filter table of `adapt` and `listwise_distillation`: valid, with a `fuse` stage;
    /// for `listwise_distillation` also a `teacher` stage naming its model.
    fn validate_filter(&self) -> Result<(), InvalidField> {
        let filter = self.resolved_filter();
        filter.validate().map_err(|e| e.within("filter"))?;
        if !filter
            .stages
            .iter()
            .any(|s| matches!(s, FilterStage::Fuse(_)))
        {
            return Err(InvalidField::new(
                "filter.stages",
                "needs a `fuse` stage: it builds the candidate lists the teacher scores",
            ));
        }
        if self.recipe != RecipeKind::ListwiseDistillation {
            return Ok(());
        }
        let teacher = filter.stages.iter().enumerate().find_map(|(i, s)| match s {
            FilterStage::Teacher(t) => Some((i, t)),
            _ => None,
        });
        match teacher {
            None => Err(InvalidField::new(
                "filter.stages",
                "needs a `teacher` stage: its scores are the soft labels listwise distillation \
                 learns from",
            )),
            Some((i, t)) if t.model.as_os_str().is_empty() => Err(InvalidField::new(
                format!("filter.stages[{i}].model"),
                "is required: the teacher's folder (a cross-encoder, or a bi-encoder with \
                 `kind = \"bi_encoder\"`)",
            )),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_back_to_the_defaults() {
        let text = RecipeConfig::template(RecipeKind::Adapt);
        let parsed = RecipeConfig::from_toml_str(&text, "adapt.toml").unwrap();
        assert_eq!(parsed.train, RecipeConfig::default().train);
        assert_eq!(parsed.filter, RecipeConfig::default().filter);
        assert_eq!(parsed.dataset, "scifact");
    }

    #[test]
    fn each_template_parses_back_to_its_recipes_defaults() {
        let kind = RecipeKind::NoisySelfTraining;
        let text = RecipeConfig::template(kind);
        assert!(
            text.contains("[supervised]") && text.contains("[mine]"),
            "{text}"
        );
        assert!(
            !text.contains("[teacher]") && !text.contains("[filter]"),
            "{text}"
        );
        let parsed = RecipeConfig::from_toml_str(&text, "nst.toml").unwrap();
        let defaults = RecipeConfig::defaults(kind);
        assert_eq!(parsed.recipe, kind);
        assert_eq!(parsed.train, defaults.train);
        assert_eq!(parsed.supervised, defaults.supervised);
        assert_eq!(parsed.mine, defaults.mine);
        assert_eq!(parsed.filter, None);
        assert_eq!(parsed.train.list_size, 8);
        let adapt = RecipeConfig::template(RecipeKind::Adapt);
        assert!(
            !adapt.contains("[supervised]") && !adapt.contains("[mine]"),
            "{adapt}"
        );
    }

    #[test]
    fn unlabelled_queries_are_adapts_and_need_one_source() {
        let base = "model = \"m\"\ndataset = \"scifact\"\noutput = \"run\"\n";
        let ok = format!("{base}[queries]\nsplit = \"train\"\n");
        let parsed = RecipeConfig::from_toml_str(&ok, "r.toml").unwrap();
        assert_eq!(parsed.queries.unwrap().split.as_deref(), Some("train"));
        let other =
            format!("recipe = \"noisy_self_training\"\n{base}[queries]\nsplit = \"train\"\n");
        let e = RecipeConfig::from_toml_str(&other, "r.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("r.toml") && e.contains("queries"), "{e}");
        let neither = format!("{base}[queries]\nmax_queries = 3\n");
        let e = RecipeConfig::from_toml_str(&neither, "r.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("queries.file"), "{e}");
        assert!(RecipeConfig::template(RecipeKind::Adapt).contains("[queries]"));
    }

    #[test]
    fn the_listwise_and_graded_templates_parse_back_to_their_defaults() {
        for kind in [RecipeKind::ListwiseDistillation, RecipeKind::Graded] {
            let text = RecipeConfig::template(kind);
            assert!(text.contains("[baseline]"), "{text}");
            let parsed = RecipeConfig::from_toml_str(&text, "r.toml").unwrap();
            let defaults = RecipeConfig::defaults(kind);
            assert_eq!(parsed.recipe, kind);
            assert_eq!(parsed.train, defaults.train);
            assert_eq!(parsed.baseline, defaults.baseline);
            assert_eq!(parsed.graded, defaults.graded);
            assert_eq!(parsed.teacher, None);
        }
        let listwise = RecipeConfig::defaults(RecipeKind::ListwiseDistillation);
        let names: Vec<&str> = listwise
            .filter
            .as_ref()
            .unwrap()
            .stages
            .iter()
            .map(FilterStage::name)
            .collect();
        assert_eq!(names, ["round_trip", "fuse", "teacher", "percentile_cut"]);
        assert!(matches!(
            listwise.train.loss,
            LossConfig::ListwiseDistillation(_)
        ));
        assert!(matches!(
            listwise.baseline.as_ref().unwrap().loss,
            LossConfig::InfoNce(_)
        ));
        assert_eq!(listwise.baseline.as_ref().unwrap().list_size, 8);
        assert!(listwise.train.noise.is_none());
        // The graded lists fix the list sizes: 4 levels; 1 positive + levels 1 and 0; 4 + the
        // real positive + 2 BM25 negatives.
        let mut graded = RecipeConfig::defaults(RecipeKind::Graded);
        graded.train.list_size = 9;
        graded.output = PathBuf::from("run");
        assert_eq!(graded.resolved_train().list_size, 4);
        assert_eq!(graded.resolved_baseline().unwrap().list_size, 3);
        assert_eq!(graded.resolved_mixed().unwrap().list_size, 7);
        assert_eq!(
            graded.resolved_mixed().unwrap().examples,
            Some(PathBuf::from("run/lists/mixed.jsonl"))
        );
        graded.graded.as_mut().unwrap().mix = false;
        assert!(graded.resolved_mixed().is_none());
        assert!(RecipeConfig::default().resolved_baseline().is_none());
    }

    #[test]
    fn a_table_keeps_the_recipe_defaults_it_does_not_set() {
        let config = RecipeConfig::from_toml_str(
            "model = \"m\"\ndataset = \"d\"\noutput = \"o\"\n[train]\nbatch_size = 4\n[train.optimizer]\nlearning_rate = 1e-3\n",
            "r.toml",
        )
        .unwrap();
        let defaults = RecipeConfig::default();
        assert_eq!(config.train.batch_size, 4);
        assert_eq!(config.train.optimizer.learning_rate, 1e-3);
        assert_eq!(
            config.train.loss, defaults.train.loss,
            "listwise distillation kept"
        );
        assert_eq!(config.train.list_size, 4);
        assert_eq!(config.train.noise, defaults.train.noise);
        assert_eq!(
            config.train.optimizer.warmup_ratio,
            defaults.train.optimizer.warmup_ratio
        );
        assert_eq!(config.generate.queries.max_passages, Some(1000));
    }

    #[test]
    fn a_server_table_is_validated_within_server_and_sets_the_llm() {
        let head = "model = \"m\"\ndataset = \"d\"\noutput = \"o\"\n";
        let config = RecipeConfig::from_toml_str(
            &format!(
                "{head}[server]\nbinary = \"bin/llama-server\"\nmodel = \"smol.gguf\"\nslots = 2\n"
            ),
            "r.toml",
        )
        .unwrap();
        let server = config.server.clone().unwrap();
        assert_eq!(server.model, PathBuf::from("smol.gguf"));
        assert_eq!((server.slots, server.context, server.threads), (2, 8192, 2));
        let generate = config.resolved_generate(Some("http://127.0.0.1:5/v1".into()));
        assert_eq!(generate.generator, GeneratorKind::Openai);
        assert_eq!(generate.resolved_kind(), GeneratorKind::Openai);
        assert_eq!(
            generate.llm.base_url.as_deref(),
            Some("http://127.0.0.1:5/v1")
        );
        assert_eq!(generate.queries, config.generate.queries);
        assert_eq!(
            RecipeConfig::default().resolved_generate(None),
            RecipeConfig::default().generate
        );
        assert_eq!(RecipeConfig::default().server, None);
        for (table, field) in [
            (
                "[server]\nmodel = \"s.gguf\"\nslots = 0\n",
                "`server.slots`",
            ),
            ("[server]\nbinary = \"b\"\n", "`server.model`"),
            (
                "[server]\nmodel = \"s.gguf\"\nextra_args = [\"--port\", \"1\"]\n",
                "`server.extra_args`",
            ),
            (
                "[generate]\ngenerator = \"inverse_cloze\"\n[server]\nmodel = \"s.gguf\"\n",
                "`server`",
            ),
            (
                "[generate.llm]\nbase_url = \"http://h:1/v1\"\n[server]\nmodel = \"s.gguf\"\n",
                "`server`",
            ),
        ] {
            let e = RecipeConfig::from_toml_str(&format!("{head}{table}"), "r.toml")
                .unwrap_err()
                .to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
        let e =
            RecipeConfig::from_toml_str(&format!("{head}[server]\nmodle = \"s.gguf\"\n"), "r.toml")
                .unwrap_err()
                .to_string();
        assert!(e.contains("r.toml:5") && e.contains("modle"), "{e}");
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        let e = RecipeConfig::from_toml_str(
            "model = \"m\"\ndataset = \"d\"\noutput = \"o\"\n[train]\nbatch_sise = 4\n",
            "r.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("r.toml:5") && e.contains("batch_sise"), "{e}");
        let e = RecipeConfig::from_toml_str("dataset = \"d\"\noutput = \"o\"\n", "r.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`model`") && e.contains("required"), "{e}");
        let e = RecipeConfig::from_toml_str(
            "model = \"m\"\ndataset = \"d\"\noutput = \"o\"\n[teacher]\nbm25_weight = 2.0\n",
            "r.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("teacher.bm25_weight"), "{e}");
        let e = RecipeConfig::from_toml_str(
            "model = \"m\"\ndataset = \"d\"\noutput = \"o\"\n[candidates]\ndepth = 0\n",
            "r.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("candidates.depth"), "{e}");
    }
}
