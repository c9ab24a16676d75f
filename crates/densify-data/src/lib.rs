//! # densify-data
//!
//! The files densify reads and writes, as streams with errors that name the file and line:
//!
//! - [`beir`]: BEIR datasets (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`), readers
//!   and writers that round-trip, and named datasets on a search path;
//! - [`Qrels`]: TREC qrels and BEIR tsv judgements;
//! - [`Run`]: TREC run files, parsed on all cores;
//! - [`embeddings`]: embeddings files (safetensors with the ids in the header);
//! - [`training_example`]: training lists (a query, its candidates, positives, teacher scores,
//!   grades) as validated JSONL, the format the trainer, miner, scorer and synthetic-data
//!   stages share; [`corpus_check`]: a run or training file naming documents the corpus lacks;
//! - `download` (feature `download`): published BEIR zips fetched, checked and unpacked
//!   atomically.
//!
//! Every writer goes through `densify_core::AtomicFile`: a kill or an error midway leaves the
//! previous file as it was.

mod error;
pub mod lines;

pub mod beir;
pub mod corpus_check;
#[cfg(feature = "download")]
pub mod download;
pub mod embeddings;
pub mod qrels;
pub mod run;
pub mod training_example;

pub use beir::{Dataset, Document, Query};
pub use embeddings::Embeddings;
pub use error::{DataError, Result};
pub use qrels::Qrels;
pub use run::{Run, ScorePrecision, ScoredDoc};
pub use training_example::{Candidate, TrainingExample};

#[cfg(test)]
mod guarded_inputs {
    use super::*;

    fn file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("densify-guard-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn a_byte_order_mark_does_not_change_the_first_id() {
        let qrels = Qrels::from_file(file("q.tsv", b"\xef\xbb\xbfq1 0 d1 1\nq2 0 d2 1\n")).unwrap();
        assert!(qrels.query("q1").is_some(), "the first query keeps its id");
        let tsv = Qrels::from_file(file(
            "b.tsv",
            b"\xef\xbb\xbfquery-id\tcorpus-id\tscore\nq1\td1\t1\n",
        ))
        .unwrap();
        assert!(
            tsv.query("q1").is_some(),
            "the BEIR header is still recognised"
        );
        let run = Run::from_file(file(
            "r.trec",
            b"\xef\xbb\xbfq1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0 t\n",
        ))
        .unwrap();
        assert_eq!(run.query("q1").map(<[ScoredDoc]>::len), Some(2));
        let queries = beir::read_queries(file(
            "q.jsonl",
            b"\xef\xbb\xbf{\"_id\": \"a\", \"text\": \"x\"}\n",
        ))
        .unwrap();
        assert_eq!(queries[0].id, "a");
    }

    #[test]
    fn messages_name_the_real_fault_and_its_line() {
        let big = Qrels::from_file(file("big.tsv", b"q1 0 d1 1\nq1 0 d2 99999999999\n"))
            .unwrap_err()
            .to_string();
        assert!(
            big.contains("big.tsv:2: the grade `99999999999` is out of range"),
            "{big}"
        );
        let minus = Qrels::from_file(file("minus.tsv", b"q1 0 d1 -\n"))
            .unwrap_err()
            .to_string();
        assert!(minus.contains("must be an integer, found `-`"), "{minus}");
        // Invalid UTF-8 on line 3 of a corpus: the line is named, as eval names it in runs.
        let corpus = file(
            "bad-utf8.jsonl",
            b"{\"_id\": \"a\", \"text\": \"x\"}\n{\"_id\": \"b\", \"text\": \"y\"}\n{\"_id\": \"c\", \"text\": \"\xff\"}\n",
        );
        let err = beir::read_corpus(&corpus).unwrap_err().to_string();
        assert!(
            err.contains("bad-utf8.jsonl:3: the line is not valid UTF-8"),
            "{err}"
        );
        let err = Run::from_file(file(
            "bad-utf8.trec",
            b"q1 Q0 d1 1 2.0 t\nq1 Q0 \xfe 2 1.0 t\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("bad-utf8.trec:2:") && err.contains("UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn embeddings_refuse_duplicate_ids_and_non_finite_values() {
        let e = Embeddings::new(vec!["a".into(), "a".into()], 1, vec![1.0, 2.0])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`a` appears twice"), "{e}");
        let e = Embeddings::new(
            vec!["a".into(), "b".into()],
            2,
            vec![1.0, 2.0, f32::NAN, 0.0],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("row `b`") && e.contains("NaN"), "{e}");
    }
}
