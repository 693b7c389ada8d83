//! `agent`, `agent.wait`, `agent.identity.get` and `agents.list`: runs
//! started by a request that gets two answers (accepted, then the final).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::{Call, HubView};
use crate::gateway::agents::dedupe::Outcome;
use crate::gateway::agents::hub::{self as runs, Submission};
use crate::gateway::agents::journal::TranscriptChange;
use crate::gateway::agents::keys::{self, is_reset_command, DEFAULT_AGENT, MAIN_KEY};
use crate::gateway::agents::runs::{Origin, QueueMode};
use crate::gateway::agents::DEFAULT_WAIT_MS;
use crate::server::Scope;
use crate::wire::{ErrorShape, Property, Schema};

const NON_EMPTY: Schema = Schema::string(Some(1), None);
const TEXT: Schema = Schema::string(None, None);

/// `AgentParams` of the reference: a closed object.
pub(crate) static AGENT_PARAMS: Schema = Schema::object(
    &[
        Property::new("message", NON_EMPTY),
        Property::new("agentId", NON_EMPTY),
        Property::new("provider", TEXT),
        Property::new("model", TEXT),
        Property::new("to", TEXT),
        Property::new("replyTo", TEXT),
        Property::new("sessionId", TEXT),
        Property::new("sessionKey", TEXT),
        Property::new("expectedExistingSessionId", NON_EMPTY),
        Property::new("thinking", TEXT),
        Property::new("deliver", Schema::Boolean),
        Property::new("attachments", Schema::Any),
        Property::new("channel", TEXT),
        Property::new("replyChannel", TEXT),
        Property::new("accountId", TEXT),
        Property::new("replyAccountId", TEXT),
        Property::new("threadId", TEXT),
        Property::new("groupId", TEXT),
        Property::new("groupChannel", TEXT),
        Property::new("groupSpace", TEXT),
        Property::new("timeout", Schema::integer(Some(0), None)),
        Property::new("bestEffortDeliver", Schema::Boolean),
        Property::new("lane", TEXT),
        Property::new("cwd", NON_EMPTY),
        Property::new("cleanupBundleMcpOnRunEnd", Schema::Boolean),
        Property::new("modelRun", Schema::Boolean),
        Property::new("promptMode", Schema::Any),
        Property::new("extraSystemPrompt", TEXT),
        Property::new("bootstrapContextMode", Schema::Any),
        Property::new("bootstrapContextRunKind", Schema::Any),
        Property::new("acpTurnSource", TEXT),
        Property::new("internalRuntimeHandoffId", NON_EMPTY),
        Property::new("internalExecutionIdentityRetry", Schema::Boolean),
        Property::new(
            "internalExecutionIdentityRecoveryAttempt",
            Schema::integer(Some(1), None),
        ),
        Property::new("execApprovalFollowupExpectedSessionId", NON_EMPTY),
        Property::new("internalEvents", Schema::Any),
        Property::new("inputProvenance", Schema::Any),
        Property::new("suppressPromptPersistence", Schema::Boolean),
        Property::new("sessionEffects", Schema::Any),
        Property::new("sourceReplyDeliveryMode", Schema::Any),
        Property::new("disableMessageTool", Schema::Boolean),
        Property::new("swarmCollector", Schema::Boolean),
        Property::new("swarmOutputSchema", Schema::Any),
        Property::new("forceRestartSafeTools", Schema::Boolean),
        Property::new("forceCodeModeTools", Schema::Boolean),
        Property::new("voiceWakeTrigger", TEXT),
        Property::new("idempotencyKey", NON_EMPTY),
        Property::new("label", Schema::string(Some(1), Some(512))),
    ],
    &["message", "idempotencyKey"],
);

pub(crate) static WAIT_PARAMS: Schema = Schema::object(
    &[
        Property::new("runId", NON_EMPTY),
        Property::new("timeoutMs", Schema::integer(Some(0), None)),
    ],
    &["runId"],
);

pub(crate) static IDENTITY_PARAMS: Schema = Schema::object(
    &[
        Property::new("agentId", NON_EMPTY),
        Property::new("sessionKey", TEXT),
    ],
    &[],
);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentParams {
    message: String,
    idempotency_key: String,
    agent_id: Option<String>,
    session_key: Option<String>,
    provider: Option<String>,
    model: Option<String>,
    timeout: Option<u64>,
    label: Option<String>,
}

/// The scope `agent` needs: admin for a session reset, write otherwise.
pub(crate) fn agent_scope(params: Option<&RawValue>) -> Scope {
    #[derive(Deserialize)]
    struct Message {
        message: Option<String>,
    }
    let message = params
        .and_then(|p| serde_json::from_str::<Message>(p.get()).ok())
        .and_then(|m| m.message);
    match message {
        Some(m) if is_reset_command(&m) => Scope::Admin,
        _ => Scope::Write,
    }
}

pub(crate) fn agent(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, AgentParams);
    let dedupe_key = format!("agent:{}", p.idempotency_key);
    match hub.agents.dedupe.get(&dedupe_key, hub.now) {
        Some(Outcome::Done { answer, ok }) => {
            let (answer, ok) = (answer.clone(), *ok);
            return replay(hub, call, &answer, ok);
        }
        Some(Outcome::Running { run_id }) => {
            let answer = json!({"runId": run_id, "status": "in_flight"});
            return hub.out.respond_ok(call.conn, call.id, &answer);
        }
        None => {}
    }
    let agent_id = p.agent_id.as_deref().unwrap_or(DEFAULT_AGENT);
    let session_key = keys::canonical(p.session_key.as_deref().unwrap_or(MAIN_KEY), Some(agent_id));
    let mut message = p.message;
    if is_reset_command(&message) {
        reset_for_command(hub, &session_key);
        let rest = message
            .trim_start()
            .split_once(char::is_whitespace)
            .map(|(_, r)| r.trim());
        match rest {
            Some(rest) if !rest.is_empty() => message = rest.to_owned(),
            _ => {
                let answer = json!({
                    "runId": p.idempotency_key, "status": "ok", "summary": "completed",
                    "result": {"payloads": [], "meta": {"durationMs": 0}},
                });
                return hub.out.respond_ok(call.conn, call.id, &answer);
            }
        }
    }
    if let Some(label) = p.label {
        if let Some(session) = hub.agents.sessions.get_mut(&session_key) {
            session.label = Some(label);
        }
    }
    let model_ref = match (p.provider, p.model) {
        (Some(provider), Some(model)) => Some(format!("{provider}/{model}")),
        (None, Some(model)) if model.contains('/') => Some(model),
        _ => hub
            .agents
            .sessions
            .get(&session_key)
            .and_then(|s| s.model_override.clone()),
    };
    let accepted_at = hub.clock.unix_ms(hub.now);
    let ack = json!({
        "runId": p.idempotency_key,
        "sessionKey": session_key,
        "agentId": keys::agent_of(&session_key),
        "status": "accepted",
        "acceptedAt": accepted_at,
    });
    hub.out.respond_ok(call.conn, call.id, &ack);
    let submission = Submission {
        run_id: p.idempotency_key,
        session_key,
        origin: Origin::Agent {
            conn: call.conn,
            request_id: call.id.to_owned(),
        },
        dedupe_key,
        message,
        model_ref,
        queue_mode: QueueMode::Followup,
        timeout: p
            .timeout
            .filter(|t| *t > 0)
            .map(std::time::Duration::from_secs),
    };
    if let Err(error) = runs::submit(hub, submission) {
        hub.out.respond_error(call.conn, call.id, &error);
    }
}

/// A repeated key after its run ended: the first outcome again, with no
/// new "accepted" answer.
fn replay(hub: &mut HubView<'_>, call: &Call<'_>, answer: &Value, ok: bool) {
    if ok {
        hub.out.respond_ok(call.conn, call.id, answer);
    } else {
        let summary = answer["summary"].as_str().unwrap_or("agent run failed");
        let error = ErrorShape::new(crate::wire::ErrorCode::Unavailable, summary);
        hub.out
            .respond_error_with(call.conn, call.id, &error, answer);
    }
}

/// `/new`, `/reset`: abort what runs in the session and start it over.
pub(crate) fn reset_for_command(hub: &mut HubView<'_>, session_key: &str) {
    runs::abort(hub, session_key, None, "reset");
    let now_ms = hub.clock.unix_ms(hub.now);
    if let Some(session) = hub.agents.sessions.get_mut(session_key) {
        session.reset(now_ms);
        // The transcript starts over under the same session id.
        session.header_written = false;
        runs::persist(hub, session_key, TranscriptChange::Replace(Vec::new()));
    }
    runs::sessions_changed(hub, session_key, Some(("reason", "reset")), None);
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaitParams {
    run_id: String,
    timeout_ms: Option<u64>,
}

pub(crate) fn agent_wait(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, WaitParams);
    let timeout = p.timeout_ms.unwrap_or(DEFAULT_WAIT_MS);
    runs::wait(hub, call.conn, call.id, &p.run_id, timeout);
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityParams {
    agent_id: Option<String>,
    session_key: Option<String>,
}

pub(crate) fn identity_get(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, IdentityParams);
    let agent_id = p
        .agent_id
        .or_else(|| {
            p.session_key
                .map(|k| keys::agent_of(&keys::canonical(&k, None)).to_owned())
        })
        .unwrap_or_else(|| DEFAULT_AGENT.to_owned());
    let answer = json!({"agentId": agent_id, "name": "Assistant", "nameSource": "default"});
    hub.out.respond_ok(call.conn, call.id, &answer);
}

pub(crate) fn agents_list(hub: &mut HubView<'_>, call: &Call<'_>) {
    let workspace = hub
        .config
        .state_dir
        .as_ref()
        .map(|dir| format!("{}/workspace", dir.trim_end_matches('/')));
    let model = hub.config.models.default_model();
    let answer = json!({
        "defaultId": DEFAULT_AGENT,
        "ownership": "sole",
        "selectionRequired": false,
        "mainKey": MAIN_KEY,
        "scope": "per-sender",
        "agents": [{
            "id": DEFAULT_AGENT,
            "workspace": workspace,
            "workspaceGit": false,
            "thinkingLevels": [{"id": "off", "label": "off"}],
            "thinkingOptions": ["off"],
            "thinkingDefault": "off",
            "model": {"primary": model},
            "defaultPermissionMode": "full",
        }],
    });
    hub.out.respond_ok(call.conn, call.id, &answer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_commands_need_admin() {
        let raw = |t: &str| RawValue::from_string(t.to_owned()).unwrap();
        assert_eq!(
            agent_scope(Some(&raw(r#"{"message":"/reset"}"#))),
            Scope::Admin
        );
        assert_eq!(
            agent_scope(Some(&raw(r#"{"message":"/NEW please"}"#))),
            Scope::Admin
        );
        assert_eq!(
            agent_scope(Some(&raw(r#"{"message":"/newer"}"#))),
            Scope::Write
        );
        assert_eq!(agent_scope(Some(&raw(r#"{"message":"hi"}"#))), Scope::Write);
        assert_eq!(agent_scope(None), Scope::Write);
    }
}

pub(crate) fn models_list(hub: &mut HubView<'_>, call: &Call<'_>) {
    let answer = hub.config.models.models_list();
    hub.out.respond_ok(call.conn, call.id, &answer);
}

/// `SendParams` of the reference.
pub(crate) static SEND_PARAMS: Schema = Schema::object(
    &[
        Property::new("to", TEXT),
        Property::new("message", TEXT),
        Property::new("mediaUrl", TEXT),
        Property::new("mediaUrls", Schema::Any),
        Property::new("buffer", TEXT),
        Property::new("filename", TEXT),
        Property::new("contentType", TEXT),
        Property::new("asVoice", Schema::Boolean),
        Property::new("gifPlayback", Schema::Boolean),
        Property::new("channel", TEXT),
        Property::new("accountId", TEXT),
        Property::new("agentId", TEXT),
        Property::new("replyToId", TEXT),
        Property::new("threadId", TEXT),
        Property::new("forceDocument", Schema::Boolean),
        Property::new("silent", Schema::Boolean),
        Property::new("parseMode", TEXT),
        Property::new("sessionKey", TEXT),
        Property::new("idempotencyKey", NON_EMPTY),
    ],
    &["to", "idempotencyKey"],
);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendParams {
    idempotency_key: String,
    channel: Option<String>,
}

/// `send`: delivery through a messaging channel. This gateway links no
/// channels, so every send is refused with the reference's words for that
/// case; a repeated key gets the same answer (idempotent like `agent`).
pub(crate) fn send(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, SendParams);
    let key = format!("send:{}", p.idempotency_key);
    if let Some(Outcome::Done { answer, .. }) = hub.agents.dedupe.get(&key, hub.now) {
        let summary = answer["summary"].as_str().unwrap_or_default().to_owned();
        let error = ErrorShape::invalid_request(summary);
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let message = match p
        .channel
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => "Channel is required (no configured channels detected).".to_owned(),
        Some(channel) => format!("Unknown channel {channel:?}. No channels are configured."),
    };
    let error = ErrorShape::invalid_request(message.clone());
    hub.out.respond_error(call.conn, call.id, &error);
    hub.agents.dedupe.start(key.clone(), String::new(), hub.now);
    let answer = json!({"status": "error", "summary": message});
    hub.agents.dedupe.finish(&key, answer, false, hub.now);
}
