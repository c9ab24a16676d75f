//! Generation runs: queries for corpus passages and graded documents for real queries, written
//! as resumable JSONL with provenance and exported as a BEIR dataset.
//!
//! # Output folder
//!
//! | file | content |
//! |---|---|
//! | `generated_queries.jsonl` / `generated_documents.jsonl` | one row per request: kept or dropped, raw and cleaned text, provenance |
//! | `corpus.jsonl`, `queries.jsonl`, `qrels/train.tsv` | the BEIR dataset of the kept rows |
//! | `train.jsonl` (documents only) | one graded list per query, in the training-list schema (`densify_data::training_example`) |
//!
//! Re-running with the same output skips every request already in the JSONL (kept or dropped),
//! so an interrupted run resumes where it stopped; the BEIR files are rewritten atomically from
//! the whole JSONL at the end of each run. A row whose id is already on an earlier line (two
//! runs appending to one folder, a hand edit) is skipped, counted once and reported against
//! the JSONL with its line ([`GenerationSummary::duplicates`]). When no row is kept, no BEIR
//! file (and no `qrels/` folder) is written.

mod documents;
mod export;
mod queries;
mod run;

pub use documents::{DocumentGenerationConfig, DocumentRow, generate_documents, sample_queries};
pub use export::{export_documents, export_queries};
pub use queries::{QueryGenerationConfig, QueryRow, generate_queries, sample_passages};
pub use run::GenerationSummary;

#[cfg(test)]
mod tests {
    use super::run::{ResumedRun, sample_in_order};
    use super::*;
    use crate::clean::DropReason;
    use crate::generator::Provenance;
    use crate::query_type::QueryType;
    use densify_data::Document;

    fn row(id: &str, passage: &str) -> QueryRow {
        QueryRow {
            id: id.into(),
            passage_id: passage.into(),
            kind: QueryType::Question,
            text: "a query".into(),
            raw: Some("a query".into()),
            dropped: None,
            provenance: Provenance {
                generator: "test".into(),
                model: String::new(),
                template: String::new(),
                template_hash: String::new(),
                seed: 1,
            },
        }
    }

    #[test]
    fn export_refuses_a_passage_that_is_not_in_the_corpus() {
        let dir = std::env::temp_dir().join(format!("densify-export-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rows = dir.join("generated_queries.jsonl");
        let lines: Vec<String> = [row("q1", "d1"), row("q2", "gone")]
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        std::fs::write(&rows, lines.join("\n") + "\n").unwrap();
        let corpus = vec![Document {
            id: "d1".into(),
            title: String::new(),
            text: "text".into(),
            metadata: None,
        }];
        let e = export_queries(&rows, &corpus, &dir)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("passage `gone`, which is not in the corpus"),
            "{e}"
        );
        assert!(!dir.join("queries.jsonl").exists(), "nothing is written");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn fresh(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("densify-gen-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn corpus() -> Vec<Document> {
        vec![Document {
            id: "d1".into(),
            title: String::new(),
            text: "text".into(),
            metadata: None,
        }]
    }

    #[test]
    fn with_no_kept_row_nothing_is_written() {
        let dir = fresh("none-kept");
        let rows = dir.join("generated_queries.jsonl");
        let mut dropped = row("q1", "d1");
        dropped.dropped = Some(DropReason::TooLong);
        dropped.text = String::new();
        std::fs::write(&rows, serde_json::to_string(&dropped).unwrap() + "\n").unwrap();
        let out = dir.join("out");
        let e = export_queries(&rows, &corpus(), &out)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no row was kept") && e.contains("nothing was written"),
            "{e}"
        );
        assert!(!out.exists(), "no corpus.jsonl, no qrels/");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_repeated_row_is_reported_against_its_file_and_line_and_counted_once() {
        let dir = fresh("repeated");
        let rows = dir.join("generated_queries.jsonl");
        let lines: Vec<String> = [row("q1", "d1"), row("q2", "d1"), row("q1", "d1")]
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        std::fs::write(&rows, lines.join("\n") + "\n").unwrap();
        let run = ResumedRun::<QueryRow>::open(&rows).unwrap();
        assert_eq!(run.rows.len(), 2);
        assert_eq!(run.summary.resumed, 2);
        assert_eq!(run.summary.total_kept(), 2, "q1 is counted once");
        assert_eq!(run.summary.duplicates.len(), 1);
        let message = &run.summary.duplicates[0];
        assert!(
            message.contains("generated_queries.jsonl:3: row `q1` repeats line 1"),
            "{message}"
        );
        assert!(run.summary.to_string().contains(message.as_str()));
        drop(run);
        // The export keeps the first row: no duplicate query id in queries.jsonl.
        let n = export_queries(&rows, &corpus(), &dir).unwrap();
        assert_eq!(n, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn samples_are_seeded_and_keep_corpus_order() {
        let items: Vec<usize> = (0..100).collect();
        let a = sample_in_order(&items, Some(10), 42);
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(a, sample_in_order(&items, Some(10), 42));
        assert_ne!(a, sample_in_order(&items, Some(10), 43));
        assert_eq!(sample_in_order(&items, Some(1000), 1).len(), 100);
    }

    #[test]
    fn the_summary_counts_kept_and_dropped_rows_per_group() {
        let mut s = GenerationSummary::default();
        s.count("question", None);
        s.count("question", Some(DropReason::TooLong));
        s.count("title", Some(DropReason::TooLong));
        assert_eq!((s.total_kept(), s.total_dropped()), (1, 2));
        let text = s.to_string();
        assert!(
            text.contains("question   kept      1  dropped     1 (too_long 1)"),
            "{text}"
        );
    }
}
