//! Fuzzing the file parsers with proptest: arbitrary bytes, and near-valid files (valid lines
//! with one mutation: a field dropped or duplicated, a number replaced by NaN, an infinity, a
//! huge or negative value, a byte-order mark, CRLF, stray quotes, invalid UTF-8, a truncated
//! last line). The property, for every parser: no panic, and either a value or an error that
//! names the file and, for line formats, a line that exists.
//!
//! CI runs `DENSIFY_FUZZ_CASES` cases per target (256 by default, a few seconds); the longer
//! run documented in `docs/robustness.md` sets it higher.

use std::path::{Path, PathBuf};

use densify_data::embeddings::Embeddings;
use densify_data::{DataError, Qrels, Run, beir};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("DENSIFY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A file per case (the parsers read paths, as the CLI does).
fn write(target: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("densify-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{target}.input"));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The property on an error: it names `path`, and a line-located error names a line that
/// exists (1 to the number of lines).
fn check_error(error: &DataError, path: &Path, bytes: &[u8]) -> Result<(), TestCaseError> {
    let message = error.to_string();
    prop_assert!(
        message.contains(&path.display().to_string()),
        "the error does not name the file: {message}"
    );
    if let DataError::Parse { line, .. } = error {
        let lines = bytes.split(|&b| b == b'\n').count();
        prop_assert!(
            *line >= 1 && *line <= lines,
            "line {line} of a {lines}-line file: {message}"
        );
    }
    Ok(())
}

const RUN_LINES: &[&str] = &[
    "q1 Q0 d1 1 12.5 bm25",
    "q1 Q0 d2 2 11.0 bm25",
    "q2\tQ0\td1\t1\t-3e2\tbm25",
    "q2 Q0 d3 2 0 bm25",
];
const QRELS_LINES: &[&str] = &["q1 0 d1 1", "q1 0 d2 2", "q2 0 d3 0"];
const BEIR_QRELS_LINES: &[&str] = &["query-id\tcorpus-id\tscore", "q1\td1\t1", "q2\td3\t2"];
const CORPUS_LINES: &[&str] = &[
    r#"{"_id": "d1", "title": "A title", "text": "Some text.", "metadata": {"url": "x"}}"#,
    r#"{"_id": 7, "text": "numeric id"}"#,
    r#"{"_id": "d3", "title": null, "text": "nulls \u00e9 \"quoted\""}"#,
];
const QUERY_LINES: &[&str] = &[
    r#"{"_id": "q1", "text": "what is a cat"}"#,
    r#"{"_id": "q2", "text": "vitamin d", "metadata": {}}"#,
];

/// One mutation of a valid file's text.
fn mutation() -> impl Strategy<Value = (usize, u8, String)> {
    (
        0usize..64,
        0u8..14,
        prop_oneof![
            Just("NaN".to_owned()),
            Just("inf".to_owned()),
            Just("-inf".to_owned()),
            Just("1e400".to_owned()),
            Just("99999999999999999999".to_owned()),
            Just("-1".to_owned()),
            Just("\"".to_owned()),
            Just("{".to_owned()),
            Just("\t".to_owned()),
            Just(String::new()),
            "\\PC{0,12}",
        ],
    )
}

/// Applies mutation `kind` at line `at` (mod the line count) with `token`.
fn mutate(lines: &[&str], (at, kind, token): &(usize, u8, String)) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
    let i = at % lines.len();
    let fields: Vec<&[u8]> = lines[i]
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .collect();
    let field = at % fields.len().max(1);
    let join = |fields: Vec<Vec<u8>>| fields.join(&b' ');
    match kind {
        // A field replaced by the token.
        0..=2 => {
            let mut f: Vec<Vec<u8>> = fields.iter().map(|f| f.to_vec()).collect();
            if !f.is_empty() {
                f[field] = token.as_bytes().to_vec();
            }
            lines[i] = join(f);
        }
        // A field dropped, or duplicated.
        3 => {
            let mut f: Vec<Vec<u8>> = fields.iter().map(|f| f.to_vec()).collect();
            if !f.is_empty() {
                f.remove(field);
            }
            lines[i] = join(f);
        }
        4 => {
            let mut f: Vec<Vec<u8>> = fields.iter().map(|f| f.to_vec()).collect();
            if !f.is_empty() {
                let copy = f[field].clone();
                f.insert(field, copy);
            }
            lines[i] = join(f);
        }
        // The token inserted inside the line.
        5 => {
            let cut = at % (lines[i].len() + 1);
            lines[i].splice(cut..cut, token.bytes());
        }
        // The line cut short.
        6 => {
            let cut = at % (lines[i].len() + 1);
            lines[i].truncate(cut);
        }
        // A line duplicated (a second judgement or hit for the same pair).
        7 => {
            let copy = lines[i].clone();
            lines.insert(i, copy);
        }
        // An invalid UTF-8 byte.
        8 => {
            let cut = at % (lines[i].len() + 1);
            lines[i].insert(cut, 0xff);
        }
        // A byte-order mark, CRLF endings, blank lines.
        9 => {
            lines[0].splice(0..0, *b"\xef\xbb\xbf");
        }
        10 => lines.iter_mut().for_each(|l| l.push(b'\r')),
        11 => lines.insert(i, Vec::new()),
        // Everything dropped but the mutated line.
        12 => lines = vec![lines[i].clone()],
        // A NUL byte.
        _ => lines[i].push(0),
    };
    let mut bytes = lines.join(&b'\n');
    if at % 3 != 0 {
        bytes.push(b'\n');
    }
    bytes
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn run_parser(bytes in prop::collection::vec(any::<u8>(), 0..400), m in mutation()) {
        for bytes in [bytes, mutate(RUN_LINES, &m)] {
            let path = write("run", &bytes);
            if let Err(e) = Run::from_file(&path) {
                check_error(&e, &path, &bytes)?;
            }
        }
    }

    #[test]
    fn qrels_parser(bytes in prop::collection::vec(any::<u8>(), 0..400), m in mutation()) {
        for bytes in [bytes, mutate(QRELS_LINES, &m), mutate(BEIR_QRELS_LINES, &m)] {
            let path = write("qrels", &bytes);
            match Qrels::from_file(&path) {
                Ok(qrels) => prop_assert!(qrels.judgement_count() > 0),
                Err(e) => check_error(&e, &path, &bytes)?,
            }
        }
    }

    #[test]
    fn beir_jsonl_parsers(bytes in prop::collection::vec(any::<u8>(), 0..400), m in mutation()) {
        for bytes in [bytes.clone(), mutate(CORPUS_LINES, &m)] {
            let path = write("corpus", &bytes);
            if let Err(e) = beir::read_corpus(&path) {
                check_error(&e, &path, &bytes)?;
            }
        }
        for bytes in [bytes, mutate(QUERY_LINES, &m)] {
            let path = write("queries", &bytes);
            if let Err(e) = beir::read_queries(&path) {
                check_error(&e, &path, &bytes)?;
            }
        }
    }

    #[test]
    fn embeddings_parser(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let valid = {
            let path = write("embeddings-valid", b"");
            Embeddings::new(vec!["a".into(), "b".into()], 3, vec![0.5, -1.0, 2.0, 0.0, 1.0, 3.0])
                .unwrap()
                .write(&path)
                .unwrap();
            std::fs::read(&path).unwrap()
        };
        // Random bytes, a valid file with a few bytes changed (header or values), and a
        // truncated one.
        let mut flipped = valid.clone();
        for (index, byte) in flips {
            let i = index.index(flipped.len());
            flipped[i] = byte;
        }
        let truncated = valid[..cut.index(valid.len())].to_vec();
        for bytes in [bytes, flipped, truncated] {
            let path = write("embeddings", &bytes);
            match Embeddings::read(&path) {
                Ok(e) => prop_assert!((0..e.len()).all(|i| e.row(i).iter().all(|v| v.is_finite()))),
                Err(e) => check_error(&e, &path, &bytes)?,
            }
        }
    }
}
