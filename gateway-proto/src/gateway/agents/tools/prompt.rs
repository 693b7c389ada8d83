//! The system prompt of a run with a workspace: who the assistant is, the
//! tools it has, where it works, and the workspace's bootstrap files, laid
//! out as the reference lays them out (`## Workspace`, then `# Project
//! Context` with one `## <path>` section per file). The words are ours.

use super::action::BootstrapFile;
use super::cut_chars;

/// The most characters all bootstrap files together put into the prompt
/// (the reference's `bootstrapTotalMaxChars`).
pub const MAX_BOOTSTRAP_TOTAL_CHARS: usize = 60_000;

/// The system prompt for a run in `workspace` with these files.
pub fn system_prompt(base: &str, workspace: &str, files: &[BootstrapFile]) -> String {
    let mut prompt = String::with_capacity(base.len() + 512);
    prompt.push_str(base);
    prompt.push_str(
        "\n\n## Tooling\n\
         - read, write, edit, ls: files in the workspace (paths outside it are refused)\n\
         - exec: shell commands on the gateway host, or on a node with host=node\n\
         - nodes: list the connected nodes, find binaries on one, invoke its commands\n",
    );
    prompt.push_str("\n## Workspace\nYour working directory is: ");
    prompt.push_str(workspace);
    prompt.push('\n');
    let present: Vec<&BootstrapFile> = files.iter().filter(|f| f.content.is_some()).collect();
    if present.is_empty() {
        return prompt;
    }
    prompt.push_str(
        "\n# Project Context\n\
         The workspace files below are yours to keep: SOUL.md is your persona and tone, \
         USER.md what you know of the user, IDENTITY.md your name, AGENTS.md how you work here.\n",
    );
    let mut budget = MAX_BOOTSTRAP_TOTAL_CHARS;
    for file in present {
        let Some(content) = file.content.as_deref() else {
            continue;
        };
        let text = cut_chars(content.trim_end(), budget);
        budget -= text.chars().count();
        prompt.push_str("\n## ");
        prompt.push_str(workspace.trim_end_matches('/'));
        prompt.push('/');
        prompt.push_str(&file.name);
        prompt.push_str("\n\n");
        prompt.push_str(text);
        prompt.push('\n');
        if budget == 0 {
            break;
        }
    }
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, content: Option<&str>) -> BootstrapFile {
        BootstrapFile {
            name: name.into(),
            content: content.map(str::to_owned),
        }
    }

    #[test]
    fn files_follow_the_workspace_section_in_order() {
        let files = [
            file("AGENTS.md", Some("work carefully\n")),
            file("SOUL.md", None),
            file("USER.md", Some("likes tea")),
        ];
        let prompt = system_prompt("base", "/srv/ws", &files);
        let agents = prompt
            .find("## /srv/ws/AGENTS.md\n\nwork carefully\n")
            .unwrap();
        let user = prompt.find("## /srv/ws/USER.md\n\nlikes tea\n").unwrap();
        assert!(prompt.starts_with("base"));
        assert!(prompt.find("## Workspace").unwrap() < agents && agents < user);
        assert!(!prompt.contains("SOUL.md\n\n"));
    }

    #[test]
    fn the_files_share_one_budget() {
        let big = "x".repeat(MAX_BOOTSTRAP_TOTAL_CHARS - 10);
        let files = [
            file("AGENTS.md", Some(&big)),
            file("USER.md", Some(&"§".repeat(100))),
        ];
        let prompt = system_prompt("", "/w", &files);
        assert_eq!(prompt.matches('§').count(), 10);
        assert!(system_prompt("", "/w", &[]).contains("/w"));
    }
}
