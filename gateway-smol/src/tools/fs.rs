//! `write`, `edit` and `ls` on the confined workspace, answered with the
//! reference's result texts (`Successfully wrote N bytes to …`, `Could not
//! find the exact text in …`, JSON-quoted names with `/` for directories).

use std::io::ErrorKind;
use std::path::Path;

use gateway_proto::gateway::agents::tools::{ToolOutcome, MAX_READ_BYTES, MAX_WRITE_BYTES};
use serde_json::json;

use super::confine::Workspace;
use super::text::{decode_text, format_size};

/// How many entries `ls` shows when the caller gives no limit.
const DEFAULT_LIST_LIMIT: usize = 500;
/// How much of a file an `edit` miss shows the model (the reference's 800).
const MISMATCH_SHOWN_CHARS: usize = 800;

pub(crate) fn write(ws: &Workspace, path: &str, content: &str) -> ToolOutcome {
    let shown = ws.display(path);
    if content.len() > MAX_WRITE_BYTES {
        return ToolOutcome::error(format!(
            "Content for {shown} is {} bytes; write accepts at most {} ({}).",
            content.len(),
            MAX_WRITE_BYTES,
            format_size(MAX_WRITE_BYTES)
        ));
    }
    let real = match ws.resolve(path) {
        Ok(real) => real,
        Err(refused) => return ToolOutcome::error(refused),
    };
    let before = match std::fs::metadata(&real) {
        Ok(meta) if meta.is_dir() => {
            return ToolOutcome::error(format!("Cannot write {shown}: it is a directory."))
        }
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return ToolOutcome::error(format!("Could not write {shown}: {e}.")),
    };
    if let Some(meta) = &before {
        if meta.len() == content.len() as u64
            && std::fs::read(&real).is_ok_and(|old| old == content.as_bytes())
        {
            return ToolOutcome::ok(
                format!("No changes made to {shown}. The file already has identical content."),
                json!({"changed": false}),
            );
        }
    }
    // The parents lie under the resolved (inside) path: creating them
    // cannot leave the workspace.
    if let Some(parent) = real.parent() {
        if let Err(e) = std::fs::create_dir_all(parent) {
            return ToolOutcome::error(format!("Could not write {shown}: {e}."));
        }
    }
    if let Err(e) = std::fs::write(&real, content) {
        return ToolOutcome::error(format!("Could not write {shown}: {e}."));
    }
    ToolOutcome::ok(
        format!("Successfully wrote {} bytes to {shown}", content.len()),
        json!({"changed": true, "created": before.is_none()}),
    )
}

/// Apply `edits` (old text, new text) to a file, all or none: each old text
/// must occur exactly once in the file as it was, and no two may overlap.
pub(crate) fn edit(ws: &Workspace, path: &str, edits: &[(String, String)]) -> ToolOutcome {
    let shown = ws.display(path);
    let real = match ws.resolve(path) {
        Ok(real) => real,
        Err(refused) => return ToolOutcome::error(refused),
    };
    let original = match load_for_edit(&real, &shown) {
        Ok(original) => original,
        Err(error) => return ToolOutcome::error(error),
    };
    // The file is matched with `\n` line ends; old and new text likewise.
    let content = original.text.as_str();
    let mut spans = Vec::with_capacity(edits.len());
    for (old_text, new_text) in edits {
        let old_text = old_text.replace("\r\n", "\n");
        let new_text = new_text.replace("\r\n", "\n");
        if old_text.is_empty() {
            return ToolOutcome::error(format!("oldText must not be empty in {shown}."));
        }
        let count = content.matches(old_text.as_str()).count();
        if count == 0 {
            let shown_file = match content.char_indices().nth(MISMATCH_SHOWN_CHARS) {
                Some((cut, _)) => format!("{}\n... (truncated)", &content[..cut]),
                None => content.to_string(),
            };
            return ToolOutcome::error(format!(
                "Could not find the exact text in {shown}. The old text must match exactly including all whitespace and newlines.\nCurrent file contents:\n{shown_file}"
            ));
        }
        if count > 1 {
            return ToolOutcome::error(format!(
                "Found {count} occurrences of the text in {shown}. The text must be unique. Please provide more context to make it unique."
            ));
        }
        let at = content.find(old_text.as_str()).unwrap_or(0);
        spans.push((at, at + old_text.len(), new_text));
    }
    spans.sort_by_key(|(at, _, _)| *at);
    if spans.windows(2).any(|w| w[1].0 < w[0].1) {
        return ToolOutcome::error(format!(
            "The edits overlap in {shown}. Each oldText must cover its own part of the file; merge nearby changes into one edit."
        ));
    }
    if spans
        .iter()
        .all(|(from, to, new)| content[*from..*to] == *new)
    {
        return ToolOutcome::ok(
            format!(
                "No changes made to {shown}. The replacement text is identical to the original."
            ),
            json!({"changed": false}),
        );
    }
    let at = spans.first().map_or(0, |(at, _, _)| *at);
    let mut edited = String::with_capacity(content.len());
    let mut copied = 0;
    for (from, to, new) in &spans {
        edited.push_str(&content[copied..*from]);
        edited.push_str(new);
        copied = *to;
    }
    edited.push_str(&content[copied..]);
    // Put back what the file had: its byte-order mark and CRLF line ends.
    let mut out = String::with_capacity(edited.len() + 3);
    if original.bom {
        out.push('\u{feff}');
    }
    if original.crlf {
        out.push_str(&edited.replace('\n', "\r\n"));
    } else {
        out.push_str(&edited);
    }
    if out.len() > MAX_WRITE_BYTES {
        return ToolOutcome::error(format!(
            "The edited {shown} would be {} bytes; files are limited to {}.",
            out.len(),
            format_size(MAX_WRITE_BYTES)
        ));
    }
    if let Err(e) = std::fs::write(&real, &out) {
        return ToolOutcome::error(format!("Could not edit file: {shown}. {e}."));
    }
    let first_changed_line = content[..at].matches('\n').count() + 1;
    ToolOutcome::ok(
        format!("Successfully replaced {} block(s) in {shown}.", spans.len()),
        json!({"changed": true, "firstChangedLine": first_changed_line}),
    )
}

struct EditSource {
    text: String,
    bom: bool,
    crlf: bool,
}

fn load_for_edit(real: &Path, shown: &str) -> Result<EditSource, String> {
    let meta = std::fs::metadata(real).map_err(|e| {
        let code = match e.kind() {
            ErrorKind::NotFound => "ENOENT".to_string(),
            ErrorKind::PermissionDenied => "EACCES".to_string(),
            _ => e.to_string(),
        };
        format!("Could not edit file: {shown}. Error code: {code}.")
    })?;
    if meta.is_dir() {
        return Err(format!("Could not edit file: {shown}. Error code: EISDIR."));
    }
    if meta.len() > MAX_WRITE_BYTES as u64 {
        return Err(format!(
            "{shown} is {} bytes; edit changes files of at most {}.",
            meta.len(),
            format_size(MAX_WRITE_BYTES)
        ));
    }
    let raw = std::fs::read(real).map_err(|e| format!("Could not edit file: {shown}. {e}."))?;
    let bom = raw.starts_with("\u{feff}".as_bytes());
    let crlf = raw.windows(2).any(|w| w == b"\r\n");
    let text = decode_text(raw).map_err(|why| format!("Cannot edit {shown}: {why}."))?;
    Ok(EditSource { text, bom, crlf })
}

/// The entries of a folder in byte order of their names, those after
/// `after` only, at most `limit`.
pub(crate) fn list(ws: &Workspace, path: &str, limit: usize, after: Option<&str>) -> ToolOutcome {
    let shown = ws.display(path);
    let real = match ws.resolve(path) {
        Ok(real) => real,
        Err(refused) => return ToolOutcome::error(refused),
    };
    // Node's own wording of these failures, as the reference reports them.
    let reader = match std::fs::read_dir(&real) {
        Ok(reader) => reader,
        Err(e) => {
            let why = match e.kind() {
                ErrorKind::NotFound => "ENOENT: no such file or directory".to_string(),
                ErrorKind::NotADirectory => "ENOTDIR: not a directory".to_string(),
                ErrorKind::PermissionDenied => "EACCES: permission denied".to_string(),
                _ => e.to_string(),
            };
            return ToolOutcome::error(format!("{why}, scandir '{path}'"));
        }
    };
    let mut entries: Vec<(Vec<u8>, String)> = Vec::new();
    for entry in reader {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        // `/` marks real directories only: a link to one is listed as a link.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let label = if is_dir {
            format!("{name}/")
        } else {
            name.clone()
        };
        entries.push((name.into_bytes(), label));
    }
    if entries.is_empty() {
        return ToolOutcome::ok("(empty directory)", json!({"content": "(empty directory)"}));
    }
    // Binary order of the names, dotfiles included.
    entries.sort();
    if let Some(after) = after {
        entries.retain(|(name, _)| name.as_slice() > after.as_bytes());
    }
    let limit = if limit == 0 {
        DEFAULT_LIST_LIMIT
    } else {
        limit
    };
    let mut lines: Vec<String> = Vec::new();
    let mut size = 0usize;
    for (_, label) in &entries {
        if lines.len() >= limit {
            break;
        }
        let line = serde_json::Value::String(label.clone()).to_string();
        if size + line.len() + 1 > MAX_READ_BYTES - 128 {
            break;
        }
        size += line.len() + 1;
        lines.push(line);
    }
    let mut text = lines.join("\n");
    if lines.len() < entries.len() {
        // The last name shown is the cursor of the next page.
        let last = entries
            .get(lines.len().saturating_sub(1))
            .map(|(name, _)| String::from_utf8_lossy(name).into_owned())
            .unwrap_or_default();
        text.push_str(&format!(
            "\n\n[More entries: {} of {} shown in {shown}. Use after={} to continue.]",
            lines.len(),
            entries.len(),
            serde_json::Value::String(last)
        ));
    }
    ToolOutcome::ok(text.clone(), json!({"content": text}))
}
