//! Checks that a run, a training file or a split's judgements name documents of the corpus,
//! with errors that point at the offending line, and the line lookup they share.

use std::collections::HashSet;
use std::path::Path;

use crate::training_example::TrainingExample;
use crate::{DataError, Result, Run};

/// The document ids of a BEIR `corpus.jsonl` (streamed; the texts are not kept).
pub fn corpus_ids(corpus_path: &Path) -> Result<HashSet<String>> {
    let mut ids = HashSet::new();
    crate::beir::for_each_document(corpus_path, |d| {
        ids.insert(d.id);
        Ok(())
    })?;
    Ok(ids)
}

/// Errors unless every document `run` (read from `run_path`) names is in the corpus
/// (`in_corpus`; `corpus_path` only names it in the message). The error names the run file,
/// the first offending line in file order, the query and the document id:
/// `run.trec:17: query `q3`: document `d99` is not in the corpus (data/corpus.jsonl); ...`.
pub fn check_run_in_corpus(
    run: &Run,
    run_path: &Path,
    corpus_path: &Path,
    in_corpus: impl Fn(&str) -> bool,
) -> Result<()> {
    let Some((query, doc)) = run.iter().find_map(|(q, docs)| {
        docs.iter()
            .find(|d| !in_corpus(&d.doc_id))
            .map(|d| (q.to_owned(), d.doc_id.clone()))
    }) else {
        return Ok(());
    };
    let message = |query: &str, doc: &str| {
        format!(
            "query `{query}`: document `{doc}` is not in the corpus ({}); the run must rank \
             this dataset's documents",
            corpus_path.display()
        )
    };
    // The run keeps no line numbers: the file is read again, only on this error path, for the
    // first line (`query Q0 doc rank score tag`) naming a document outside the corpus.
    let scan = crate::lines::for_each_line(run_path, |number, line| {
        let mut fields = line.split_ascii_whitespace();
        if let (Some(q), Some(_), Some(d)) = (fields.next(), fields.next(), fields.next())
            && !in_corpus(d)
        {
            return Err(DataError::parse(run_path, number, message(q, d)));
        }
        Ok(())
    });
    Err(match scan {
        Err(e @ DataError::Parse { .. }) => e,
        // The file changed since it was read, or cannot be read again: no line to name.
        _ => DataError::Invalid {
            path: run_path.to_path_buf(),
            message: message(&query, &doc),
        },
    })
}

/// Errors unless every candidate of `examples` is in the corpus (`in_corpus`; `corpus_path`
/// only names it in the message). `source` is the file the examples came from: a training
/// JSONL, whose line each example keeps (`examples.jsonl:4: `candidates[1].doc_id`: document
/// `x` is not in the corpus (...)`), or, for examples built from qrels
/// ([`crate::training_example::pairs_from_qrels`], line 0), the qrels file, in which the judgement's
/// line is looked up.
pub fn check_examples_in_corpus(
    examples: &[TrainingExample],
    source: &Path,
    corpus_path: &Path,
    in_corpus: impl Fn(&str) -> bool,
) -> Result<()> {
    for e in examples {
        let Some((i, c)) = e
            .candidates
            .iter()
            .enumerate()
            .find(|(_, c)| !in_corpus(&c.doc_id))
        else {
            continue;
        };
        let corpus = corpus_path.display();
        if e.line > 0 {
            return Err(DataError::parse(
                source,
                e.line,
                format!(
                    "`candidates[{i}].doc_id`: document `{}` is not in the corpus ({corpus})",
                    c.doc_id
                ),
            ));
        }
        let message = format!(
            "query `{}`: the judged document `{}` is not in the corpus ({corpus}); the qrels \
             and the corpus do not belong together",
            e.query_id, c.doc_id
        );
        return Err(match judgement_line(source, &e.query_id, &c.doc_id) {
            Some(line) => DataError::parse(source, line, message),
            None => DataError::Invalid {
                path: source.to_path_buf(),
                message,
            },
        });
    }
    Ok(())
}

/// The 1-based line of a qrels file (TREC `query 0 doc grade` or BEIR `query doc grade`)
/// judging `doc` for `query`, if there is one (for messages).
pub fn judgement_line(path: &Path, query: &str, doc: &str) -> Option<usize> {
    let mut found = None;
    // The reader stops at the first error its callback returns: the match is one.
    let _ = crate::lines::for_each_line(path, |number, line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (q, d) = match fields.as_slice() {
            [q, _, d, _] | [q, d, _] => (*q, *d),
            _ => return Ok(()),
        };
        if q == query && d == doc {
            found = Some(number);
            return Err(DataError::Mismatch("found".into()));
        }
        Ok(())
    });
    found
}
