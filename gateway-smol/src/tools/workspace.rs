//! `PrepareWorkspace`: make sure the agent's workspace exists, seed a new
//! one with short bootstrap files, and read the files the system prompt
//! includes.
//!
//! Seeding happens only when the directory itself is new: a workspace the
//! user already has (and may have emptied on purpose) is never written to,
//! and an existing file is never replaced.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use gateway_proto::gateway::agents::tools::{BootstrapFile, MAX_BOOTSTRAP_FILE_CHARS};

/// Our own starting texts, by file name.
const TEMPLATES: &[(&str, &str)] = &[
    ("AGENTS.md", include_str!("templates/AGENTS.md")),
    ("SOUL.md", include_str!("templates/SOUL.md")),
    ("IDENTITY.md", include_str!("templates/IDENTITY.md")),
    ("USER.md", include_str!("templates/USER.md")),
];

/// Create `dir` if needed (seeding it), then read each of `files` from it.
pub fn prepare_workspace(dir: &str, files: &[String]) -> Result<Vec<BootstrapFile>, String> {
    let dir = Path::new(dir);
    if !dir.is_absolute() {
        return Err(format!(
            "the workspace path {} is not absolute",
            dir.display()
        ));
    }
    for name in files {
        if !is_plain_file_name(name) {
            return Err(format!(
                "bootstrap file name {name:?} is not a plain file name"
            ));
        }
    }
    let existed = match std::fs::symlink_metadata(dir) {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => {
            return Err(format!(
                "cannot inspect the workspace {}: {e}",
                dir.display()
            ))
        }
    };
    if !existed {
        // Private: the agent's notes about its user live here.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create the workspace {}: {e}", dir.display()))?;
        for name in files {
            if let Some((_, text)) = TEMPLATES.iter().find(|(t, _)| t == name) {
                seed(&dir.join(name), text)
                    .map_err(|e| format!("cannot write {name} in {}: {e}", dir.display()))?;
            }
        }
    } else if !dir.is_dir() {
        return Err(format!(
            "the workspace {} is not a directory",
            dir.display()
        ));
    }
    files
        .iter()
        .map(|name| {
            let content = read_cut(&dir.join(name))
                .map_err(|e| format!("cannot read {name} in {}: {e}", dir.display()))?;
            Ok(BootstrapFile {
                name: name.clone(),
                content,
            })
        })
        .collect()
}

/// Write a new file, never replacing one (`create_new`).
fn seed(path: &Path, text: &str) -> std::io::Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(mut file) => file.write_all(text.as_bytes()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The file's text cut to [`MAX_BOOTSTRAP_FILE_CHARS`] characters; `None`
/// when it does not exist. Invalid UTF-8 is replaced, not refused: the user
/// wrote these files for the prompt.
fn read_cut(path: &Path) -> std::io::Result<Option<String>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // A character is at most 4 bytes: no need to load more of a huge file.
    let mut raw = Vec::new();
    file.take(MAX_BOOTSTRAP_FILE_CHARS as u64 * 4)
        .read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let text = match text.char_indices().nth(MAX_BOOTSTRAP_FILE_CHARS) {
        Some((cut, _)) => text[..cut].to_string(),
        None => text.into_owned(),
    };
    Ok(Some(text))
}

/// `AGENTS.md` yes; `../x`, `a/b`, `.` or `` no.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}
