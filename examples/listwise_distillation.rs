//! Paper B's listwise distillation as a library call ([`densify::recipe`]) on a small slice:
//! inverse-cloze queries for 200 passages, the round trip through BM25 and the base model,
//! RRF lists, a teacher's scores with its top-1 and percentile filters, then 10 steps of
//! listwise KL + 0.1 x InfoNCE beside 10 steps of InfoNCE alone on the same lists, and the
//! three models on the dataset's test split. A few minutes on 2 CPU cores on NQ-UTD.
//!
//! Run: `cargo run --release --example listwise_distillation -- MODEL_DIR TEACHER_DIR
//! TEACHER_KIND DATASET OUT_DIR`, with TEACHER_KIND `cross_encoder` (a sentence-transformers
//! `CrossEncoder` or a `densify train` reranker folder) or `bi_encoder` (for example MODEL_DIR
//! fine-tuned on labels by `densify train`), DATASET a BEIR folder with `qrels/test.tsv`.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use densify::core::LineProgress;
use densify::recipe::{RecipeConfig, RecipeKind, run_recipe};
use densify::synth::filter::FilterStage;
use densify::train::score::TeacherKind;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, teacher, kind, dataset, output] = args.as_slice() else {
        eprintln!(
            "usage: listwise_distillation MODEL_DIR TEACHER_DIR TEACHER_KIND DATASET OUT_DIR"
        );
        std::process::exit(2);
    };
    let kind = match kind.as_str() {
        "cross_encoder" => TeacherKind::CrossEncoder,
        "bi_encoder" => TeacherKind::BiEncoder,
        other => {
            eprintln!("TEACHER_KIND is cross_encoder or bi_encoder, not `{other}`");
            std::process::exit(2);
        }
    };
    let mut config = RecipeConfig {
        model: PathBuf::from(model),
        dataset: dataset.clone(),
        output: PathBuf::from(output),
        ..RecipeConfig::defaults(RecipeKind::ListwiseDistillation)
    };
    for stage in config.filter.iter_mut().flat_map(|f| f.stages.iter_mut()) {
        if let FilterStage::Teacher(t) = stage {
            t.model = PathBuf::from(teacher);
            t.kind = kind;
        }
    }
    // The slice: 200 passages' queries, 10 steps of batch 8 for each student, test split only.
    config.generate.queries.max_passages = Some(200);
    for train in [Some(&mut config.train), config.baseline.as_mut()]
        .into_iter()
        .flatten()
    {
        train.batch_size = 8;
        train.max_steps = Some(10);
    }
    config.evaluate.splits = vec!["test".into()];
    match run_recipe(
        &config,
        Path::new("<examples/listwise_distillation.rs>"),
        &Device::flex(),
        &mut LineProgress::default(),
    ) {
        Ok(report) => {
            println!("{}", report.table);
            println!("distilled model: {}", report.model.display());
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
