//! A resumable JSONL file: rows are appended one whole line per `write` and flushed, and on
//! reopening a torn last line (a crash mid-write) is cut off, so a crash loses at most the
//! rows in flight and never leaves a corrupt or partial line behind.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Result, SynthError};

/// An append-only JSONL file of `T` rows.
#[derive(Debug)]
pub struct JsonlStore {
    path: PathBuf,
    file: File,
    last_sync: Instant,
}

/// What reopening found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Rows already in the file.
    pub rows: usize,
    /// Bytes of a torn last line that were cut off.
    pub torn_bytes: usize,
}

/// Rows of a file, each with its 1-based line number.
pub type NumberedRows<T> = Vec<(usize, T)>;

impl JsonlStore {
    /// Opens (or creates) `path`, cutting off a torn last line and parsing every row; a row
    /// that is not a `T` is an error naming the file and line (nothing is changed then).
    pub fn open<T: DeserializeOwned>(path: &Path) -> Result<(Self, Vec<T>, Recovered)> {
        let (store, rows, recovered) = Self::open_numbered::<T>(path)?;
        Ok((
            store,
            rows.into_iter().map(|(_, row)| row).collect(),
            recovered,
        ))
    }

    /// [`JsonlStore::open`], each row with its 1-based line number (for messages about it).
    pub fn open_numbered<T: DeserializeOwned>(
        path: &Path,
    ) -> Result<(Self, NumberedRows<T>, Recovered)> {
        let io = |e| SynthError::io(path, e);
        if path.exists() {
            densify_core::regular_file(path).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let complete = match bytes.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None => 0,
        };
        let mut rows = Vec::new();
        for (i, line) in bytes[..complete].split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let row = std::str::from_utf8(line)
                .map_err(|_| "the line is not valid UTF-8".to_owned())
                .and_then(|text| {
                    serde_json::from_str::<T>(text)
                        .map_err(|e| densify_core::config::strip_json_position(&e.to_string()))
                })
                .map_err(|message| SynthError::Parse {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message,
                })?;
            rows.push((i + 1, row));
        }
        let torn_bytes = bytes.len() - complete;
        if torn_bytes > 0 {
            file.set_len(complete as u64).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        let recovered = Recovered {
            rows: rows.len(),
            torn_bytes,
        };
        Ok((
            Self {
                path: path.to_path_buf(),
                file,
                last_sync: Instant::now(),
            },
            rows,
            recovered,
        ))
    }

    /// Appends one row as one line, in a single write, and flushes it to the OS; the file is
    /// synced to disk at most once a second (and by [`JsonlStore::sync`]).
    pub fn append<T: Serialize>(&mut self, row: &T) -> Result<()> {
        let mut line = serde_json::to_string(row)
            .map_err(|e| SynthError::io(&self.path, std::io::Error::other(e)))?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| SynthError::io(&self.path, e))?;
        if self.last_sync.elapsed() > Duration::from_secs(1) {
            self.sync()?;
        }
        Ok(())
    }

    /// Syncs the file to disk.
    pub fn sync(&mut self) -> Result<()> {
        self.last_sync = Instant::now();
        self.file
            .sync_data()
            .map_err(|e| SynthError::io(&self.path, e))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopening_cuts_a_torn_line_and_keeps_whole_rows() {
        let dir = std::env::temp_dir().join(format!("densify-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rows.jsonl");
        std::fs::write(&path, "{\"a\":1}\n{\"a\":2}\n{\"a\":").unwrap();
        let (mut store, rows, rec) = JsonlStore::open::<serde_json::Value>(&path).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rec,
            Recovered {
                rows: 2,
                torn_bytes: 5
            }
        );
        store.append(&serde_json::json!({"a": 3})).unwrap();
        drop(store);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"
        );
        std::fs::write(&path, "{\"a\":1}\nnot json\n").unwrap();
        let e = JsonlStore::open::<serde_json::Value>(&path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("rows.jsonl:2:"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\nnot json\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
