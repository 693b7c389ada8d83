//! `openclaw agent`: one agent turn through the gateway's `agent` method,
//! waiting for its final answer (the first answer only says "accepted").

use std::time::Duration;

use argh::FromArgs;
use gateway_proto::client::RequestOptions;
use serde_json::{json, Map, Value};

use super::call::{call_once, target_or_exit};
use super::connect::Session;
use super::print;

/// The reference's `--message-file` bound.
const MAX_MESSAGE_FILE: u64 = 4 * 1024 * 1024;
/// The run's budget when `--timeout` is absent (the reference CLI's 600 s).
const DEFAULT_TIMEOUT_S: u64 = 600;

/// Run an agent turn via the Gateway.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "agent")]
pub struct AgentArgs {
    /// message body for the agent
    #[argh(option, short = 'm')]
    pub message: Option<String>,
    /// read the agent message body from a UTF-8 file (max 4 MiB)
    #[argh(option)]
    pub message_file: Option<String>,
    /// agent id (overrides routing bindings)
    #[argh(option)]
    pub agent: Option<String>,
    /// explicit session key (agent:<id>:<key>, or scoped to --agent)
    #[argh(option)]
    pub session_key: Option<String>,
    /// use an explicit session id
    #[argh(option)]
    pub session_id: Option<String>,
    /// recipient used to derive the session key
    #[argh(option, short = 't')]
    pub to: Option<String>,
    /// model override for this run (provider/model)
    #[argh(option)]
    pub model: Option<String>,
    /// thinking level
    #[argh(option)]
    pub thinking: Option<String>,
    /// run timeout in seconds (default 600)
    #[argh(option)]
    pub timeout: Option<u64>,
    /// output the final result as JSON
    #[argh(switch)]
    pub json: bool,
    /// gateway WebSocket url (requires --token or --password)
    #[argh(option)]
    pub url: Option<String>,
    /// gateway token
    #[argh(option)]
    pub token: Option<String>,
    /// gateway password
    #[argh(option)]
    pub password: Option<String>,
}

fn message_of(args: &AgentArgs) -> Result<String, String> {
    match (&args.message, &args.message_file) {
        (Some(m), None) => Ok(m.clone()),
        (None, Some(path)) => {
            let meta =
                std::fs::metadata(path).map_err(|e| format!("--message-file {path}: {e}"))?;
            if meta.len() > MAX_MESSAGE_FILE {
                return Err(format!("--message-file {path} is larger than 4 MiB"));
            }
            std::fs::read_to_string(path).map_err(|e| format!("--message-file {path}: {e}"))
        }
        (Some(_), Some(_)) => Err("Use either --message or --message-file, not both.".into()),
        (None, None) => Err("Pass --message <text> or --message-file <path>.".into()),
    }
}

/// The `agent` params for these flags.
fn params_of(args: &AgentArgs, message: String, key: String, timeout_s: u64) -> Value {
    let mut p = Map::new();
    p.insert("message".into(), json!(message));
    p.insert("idempotencyKey".into(), json!(key));
    p.insert("timeout".into(), json!(timeout_s));
    let mut opt = |name: &str, v: &Option<String>| {
        if let Some(v) = v {
            p.insert(name.into(), json!(v));
        }
    };
    opt("agentId", &args.agent);
    opt("sessionKey", &args.session_key);
    opt("sessionId", &args.session_id);
    opt("to", &args.to);
    opt("thinking", &args.thinking);
    if let Some(model) = &args.model {
        match model.split_once('/') {
            Some((provider, id)) => {
                p.insert("provider".into(), json!(provider));
                p.insert("model".into(), json!(id));
            }
            None => {
                p.insert("model".into(), json!(model));
            }
        }
    }
    Value::Object(p)
}

/// The reply text of a final `agent` answer: its payloads' texts.
pub(crate) fn reply_text(result: &Value) -> String {
    result["result"]["payloads"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn run_agent(args: AgentArgs) -> i32 {
    let message = match message_of(&args) {
        Ok(m) if !m.trim().is_empty() => m,
        Ok(_) => {
            eprintln!("The message is empty.");
            return 1;
        }
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let target = match target_or_exit(
        args.url.as_deref(),
        args.token.as_deref(),
        args.password.as_deref(),
        args.json,
    ) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let timeout_s = args.timeout.unwrap_or(DEFAULT_TIMEOUT_S).max(1);
    // The transport waits a little past the run's own budget.
    let wait = Duration::from_secs(timeout_s + 30);
    let admin = gateway_proto::gateway::agents::keys::is_reset_command(&message);
    let scopes = if admin {
        vec!["operator.admin".to_owned(), "operator.write".to_owned()]
    } else {
        vec!["operator.write".to_owned()]
    };
    let session = Session::cli(scopes, wait);
    let key = crate::ids::uuid_v4();
    let params = params_of(&args, message, key, timeout_s);
    let opts = RequestOptions {
        expect_final: true,
        timeout: Some(wait),
    };
    match call_once(&target, &session, "agent", Some(params), opts, args.json) {
        Ok(result) => {
            if args.json {
                print::json(&result);
            } else {
                print::line(&reply_text(&result));
            }
            0
        }
        Err(code) => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> AgentArgs {
        let mut all = vec!["--message", "hi"];
        all.extend_from_slice(extra);
        AgentArgs::from_args(&["agent"], &all).unwrap()
    }

    #[test]
    fn flags_become_the_reference_params() {
        let a = args(&[
            "--agent",
            "ops",
            "--session-key",
            "agent:ops:x",
            "--model",
            "fake/echo",
        ]);
        let p = params_of(&a, "hi".into(), "k".into(), 600);
        assert_eq!(
            p,
            json!({"message": "hi", "idempotencyKey": "k", "timeout": 600, "agentId": "ops",
                   "sessionKey": "agent:ops:x", "provider": "fake", "model": "echo"})
        );
        let bare = params_of(&args(&["--model", "echo"]), "hi".into(), "k".into(), 5);
        assert_eq!(bare["model"], "echo");
        assert!(bare.get("provider").is_none());
    }

    #[test]
    fn the_reply_is_the_payload_texts() {
        let result = json!({"result": {"payloads": [{"text": "a"}, {"text": "b"}]}});
        assert_eq!(reply_text(&result), "a\nb");
    }

    #[test]
    fn one_message_source() {
        let both =
            AgentArgs::from_args(&["agent"], &["-m", "x", "--message-file", "/nope"]).unwrap();
        assert!(message_of(&both).is_err());
        let none = AgentArgs::from_args(&["agent"], &[]).unwrap();
        assert!(message_of(&none).is_err());
    }
}
