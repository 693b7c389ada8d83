//! `gateway call`, `gateway health`, `system presence`: one connection, one method.

use std::time::Duration;

use argh::FromArgs;
use gateway_proto::client::RequestOptions;
use serde_json::Value;

use super::connect::{report_call_error, report_connect_error, scopes_for, Session};
use super::print;
use super::target::{self, Target};

/// Call a gateway method and print the result as JSON.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "call")]
pub struct CallArgs {
    /// method name (e.g. health, status, system-presence)
    #[argh(positional)]
    pub method: String,
    /// params as a JSON object
    #[argh(option, default = "String::from(\"{}\")")]
    pub params: String,
    /// gateway WebSocket url (requires --token or --password)
    #[argh(option)]
    pub url: Option<String>,
    /// gateway token
    #[argh(option)]
    pub token: Option<String>,
    /// gateway password
    #[argh(option)]
    pub password: Option<String>,
    /// output JSON
    #[argh(switch)]
    pub json: bool,
    /// timeout in milliseconds (default 10000)
    #[argh(option, default = "10_000")]
    pub timeout: u64,
    /// wait for the final response of a two-stage method (agent)
    #[argh(switch)]
    pub expect_final: bool,
}

/// Fetch the gateway health snapshot.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "health")]
pub struct GatewayHealthArgs {
    /// gateway WebSocket url (requires --token or --password)
    #[argh(option)]
    pub url: Option<String>,
    /// gateway token
    #[argh(option)]
    pub token: Option<String>,
    /// gateway password
    #[argh(option)]
    pub password: Option<String>,
    /// output JSON
    #[argh(switch)]
    pub json: bool,
    /// timeout in milliseconds (default 10000)
    #[argh(option, default = "10_000")]
    pub timeout: u64,
}

/// Show who is connected to the gateway.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "presence")]
pub struct SystemPresenceArgs {
    /// gateway WebSocket url (requires --token or --password)
    #[argh(option)]
    pub url: Option<String>,
    /// gateway token
    #[argh(option)]
    pub token: Option<String>,
    /// gateway password
    #[argh(option)]
    pub password: Option<String>,
    /// output JSON
    #[argh(switch)]
    pub json: bool,
    /// timeout in milliseconds (default 10000)
    #[argh(option, default = "10_000")]
    pub timeout: u64,
}

/// Resolve the target, printing the reference's error shape when unusable.
pub(crate) fn target_or_exit(
    url: Option<&str>,
    token: Option<&str>,
    password: Option<&str>,
    json: bool,
) -> Result<Target, i32> {
    target::resolve(url, token, password).map_err(|e| {
        if json {
            print::json(
                &serde_json::json!({"ok": false, "error": {"type": e.kind, "message": e.message}}),
            );
        }
        eprintln!("{}", e.message);
        1
    })
}

/// Connect, make one call, close. `Err` is the exit code (already reported).
pub(crate) fn call_once(
    target: &Target,
    session: &Session,
    method: &str,
    params: Option<Value>,
    opts: RequestOptions,
    json: bool,
) -> Result<Value, i32> {
    smol::block_on(async {
        let client = session
            .connect(target)
            .await
            .map_err(|e| report_connect_error(target, &e, json))?;
        let result = client.call_with(method, params, opts).await;
        client.close().await;
        result.map_err(|e| report_call_error(&e, json))
    })
}

/// serde_json's message without its trailing " at line L column C".
fn json_error_words(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

pub fn run_call(args: CallArgs) -> i32 {
    let params: Value = match serde_json::from_str(&args.params) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            eprintln!(
                "--params must be a JSON object ({{...}}), got {}",
                args.params.trim()
            );
            return 2;
        }
        Err(e) => {
            eprintln!(
                "--params is not valid JSON: {} at line {}, column {}",
                json_error_words(&e),
                e.line(),
                e.column()
            );
            return 2;
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
    let timeout = Duration::from_millis(args.timeout.max(1));
    let session = Session::cli(scopes_for(&args.method), timeout);
    let opts = RequestOptions {
        expect_final: args.expect_final,
        timeout: Some(timeout),
    };
    match call_once(
        &target,
        &session,
        &args.method,
        Some(params),
        opts,
        args.json,
    ) {
        Ok(value) => {
            if !args.json {
                print::line(&format!("Gateway call: {}", args.method));
            }
            print::json(&value);
            0
        }
        Err(code) => code,
    }
}

/// Resolve the target, then make one parameterless call of `method` with the
/// scopes it needs, as the CLI, or as a backend client named `backend` (what
/// the reference's `health`/`status` connect as).
pub(crate) fn simple_call(
    url: Option<&str>,
    token: Option<&str>,
    password: Option<&str>,
    timeout_ms: u64,
    json: bool,
    method: &str,
    backend: Option<&str>,
) -> Result<Value, i32> {
    let target = target_or_exit(url, token, password, json)?;
    let timeout = Duration::from_millis(timeout_ms.max(1));
    let session = match backend {
        Some(display_name) => Session::backend(display_name, scopes_for(method), timeout),
        None => Session::cli(scopes_for(method), timeout),
    };
    call_once(
        &target,
        &session,
        method,
        None,
        RequestOptions::default(),
        json,
    )
}

pub fn run_gateway_health(args: GatewayHealthArgs) -> i32 {
    let result = simple_call(
        args.url.as_deref(),
        args.token.as_deref(),
        args.password.as_deref(),
        args.timeout,
        args.json,
        "health",
        None,
    );
    match result {
        Ok(value) => {
            if args.json {
                print::json(&value);
            } else {
                super::health::print_health_text(&value);
            }
            0
        }
        Err(code) => code,
    }
}

pub fn run_system_presence(args: SystemPresenceArgs) -> i32 {
    let result = simple_call(
        args.url.as_deref(),
        args.token.as_deref(),
        args.password.as_deref(),
        args.timeout,
        args.json,
        "system-presence",
        None,
    );
    match result {
        Ok(value) => {
            if args.json {
                print::json(&value);
            } else {
                for entry in value.as_array().into_iter().flatten() {
                    let text = entry.get("text").and_then(Value::as_str).map(str::to_owned);
                    print::line(&text.unwrap_or_else(|| entry.to_string()));
                }
            }
            0
        }
        Err(code) => code,
    }
}
