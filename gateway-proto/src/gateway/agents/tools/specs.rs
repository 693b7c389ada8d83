//! The tools offered to the model: names and argument schemas as the
//! reference's tools take them (so transcripts move between the two
//! gateways), in the reference's order (sorted by name). The descriptions
//! are ours.

use serde_json::{json, Value};

use crate::gateway::agents::model::ToolSpec;

/// Every tool this gateway offers, sorted by name.
pub fn all() -> Vec<ToolSpec> {
    vec![edit(), exec(), ls(), nodes(), read(), write()]
}

fn spec(name: &str, description: &str, parameters: Value) -> ToolSpec {
    ToolSpec {
        name: name.to_owned(),
        description: description.to_owned(),
        parameters,
    }
}

fn path_property() -> Value {
    json!({"type": "string", "description": "File path, relative to the workspace or absolute inside it."})
}

fn read() -> ToolSpec {
    spec(
        "read",
        "Read a text file from the workspace. Long files come in pages: the result ends with the offset to continue from.",
        json!({
            "type": "object",
            "required": ["path"],
            "properties": {
                "path": path_property(),
                "offset": {"type": "integer", "minimum": 1, "description": "First line to read, from 1."},
                "limit": {"type": "number", "description": "How many lines to read."},
                "cursor": {"type": "integer", "minimum": 0, "description": "Character to start at within the first line, from 0."},
            },
        }),
    )
}

fn write() -> ToolSpec {
    spec(
        "write",
        "Create or replace a workspace file (parent folders are created).",
        json!({
            "type": "object",
            "required": ["path", "content"],
            "properties": {
                "path": path_property(),
                "content": {"type": "string", "description": "The whole new content."},
            },
        }),
    )
}

fn edit() -> ToolSpec {
    spec(
        "edit",
        "Change a workspace file by exact replacements. Each oldText must appear exactly once in the file as it is now; all edits apply together or none do.",
        json!({
            "type": "object",
            "required": ["path", "edits"],
            "properties": {
                "path": path_property(),
                "edits": {
                    "type": "array",
                    "description": "Replacements against the current file; they must not overlap.",
                    "items": {
                        "type": "object",
                        "required": ["oldText", "newText"],
                        "properties": {
                            "oldText": {"type": "string", "description": "Text as it is in the file, exactly."},
                            "newText": {"type": "string", "description": "Text to put in its place."},
                        },
                    },
                },
            },
        }),
    )
}

fn ls() -> ToolSpec {
    spec(
        "ls",
        "List a workspace folder: one JSON-quoted name per line, folders ending in '/', hidden files included.",
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "Folder; the workspace when omitted."},
                "limit": {"type": "number", "description": "Most entries to list; 500 when omitted."},
                "after": {"type": "string", "description": "List the names after this one (the last name of the previous page)."},
            },
        }),
    )
}

fn exec() -> ToolSpec {
    spec(
        "exec",
        "Run a shell command, on the gateway host in the workspace folder or on a connected node (host=node). Output and stderr come back together, with the exit code when it is not 0.",
        json!({
            "type": "object",
            "required": ["command"],
            "properties": {
                "title": {"type": "string", "maxLength": 120, "description": "What the command is for, in a few words."},
                "command": {"type": "string", "description": "The shell command."},
                "workdir": {"type": "string", "description": "Folder to run in; the workspace when omitted."},
                "timeoutSeconds": {"type": "number", "description": "Kill the command after this many seconds."},
                "host": {"enum": ["auto", "gateway", "node"], "type": "string", "description": "Where to run; auto is the gateway host."},
                "ask": {"type": "string", "description": "\"always\" asks an operator to approve the command first."},
                "node": {"type": "string", "description": "Node id or name, for host=node."},
            },
        }),
    )
}

fn nodes() -> ToolSpec {
    spec(
        "nodes",
        "Connected nodes: list them (status), describe one, find binaries on one (which), or run one of its approved commands (invoke).",
        json!({
            "type": "object",
            "required": ["action"],
            "properties": {
                "action": {"type": "string", "enum": ["status", "describe", "which", "invoke"]},
                "node": {"type": "string", "description": "Node id or display name."},
                "bins": {"type": "array", "items": {"type": "string"}, "description": "For which: binary names."},
                "invokeCommand": {"type": "string", "description": "For invoke: the node command, e.g. system.notify."},
                "invokeParamsJson": {"type": "string", "description": "For invoke: the command's parameters as JSON text."},
                "invokeTimeoutMs": {"type": "number", "description": "For invoke: how long to wait."},
            },
        }),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn tools_are_sorted_by_name_and_take_object_arguments() {
        let specs = super::all();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for spec in &specs {
            assert_eq!(spec.parameters["type"], "object", "{}", spec.name);
            assert!(!spec.description.is_empty());
        }
    }
}
