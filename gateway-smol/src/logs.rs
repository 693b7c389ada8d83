//! `logs.tail`: slices of the JSON-lines log file, by byte cursor.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use gateway_proto::gateway::LogSlice;

/// Read the lines after `cursor` (or the last ones when `cursor` is `None`).
///
/// At most `max_bytes` are read and at most `limit` lines returned; when that
/// skips lines, the oldest go and `truncated` is set. A cursor past the end
/// means the file shrank or rotated: reading restarts from the tail and `reset`
/// is set. Only complete lines are returned, and the new cursor points just past
/// the last one, so a line being written is picked up whole next time.
pub fn read_slice(
    path: &Path,
    cursor: Option<u64>,
    limit: usize,
    max_bytes: usize,
) -> Result<LogSlice, String> {
    let file_name = path.display().to_string();
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LogSlice {
                file: file_name,
                cursor: 0,
                size: 0,
                lines: Vec::new(),
                truncated: false,
                reset: cursor.is_some_and(|c| c > 0),
            });
        }
        Err(e) => return Err(format!("cannot open {file_name}: {e}")),
    };
    let size = file
        .metadata()
        .map_err(|e| format!("cannot stat {file_name}: {e}"))?
        .len();
    let max_bytes = max_bytes.max(1) as u64;
    let reset = cursor.is_some_and(|c| c > size);
    let wanted_start = match cursor {
        Some(c) if c <= size => c,
        _ => 0,
    };
    let start = wanted_start.max(size.saturating_sub(max_bytes));
    // Lines between where the caller wanted to start and where we start are skipped.
    let mut truncated = start > wanted_start || (start > 0 && cursor.is_none());

    let mut buf = Vec::with_capacity((size - start) as usize);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| format!("cannot read {file_name}: {e}"))?;
    (&mut file)
        .take(size - start)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read {file_name}: {e}"))?;

    // A caller's cursor is always at a line start; any other start > 0 may land
    // mid-line: then skip to the next line.
    let mut body_start = 0;
    if start > 0 && (cursor != Some(start) || reset) {
        let mut prev = [0u8; 1];
        let at_line_start = file.seek(SeekFrom::Start(start - 1)).is_ok()
            && file.read_exact(&mut prev).is_ok()
            && prev[0] == b'\n';
        if !at_line_start {
            body_start = buf
                .iter()
                .position(|&b| b == b'\n')
                .map_or(buf.len(), |i| i + 1);
        }
    }
    // Only complete lines: stop after the last newline.
    let body_end = buf
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(body_start, |i| i + 1)
        .max(body_start);
    let mut lines: Vec<String> = buf[body_start..body_end]
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            String::from_utf8_lossy(line)
                .trim_end_matches('\r')
                .to_string()
        })
        .collect();
    let limit = limit.max(1);
    if lines.len() > limit {
        lines.drain(..lines.len() - limit);
        truncated = true;
    }
    Ok(LogSlice {
        file: file_name,
        cursor: start + body_end as u64,
        size,
        lines,
        truncated,
        reset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(lines: &[&str]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        for l in lines {
            writeln!(f, "{l}").unwrap();
        }
        f
    }

    #[test]
    fn tail_then_follow() {
        let mut f = file_with(&["a", "b", "c"]);
        let s = read_slice(f.path(), None, 2, 1000).unwrap();
        assert_eq!(s.lines, ["b", "c"]);
        assert!(s.truncated && !s.reset);
        assert_eq!(s.cursor, 6);
        assert_eq!(s.size, 6);
        let s2 = read_slice(f.path(), Some(s.cursor), 10, 1000).unwrap();
        assert!(s2.lines.is_empty());
        write!(f, "d\npartial").unwrap();
        let s3 = read_slice(f.path(), Some(s.cursor), 10, 1000).unwrap();
        assert_eq!(s3.lines, ["d"]);
        assert_eq!(s3.cursor, 8);
        assert!(!s3.truncated);
    }

    #[test]
    fn max_bytes_skips_oldest_and_partial_line() {
        let f = file_with(&["0123456789", "abc", "def"]);
        let s = read_slice(f.path(), Some(0), 100, 10).unwrap();
        assert_eq!(s.lines, ["abc", "def"]);
        assert!(s.truncated);
        let s = read_slice(f.path(), None, 100, 7).unwrap();
        assert_eq!(s.lines, ["def"]);
    }

    #[test]
    fn shrunk_file_resets() {
        let f = file_with(&["x"]);
        let s = read_slice(f.path(), Some(100), 10, 1000).unwrap();
        assert!(s.reset);
        assert_eq!(s.lines, ["x"]);
    }

    #[test]
    fn missing_file_is_empty() {
        let s = read_slice(Path::new("/nonexistent/openclaw.log"), None, 10, 1000).unwrap();
        assert!(s.lines.is_empty());
        assert_eq!(s.size, 0);
    }
}
