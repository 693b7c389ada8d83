//! `health` and `status`: the snapshot, as JSON or a short summary.

use argh::FromArgs;
use serde_json::Value;

use super::call::simple_call;
use super::print;

/// Show gateway health.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "health")]
pub struct HealthArgs {
    /// output JSON
    #[argh(switch)]
    pub json: bool,
    /// timeout in milliseconds (default 10000)
    #[argh(option, default = "10_000")]
    pub timeout: u64,
}

/// Show gateway status.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "status")]
pub struct StatusArgs {
    /// output JSON
    #[argh(switch)]
    pub json: bool,
    /// timeout in milliseconds (default 10000)
    #[argh(option, default = "10_000")]
    pub timeout: u64,
}

/// `health` and `status` connect as a backend client, as the reference CLI does.
fn fetch(method: &str, display: &str, timeout_ms: u64, json: bool) -> Result<Value, i32> {
    simple_call(None, None, None, timeout_ms, json, method, Some(display))
}

pub fn run_health(args: HealthArgs) -> i32 {
    match fetch("health", "gateway:health", args.timeout, args.json) {
        Ok(value) if args.json => {
            print::json(&value);
            0
        }
        Ok(value) => {
            print_health_text(&value);
            0
        }
        Err(code) => code,
    }
}

pub fn run_status(args: StatusArgs) -> i32 {
    match fetch("status", "gateway:status", args.timeout, args.json) {
        Ok(value) if args.json => {
            print::json(&value);
            0
        }
        Ok(value) => {
            print_status_text(&value);
            0
        }
        Err(code) => code,
    }
}

fn num(v: &Value, ptr: &str) -> Option<f64> {
    v.pointer(ptr).and_then(Value::as_f64)
}

fn string<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

pub(crate) fn print_health_text(h: &Value) {
    let color = print::color_enabled();
    if h.pointer("/eventLoop").is_some() {
        let degraded = h
            .pointer("/eventLoop/degraded")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let state = if degraded {
            print::paint("degraded", "33", color)
        } else {
            print::paint("ok", "32", color)
        };
        print::line(&format!(
            "Gateway event loop: {state} max={}ms p99={}ms util={} cpu={}",
            num(h, "/eventLoop/delayMaxMs").unwrap_or(0.0).round(),
            num(h, "/eventLoop/delayP99Ms").unwrap_or(0.0).round(),
            num(h, "/eventLoop/utilization").unwrap_or(0.0),
            num(h, "/eventLoop/cpuCoreRatio").unwrap_or(0.0),
        ));
    } else {
        let ok = h.get("ok").and_then(Value::as_bool).unwrap_or(false);
        let state = if ok {
            print::paint("ok", "32", color)
        } else {
            print::paint("not ok", "31", color)
        };
        print::line(&format!("Gateway: {state}"));
    }
    if let Some(ms) = num(h, "/durationMs") {
        print::line(&format!("Gateway probe duration: {ms}ms"));
    }
    let agents: Vec<&Value> = h
        .get("agents")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if !agents.is_empty() {
        let names: Vec<String> = agents
            .iter()
            .filter_map(|a| {
                let id = a.get("agentId")?.as_str()?;
                let default = a.get("isDefault").and_then(Value::as_bool).unwrap_or(false);
                Some(if default {
                    format!("{id} (default)")
                } else {
                    id.to_owned()
                })
            })
            .collect();
        print::line(&format!("Agents: {}", names.join(", ")));
        for a in &agents {
            let id = string(a, "/agentId").unwrap_or("?");
            if let Some(every) = string(a, "/heartbeat/every") {
                print::line(&format!("Heartbeat interval: {every} ({id})"));
            }
            if let Some(path) = string(a, "/sessions/path") {
                let count = num(a, "/sessions/count").unwrap_or(0.0);
                print::line(&format!("Session store ({id}): {path} ({count} entries)"));
            }
        }
    }
    if let Some(channels) = h.get("channels").and_then(Value::as_object) {
        for (name, ch) in channels {
            let linked = ch.get("linked").and_then(Value::as_bool).unwrap_or(false);
            print::line(&format!(
                "Channel {name}: {}",
                if linked { "linked" } else { "not linked" }
            ));
        }
    }
}

fn print_status_text(s: &Value) {
    if let Some(v) = string(s, "/runtimeVersion") {
        print::line(&format!("Gateway version: {v}"));
    }
    if let Some(n) = num(s, "/sessions/count") {
        print::line(&format!("Sessions: {n}"));
    }
    if let Some(agents) = s.pointer("/heartbeat/agents").and_then(Value::as_array) {
        for a in agents {
            let id = string(a, "/agentId").unwrap_or("?");
            let every = string(a, "/every").unwrap_or("off");
            print::line(&format!("Heartbeat ({id}): every {every}"));
        }
    }
    if let Some(channels) = s.get("channelSummary").and_then(Value::as_array) {
        print::line(&format!(
            "Channels: {}",
            if channels.is_empty() {
                "none linked".to_owned()
            } else {
                channels.len().to_string()
            }
        ));
    }
    if s.as_object().map(|o| o.is_empty()).unwrap_or(true) {
        print::json(s);
    }
}
