//! Streaming line reader shared by the TREC and BEIR readers.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{EvalError, Result};

/// Calls `each(line_number, line)` for every line of `path` without loading the file whole.
///
/// Line numbers are 1-based; the trailing `\n` or `\r\n` is removed. Blank lines are passed
/// on too, so callers decide whether they are allowed. Stops at the first error `each` returns.
pub fn for_each_line(path: &Path, mut each: impl FnMut(usize, &str) -> Result<()>) -> Result<()> {
    let file = File::open(path).map_err(|e| EvalError::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buffer = String::new();
    let mut number = 0;
    loop {
        buffer.clear();
        let read = reader
            .read_line(&mut buffer)
            .map_err(|e| EvalError::io(path, e))?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        let line = buffer.strip_suffix('\n').unwrap_or(&buffer);
        let line = line.strip_suffix('\r').unwrap_or(line);
        each(number, line)?;
    }
}
