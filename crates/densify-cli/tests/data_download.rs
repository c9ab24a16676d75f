//! `densify data download` against a real HTTP server on 127.0.0.1 serving small BEIR zips
//! (no outside network here): checksum pinning, atomic unpacking, refusals.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

fn densify(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_densify"))
        .args(args)
        .env_remove("DENSIFY_DATA")
        .output()
        .unwrap()
}

/// A zip holding `files` (path, content).
fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in files {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(content.as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// Serves `routes` (path -> body) on 127.0.0.1 for up to `requests` requests, then stops.
fn serve(routes: Vec<(&'static str, Vec<u8>)>, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
                    break;
                }
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = match routes.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => ("200 OK", body.clone()),
                None => ("404 Not Found", b"not found".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/zip\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    address
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("densify-download-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const CORPUS: &str = "{\"_id\": \"d1\", \"title\": \"\", \"text\": \"a document\"}\n";
const QUERIES: &str = "{\"_id\": \"q1\", \"text\": \"a query for a document\"}\n";
const QRELS: &str = "query-id\tcorpus-id\tscore\nq1\td1\t1\n";

#[test]
fn downloads_checks_and_unpacks_atomically() {
    let good = zip_of(&[
        ("tiny/corpus.jsonl", CORPUS),
        ("tiny/queries.jsonl", QUERIES),
        ("tiny/qrels/test.tsv", QRELS),
    ]);
    let no_corpus = zip_of(&[("empty/queries.jsonl", QUERIES)]);
    let escaping = zip_of(&[("../escape.txt", "x"), ("tiny/corpus.jsonl", CORPUS)]);
    let good_sha = sha256(&good);
    let server = serve(
        vec![
            ("/tiny.zip", good.clone()),
            ("/empty.zip", no_corpus.clone()),
            ("/escape.zip", escaping.clone()),
            ("/scifact.zip", good.clone()),
        ],
        7,
    );
    let data = fresh_dir("ok");
    let data_arg = data.to_str().unwrap();
    // What a download killed midway leaves (a pid no process has): removed by the next one.
    std::fs::write(data.join(".tiny.zip.densify-tmp-999999999"), b"partial").unwrap();
    std::fs::create_dir_all(data.join(".tiny.densify-unpack-999999999/tiny")).unwrap();
    let url = format!("{server}/tiny.zip");

    // A zip with the right checksum: unpacked into data/tiny, nothing else left (the stale
    // temporaries included).
    let out = densify(&[
        "data",
        "download",
        "tiny",
        "--url",
        &url,
        "--sha256",
        &good_sha,
        "--data-dir",
        data_arg,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&good_sha), "{stderr}");
    assert_eq!(entries(&data), ["tiny"]);
    assert_eq!(
        std::fs::read_to_string(data.join("tiny/corpus.jsonl")).unwrap(),
        CORPUS
    );
    // And densify reads it as a dataset.
    let dataset = data.join("tiny");
    let run = data.join("bm25.trec");
    let out = densify(&[
        "bm25",
        "--dataset",
        dataset.to_str().unwrap(),
        "--output",
        run.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&run).unwrap();

    // An existing dataset is never replaced.
    let out = densify(&[
        "data",
        "download",
        "tiny",
        "--url",
        &url,
        "--sha256",
        &good_sha,
        "--data-dir",
        data_arg,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    // A mirror whose bytes differ from BEIR's pinned scifact checksum: refused, nothing left.
    let other = fresh_dir("mismatch");
    let out = densify(&[
        "data",
        "download",
        "scifact",
        "--url",
        &format!("{server}/scifact.zip"),
        "--data-dir",
        other.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("536e14446a0ba56ed1398ab1055f39fe852686ecad24a6306c80c490fa8e0165")
            && stderr.contains("nothing was unpacked"),
        "{stderr}"
    );
    assert!(entries(&other).is_empty(), "{:?}", entries(&other));

    // A zip that is not the named dataset, and one with an entry escaping the folder.
    for (name, body) in [("empty", &no_corpus), ("escape", &escaping)] {
        let out = densify(&[
            "data",
            "download",
            name,
            "--url",
            &format!("{server}/{name}.zip"),
            "--sha256",
            &sha256(body),
            "--data-dir",
            other.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}");
        let expected = if name == "empty" {
            "has no `empty/corpus.jsonl`"
        } else {
            "outside the data folder"
        };
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(entries(&other).is_empty(), "{name}: {:?}", entries(&other));
    }

    // A name BEIR does not publish, without a URL and checksum.
    let out = densify(&["data", "download", "robust04", "--data-dir", data_arg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("not a published BEIR dataset") && stderr.contains("scifact"));
}

/// A server that accepts the connection and never answers: the download fails after the read
/// timeout (`DENSIFY_DOWNLOAD_TIMEOUT_SECS`), naming the URL, instead of blocking forever, and
/// leaves nothing in the data folder.
#[test]
fn a_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/tiny.zip", listener.local_addr().unwrap());
    // Holds every accepted connection open without a byte of answer.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let data = fresh_dir("silent");
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_densify"))
        .args(["data", "download", "tiny", "--url", &url, "--sha256"])
        .arg("0".repeat(64))
        .args(["--data-dir", data.to_str().unwrap()])
        .env_remove("DENSIFY_DATA")
        .env("DENSIFY_DOWNLOAD_TIMEOUT_SECS", "2")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&url) && stderr.contains("2 s"), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(entries(&data).is_empty(), "{:?}", entries(&data));
}
