//! `logs`: tail the gateway log file through `logs.tail`, optionally following.

use std::time::Duration;

use argh::FromArgs;
use serde_json::{json, Value};

use super::call::target_or_exit;
use super::connect::{report_call_error, report_connect_error, scopes_for, Session};
use super::print;

const MAX_BYTES: u64 = 250_000;

/// Show gateway logs.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "logs")]
pub struct LogsArgs {
    /// keep polling for new lines
    #[argh(switch)]
    pub follow: bool,
    /// one JSON object per line
    #[argh(switch)]
    pub json: bool,
    /// plain text, no colors
    #[argh(switch)]
    pub plain: bool,
    /// lines to fetch per poll (default 200)
    #[argh(option, default = "200")]
    pub limit: u64,
    /// poll interval in milliseconds with --follow (default 1000)
    #[argh(option, default = "1_000")]
    pub interval: u64,
    /// timeout in milliseconds per request (default 10000)
    #[argh(option, default = "10_000")]
    pub timeout: u64,
}

/// One raw log line (tslog JSON) → `{time, level, subsystem, message}`; non-JSON
/// lines are kept as the message.
fn parse_line(raw: &str) -> Value {
    let Ok(v) = serde_json::from_str::<Value>(raw) else {
        return json!({"type": "log", "message": raw, "raw": raw});
    };
    let time = v
        .get("time")
        .and_then(Value::as_str)
        .or_else(|| v.pointer("/_meta/date").and_then(Value::as_str));
    let level = v
        .pointer("/_meta/logLevelName")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    let subsystem = v
        .get("0")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|s| {
            s.get("subsystem")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    let message = match v.get("message").or_else(|| v.get("1")) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => raw.to_owned(),
    };
    json!({"type": "log", "time": time, "level": level, "subsystem": subsystem, "message": message, "raw": raw})
}

fn print_line(entry: &Value, json_mode: bool, color: bool) {
    if json_mode {
        print::line(&entry.to_string());
        return;
    }
    let s = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("");
    let level = s("level");
    let painted = match level {
        "error" | "fatal" => print::paint(level, "31", color),
        "warn" => print::paint(level, "33", color),
        "debug" | "trace" => print::paint(level, "2", color),
        _ => level.to_owned(),
    };
    let parts: Vec<&str> = [s("time"), painted.as_str(), s("subsystem"), s("message")]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    print::line(&parts.join(" "));
}

pub fn run_logs(args: LogsArgs) -> i32 {
    let target = match target_or_exit(None, None, None, args.json) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let color = !args.plain && !args.json && print::color_enabled();
    let timeout = Duration::from_millis(args.timeout.max(1));
    let session = Session::backend("gateway:logs.tail", scopes_for("logs.tail"), timeout);
    smol::block_on(async {
        let client = match session.connect(&target).await {
            Ok(c) => c,
            Err(e) => return report_connect_error(&target, &e, args.json),
        };
        let mut cursor: Option<u64> = None;
        let mut first = true;
        let code = loop {
            let mut params = json!({"limit": args.limit, "maxBytes": MAX_BYTES});
            if let Some(c) = cursor {
                params["cursor"] = c.into();
            }
            let page = match client.call("logs.tail", Some(params)).await {
                Ok(page) => page,
                Err(e) => break report_call_error(&e, args.json),
            };
            if first {
                let file = page.get("file").and_then(Value::as_str).unwrap_or("");
                if args.json {
                    print::line(&json!({"type": "meta", "file": file, "cursor": page.get("cursor"), "size": page.get("size")}).to_string());
                } else {
                    print::line(&format!("Log file: {file}"));
                }
                first = false;
            }
            if page.get("reset").and_then(Value::as_bool).unwrap_or(false) && !args.json {
                print::line("(log file rotated or truncated; continuing from the start)");
            }
            for raw in page
                .get("lines")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(raw) = raw.as_str() {
                    print_line(&parse_line(raw), args.json, color);
                }
            }
            cursor = page.get("cursor").and_then(Value::as_u64).or(cursor);
            if !args.follow {
                break 0;
            }
            smol::Timer::after(Duration::from_millis(args.interval.max(50))).await;
        };
        client.close().await;
        code
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tslog_lines() {
        let raw = r#"{"0":"{\"subsystem\":\"gateway/ws\"}","1":"hello","_meta":{"logLevelName":"INFO"},"time":"T","message":"hello"}"#;
        let v = parse_line(raw);
        assert_eq!(v["subsystem"], "gateway/ws");
        assert_eq!(v["level"], "info");
        assert_eq!(v["message"], "hello");
        assert_eq!(parse_line("plain")["message"], "plain");
    }
}
