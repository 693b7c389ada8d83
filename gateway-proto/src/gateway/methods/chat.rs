//! `chat.send`, `chat.abort` and `chat.history`: the chat view of runs.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{Call, HubView};
use crate::gateway::agents::dedupe::Outcome;
use crate::gateway::agents::hub::{self as runs, Submission};
use crate::gateway::agents::keys;
use crate::gateway::agents::runs::{Origin, QueueMode};
use crate::wire::{Property, Schema};

const NON_EMPTY: Schema = Schema::string(Some(1), None);
const TEXT: Schema = Schema::string(None, None);

/// `chat.history` answers at most this many bytes of messages
/// (`maxChatHistoryMessagesBytes`): the oldest are left out first.
pub(crate) const MAX_HISTORY_BYTES: usize = 6 * 1024 * 1024;
/// Messages `chat.history` returns when `limit` is absent.
pub(crate) const DEFAULT_HISTORY_LIMIT: usize = 200;

/// `ChatSendParams` of the reference: a closed object.
pub(crate) static SEND_PARAMS: Schema = Schema::object(
    &[
        Property::new("sessionKey", Schema::string(Some(1), Some(512))),
        Property::new("agentId", NON_EMPTY),
        Property::new("sessionId", NON_EMPTY),
        Property::new("message", TEXT),
        Property::new("mentions", Schema::Any),
        Property::new("workContext", Schema::Any),
        Property::new("intent", Schema::Any),
        Property::new("thinking", TEXT),
        Property::new("fastMode", Schema::Any),
        Property::new("fastAutoOnSeconds", Schema::integer(Some(1), None)),
        Property::new(
            "queueMode",
            Schema::Enum(&["steer", "followup", "collect", "interrupt"]),
        ),
        Property::new("deliver", Schema::Boolean),
        Property::new("originatingChannel", TEXT),
        Property::new("originatingTo", TEXT),
        Property::new("originatingAccountId", TEXT),
        Property::new("originatingThreadId", TEXT),
        Property::new("replyToId", NON_EMPTY),
        Property::new("attachments", Schema::Any),
        Property::new("toolBindings", Schema::Any),
        Property::new("timeoutMs", Schema::integer(Some(0), None)),
        Property::new("systemInputProvenance", Schema::Any),
        Property::new("systemProvenanceReceipt", TEXT),
        Property::new("suppressCommandInterpretation", Schema::Boolean),
        Property::new("expectedLeafEntryId", Schema::Any),
        Property::new("expectedSessionRoutingContract", NON_EMPTY),
        Property::new("expectedPermissionMode", Schema::Any),
        Property::new("expectedToolOverrides", Schema::Any),
        Property::new("idempotencyKey", NON_EMPTY),
    ],
    &["sessionKey", "message", "idempotencyKey"],
);

pub(crate) static ABORT_PARAMS: Schema = Schema::object(
    &[
        Property::new("sessionKey", NON_EMPTY),
        Property::new("runId", NON_EMPTY),
        Property::new("agentId", NON_EMPTY),
    ],
    &["sessionKey"],
);

/// `ChatHistoryParams` of the reference.
pub(crate) static HISTORY_PARAMS: Schema = Schema::object(
    &[
        Property::new("sessionKey", NON_EMPTY),
        Property::new("agentId", NON_EMPTY),
        Property::new("cursor", TEXT),
        Property::new("limit", Schema::integer(Some(1), Some(1000))),
        Property::new("maxBytes", Schema::integer(Some(1024), None)),
        Property::new("offset", Schema::integer(Some(0), None)),
        Property::new("pendingBefore", Schema::integer(Some(1), None)),
        Property::new("inputRunIds", Schema::Any),
        Property::new("messageId", NON_EMPTY),
        Property::new("sessionId", NON_EMPTY),
        Property::new("maxChars", Schema::integer(Some(1), Some(500_000))),
    ],
    &["sessionKey"],
);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendParams {
    session_key: String,
    agent_id: Option<String>,
    message: String,
    idempotency_key: String,
    queue_mode: Option<String>,
    timeout_ms: Option<u64>,
}

pub(crate) fn send(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, SendParams);
    let session_key = keys::canonical(&p.session_key, p.agent_id.as_deref());
    let dedupe_key = format!("chat:{}", p.idempotency_key);
    match hub.agents.dedupe.get(&dedupe_key, hub.now) {
        Some(Outcome::Running { run_id }) => {
            let answer = json!({"runId": run_id, "status": "in_flight"});
            return hub.out.respond_ok(call.conn, call.id, &answer);
        }
        Some(Outcome::Done { answer, .. }) => {
            let answer = answer.clone();
            return hub.out.respond_ok(call.conn, call.id, &answer);
        }
        None => {}
    }
    let text = p.message.trim().to_owned();
    let text = text.as_str();
    if text.eq_ignore_ascii_case("/stop") {
        let ids = runs::abort(hub, &session_key, None, "stop");
        let answer = json!({"ok": true, "aborted": !ids.is_empty(), "runIds": ids});
        return hub.out.respond_ok(call.conn, call.id, &answer);
    }
    if text.is_empty() {
        let error = crate::wire::ErrorShape::invalid_request("message must not be empty");
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    if keys::is_reset_command(text) && !call.session.scopes.satisfies(crate::server::Scope::Admin) {
        let error = crate::gateway::registry::missing_scope_of(
            "operator.admin",
            &["operator.admin"],
            call.session.protocol,
        );
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let mut message = p.message;
    if keys::is_reset_command(text) {
        super::agent::reset_for_command(hub, &session_key);
        match text.split_once(char::is_whitespace).map(|(_, r)| r.trim()) {
            Some(rest) if !rest.is_empty() => message = rest.to_owned(),
            _ => {
                let answer = json!({"runId": p.idempotency_key, "status": "ok"});
                return hub.out.respond_ok(call.conn, call.id, &answer);
            }
        }
    }
    let model_ref = hub
        .agents
        .sessions
        .get(&session_key)
        .and_then(|s| s.model_override.clone());
    let submission = Submission {
        run_id: p.idempotency_key.clone(),
        session_key,
        origin: Origin::Chat,
        dedupe_key,
        message,
        model_ref,
        queue_mode: QueueMode::parse(p.queue_mode.as_deref()),
        timeout: p
            .timeout_ms
            .filter(|t| *t > 0)
            .map(std::time::Duration::from_millis),
    };
    // "started" goes out before the run's first event.
    if let Err(error) = runs::check_capacity(hub, &submission.session_key) {
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    // A collected message is carried by the waiting run it joins.
    let run_id = match submission.queue_mode {
        QueueMode::Collect => runs::collect_target(hub, &submission.session_key),
        _ => None,
    }
    .unwrap_or_else(|| p.idempotency_key.clone());
    let answer = json!({"runId": run_id, "status": "started"});
    hub.out.respond_ok(call.conn, call.id, &answer);
    // Capacity was checked just above, so this cannot be refused.
    let _ = runs::submit(hub, submission);
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AbortParams {
    session_key: String,
    run_id: Option<String>,
    agent_id: Option<String>,
}

pub(crate) fn abort(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, AbortParams);
    let session_key = keys::canonical(&p.session_key, p.agent_id.as_deref());
    let ids = runs::abort(hub, &session_key, p.run_id.as_deref(), "rpc");
    let answer = json!({"ok": true, "aborted": !ids.is_empty(), "runIds": ids});
    hub.out.respond_ok(call.conn, call.id, &answer);
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryParams {
    session_key: String,
    agent_id: Option<String>,
    limit: Option<usize>,
    max_bytes: Option<usize>,
    cursor: Option<String>,
    offset: Option<u64>,
    message_id: Option<String>,
}

/// A `chat.history` catch-up returns at most this many messages or bytes;
/// past that the client is told to reload (`{kind: "reset"}`).
const DELTA_MAX_MESSAGES: usize = 200;
const DELTA_MAX_BYTES: usize = 1_000_000;

/// Where a reader is in a session's history: opaque to clients
/// (base64url JSON of the session id and the last message seq it has).
#[derive(serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cursor {
    version: u8,
    agent_id: String,
    session_id: String,
    last_seq: u64,
}

fn encode_cursor(agent_id: &str, session_id: &str, last_seq: u64) -> String {
    use base64::Engine;
    let cursor = Cursor {
        version: 1,
        agent_id: agent_id.to_owned(),
        session_id: session_id.to_owned(),
        last_seq,
    };
    let json = serde_json::to_vec(&cursor).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(text: &str) -> Option<Cursor> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn seq_of(message: &Value) -> u64 {
    message["__openclaw"]["seq"].as_u64().unwrap_or(0)
}

/// The `sessionInfo` of `chat.history`.
fn session_info(hub: &HubView<'_>, key: &str) -> Value {
    let session = hub.agents.sessions.get(key);
    let label = runs::model_label(hub, session.and_then(|s| s.model_override.as_deref()));
    let active = hub.agents.runs_of(key);
    json!({
        "key": key,
        "kind": "direct",
        "classification": if keys::is_main(key) { "main" } else { "direct" },
        "agentId": keys::agent_of(key),
        "isMain": keys::is_main(key),
        "isBackground": false,
        "updatedAt": session.map(|s| s.updated_at),
        "archived": session.is_some_and(|s| s.archived),
        "pinned": session.is_some_and(|s| s.pinned),
        "unread": session.is_some_and(|s| s.unread),
        "effectiveQueueMode": "steer",
        "modelProvider": label.provider,
        "model": label.model,
        "contextTokens": label.context_tokens,
        "snapshotAt": hub.clock.unix_ms(hub.now),
        "hasActiveRun": !active.is_empty(),
        "activeRunIds": active,
    })
}

/// The messages after `cursor`, or `None` when the reader must reload
/// (another session, messages no longer in memory, or too many).
fn delta_after(hub: &HubView<'_>, key: &str, cursor: &Cursor, max_bytes: usize) -> Option<Value> {
    let session = hub.agents.sessions.get(key)?;
    if cursor.session_id != session.session_id || cursor.last_seq > session.message_count {
        return None;
    }
    let first_kept = session
        .messages
        .first()
        .map_or(session.message_count + 1, seq_of);
    if cursor.last_seq + 1 < first_kept {
        return None;
    }
    let newer: Vec<&Value> = session
        .messages
        .iter()
        .filter(|m| seq_of(m) > cursor.last_seq)
        .collect();
    let bytes: usize = newer
        .iter()
        .map(|m| serde_json::to_vec(m).map_or(0, |v| v.len()))
        .sum();
    if newer.len() > DELTA_MAX_MESSAGES || bytes > max_bytes.min(DELTA_MAX_BYTES) {
        return None;
    }
    Some(json!({
        "kind": "delta",
        "messages": newer,
        "deltaCursor": encode_cursor(&session.agent_id, &session.session_id, session.message_count),
        "pendingInputs": {"items": [], "total": 0},
        "sessionInfo": session_info(hub, key),
    }))
}

pub(crate) fn history(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, HistoryParams);
    let key = keys::canonical(&p.session_key, p.agent_id.as_deref());
    let max_bytes = p
        .max_bytes
        .unwrap_or(MAX_HISTORY_BYTES)
        .min(MAX_HISTORY_BYTES);
    if let Some(text) = &p.cursor {
        if p.offset.is_some() || p.message_id.is_some() {
            let error = crate::wire::ErrorShape::invalid_request(
                "cursor cannot be used with offset or messageId",
            );
            return hub.out.respond_error(call.conn, call.id, &error);
        }
        let answer = decode_cursor(text)
            .and_then(|cursor| delta_after(hub, &key, &cursor, max_bytes))
            .unwrap_or_else(|| json!({"kind": "reset"}));
        return hub.out.respond_ok(call.conn, call.id, &answer);
    }
    let limit = p.limit.unwrap_or(DEFAULT_HISTORY_LIMIT);
    let session = hub.agents.sessions.get(&key);
    let all: &[Value] = session.map_or(&[], |s| s.messages.as_slice());
    // The newest `limit` messages that fit in `max_bytes`, oldest first.
    let mut picked = Vec::new();
    let mut bytes = 0;
    for message in all.iter().rev().take(limit) {
        let size = serde_json::to_vec(message).map_or(0, |v| v.len());
        if bytes + size > max_bytes {
            break;
        }
        bytes += size;
        picked.push(message);
    }
    picked.reverse();
    let total = session.map_or(0, |s| s.message_count);
    let label = runs::model_label(hub, session.and_then(|s| s.model_override.as_deref()));
    let mut answer = json!({
        "sessionKey": p.session_key,
        "messages": picked,
        "pendingInputs": {"items": [], "total": 0},
        "hasMore": (picked.len() as u64) < total,
        "totalMessages": total,
        "defaults": {
            "modelProvider": label.provider,
            "model": label.model,
            "contextTokens": label.context_tokens,
            "modelSelectionTarget": "session",
        },
        "sessionInfo": session_info(hub, &key),
    });
    if let Some(s) = session {
        answer["sessionId"] = json!(s.session_id);
        answer["deltaCursor"] = json!(encode_cursor(&s.agent_id, &s.session_id, s.message_count));
    }
    hub.out.respond_ok(call.conn, call.id, &answer);
}
