//! Fetching a published BEIR dataset: download the zip over HTTP(S), check its checksum, unpack
//! it into the data folder atomically (feature `download`).
//!
//! The BEIR project publishes an md5 per dataset zip (the table of its README); those are pinned
//! in [`BEIR_DATASETS`], with a sha256 where one is known for the same file. The zip is streamed
//! to a temporary file beside the destination while both digests are computed; a checksum that
//! differs is an error and leaves nothing behind. The archive is unpacked into a temporary
//! folder (entries that would escape it are refused), checked to hold `corpus.jsonl`, and
//! renamed into place, so a dataset folder is either complete or absent.
//!
//! A server that accepts and then says nothing cannot hang a download: connecting (DNS, TCP,
//! TLS) has [`DownloadTimeouts::connect`] (30 s), and the answer's headers and then every read
//! of the body have [`DownloadTimeouts::read`] (60 s; `DENSIFY_DOWNLOAD_TIMEOUT_SECS` sets it).
//! The read limit is an idle limit, not a limit on the whole transfer, so a large zip on a slow
//! link still downloads.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};

/// Where the BEIR project publishes its dataset zips (`<base>/<name>.zip`).
pub const BEIR_BASE_URL: &str =
    "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets";

/// A published dataset archive and its checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedDataset {
    /// The dataset name (the zip's name and its top folder).
    pub name: &'static str,
    /// The md5 the BEIR README publishes for the zip.
    pub md5: &'static str,
    /// The zip's sha256, where known.
    pub sha256: Option<&'static str>,
}

/// The BEIR datasets with public zips, with the md5 of the BEIR README's table.
pub const BEIR_DATASETS: [PublishedDataset; 15] = [
    beir("msmarco", "444067daf65d982533ea17ebd59501e4"),
    beir("trec-covid", "ce62140cb23feb9becf6270d0d1fe6d1"),
    beir("nfcorpus", "a89dba18a62ef92f7d323ec890a0d38d"),
    beir("nq", "d4d3d2e48787a744b6f6e691ff534307"),
    beir("hotpotqa", "f412724f78b0d91183a0e86805e16114"),
    beir("fiqa", "17918ed23cd04fb15047f73e6c3bd9d9"),
    beir("arguana", "8ad3e3c2a5867cdced806d6503f29b99"),
    beir("webis-touche2020", "46f650ba5a527fc69e0a6521c5a23563"),
    beir("cqadupstack", "4e41456d7df8ee7760a7f866133bda78"),
    beir("quora", "18fb154900ba42a600f84b839c173167"),
    beir("dbpedia-entity", "c2a39eb420a3164af735795df012ac2c"),
    beir("scidocs", "38121350fc3a4d2f48850f6aff52e4a9"),
    beir("fever", "5a818580227bfb4b35bb6fa46d9b6c03"),
    beir("climate-fever", "8b66f0a9126c521bae2bde127b4dc99d"),
    PublishedDataset {
        name: "scifact",
        md5: "5f7d1de60b170fc8027bb7898e2efca1",
        sha256: Some("536e14446a0ba56ed1398ab1055f39fe852686ecad24a6306c80c490fa8e0165"),
    },
];

const fn beir(name: &'static str, md5: &'static str) -> PublishedDataset {
    PublishedDataset {
        name,
        md5,
        sha256: None,
    }
}

/// The published dataset called `name`, if BEIR publishes a zip for it.
pub fn published(name: &str) -> Option<PublishedDataset> {
    BEIR_DATASETS.into_iter().find(|d| d.name == name)
}

/// The names [`published`] knows.
pub fn published_names() -> Vec<&'static str> {
    BEIR_DATASETS.iter().map(|d| d.name).collect()
}

/// The environment variable that sets [`DownloadTimeouts::read`], in seconds (e.g. `2` or
/// `0.5`).
pub const TIMEOUT_ENV: &str = "DENSIFY_DOWNLOAD_TIMEOUT_SECS";

/// How long a download waits before it gives up with an error naming the URL and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadTimeouts {
    /// Resolving the host and connecting, TLS handshake included. Default 30 s.
    pub connect: Duration,
    /// The longest wait for the next bytes: for the answer's headers, then for each read of the
    /// body (an idle limit: a slow transfer that keeps sending is not cut). Default 60 s, or
    /// `DENSIFY_DOWNLOAD_TIMEOUT_SECS`.
    pub read: Duration,
}

impl Default for DownloadTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(30),
            read: Duration::from_secs(60),
        }
    }
}

impl DownloadTimeouts {
    /// The defaults, with the read timeout from `DENSIFY_DOWNLOAD_TIMEOUT_SECS` when it is set.
    pub fn from_env() -> Result<Self> {
        let value = std::env::var_os(TIMEOUT_ENV).map(|v| v.to_string_lossy().into_owned());
        Self::with_read_setting(value.as_deref())
    }

    /// The defaults, with the read timeout `value` (seconds, a number > 0) when given; an error
    /// naming `DENSIFY_DOWNLOAD_TIMEOUT_SECS` otherwise.
    pub fn with_read_setting(value: Option<&str>) -> Result<Self> {
        let mut timeouts = Self::default();
        if let Some(text) = value {
            timeouts.read = text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .ok_or_else(|| {
                    DataError::Mismatch(format!(
                        "{TIMEOUT_ENV}={text:?}: must be a number of seconds > 0 (the read \
                         timeout of downloads; default {})",
                        Self::default().read.as_secs_f64()
                    ))
                })?;
        }
        Ok(timeouts)
    }
}

/// What to check a download against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    /// A sha256, lower-case hex.
    Sha256(String),
    /// An md5, lower-case hex (what BEIR publishes).
    Md5(String),
}

impl Checksum {
    /// The strongest checksum known for a published dataset.
    pub fn of(dataset: &PublishedDataset) -> Self {
        match dataset.sha256 {
            Some(s) => Self::Sha256(s.to_owned()),
            None => Self::Md5(dataset.md5.to_owned()),
        }
    }
}

/// What a download did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// The dataset folder, `<data_dir>/<name>`.
    pub folder: PathBuf,
    /// Bytes downloaded.
    pub bytes: u64,
    /// The zip's sha256 (to pin it).
    pub sha256: String,
}

/// Downloads the zip at `url`, checks it against `checksum`, and unpacks the dataset folder
/// `name` into `data_dir/name`. Refuses when that folder exists (a complete dataset is never
/// replaced). `progress` is called with (bytes so far, total bytes when the server says).
/// Waits at most [`DownloadTimeouts::from_env`] (connect 30 s, read 60 s or
/// `DENSIFY_DOWNLOAD_TIMEOUT_SECS`).
pub fn download_dataset(
    name: &str,
    url: &str,
    checksum: &Checksum,
    data_dir: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Downloaded> {
    let timeouts = DownloadTimeouts::from_env()?;
    download_dataset_with_timeouts(name, url, checksum, data_dir, &timeouts, progress)
}

/// [`download_dataset`] with explicit timeouts.
pub fn download_dataset_with_timeouts(
    name: &str,
    url: &str,
    checksum: &Checksum,
    data_dir: &Path,
    timeouts: &DownloadTimeouts,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Downloaded> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(DataError::Mismatch(format!(
            "`{name}` is not a dataset name (no slashes, not starting with a dot)"
        )));
    }
    let folder = data_dir.join(name);
    if folder.exists() {
        return Err(DataError::Mismatch(format!(
            "{} already exists; remove it first to download `{name}` again",
            folder.display()
        )));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| DataError::io(data_dir, e))?;
    // What an earlier, killed download of this dataset left behind.
    densify_core::remove_stale(data_dir, &format!(".{name}.zip.densify-tmp-"));
    densify_core::remove_stale(data_dir, &format!(".{name}.densify-unpack-"));
    let pid = std::process::id();
    let zip_path = data_dir.join(format!(".{name}.zip.densify-tmp-{pid}"));
    let unpack_dir = data_dir.join(format!(".{name}.densify-unpack-{pid}"));
    let result = fetch(url, &zip_path, checksum, timeouts, progress).and_then(|(bytes, sha256)| {
        unpack(&zip_path, &unpack_dir, name)?;
        let inner = unpack_dir.join(name);
        std::fs::rename(&inner, &folder).map_err(|e| DataError::io(&folder, e))?;
        Ok(Downloaded {
            folder: folder.clone(),
            bytes,
            sha256,
        })
    });
    let _ = std::fs::remove_file(&zip_path);
    let _ = std::fs::remove_dir_all(&unpack_dir);
    result
}

/// Streams `url` into `path`, returning (bytes, sha256) once the checksum matches.
fn fetch(
    url: &str,
    path: &Path,
    checksum: &Checksum,
    timeouts: &DownloadTimeouts,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<(u64, String)> {
    let failed = |message: String| DataError::Mismatch(format!("{url}: {message}"));
    let read_secs = timeouts.read.as_secs_f64();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_resolve(Some(timeouts.connect))
        .timeout_connect(Some(timeouts.connect))
        .timeout_send_request(Some(timeouts.read))
        .timeout_recv_response(Some(timeouts.read))
        .build()
        .new_agent();
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Timeout(which) => failed(match which {
            ureq::Timeout::Resolve | ureq::Timeout::Connect => format!(
                "download failed: could not connect within {} s (the connect timeout)",
                timeouts.connect.as_secs_f64()
            ),
            _ => format!(
                "download failed: the server sent no answer within {read_secs} s (the read \
                 timeout; set {TIMEOUT_ENV} to wait longer)"
            ),
        }),
        other => failed(format!("download failed: {other}")),
    })?;
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    // ureq 3 has no limit per read, only on the whole body (which would cut large zips on slow
    // links); a thread reads and the wait for each chunk is limited here instead. After a
    // timeout that thread is left blocked on the silent connection until it closes.
    let chunks = read_in_background(response.into_body().into_reader());
    let mut file = File::create(path).map_err(|e| DataError::io(path, e))?;
    let (mut sha, mut md5) = (Sha256::new(), Md5::new());
    let mut bytes = 0u64;
    loop {
        let chunk = match chunks.recv_timeout(timeouts.read) {
            Ok(Chunk::Data(chunk)) => chunk,
            Ok(Chunk::End) => break,
            Ok(Chunk::Failed(e)) => {
                return Err(failed(format!(
                    "download interrupted after {bytes} bytes: {e}"
                )));
            }
            Err(RecvTimeoutError::Timeout) => {
                return Err(failed(format!(
                    "download stalled: the server sent nothing for {read_secs} s after {bytes} \
                     bytes (the read timeout; set {TIMEOUT_ENV} to wait longer)"
                )));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(failed(format!(
                    "download interrupted after {bytes} bytes: the reading thread stopped"
                )));
            }
        };
        sha.update(&chunk);
        md5.update(&chunk);
        file.write_all(&chunk).map_err(|e| DataError::io(path, e))?;
        bytes += chunk.len() as u64;
        progress(bytes, total);
    }
    file.sync_all().map_err(|e| DataError::io(path, e))?;
    let sha256 = hex(&sha.finalize());
    let md5 = hex(&md5.finalize());
    let (kind, expected, found) = match checksum {
        Checksum::Sha256(s) => ("sha256", s, &sha256),
        Checksum::Md5(s) => ("md5", s, &md5),
    };
    if !expected.eq_ignore_ascii_case(found) {
        return Err(failed(format!(
            "{kind} {found} differs from the pinned {expected}: the file is not the published \
             one (nothing was unpacked)"
        )));
    }
    Ok((bytes, sha256))
}

/// What the reading thread hands over.
enum Chunk {
    /// The next bytes of the body.
    Data(Vec<u8>),
    /// The body is complete.
    End,
    /// Reading failed.
    Failed(std::io::Error),
}

/// Reads `reader` to its end on a thread, handing over chunks through a bounded channel (so
/// the reader runs at most a few chunks ahead of the writer).
fn read_in_background(mut reader: impl Read + Send + 'static) -> mpsc::Receiver<Chunk> {
    let (sender, receiver) = mpsc::sync_channel(4);
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let chunk = match reader.read(&mut buffer) {
                Ok(0) => Chunk::End,
                Ok(n) => Chunk::Data(buffer[..n].to_vec()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => Chunk::Failed(e),
            };
            let last = !matches!(chunk, Chunk::Data(_));
            // A closed channel: the download gave up (a timeout); stop reading.
            if sender.send(chunk).is_err() || last {
                return;
            }
        }
    });
    receiver
}

/// Unpacks `zip_path` into `dir`, refusing entries that escape it, and checks `dir/name` is a
/// BEIR dataset folder.
fn unpack(zip_path: &Path, dir: &Path, name: &str) -> Result<()> {
    let bad = |message: String| DataError::Mismatch(format!("{}: {message}", zip_path.display()));
    let file = File::open(zip_path).map_err(|e| DataError::io(zip_path, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| bad(format!("not a zip: {e}")))?;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| bad(format!("entry {i}: {e}")))?;
        let Some(relative) = entry.enclosed_name() else {
            return Err(bad(format!(
                "entry `{}` would be written outside the data folder",
                entry
                    .name()
                    .map(|n| n.into_owned())
                    .unwrap_or_else(|_| "<unreadable name>".into())
            )));
        };
        let out = dir.join(&relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&out).map_err(|e| DataError::io(&out, e))?;
            continue;
        }
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
        }
        let mut target = File::create(&out).map_err(|e| DataError::io(&out, e))?;
        std::io::copy(&mut entry, &mut target)
            .map_err(|e| bad(format!("entry `{}`: {e}", relative.display())))?;
    }
    if !dir.join(name).join("corpus.jsonl").is_file() {
        return Err(bad(format!(
            "the archive has no `{name}/corpus.jsonl`: not the BEIR dataset `{name}`"
        )));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_table_has_beirs_checksums() {
        let scifact = published("scifact").unwrap();
        assert_eq!(scifact.md5, "5f7d1de60b170fc8027bb7898e2efca1");
        assert!(matches!(Checksum::of(&scifact), Checksum::Sha256(_)));
        assert!(matches!(
            Checksum::of(&published("nfcorpus").unwrap()),
            Checksum::Md5(_)
        ));
        assert!(
            published("robust04").is_none(),
            "BEIR publishes no zip for robust04"
        );
        assert!(published_names().iter().all(|n| published(n).is_some()));
    }

    #[test]
    fn the_read_timeout_comes_from_the_environment_setting() {
        let default = DownloadTimeouts::with_read_setting(None).unwrap();
        assert_eq!(default, DownloadTimeouts::default());
        assert_eq!(default.connect, Duration::from_secs(30));
        assert_eq!(default.read, Duration::from_secs(60));
        let two = DownloadTimeouts::with_read_setting(Some(" 2 ")).unwrap();
        assert_eq!(two.read, Duration::from_secs(2));
        assert_eq!(two.connect, Duration::from_secs(30));
        assert_eq!(
            DownloadTimeouts::with_read_setting(Some("0.5"))
                .unwrap()
                .read,
            Duration::from_millis(500)
        );
        for bad in ["0", "-1", "soon", "inf", "NaN", "1e300"] {
            let err = DownloadTimeouts::with_read_setting(Some(bad))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("DENSIFY_DOWNLOAD_TIMEOUT_SECS={bad:?}: must be")),
                "{bad}: {err}"
            );
        }
    }

    /// A server on a local port that accepts one connection, writes `answer`, then holds the
    /// connection open without a word for 5 s.
    fn silent_server(answer: &'static [u8]) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/d.zip", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let _ = socket.write_all(answer);
            let _ = socket.flush();
            std::thread::sleep(Duration::from_secs(5));
        });
        url
    }

    #[test]
    fn a_server_that_never_answers_times_out_naming_the_url_and_the_limit() {
        let timeouts = DownloadTimeouts {
            connect: Duration::from_secs(5),
            read: Duration::from_millis(500),
        };
        let dir = std::env::temp_dir().join(format!("densify-download-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let checksum = Checksum::Md5("0".repeat(32));
        for (answer, expected) in [
            (
                &b""[..],
                "the server sent no answer within 0.5 s (the read timeout; set \
                 DENSIFY_DOWNLOAD_TIMEOUT_SECS to wait longer)",
            ),
            (
                &b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"[..],
                "download stalled: the server sent nothing for 0.5 s after 10 bytes",
            ),
        ] {
            let url = silent_server(answer);
            let started = std::time::Instant::now();
            let err = fetch(
                &url,
                &dir.join("d.zip"),
                &checksum,
                &timeouts,
                &mut |_, _| {},
            )
            .unwrap_err()
            .to_string();
            assert!(err.starts_with(&format!("{url}: ")), "{err}");
            assert!(err.contains(expected), "{err}");
            assert!(started.elapsed() < Duration::from_secs(4), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn digests_are_hex_of_the_standard_values() {
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&Md5::digest(b"abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }
}
