//! The one rule for input files: densify reads regular files only.
//!
//! A FIFO with no writer, a character device or a folder passed where a file is expected would
//! otherwise block forever (`open` on a FIFO waits for a writer) or fail deep inside a parser.
//! Every reader checks the path with [`regular_file`] before opening it, so such inputs are a
//! clear error at once. Streaming from standard input is not supported: write the stream to a
//! file first (`cat > run.trec`).

use std::fs::File;
use std::io;
use std::path::Path;

/// Errors unless `path` is a regular file (links are followed). Does not open it, so it never
/// blocks on a FIFO.
pub fn regular_file(path: &Path) -> io::Result<()> {
    let metadata = std::fs::metadata(path)?;
    let file_type = metadata.file_type();
    if file_type.is_file() {
        return Ok(());
    }
    let what = kind_of(&file_type);
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("is {what}, not a regular file (densify reads inputs from regular files only)"),
    ))
}

/// What a path that is not a regular file is, for messages: "a folder", "a FIFO (named
/// pipe)", "a character device", ...
pub(crate) fn kind_of(file_type: &std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a folder"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        special_kind(file_type)
    }
}

#[cfg(unix)]
fn special_kind(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "a special file"
}

/// Opens `path` for reading after [`regular_file`] accepted it.
pub fn open_regular(path: &Path) -> io::Result<File> {
    regular_file(path)?;
    File::open(path)
}

/// Reads `path` whole after [`regular_file`] accepted it.
pub fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    regular_file(path)?;
    std::fs::read(path)
}

/// Reads `path` whole as UTF-8 after [`regular_file`] accepted it.
pub fn read_regular_to_string(path: &Path) -> io::Result<String> {
    regular_file(path)?;
    std::fs::read_to_string(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_missing_files_are_refused() {
        let dir = std::env::temp_dir();
        let err = regular_file(&dir).unwrap_err();
        assert!(err.to_string().contains("is a folder"), "{err}");
        let err = regular_file(&dir.join("densify-no-such-file")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let path = std::env::temp_dir().join(format!("densify-fifo-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipped: mkfifo is not available here");
            return;
        }
        let err = open_regular(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(err.to_string().contains("FIFO"), "{err}");
    }
}
