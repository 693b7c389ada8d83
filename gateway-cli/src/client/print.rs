//! Output: JSON to stdout, errors to stderr, color only on a terminal.
//! Write errors (a closed pipe) are ignored: `openclaw logs | head` must not panic.

use std::io::{IsTerminal, Write};

use serde_json::{json, Value};

pub fn json(value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
    line(&text);
}

pub fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

pub fn color_enabled() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// `text` wrapped in an ANSI color when stdout is a terminal.
pub fn paint(text: &str, ansi: &str, color: bool) -> String {
    if color {
        format!("\x1b[{ansi}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// A gateway error: code and message on stderr; with `--json` also a JSON
/// object on stdout so scripts can parse it.
pub fn error(code: &str, message: &str, details: Option<&Value>, as_json: bool) {
    if as_json {
        let mut error = json!({"code": code, "message": message});
        if let Some(d) = details {
            error["details"] = d.clone();
        }
        json(&json!({"ok": false, "error": error}));
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "Gateway call failed: {code}: {message}");
}
