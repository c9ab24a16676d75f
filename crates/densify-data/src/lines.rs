//! Streaming line reader shared by the TREC and BEIR readers.

use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{DataError, Result};

/// Calls `each(line_number, line)` for every line of `path` without loading the file whole.
///
/// Line numbers are 1-based; the trailing `\n` or `\r\n` is removed. Blank lines are passed
/// on too, so callers decide whether they are allowed. Stops at the first error `each` returns.
pub fn for_each_line(path: &Path, mut each: impl FnMut(usize, &str) -> Result<()>) -> Result<()> {
    let file = densify_core::open_regular(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buffer = Vec::new();
    let mut number = 0;
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|e| DataError::io(path, e))?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        let text = std::str::from_utf8(&buffer).map_err(|e| {
            DataError::parse(
                path,
                number,
                format!(
                    "the line is not valid UTF-8 (byte {} of the line)",
                    e.valid_up_to() + 1
                ),
            )
        })?;
        // A UTF-8 byte-order mark (Windows editors write one) is not part of the first field.
        let line = if number == 1 {
            text.strip_prefix('\u{feff}').unwrap_or(text)
        } else {
            text
        };
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        each(number, line)?;
    }
}

/// Bytes per block handed to a parsing thread by [`parse_blocks`].
const BLOCK_BYTES: usize = 4 << 20;

/// Parses `path` in blocks of whole lines on rayon's pool, streaming: the file is cut into
/// blocks of about 4 MiB ending at a line break, `parse(first_line_number, text)` turns each
/// block into a `T`, and the results come back in file order. Blocks are read a few per thread
/// at a time, so memory is bounded by what `parse` keeps.
///
/// On errors the one earliest in the file is returned, so messages match a sequential reader.
pub fn parse_blocks<T: Send>(
    path: &Path,
    parse: impl Fn(usize, &str) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    use rayon::prelude::*;
    use std::io::Read;

    let parse_one = |(first_line, bytes): &(usize, Vec<u8>)| match std::str::from_utf8(bytes) {
        Ok(text) => parse(*first_line, text),
        Err(e) => {
            let line = first_line
                + bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
            Err(DataError::parse(path, line, "the line is not valid UTF-8"))
        }
    };
    let mut reader = densify_core::open_regular(path).map_err(|e| DataError::io(path, e))?;
    let in_flight = 2 * rayon::current_num_threads().max(1);
    let mut out = Vec::new();
    let mut pending: Vec<(usize, Vec<u8>)> = Vec::with_capacity(in_flight);
    let mut carry: Vec<u8> = Vec::new();
    let mut first_line = 1;
    loop {
        let mut block = std::mem::take(&mut carry);
        let start = block.len();
        block.resize(start + BLOCK_BYTES, 0);
        let mut filled = start;
        while filled < block.len() {
            match reader.read(&mut block[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(DataError::io(path, e)),
            }
        }
        block.truncate(filled);
        let at_end = filled < start + BLOCK_BYTES;
        // A UTF-8 byte-order mark is not part of the first line's first field.
        if first_line == 1
            && pending.is_empty()
            && out.is_empty()
            && block.starts_with(b"\xef\xbb\xbf")
        {
            block.drain(..3);
        }
        if !at_end {
            // Keep the partial last line for the next block.
            match block.iter().rposition(|&b| b == b'\n') {
                Some(cut) => carry = block.split_off(cut + 1),
                None => {
                    carry = block;
                    continue; // a single line longer than a block: read more
                }
            }
        }
        if !block.is_empty() {
            let lines = block.iter().filter(|&&b| b == b'\n').count();
            pending.push((first_line, block));
            first_line += lines;
        }
        if pending.len() == in_flight || (at_end && !pending.is_empty()) {
            let parsed: Vec<Result<T>> = pending.par_iter().map(parse_one).collect();
            pending.clear();
            for result in parsed {
                out.push(result?);
            }
        }
        if at_end {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_every_line_once_with_right_numbers() {
        let dir = std::env::temp_dir().join(format!("densify-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("many.txt");
        // About 3 blocks, no trailing newline on the last line.
        let n = 700_000;
        let text: Vec<String> = (1..=n).map(|i| format!("line {i}")).collect();
        std::fs::write(&path, text.join("\n")).unwrap();
        let blocks = parse_blocks(&path, |first, text| {
            Ok(text
                .lines()
                .enumerate()
                .map(|(i, l)| (first + i, l.to_owned()))
                .collect::<Vec<_>>())
        })
        .unwrap();
        assert!(blocks.len() >= 2);
        let all: Vec<(usize, String)> = blocks.into_iter().flatten().collect();
        assert_eq!(all.len(), n);
        assert!(
            all.iter()
                .all(|(number, line)| *line == format!("line {number}"))
        );
    }
}
