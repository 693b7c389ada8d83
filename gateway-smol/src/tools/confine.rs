//! The second wall around the agent workspace: a path the core already
//! checked lexically is resolved on the real file system, symbolic links
//! followed, and refused unless it stays inside the workspace root.
//!
//! The core cannot see links; a link inside the workspace that points at
//! `/etc` is lexically fine and must still be refused here. There is a window
//! between this check and the use of the path (another process could swap a
//! directory for a link); the agent's own tools run one at a time per path,
//! and `exec` is not confined at all, so this wall is about mistakes and
//! prompt-injected paths, not a hostile local user.

use std::io;
use std::path::{Component, Path, PathBuf};

/// How many symbolic links one path may go through (as Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// The workspace root, resolved once per action.
pub(crate) struct Workspace {
    /// As the core named it: shown paths are relative to it.
    given: PathBuf,
    /// With every link resolved: confinement is checked against it.
    real: PathBuf,
}

impl Workspace {
    pub(crate) fn open(root: &str) -> Result<Workspace, String> {
        let given = PathBuf::from(root);
        if !given.is_absolute() {
            return Err(format!("The workspace path {root} is not absolute."));
        }
        let real = std::fs::canonicalize(&given)
            .map_err(|e| format!("The workspace {root} is not available: {e}."))?;
        if !real.is_dir() {
            return Err(format!("The workspace {root} is not a directory."));
        }
        Ok(Workspace { given, real })
    }

    /// `path` resolved on disk, or why it is refused. The answer may name a
    /// file that does not exist yet (its existing ancestor is inside).
    pub(crate) fn resolve(&self, path: &str) -> Result<PathBuf, String> {
        let refused = || {
            format!(
                "Path {} is outside the workspace ({}); refused.",
                self.display(path),
                self.given.display()
            )
        };
        // The core sends absolute paths; a relative one is taken from the
        // root, as the reference's tools take it from the workspace.
        let full = self.given.join(path);
        let resolved = self.real_path(&full, 0).map_err(|e| match e {
            Resolve::Escape => refused(),
            Resolve::TooManyLinks => format!("Too many symbolic links in {path}."),
            Resolve::Io(e) => format!("Could not resolve {path}: {e}."),
        })?;
        if !resolved.starts_with(&self.real) {
            return Err(refused());
        }
        Ok(resolved)
    }

    /// The path as the model most likely wrote it: relative to the root
    /// when it is under it (`notes.txt`), else as given.
    pub(crate) fn display(&self, path: &str) -> String {
        match Path::new(path).strip_prefix(&self.given) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => path.to_string(),
        }
    }

    /// Resolve every link of `path`; the part past the deepest existing
    /// ancestor is appended as it is (and may not contain `..`).
    fn real_path(&self, path: &Path, depth: usize) -> Result<PathBuf, Resolve> {
        if depth > MAX_LINKS {
            return Err(Resolve::TooManyLinks);
        }
        if !path.is_absolute() {
            return Err(Resolve::Escape);
        }
        // Walk up to the deepest ancestor that exists (a dangling link exists).
        let mut existing = path.to_path_buf();
        let mut rest: Vec<PathBuf> = Vec::new();
        loop {
            match std::fs::symlink_metadata(&existing) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    // Follow the link ourselves: `canonicalize` gives up on a
                    // dangling one, and where it points is what matters.
                    let target = std::fs::read_link(&existing).map_err(Resolve::Io)?;
                    let parent = existing.parent().unwrap_or(Path::new("/"));
                    let parent = self.real_path(parent, depth + 1)?;
                    let mut next = parent.join(target);
                    for part in rest.iter().rev() {
                        next.push(part);
                    }
                    return self.real_path(&next, depth + 1);
                }
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                // Not a directory on the way, permission denied, …: the
                // action itself reports it; resolve what can be resolved.
                Err(_) => {}
            }
            let Some(name) = existing.file_name().map(PathBuf::from) else {
                break;
            };
            rest.push(name);
            if !existing.pop() {
                break;
            }
        }
        let mut real = std::fs::canonicalize(&existing).map_err(Resolve::Io)?;
        for part in rest.iter().rev() {
            for component in part.components() {
                match component {
                    Component::Normal(name) => real.push(name),
                    Component::CurDir => {}
                    // `..` past a directory that does not exist cannot be
                    // resolved honestly.
                    _ => return Err(Resolve::Escape),
                }
            }
        }
        Ok(real)
    }
}

enum Resolve {
    Escape,
    TooManyLinks,
    Io(io::Error),
}
