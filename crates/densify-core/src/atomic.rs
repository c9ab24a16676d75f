//! Every file densify writes goes through [`AtomicFile`]: a temporary file in the destination's
//! folder, written, flushed, fsynced, then renamed over the destination. A crash, a kill or an
//! error midway leaves the previous file untouched (and, at worst, a temporary named
//! `.<name>.densify-tmp-<pid>` that the next write to the same destination removes).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The marker in temporary names, between the destination's name and the writer's process id.
const TMP_MARKER: &str = ".densify-tmp-";

/// A file being written; readers see the old content until [`AtomicFile::commit`].
#[derive(Debug)]
pub struct AtomicFile {
    destination: PathBuf,
    temporary: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `destination`. Fails at once (before any work) when its folder does not
    /// exist or cannot be written. Stale temporaries of earlier, killed writers of the same
    /// destination are removed.
    pub fn create(destination: impl AsRef<Path>) -> io::Result<Self> {
        let destination = destination.as_ref().to_path_buf();
        let name = destination
            .file_name()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "the output path names no file")
            })?
            .to_string_lossy()
            .into_owned();
        let folder = output_folder(&destination)?;
        refuse_special_destination(&destination)?;
        remove_stale_temporaries(&folder, &name);
        let temporary = folder.join(format!(".{name}{TMP_MARKER}{}", std::process::id()));
        let file = File::create(&temporary)?;
        Ok(Self {
            destination,
            temporary,
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// The path that [`AtomicFile::commit`] will replace.
    pub fn destination(&self) -> &Path {
        &self.destination
    }

    /// Flushes, fsyncs and renames the temporary over the destination. On an error (a full
    /// disk shows here, when the last buffered bytes are flushed) the temporary is removed and
    /// the destination stays as it was.
    pub fn commit(mut self) -> io::Result<()> {
        let writer = self.writer.take().expect("committed once");
        let written = writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .and_then(|file| file.sync_all())
            .and_then(|()| std::fs::rename(&self.temporary, &self.destination));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&self.temporary);
            return Err(e);
        }
        // The rename is durable once the folder's entry is on disk.
        if let Some(dir) = self
            .destination
            .parent()
            .filter(|p| p.is_dir())
            .and_then(|p| File::open(p).ok())
        {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.as_mut().expect("not committed").write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer.as_mut().expect("not committed").write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicFile {
    /// Dropped without a commit (an error or a panic midway): the temporary goes, the
    /// destination stays as it was.
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// Removes `.<name>.densify-tmp-<pid>` files whose writer is gone.
fn remove_stale_temporaries(folder: &Path, name: &str) {
    remove_stale(folder, &format!(".{name}{TMP_MARKER}"));
}

/// Removes the files and folders of `folder` named `<prefix><pid>` whose process is gone (no
/// running process `pid`, on systems with `/proc`; elsewhere only our own pid's): what a killed
/// writer left behind. Commands that stage work under such names (downloads, unpacking) call
/// it before they start.
pub fn remove_stale(folder: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|f| f.strip_prefix(prefix)) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let alive = pid != std::process::id()
            && Path::new("/proc").is_dir()
            && Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = std::fs::remove_dir_all(path);
            } else {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// The folder `destination` will be written in (`.` for a bare file name); an error when it
/// does not exist, so a command can report it before hours of work.
pub fn output_folder(destination: &Path) -> io::Result<PathBuf> {
    let folder = match destination.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if folder.is_dir() {
        Ok(folder)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("the output folder {} does not exist", folder.display()),
        ))
    }
}

/// Errors when `destination` exists and is not a regular file: the rename of a commit would
/// replace a device node, a FIFO or a socket (say `/dev/null` given as an output) with a
/// regular file, and a folder cannot be replaced at all.
pub fn refuse_special_destination(destination: &Path) -> io::Result<()> {
    match std::fs::metadata(destination) {
        Ok(metadata) if !metadata.is_file() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is {}, not a regular file; densify writes its outputs as regular files only",
                destination.display(),
                crate::input::kind_of(&metadata.file_type())
            ),
        )),
        _ => Ok(()),
    }
}

/// Errors when an existing input lies inside `folder` (after resolving links and relative
/// paths), or is the folder itself: for commands that write a whole folder (training runs,
/// generated datasets), which must never hold what they read. A folder that does not exist yet
/// holds nothing.
pub fn refuse_folder_holding_inputs<'a>(
    folder: &Path,
    inputs: impl IntoIterator<Item = &'a Path>,
) -> io::Result<()> {
    let Ok(out) = std::fs::canonicalize(folder) else {
        return Ok(());
    };
    for input in inputs {
        if let Ok(resolved) = std::fs::canonicalize(input)
            && resolved.starts_with(&out)
        {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "the output folder {} holds the input {}; write somewhere else",
                    folder.display(),
                    input.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Errors when `output` is the same file as one of `inputs` (after resolving links and
/// relative paths), so a command never overwrites what it reads.
pub fn refuse_overwriting_input<'a>(
    output: &Path,
    inputs: impl IntoIterator<Item = &'a Path>,
) -> io::Result<()> {
    let resolved = |p: &Path| std::fs::canonicalize(p).ok();
    let Some(out) = resolved(output) else {
        return Ok(()); // the output does not exist yet, so it is no input
    };
    for input in inputs {
        if resolved(input).as_deref() == Some(out.as_path()) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "the output {} is also an input ({}); write somewhere else",
                    output.display(),
                    input.display()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("densify-atomic-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn commit_replaces_and_drop_keeps_the_old_content() {
        let d = dir("commit");
        let path = d.join("out.txt");
        write_atomic(&path, b"old\n").unwrap();
        {
            let mut f = AtomicFile::create(&path).unwrap();
            f.write_all(b"half a li").unwrap();
            // dropped without commit: an error midway
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"old\n");
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"new\n").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new\n");
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary left behind");
    }

    #[test]
    fn stale_temporaries_of_dead_writers_are_removed() {
        let d = dir("stale");
        let stale = d.join(format!(".out.txt{TMP_MARKER}4000000000"));
        std::fs::write(&stale, b"partial").unwrap();
        write_atomic(d.join("out.txt"), b"x").unwrap();
        assert!(!stale.exists());
    }

    #[test]
    fn a_missing_folder_is_reported_before_writing() {
        let err = AtomicFile::create("/nonexistent-densify-dir/out.txt").unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn a_device_node_or_folder_is_never_replaced() {
        let err = AtomicFile::create("/dev/null").unwrap_err();
        assert!(err.to_string().contains("a character device"), "{err}");
        let d = dir("special");
        let err = AtomicFile::create(&d).unwrap_err();
        assert!(err.to_string().contains("a folder"), "{err}");
    }

    #[test]
    fn a_folder_holding_an_input_is_refused() {
        let d = dir("holding");
        std::fs::create_dir_all(d.join("out/final")).unwrap();
        let model = d.join("out/final/model.safetensors");
        std::fs::write(&model, b"x").unwrap();
        let outside = d.join("train.jsonl");
        std::fs::write(&outside, b"x").unwrap();
        let err =
            refuse_folder_holding_inputs(&d.join("out"), [outside.as_path(), model.as_path()])
                .unwrap_err();
        assert!(err.to_string().contains("holds the input"), "{err}");
        // The folder given as the input itself, through a dotted path.
        let dotted = d.join("out/./final/..");
        assert!(refuse_folder_holding_inputs(&d.join("out"), [dotted.as_path()]).is_err());
        assert!(refuse_folder_holding_inputs(&d.join("out"), [outside.as_path()]).is_ok());
        // A sibling whose name starts with the folder's is not inside it.
        std::fs::create_dir_all(d.join("out2")).unwrap();
        let sibling = d.join("out2/x");
        std::fs::write(&sibling, b"x").unwrap();
        assert!(refuse_folder_holding_inputs(&d.join("out"), [sibling.as_path()]).is_ok());
        assert!(refuse_folder_holding_inputs(&d.join("missing"), [model.as_path()]).is_ok());
    }

    #[test]
    fn an_output_equal_to_an_input_is_refused() {
        let d = dir("same");
        let input = d.join("in.txt");
        std::fs::write(&input, b"x").unwrap();
        let dotted = d.join(".").join("in.txt");
        assert!(refuse_overwriting_input(&dotted, [input.as_path()]).is_err());
        assert!(refuse_overwriting_input(&d.join("other.txt"), [input.as_path()]).is_ok());
    }
}
