//! Methods of features this gateway does not have (cron, questions, plugin
//! approvals, talk, tasks, updates, session branches and companions, …).
//!
//! The Control UI calls them on every page load and treats an error as a
//! broken page. Each answers the true state of this gateway: nothing of that
//! kind exists, in the shape the reference (2026.9.6) answers when nothing of
//! that kind is configured (recorded in
//! `tests/browser/fixtures/reference-unconfigured.json`).

use serde::Deserialize;
use serde_json::{json, Value};

use super::{Call, HubView};
use crate::gateway::host_stats::{system_info_json, HostStats};
use crate::gateway::Effect;
use crate::wire::{ErrorCode, ErrorShape};
use crate::ConnId;

/// `update.status`: no update was checked for or is scheduled; this gateway
/// installs as a package and updates with it.
pub(crate) fn update_status(hub: &mut HubView<'_>, call: &Call<'_>) {
    let answer = json!({
        "sentinel": null,
        "updateAvailable": null,
        "effectiveChannel": "stable",
        "schedule": {"channel": "stable", "autoEnabled": false, "install": {"kind": "package"}},
    });
    hub.out.respond_ok(call.conn, call.id, &answer);
}

/// `plugin.approval.list` and `openclaw.approval.list`: no plugins and no
/// system agent, so nothing ever waits for such an approval.
pub(crate) fn empty_list(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out.respond_ok(call.conn, call.id, &json!([]));
}

/// `sessions.observer.visibility`: the UI reports whether its tab is
/// visible; nothing here depends on it.
pub(crate) fn observer_visibility(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out.respond_ok(call.conn, call.id, &json!({"ok": true}));
}

/// `question.list`: no agent here can ask the operator a question.
pub(crate) fn question_list(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out
        .respond_ok(call.conn, call.id, &json!({"questions": []}));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CronListParams {
    limit: Option<u64>,
    offset: Option<u64>,
}

/// `cron.list`: this gateway runs no scheduled jobs.
pub(crate) fn cron_list(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p: CronListParams = params_or_answer!(hub, call, CronListParams);
    let answer = json!({
        "jobs": [],
        "total": 0,
        "offset": p.offset.unwrap_or(0),
        "limit": p.limit.unwrap_or(50),
        "hasMore": false,
        "nextOffset": null,
    });
    hub.out.respond_ok(call.conn, call.id, &answer);
}

/// `cron.status`: no scheduler, so no jobs and no next wake.
pub(crate) fn cron_status(hub: &mut HubView<'_>, call: &Call<'_>) {
    let answer = json!({
        "enabled": false,
        "triggersEnabled": false,
        "jobs": 0,
        "nextWakeAtMs": null,
    });
    hub.out.respond_ok(call.conn, call.id, &answer);
}

/// `talk.catalog`: the talk modes the protocol knows, with no speech,
/// transcription or realtime provider (this gateway has none).
pub(crate) fn talk_catalog(hub: &mut HubView<'_>, call: &Call<'_>) {
    let answer = json!({
        "modes": ["realtime", "stt-tts", "transcription"],
        "transports": ["webrtc", "provider-websocket", "gateway-relay", "managed-room"],
        "brains": ["agent-consult", "direct-tools", "none"],
        "speech": {"providers": []},
        "transcription": {"ready": false, "providers": []},
        "realtime": {"ready": false, "providers": []},
    });
    hub.out.respond_ok(call.conn, call.id, &answer);
}

/// `progressCard.get`: no agent here publishes a progress card.
pub(crate) fn progress_card(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out
        .respond_ok(call.conn, call.id, &json!({"card": null}));
}

/// `sessions.branches.list`: transcripts here are linear (no rewind).
pub(crate) fn branches_list(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out
        .respond_ok(call.conn, call.id, &json!({"branches": []}));
}

/// `sessions.companion.state`: no companion agents.
pub(crate) fn companion_state(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out
        .respond_ok(call.conn, call.id, &json!({"exchanges": []}));
}

/// `tasks.list`: no background tasks.
pub(crate) fn tasks_list(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out
        .respond_ok(call.conn, call.id, &json!({"tasks": []}));
}

/// `models.authStatus`: every configured provider authenticates with the
/// API key from the config (this gateway has no auth profiles or logins);
/// no provider plugins, so no capabilities to offer for setup.
pub(crate) fn models_auth_status(hub: &mut HubView<'_>, call: &Call<'_>) {
    let providers: Vec<Value> = hub
        .config
        .models
        .provider_ids()
        .map(|id| {
            json!({
                "provider": id,
                "authProvider": id,
                "displayName": id,
                "status": "static",
                "profiles": [],
                "apiKey": {"source": "config"},
            })
        })
        .collect();
    let answer = json!({
        "ts": hub.clock.unix_ms(hub.now),
        "providers": providers,
        "providerCapabilities": [],
    });
    hub.out.respond_ok(call.conn, call.id, &answer);
}

/// `chat.metadata`: the model picker's models (those of `models.list`, the
/// configured default tagged) and no slash commands or account choice.
pub(crate) fn chat_metadata(hub: &mut HubView<'_>, call: &Call<'_>) {
    let mut models = hub.config.models.models_list()["models"].take();
    let primary = hub.config.models.default_model();
    if let Some(rows) = models.as_array_mut() {
        for row in rows {
            let reference = format!(
                "{}/{}",
                row["provider"].as_str().unwrap_or(""),
                row["id"].as_str().unwrap_or("")
            );
            let tags: Vec<&str> = if primary == reference {
                vec!["default"]
            } else {
                vec![]
            };
            row["tags"] = json!(tags);
            row["available"] = json!(true);
        }
    }
    let answer = json!({
        "models": models,
        "commands": [],
        "swarmEnabled": false,
        "accountSelection": {"kind": "automatic", "label": "Automatic account selection"},
        "runtimeSelectionLocked": false,
    });
    hub.out.respond_ok(call.conn, call.id, &answer);
}

#[derive(Deserialize)]
struct MessagesSubscribeParams {
    key: String,
}

/// `sessions.messages.subscribe`: `session.message` events here go to every
/// `sessions.subscribe` subscriber, so subscribing to one session's messages
/// subscribes the connection to them all; no approvals are ever pending on a
/// session here, so the replay is empty.
pub(crate) fn messages_subscribe(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p: MessagesSubscribeParams = params_or_answer!(hub, call, MessagesSubscribeParams);
    hub.agents.subscribers.insert(call.conn);
    let answer = json!({
        "subscribed": true,
        "key": p.key,
        "approvalReplay": {
            "sessionKey": p.key,
            "updatedAtMs": hub.clock.unix_ms(hub.now),
            "approvals": [],
            "truncated": false,
        },
    });
    hub.out.respond_ok(call.conn, call.id, &answer);
}

/// `users.prefs.get`: no user preferences are stored here.
pub(crate) fn user_prefs(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out
        .respond_ok(call.conn, call.id, &json!({"status": "ok", "entries": {}}));
}

/// `sessions.groups.list`: sessions here are not grouped.
pub(crate) fn groups_list(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out.respond_ok(
        call.conn,
        call.id,
        &json!({"groups": [], "sectionOrder": []}),
    );
}

/// `sessions.groups.defaults`: no default groups.
pub(crate) fn groups_defaults(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out
        .respond_ok(call.conn, call.id, &json!({"defaults": []}));
}

/// `taskSuggestions.list`: no agent here suggests tasks.
pub(crate) fn task_suggestions(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out
        .respond_ok(call.conn, call.id, &json!({"suggestions": []}));
}

/// `session.discussion.info`: sessions here have no discussion.
pub(crate) fn discussion_info(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out
        .respond_ok(call.conn, call.id, &json!({"state": "none"}));
}

/// `sessions.catalog.list`: no external session catalogs (coding-agent
/// CLIs' sessions) are read here.
pub(crate) fn catalog_list(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out
        .respond_ok(call.conn, call.id, &json!({"catalogs": []}));
}

/// `controlUi.sessionPullRequests.subscribe`: no pull requests are tracked,
/// so nothing to subscribe to.
pub(crate) fn pull_requests_subscribe(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out
        .respond_ok(call.conn, call.id, &json!({"subscribed": false}));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ViewersParams {
    #[serde(default)]
    session_keys: Vec<String>,
}

/// `sessions.viewers.set`: the sessions this connection shows; nothing here
/// depends on who views what, so the set is acknowledged as given.
pub(crate) fn viewers_set(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p: ViewersParams = params_or_answer!(hub, call, ViewersParams);
    hub.out
        .respond_ok(call.conn, call.id, &json!({"sessionKeys": p.session_keys}));
}

/// The OS and CPU names in Node's spelling (`process.platform`,
/// `process.arch`), which is what the UI shows and compares.
fn node_platform() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    }
}

fn node_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        "x86" => "ia32",
        other => other,
    }
}

/// `environments.list`: the gateway itself is the only place agents run.
pub(crate) fn environments_list(hub: &mut HubView<'_>, call: &Call<'_>) {
    let answer = json!({"environments": [{
        "id": "gateway",
        "type": "local",
        "label": "Gateway local",
        "status": "available",
        "platform": node_platform(),
        "sessionHost": true,
        "trust": "persistent",
        "capabilities": ["agent.run", "sessions", "tools"],
    }]});
    hub.out.respond_ok(call.conn, call.id, &answer);
}

/// `system.info`: the host's vital signs, which the runtime reads from the
/// OS ([`Effect::ReadHostStats`]); answered in [`answer_system_info`].
pub(crate) fn system_info(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.start_read(call, |token| Effect::ReadHostStats { token });
}

/// The `system.info` answer once the runtime read the host. A host whose
/// stats cannot be read answers an error (the UI then says it has no
/// telemetry) rather than a document without the numbers it charts.
pub(crate) fn answer_system_info(
    hub: &mut HubView<'_>,
    conn: ConnId,
    request_id: &str,
    result: Result<HostStats, String>,
) {
    match result {
        Ok(stats) => {
            let uptime_ms = hub.clock.uptime_ms(hub.now);
            let answer = system_info_json(&stats, node_platform(), node_arch(), uptime_ms);
            hub.out.respond_ok(conn, request_id, &answer);
        }
        Err(e) => {
            let error = ErrorShape::new(ErrorCode::Unavailable, e);
            hub.out.respond_error(conn, request_id, &error);
        }
    }
}
