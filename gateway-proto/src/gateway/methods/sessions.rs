//! `sessions.*`: list, subscribe, patch, reset, delete, preview, describe.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::{Call, HubView};
use crate::gateway::agents::hub as runs;
use crate::gateway::agents::journal::TranscriptChange;
use crate::gateway::agents::keys;
use crate::gateway::agents::sessions::message_text;
use crate::server::Scope;
use crate::wire::ErrorShape;

/// `sessions.list`'s default page size (`limitApplied`).
pub(crate) const DEFAULT_LIST_LIMIT: usize = 100;
/// `sessions.preview`: items per session when `limit` is absent.
const DEFAULT_PREVIEW_ITEMS: usize = 3;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListParams {
    limit: Option<usize>,
    offset: Option<usize>,
    search: Option<String>,
    agent_id: Option<String>,
}

fn store_path(hub: &HubView<'_>, agent_id: &str) -> Value {
    match &hub.config.state_dir {
        Some(dir) => json!(format!(
            "{}/agents/{agent_id}/agent/openclaw-agent.sqlite",
            dir.trim_end_matches('/')
        )),
        None => json!("(memory)"),
    }
}

fn defaults(hub: &HubView<'_>) -> Value {
    let label = runs::model_label(hub, None);
    json!({
        "modelProvider": label.provider,
        "model": label.model,
        "contextTokens": label.context_tokens,
        "thinkingLevels": [{"id": "off", "label": "off"}],
        "thinkingOptions": ["off"],
        "thinkingDefault": "off",
        "modelSelectionTarget": "session",
    })
}

fn list_answer(hub: &HubView<'_>, p: &ListParams) -> Value {
    let search = p.search.as_deref().map(str::to_ascii_lowercase);
    let matching: Vec<&str> = hub
        .agents
        .sessions
        .by_recency()
        .into_iter()
        .filter(|s| p.agent_id.as_deref().is_none_or(|a| a == s.agent_id))
        .filter(|s| {
            search.as_deref().is_none_or(|q| {
                s.key.contains(q)
                    || s.label
                        .as_deref()
                        .is_some_and(|l| l.to_ascii_lowercase().contains(q))
            })
        })
        .map(|s| s.key.as_str())
        .collect();
    let limit = p.limit.unwrap_or(DEFAULT_LIST_LIMIT);
    let offset = p.offset.unwrap_or(0);
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|key| runs::session_row(hub, key))
        .collect();
    let next = offset + page.len();
    let has_more = next < matching.len();
    let path = if matching.is_empty() {
        json!("(multiple)")
    } else {
        store_path(hub, p.agent_id.as_deref().unwrap_or(keys::DEFAULT_AGENT))
    };
    json!({
        "ts": hub.clock.unix_ms(hub.now),
        "path": path,
        "count": page.len(),
        "totalCount": matching.len(),
        "limitApplied": limit,
        "nextOffset": if has_more { json!(next) } else { Value::Null },
        "hasMore": has_more,
        "owners": [],
        "defaults": defaults(hub),
        "sessions": page,
    })
}

pub(crate) fn list(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, ListParams);
    let answer = list_answer(hub, &p);
    hub.out.respond_ok(call.conn, call.id, &answer);
}

/// `sessions.subscribe`: this connection gets `sessions.changed` and
/// `session.message` from now on. With list params, the list comes along.
pub(crate) fn subscribe(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, ListParams);
    hub.agents.subscribers.insert(call.conn);
    let wants_list =
        p.limit.is_some() || p.offset.is_some() || p.search.is_some() || p.agent_id.is_some();
    let answer = if wants_list {
        json!({"subscribed": true, "list": list_answer(hub, &p)})
    } else {
        json!({"subscribed": true})
    };
    hub.out.respond_ok(call.conn, call.id, &answer);
}

pub(crate) fn unsubscribe(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.agents.subscribers.remove(&call.conn);
    hub.out
        .respond_ok(call.conn, call.id, &json!({"subscribed": false}));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyParams {
    key: String,
    agent_id: Option<String>,
}

fn key_of(p: &KeyParams) -> String {
    keys::canonical(&p.key, p.agent_id.as_deref())
}

fn not_found(key: &str) -> ErrorShape {
    ErrorShape::invalid_request(format!("session not found: {key}"))
}

/// Keys `sessions.patch` accepts with `operator.write` (the rest need admin).
const PATCH_WRITE_KEYS: &[&str] = &[
    "key",
    "agentId",
    "expectedSessionId",
    "expectedLifecycleRevision",
    "expectedPermissionMode",
    "expectedMarkedUnreadAt",
    "label",
    "autoLabel",
    "icon",
    "color",
    "category",
    "boardFace",
    "boardPresentation",
    "pinned",
    "archived",
    "unread",
    "model",
    "agentRuntime",
    "thinkingLevel",
    "fastMode",
    "permissionMode",
];

/// The scope `sessions.patch` needs (notes §1.2).
pub(crate) fn patch_scope(params: Option<&RawValue>) -> Scope {
    let Some(Value::Object(map)) = params.and_then(|p| serde_json::from_str(p.get()).ok()) else {
        return Scope::Write;
    };
    let admin = map
        .keys()
        .any(|k| !PATCH_WRITE_KEYS.contains(&k.as_str()) || k == "sandboxMode")
        || map.get("permissionMode").and_then(Value::as_str) == Some("full");
    if admin {
        Scope::Admin
    } else {
        Scope::Write
    }
}

/// The scope `sessions.delete` needs: write only for archived sessions.
pub(crate) fn delete_scope(params: Option<&RawValue>) -> Scope {
    const ARCHIVED_ONLY_KEYS: &[&str] = &[
        "key",
        "agentId",
        "deleteTranscript",
        "expectedSessionId",
        "archivedOnly",
    ];
    let Some(Value::Object(map)) = params.and_then(|p| serde_json::from_str(p.get()).ok()) else {
        return Scope::Admin;
    };
    let archived_only = map.get("archivedOnly") == Some(&Value::Bool(true))
        && map.keys().all(|k| ARCHIVED_ONLY_KEYS.contains(&k.as_str()));
    if archived_only {
        Scope::Write
    } else {
        Scope::Admin
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchParams {
    key: String,
    agent_id: Option<String>,
    #[serde(default)]
    label: Option<Option<String>>,
    #[serde(default)]
    model: Option<Option<String>>,
    #[serde(default)]
    thinking_level: Option<Option<String>>,
    pinned: Option<bool>,
    archived: Option<bool>,
    unread: Option<bool>,
}

pub(crate) fn patch(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, PatchParams);
    let key = keys::canonical(&p.key, p.agent_id.as_deref());
    if let Some(Some(model)) = &p.model {
        if let Err(e) = hub.config.models.resolve(Some(model)) {
            return hub
                .out
                .respond_error(call.conn, call.id, &ErrorShape::invalid_request(e));
        }
    }
    let now_ms = hub.clock.unix_ms(hub.now);
    let rng = &mut *hub.rng;
    let Ok(session) = hub
        .agents
        .sessions
        .get_or_create(&key, || rng.uuid_v4(), now_ms)
    else {
        let error = ErrorShape::new(crate::wire::ErrorCode::Unavailable, "too many sessions");
        return hub.out.respond_error(call.conn, call.id, &error);
    };
    if let Some(label) = p.label {
        session.label = label;
    }
    if let Some(model) = p.model {
        session.model_override = model;
    }
    if let Some(level) = p.thinking_level {
        session.thinking_level = level;
    }
    if let Some(v) = p.pinned {
        session.pinned = v;
    }
    if let Some(v) = p.archived {
        session.archived = v;
    }
    if let Some(v) = p.unread {
        session.unread = v;
    }
    session.updated_at = now_ms;
    let agent_id = session.agent_id.clone();
    let entry = runs::session_row(hub, &key);
    let answer =
        json!({"ok": true, "path": store_path(hub, &agent_id), "key": key, "entry": entry});
    hub.out.respond_ok(call.conn, call.id, &answer);
    runs::persist(hub, &key, TranscriptChange::Keep);
    runs::sessions_changed(hub, &key, Some(("reason", "patch")), None);
}

pub(crate) fn reset(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, KeyParams);
    let key = key_of(&p);
    if hub.agents.sessions.get(&key).is_none() {
        return hub.out.respond_error(call.conn, call.id, &not_found(&key));
    }
    super::agent::reset_for_command(hub, &key);
    let entry = runs::session_row(hub, &key);
    let label = runs::model_label(hub, None);
    let answer = json!({
        "ok": true,
        "key": key,
        "entry": entry,
        "resolved": {"modelProvider": label.provider, "model": label.model},
    });
    hub.out.respond_ok(call.conn, call.id, &answer);
}

pub(crate) fn delete(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, KeyParams);
    let key = key_of(&p);
    if keys::is_main(&key) {
        let error = ErrorShape::invalid_request(format!("Cannot delete the main session ({key})."));
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    runs::abort(hub, &key, None, "deleted");
    let removed = hub.agents.sessions.remove(&key);
    let deleted = removed.is_some();
    if let Some(session) = removed {
        runs::persist_removal(hub, &session.agent_id, &key, &session.session_id);
    }
    let answer = json!({"ok": true, "key": key, "deleted": deleted});
    hub.out.respond_ok(call.conn, call.id, &answer);
    if deleted {
        runs::sessions_changed(hub, &key, Some(("reason", "delete")), None);
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PreviewParams {
    keys: Vec<String>,
    limit: Option<usize>,
    max_chars: Option<usize>,
}

pub(crate) fn preview(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, PreviewParams);
    let limit = p.limit.unwrap_or(DEFAULT_PREVIEW_ITEMS).min(100);
    let max_chars = p.max_chars.unwrap_or(240).min(10_000);
    let previews: Vec<Value> = p
        .keys
        .iter()
        .take(100)
        .map(|k| {
            let key = keys::canonical(k, None);
            match hub.agents.sessions.get(&key) {
                Some(s) if !s.messages.is_empty() => {
                    let items: Vec<Value> = s
                        .messages
                        .iter()
                        .rev()
                        .take(limit)
                        .rev()
                        .map(|m| {
                            let text: String = message_text(m).chars().take(max_chars).collect();
                            json!({"role": m.get("role"), "text": text})
                        })
                        .collect();
                    json!({"key": key, "status": "ok", "items": items})
                }
                Some(_) => json!({"key": key, "status": "empty", "items": []}),
                None => json!({"key": key, "status": "missing", "items": []}),
            }
        })
        .collect();
    let answer = json!({"ts": hub.clock.unix_ms(hub.now), "previews": previews});
    hub.out.respond_ok(call.conn, call.id, &answer);
}

pub(crate) fn describe(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, KeyParams);
    let key = key_of(&p);
    // An unknown key is not an error: the reference answers a null session
    // (the Control UI describes the main session before its first message).
    if hub.agents.sessions.get(&key).is_none() {
        return hub
            .out
            .respond_ok(call.conn, call.id, &json!({"session": null}));
    }
    let row = runs::session_row(hub, &key);
    hub.out
        .respond_ok(call.conn, call.id, &json!({"key": key, "session": row}));
}
