//! `openclaw chat`: an interactive chat with an agent through the gateway.
//! Lines typed are sent with `chat.send`; the reply streams in as it is
//! written (`chat` deltas). `/stop` stops the running reply, `/exit` (or
//! end of input, once the last reply is in) leaves.

use std::io::{BufRead, Write};
use std::time::Duration;

use argh::FromArgs;
use gateway_proto::gateway::agents::keys;
use gateway_smol::client::ClientEvent;
use serde_json::{json, Value};

use super::call::target_or_exit;
use super::connect::{report_call_error, report_connect_error, Session};

/// Chat with an agent through the gateway (interactive; /stop, /exit).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "chat")]
pub struct ChatArgs {
    /// session key (default: the agent's main session)
    #[argh(option)]
    pub session_key: Option<String>,
    /// agent id
    #[argh(option)]
    pub agent: Option<String>,
    /// gateway WebSocket url (requires --token or --password)
    #[argh(option)]
    pub url: Option<String>,
    /// gateway token
    #[argh(option)]
    pub token: Option<String>,
    /// gateway password
    #[argh(option)]
    pub password: Option<String>,
    /// request timeout in milliseconds (default 10000)
    #[argh(option, default = "10_000")]
    pub timeout: u64,
}

/// What woke the loop up.
enum Wake {
    Line(Option<String>),
    Event(Option<ClientEvent>),
}

/// How one `chat` event of our session changes the screen.
#[derive(Debug, PartialEq)]
pub(crate) enum Shown {
    /// Text to add to the reply being written.
    Delta(String),
    /// The reply is complete; the text not shown yet comes along.
    Final(String),
    Error(String),
    Aborted,
    Nothing,
}

/// Interpret a `chat` payload for `session_key`; `shown` is how much of the
/// reply is on screen (a delta a slow connection missed is caught up from
/// the cumulative message).
pub(crate) fn interpret(payload: &Value, session_key: &str, shown: usize) -> Shown {
    if payload["sessionKey"] != session_key {
        return Shown::Nothing;
    }
    let full = payload["message"]["content"][0]["text"]
        .as_str()
        .unwrap_or("");
    let rest = full.get(shown..).unwrap_or("").to_owned();
    match payload["state"].as_str() {
        Some("delta") => Shown::Delta(rest),
        Some("final") => Shown::Final(rest),
        Some("error") => Shown::Error(
            payload["errorMessage"]
                .as_str()
                .unwrap_or("error")
                .to_owned(),
        ),
        Some("aborted") => Shown::Aborted,
        _ => Shown::Nothing,
    }
}

pub fn run_chat(args: ChatArgs) -> i32 {
    let target = match target_or_exit(
        args.url.as_deref(),
        args.token.as_deref(),
        args.password.as_deref(),
        false,
    ) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let session_key = keys::canonical(
        args.session_key.as_deref().unwrap_or(keys::MAIN_KEY),
        args.agent.as_deref(),
    );
    let timeout = Duration::from_millis(args.timeout.max(1));
    let scopes = vec!["operator.read".to_owned(), "operator.write".to_owned()];
    let session = Session::cli(scopes, timeout);
    let (lines_tx, lines) = smol::channel::bounded::<Option<String>>(1);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send_blocking(Some(line)).is_err() {
                return;
            }
        }
        let _ = lines_tx.send_blocking(None);
    });
    smol::block_on(async {
        let client = match session.connect(&target).await {
            Ok(c) => c,
            Err(e) => return report_connect_error(&target, &e, false),
        };
        let events = client.events();
        let mut running = false;
        let mut input_done = false;
        let mut shown = 0usize;
        let mut code = 0;
        loop {
            if input_done && !running {
                break;
            }
            let wake = smol::future::or(
                async {
                    if input_done {
                        std::future::pending::<()>().await;
                    }
                    Wake::Line(lines.recv().await.ok().flatten())
                },
                async { Wake::Event(events.recv().await.ok()) },
            )
            .await;
            match wake {
                Wake::Line(None) => input_done = true,
                Wake::Line(Some(line)) => {
                    let line = line.trim();
                    match line {
                        "" => {}
                        "/exit" | "/quit" => break,
                        "/stop" => {
                            let params = json!({"sessionKey": session_key});
                            if let Err(e) = client.call("chat.abort", Some(params)).await {
                                code = report_call_error(&e, false);
                            }
                        }
                        message => {
                            let params = json!({
                                "sessionKey": session_key,
                                "message": message,
                                "idempotencyKey": crate::ids::uuid_v4(),
                            });
                            match client.call("chat.send", Some(params)).await {
                                Ok(_) => {
                                    running = true;
                                    shown = 0;
                                }
                                Err(e) => code = report_call_error(&e, false),
                            }
                        }
                    }
                }
                Wake::Event(Some(ClientEvent::Event { name, payload, .. })) if name == "chat" => {
                    let mut out = std::io::stdout().lock();
                    match interpret(&payload, &session_key, shown) {
                        Shown::Delta(text) => {
                            shown += text.len();
                            let _ = write!(out, "{text}");
                        }
                        Shown::Final(text) => {
                            let _ = writeln!(out, "{text}");
                            running = false;
                        }
                        Shown::Error(message) => {
                            let _ = writeln!(out);
                            eprintln!("error: {message}");
                            running = false;
                            code = 1;
                        }
                        Shown::Aborted => {
                            let _ = writeln!(out, " [stopped]");
                            running = false;
                        }
                        Shown::Nothing => {}
                    }
                    let _ = out.flush();
                }
                Wake::Event(Some(ClientEvent::Disconnected { code: c, reason })) => {
                    eprintln!("gateway closed ({c}): {reason}");
                    return 1;
                }
                Wake::Event(None) => return 1,
                Wake::Event(Some(_)) => {}
            }
        }
        client.close().await;
        code
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(state: &str, text: &str) -> Value {
        json!({"sessionKey": "agent:main:main", "state": state,
               "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}})
    }

    #[test]
    fn deltas_show_what_is_new_even_after_a_missed_one() {
        assert_eq!(
            interpret(&chat("delta", "Hel"), "agent:main:main", 0),
            Shown::Delta("Hel".into())
        );
        // "lo wor" was missed; the cumulative text catches up.
        assert_eq!(
            interpret(&chat("delta", "Hello world"), "agent:main:main", 3),
            Shown::Delta("lo world".into())
        );
        assert_eq!(
            interpret(&chat("final", "Hello world!"), "agent:main:main", 11),
            Shown::Final("!".into())
        );
        assert_eq!(
            interpret(&chat("delta", "x"), "agent:main:other", 0),
            Shown::Nothing
        );
        let error =
            json!({"sessionKey": "agent:main:main", "state": "error", "errorMessage": "boom"});
        assert_eq!(
            interpret(&error, "agent:main:main", 0),
            Shown::Error("boom".into())
        );
    }
}
