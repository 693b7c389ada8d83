//! `read`: one page of a text file, as the reference's read tool pages it.
//!
//! The page is the lines from `offset` (1-based) on, at most `limit` of them
//! and at most 2000, cut to whole lines within [`MAX_READ_BYTES`]. When
//! more is left the text ends with a note saying which `offset` continues,
//! worded as the reference words it, so a model that knows the reference's
//! tool pages through our files the same way.

use std::path::Path;

use gateway_proto::gateway::agents::tools::{ToolOutcome, MAX_READ_BYTES};
use serde_json::json;

use super::confine::Workspace;
use super::text::{decode_text, format_size, plural};

/// The most lines of one page (the reference's default).
const MAX_PAGE_LINES: usize = 2000;
/// Larger files are not loaded at all: a page of them would be a tiny part,
/// and the whole file would sit in memory for it.
pub(crate) const MAX_READ_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Room kept for the continuation note when a page is cut by size.
const NOTE_RESERVE: usize = 128;

pub(crate) fn read(
    ws: &Workspace,
    path: &str,
    offset: Option<u64>,
    limit: Option<u64>,
    cursor: Option<u64>,
) -> ToolOutcome {
    if offset == Some(0) {
        return ToolOutcome::error("Offset must be an integer at least 1");
    }
    let shown = ws.display(path);
    let real = match ws.resolve(path) {
        Ok(real) => real,
        Err(refused) => return ToolOutcome::error(refused),
    };
    let text = match load(&real, path, &shown) {
        Ok(text) => text,
        Err(error) => return ToolOutcome::error(error),
    };
    match cursor.filter(|c| *c > 0) {
        // Start `cursor` characters into the first line: the file's text
        // before that point is left out.
        Some(cursor) => {
            let start_line = offset.map_or(0, |o| usize::try_from(o - 1).unwrap_or(usize::MAX));
            let content = skip_in_line(&text.content, start_line, cursor);
            page(&content, text.bytes, offset, limit)
        }
        None => page(&text.content, text.bytes, offset, limit),
    }
}

/// `text` with the first `chars` characters of line `line` (0-based)
/// removed, but never its line end.
fn skip_in_line(text: &str, line: usize, chars: u64) -> String {
    let start = match line {
        0 => 0,
        n => text
            .match_indices('\n')
            .nth(n - 1)
            .map_or(text.len(), |(i, _)| i + 1),
    };
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let skip = usize::try_from(chars).unwrap_or(usize::MAX);
    let cut = text[start..end]
        .char_indices()
        .nth(skip)
        .map_or(end, |(i, _)| start + i);
    format!("{}{}", &text[..start], &text[cut..])
}

struct Loaded {
    content: String,
    bytes: usize,
}

fn load(real: &Path, path: &str, shown: &str) -> Result<Loaded, String> {
    let meta = match std::fs::metadata(real) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("File not found: {path}."))
        }
        Err(e) => return Err(format!("Could not read {shown}: {e}.")),
    };
    if meta.is_dir() {
        return Err(format!(
            "Read requires a file path, but {shown} is a directory. List the directory, then read a specific file."
        ));
    }
    if !meta.is_file() {
        return Err(format!(
            "Read only supports regular files; no read was attempted: {shown}"
        ));
    }
    if meta.len() > MAX_READ_FILE_BYTES {
        return Err(format!(
            "{shown} is too large to read ({} bytes; the limit is {}). Use exec with head, tail or grep to look into it.",
            meta.len(),
            format_size(MAX_READ_FILE_BYTES as usize)
        ));
    }
    let raw = std::fs::read(real).map_err(|e| format!("Could not read {shown}: {e}."))?;
    let bytes = raw.len();
    let content = decode_text(raw).map_err(|why| format!("Cannot read {shown}: {why}."))?;
    Ok(Loaded { content, bytes })
}

/// The page of `text` (already decoded, `\n` line ends) the arguments ask for.
fn page(text: &str, file_bytes: usize, offset: Option<u64>, limit: Option<u64>) -> ToolOutcome {
    let start_line = offset.map_or(0, |o| usize::try_from(o - 1).unwrap_or(usize::MAX));
    let wanted = limit.map(|l| match usize::try_from(l) {
        Ok(0) => MAX_PAGE_LINES,
        Ok(l) => l,
        Err(_) => usize::MAX,
    });

    // One pass: count the lines, note where the selected ones start and end.
    let mut total = 0usize;
    let (mut sel_start, mut sel_end, mut selected) = (0usize, 0usize, 0usize);
    let mut has_text = false;
    let mut pos = 0usize;
    while pos < text.len() {
        let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
        if total >= start_line && wanted.is_none_or(|w| selected < w) {
            if selected == 0 {
                sel_start = pos;
            }
            sel_end = end;
            selected += 1;
            has_text |= end > pos;
        }
        total += 1;
        pos = end + 1;
    }

    if total == 0 {
        let text = if file_bytes == 0 {
            "File is empty (0 bytes).".to_string()
        } else {
            format!("File contains no readable text ({file_bytes} bytes).")
        };
        return ToolOutcome::ok(text.clone(), json!({"kind": "text", "content": text}));
    }
    if start_line >= total {
        return ToolOutcome::ok(
            format!(
                "Offset {} is beyond end of file ({total} lines total). Retry with offset <= {total}.",
                start_line + 1
            ),
            serde_json::Value::Null,
        );
    }
    let end_line = start_line + selected; // exclusive, 0-based
                                          // The last line of the file keeps its newline, if it has one.
    let content = &text[sel_start..if end_line == total {
        text.len()
    } else {
        sel_end
    }];
    let user_limit = limit.map(|_| selected);

    let remaining = total - end_line;
    let limit_note = match user_limit {
        Some(_) if remaining > 0 => format!(
            "\n\n[{remaining} more line{} in file. Use offset={} to continue.]",
            plural(remaining),
            end_line + 1
        ),
        _ => String::new(),
    };
    if selected < MAX_PAGE_LINES && content.len() + limit_note.len() <= MAX_READ_BYTES {
        let details = if limit_note.is_empty() {
            json!({"kind": "text", "content": content})
        } else {
            json!({
                "kind": "truncated",
                "content": content,
                "continuation": {"kind": "line", "offset": end_line + 1, "limit": user_limit},
                "truncation": truncation("lines", total, content, selected, MAX_READ_BYTES),
            })
        };
        let text = if has_text {
            format!("{content}{limit_note}")
        } else {
            format!(
                "{} contains {selected} blank line{}.{limit_note}",
                if start_line == 0 && end_line == total {
                    "File"
                } else {
                    "Selected range"
                },
                plural(selected)
            )
        };
        return ToolOutcome::ok(text, details);
    }

    // Too long: whole lines up to the byte budget (and the line cap).
    let budget = MAX_READ_BYTES - NOTE_RESERVE;
    let mut kept_end = 0usize;
    let mut kept_lines = 0usize;
    for line in content.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        // Bytes of the page if this line is added (no newline after the last).
        let next_len = kept_end + body.len();
        if kept_lines == MAX_PAGE_LINES || next_len > budget {
            break;
        }
        kept_end += line.len();
        kept_lines += 1;
    }
    let capped = format_size(MAX_READ_BYTES);
    if kept_lines == 0 {
        // One line longer than the whole budget: its start, cut on a
        // character boundary. Without a cursor argument the model cannot ask
        // for the rest of that line; it can move on to the next one.
        let cut = floor_char_boundary(content, budget);
        let head = &content[..cut];
        let line_no = start_line + 1;
        let next = if total > line_no {
            format!(" Use offset={} to continue.", line_no + 1)
        } else {
            String::new()
        };
        let note = format!(
            "\n\n[Read output capped at {capped} for this call: line {line_no} is longer and was cut.{next}]"
        );
        let details = json!({
            "kind": "truncated",
            "content": head,
            "continuation": {"kind": "line", "offset": line_no + 1},
            "truncation": truncation("bytes", total, head, 1, MAX_READ_BYTES),
        });
        return ToolOutcome::ok(format!("{head}{note}"), details);
    }
    let head = content[..kept_end]
        .strip_suffix('\n')
        .unwrap_or(&content[..kept_end]);
    let next_offset = start_line + kept_lines + 1;
    let limit_part = match user_limit {
        Some(_) => format!(
            ", limit={}",
            (end_line + 1).saturating_sub(next_offset).max(1)
        ),
        None => String::new(),
    };
    let by = if kept_lines == MAX_PAGE_LINES {
        "lines"
    } else {
        "bytes"
    };
    let note = format!(
        "\n\n[Read output capped at {capped} for this call. Use offset={next_offset}{limit_part} to continue.]"
    );
    let details = json!({
        "kind": "truncated",
        "content": head,
        "continuation": {"kind": "line", "offset": next_offset},
        "truncation": truncation(by, total, head, kept_lines, MAX_READ_BYTES),
    });
    ToolOutcome::ok(format!("{head}{note}"), details)
}

fn truncation(
    by: &str,
    total_lines: usize,
    content: &str,
    lines: usize,
    max_bytes: usize,
) -> serde_json::Value {
    json!({
        "truncated": true,
        "truncatedBy": by,
        "totalLines": total_lines,
        "outputLines": lines,
        "outputBytes": content.len(),
        "maxLines": MAX_PAGE_LINES,
        "maxBytes": max_bytes,
    })
}

/// The largest index `<= at` that starts a character of `s`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut i = at.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
