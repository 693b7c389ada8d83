//! The run machinery: accept, queue, start, stream, end. Free functions
//! over the [`HubView`], so method handlers and the hub's own inputs (model
//! events, timers) drive runs the same way.

use serde_json::{json, Value};

use super::journal::{self, SessionChange, TranscriptChange};
use super::model::{ModelEvent, ModelMessage};
use super::runs::{Ending, Origin, Phase, QueueMode, Run};
use super::sessions::{ModelLabel, RunStatus};
use super::{wait_answer, Wait, MAX_QUEUED_PER_SESSION};
use super::{MAX_RUNS, MAX_WAITS};
use crate::gateway::methods::HubView;
use crate::gateway::registry::{
    AGENT_EVENT, AGENT_LIVE_EVENT, CHAT_EVENT, CHAT_LIVE_EVENT, SESSIONS_CHANGED_EVENT,
    SESSION_MESSAGE_EVENT,
};
use crate::gateway::Effect;
use crate::wire::{ErrorCode, ErrorShape, ProtocolVersion};
use crate::ConnId;

/// A run to accept.
pub(crate) struct Submission {
    pub run_id: String,
    pub session_key: String,
    pub origin: Origin,
    pub dedupe_key: String,
    pub message: String,
    pub model_ref: Option<String>,
    pub queue_mode: QueueMode,
    /// `None`: the default budget.
    pub timeout: Option<std::time::Duration>,
}

fn unavailable(message: impl Into<String>) -> ErrorShape {
    ErrorShape::new(ErrorCode::Unavailable, message)
}

/// Accept a run: remember its idempotency key, queue it behind the
/// session's running turn (or fold it into a waiting one for `collect`),
/// and start it if the session is idle. Returns the run id that will carry
/// the message (a collected message joins an earlier run).
pub(crate) fn submit(hub: &mut HubView<'_>, sub: Submission) -> Result<String, ErrorShape> {
    let now_ms = hub.clock.unix_ms(hub.now);
    if sub.queue_mode == QueueMode::Collect && sub.origin == Origin::Chat {
        if let Some(run_id) = collect_target(hub, &sub.session_key) {
            if let Some(run) = hub.agents.runs.get_mut(&run_id) {
                run.message.push_str("\n\n");
                run.message.push_str(&sub.message);
                // The key ends with the run it joined.
                run.joined_keys.push(sub.dedupe_key.clone());
                hub.agents
                    .dedupe
                    .start(sub.dedupe_key, run_id.clone(), hub.now);
                return Ok(run_id);
            }
        }
    }
    check_capacity(hub, &sub.session_key)?;
    let rng = &mut *hub.rng;
    let session = hub
        .agents
        .sessions
        .get_or_create(&sub.session_key, || rng.uuid_v4(), now_ms)
        .map_err(|_| unavailable("too many sessions"))?;
    session.last_interaction_at = Some(now_ms);
    let agent_id = session.agent_id.clone();
    let budget = sub.timeout.unwrap_or(super::DEFAULT_RUN_TIMEOUT);
    let run = Run {
        run_id: sub.run_id.clone(),
        session_key: sub.session_key.clone(),
        agent_id,
        origin: sub.origin,
        dedupe_key: sub.dedupe_key.clone(),
        joined_keys: Vec::new(),
        message: sub.message,
        model_ref: sub.model_ref,
        phase: Phase::Queued,
        seq: 0,
        accepted_at: now_ms,
        started_at: None,
        deadline: Some(hub.now + budget),
        text: String::new(),
        usage: None,
        model: None,
        item_id: String::new(),
        response_model: None,
        response_id: None,
        system_prompt: String::new(),
        calls: Vec::new(),
        round: None,
        assistant_turns: 0,
        usage_total: None,
        tools: Default::default(),
        tool_deadline: None,
    };
    hub.agents
        .dedupe
        .start(sub.dedupe_key, sub.run_id.clone(), hub.now);
    hub.agents.runs.insert(sub.run_id.clone(), run);
    hub.agents
        .queues
        .entry(sub.session_key.clone())
        .or_default()
        .push_back(sub.run_id.clone());
    if sub.queue_mode == QueueMode::Interrupt {
        if let Some(active) = hub.agents.active.get(&sub.session_key).cloned() {
            finish(
                hub,
                &active,
                Ending::Aborted {
                    stop_reason: "superseded".into(),
                },
            );
        }
    }
    start_next(hub, &sub.session_key);
    Ok(sub.run_id)
}

/// The waiting chat run a `collect` message of `session_key` joins: the
/// last one queued, if it came from `chat.send`.
pub(crate) fn collect_target(hub: &HubView<'_>, session_key: &str) -> Option<String> {
    let last = hub.agents.queues.get(session_key)?.back()?;
    let run = hub.agents.runs.get(last)?;
    run.via_chat().then(|| run.run_id.clone())
}

/// Start the session's next waiting run if none is going.
fn start_next(hub: &mut HubView<'_>, session_key: &str) {
    if hub.agents.active.contains_key(session_key) {
        return;
    }
    let Some(run_id) = hub
        .agents
        .queues
        .get_mut(session_key)
        .and_then(|q| q.pop_front())
    else {
        hub.agents.queues.remove(session_key);
        return;
    };
    if hub
        .agents
        .queues
        .get(session_key)
        .is_some_and(|q| q.is_empty())
    {
        hub.agents.queues.remove(session_key);
    }
    hub.agents
        .active
        .insert(session_key.to_owned(), run_id.clone());
    start(hub, &run_id);
}

/// The run's first events, its user message, and the model call.
fn start(hub: &mut HubView<'_>, run_id: &str) {
    let now_ms = hub.clock.unix_ms(hub.now);
    let Some(mut run) = hub.agents.runs.remove(run_id) else {
        return;
    };
    let session_id = session_id_of(hub, &run.session_key);
    let resolved = hub.config.models.resolve(run.model_ref.as_deref());
    run.started_at = Some(now_ms);
    if run.via_chat() {
        for phase in ["preparing_workspace", "preparing_context"] {
            run_status(hub, &mut run, phase, now_ms, &session_id);
        }
    }
    let start = run.agent_event(
        "lifecycle",
        json!({"phase": "start", "startedAt": now_ms}),
        now_ms,
        &session_id,
    );
    emit_agent(hub, &start);
    // The user's message joins the transcript as the run starts.
    let user = json!({
        "role": "user",
        "content": run.message,
        "timestamp": run.accepted_at,
        "idempotencyKey": format!("{}:user", run.run_id),
        "__openclaw": {"senderIsOwner": true},
    });
    append_message(hub, &run.session_key, user);
    if let Some(session) = hub.agents.sessions.get_mut(&run.session_key) {
        session.status = Some(RunStatus::Running);
        session.started_at = Some(now_ms);
        session.ended_at = None;
        session.last_run_id = Some(run.run_id.clone());
    }
    let model = match resolved {
        Ok(model) => model,
        Err(message) => {
            let session_key = run.session_key.clone();
            hub.agents.runs.insert(run_id.to_owned(), run);
            sessions_changed(hub, &session_key, Some(("phase", "start")), Some(run_id));
            return finish(hub, run_id, Ending::Failed { message });
        }
    };
    if run.via_chat() {
        run_status(hub, &mut run, "starting_model", now_ms, &session_id);
    }
    let model_event = model_lifecycle(&mut run, &model, now_ms, &session_id);
    emit_agent(hub, &model_event);
    run.model = Some(model);
    let session_key = run.session_key.clone();
    hub.agents.runs.insert(run_id.to_owned(), run);
    sessions_changed(hub, &session_key, Some(("phase", "start")), Some(run_id));
    super::tool_loop::prepare(hub, run_id);
}

fn model_lifecycle(
    run: &mut Run,
    model: &super::catalog::ResolvedModel,
    now_ms: u64,
    session_id: &str,
) -> Value {
    let data = json!({"phase": "model", "provider": model.provider, "model": model.model});
    run.agent_event("lifecycle", data, now_ms, session_id)
}

/// The run's next model call: the session's conversation (tool calls and
/// results included), the system prompt, and the tools when the agent has
/// a workspace.
pub(crate) fn call_model(hub: &mut HubView<'_>, run_id: &str) {
    let now_ms = hub.clock.unix_ms(hub.now);
    let with_tools = super::tool_loop::workspace_dir(hub).is_some();
    let item = hub.rng.uuid_v4();
    let Some(mut run) = hub.agents.runs.remove(run_id) else {
        return;
    };
    let Some(model) = run.model.clone() else {
        hub.agents.runs.insert(run_id.to_owned(), run);
        let message = "no model for this run".to_owned();
        return finish(hub, run_id, Ending::Failed { message });
    };
    let session_id = session_id_of(hub, &run.session_key);
    // The first call's `model` event went out as the run started.
    if run.assistant_turns > 0 {
        let event = model_lifecycle(&mut run, &model, now_ms, &session_id);
        emit_agent(hub, &event);
    }
    run.assistant_turns += 1;
    run.text.clear();
    run.calls.clear();
    run.usage = None;
    run.item_id = format!("{item}:{}", run.assistant_turns);
    let mut request = model.request(run.system_prompt.clone(), context(hub, &run.session_key));
    // A CLI backend brings its own tools.
    if with_tools && request.api != super::model::ModelApi::CliBackend {
        request.tools = super::tools::specs::all();
    }
    super::cli_session::attach(hub, &run.session_key, &mut request);
    let token = hub.effects.take_token();
    run.phase = Phase::Streaming { token };
    hub.agents.by_token.insert(token, run_id.to_owned());
    hub.agents.runs.insert(run_id.to_owned(), run);
    hub.out.effect(Effect::StreamModel {
        token,
        request: Box::new(request),
    });
}

/// The `usage` event: output tokens over the run so far.
pub(crate) fn emit_usage(hub: &mut HubView<'_>, run_id: &str) {
    let now_ms = hub.clock.unix_ms(hub.now);
    let session_id = session_id_of(hub, run_id_session(hub, run_id));
    let Some(run) = hub.agents.runs.get_mut(run_id) else {
        return;
    };
    let Some(usage) = run.usage_total else {
        return;
    };
    let data = json!({"outputTokens": usage.output});
    let event = run.agent_event("usage", data, now_ms, &session_id);
    emit_agent(hub, &event);
}

fn run_id_session<'h>(hub: &'h HubView<'_>, run_id: &str) -> &'h str {
    hub.agents
        .runs
        .get(run_id)
        .map_or("", |r| r.session_key.as_str())
}

pub(crate) fn session_id_of(hub: &HubView<'_>, session_key: &str) -> String {
    hub.agents
        .sessions
        .get(session_key)
        .map(|s| s.session_id.clone())
        .unwrap_or_default()
}

/// The conversation the model sees (see [`super::context`]).
fn context(hub: &HubView<'_>, session_key: &str) -> Vec<ModelMessage> {
    match hub.agents.sessions.get(session_key) {
        Some(session) => super::context::conversation(&session.messages),
        None => Vec::new(),
    }
}

/// One event of a model call.
pub(crate) fn on_model_event(hub: &mut HubView<'_>, token: u64, event: ModelEvent) {
    let Some(run_id) = hub.agents.by_token.get(&token).cloned() else {
        return; // cancelled or ended: late events are ignored
    };
    let now_ms = hub.clock.unix_ms(hub.now);
    match event {
        ModelEvent::Text(delta) => {
            if delta.is_empty() {
                return;
            }
            let session_id = session_id_of(hub, run_id_session(hub, &run_id));
            let Some(run) = hub.agents.runs.get_mut(&run_id) else {
                return;
            };
            run.text.push_str(&delta);
            let data = json!({"text": run.text, "delta": delta, "itemId": run.item_id});
            let agent = run.agent_event("assistant", data, now_ms, &session_id);
            let mut chat = run.chat_event("delta");
            let message = json!({
                "role": "assistant",
                "content": [{"type": "text", "text": run.text}],
                "timestamp": now_ms,
            });
            chat["message"] = message;
            let v3 = chat.clone();
            chat["deltaText"] = json!(delta);
            hub.out
                .broadcast(&AGENT_LIVE_EVENT, &agent, false, |_| true);
            emit_chat(hub, &chat, Some(&v3), true);
            super::http_runs::delta(hub, &run_id, &delta);
        }
        ModelEvent::Usage(usage) => {
            if let Some(run) = hub.agents.runs.get_mut(&run_id) {
                run.usage = Some(usage);
            }
        }
        ModelEvent::ToolCall(call) => {
            if let Some(run) = hub.agents.runs.get_mut(&run_id) {
                if run.calls.len() < super::tool_loop::MAX_CALLS_PER_TURN {
                    run.calls.push(call);
                }
            }
        }
        ModelEvent::Done {
            stop_reason,
            response_id,
            response_model,
        } => {
            let Some(run) = hub.agents.runs.get_mut(&run_id) else {
                return;
            };
            run.response_id = response_id;
            run.response_model = response_model;
            if let Some(usage) = run.usage {
                run.usage_total = Some(run.usage_total.unwrap_or_default().plus(usage));
            }
            if run.calls.is_empty() {
                finish(hub, &run_id, Ending::Completed { stop_reason });
            } else {
                super::tool_loop::begin_round(hub, &run_id);
            }
        }
        ModelEvent::Failed { message, .. } => finish(hub, &run_id, Ending::Failed { message }),
        ModelEvent::CliSession(id) => super::cli_session::store(hub, &run_id, &id),
    }
}

/// End a run once: events, transcript, answers, the session's next run.
pub(crate) fn finish(hub: &mut HubView<'_>, run_id: &str, ending: Ending) {
    let Some(mut run) = hub.agents.runs.remove(run_id) else {
        return;
    };
    let now_ms = hub.clock.unix_ms(hub.now);
    let session_key = run.session_key.clone();
    let was_active = hub.agents.active.get(&session_key).map(String::as_str) == Some(run_id);
    if was_active {
        hub.agents.active.remove(&session_key);
    } else if let Some(queue) = hub.agents.queues.get_mut(&session_key) {
        queue.retain(|id| id != run_id);
    }
    match run.phase {
        Phase::Streaming { token } => {
            hub.agents.by_token.remove(&token);
            if !matches!(ending, Ending::Completed { .. } | Ending::Failed { .. }) {
                hub.out.effect(Effect::CancelModel { token });
            }
        }
        phase => super::tool_loop::abandon(hub, phase),
    }
    let session_id = session_id_of(hub, &session_key);
    let started = run.started_at.is_some();
    if let Ending::Completed { stop_reason } = &ending {
        if let Some(usage) = run.usage_total {
            let data = json!({"outputTokens": usage.output});
            let event = run.agent_event("usage", data, now_ms, &session_id);
            emit_agent(hub, &event);
        }
        let message = run.assistant_message(stop_reason, now_ms);
        append_message(hub, &session_key, message);
        let finishing = json!({
            "phase": "finishing", "stopReason": stop_reason, "aborted": false,
            "livenessState": "working", "endedAt": now_ms,
        });
        let event = run.agent_event("lifecycle", finishing, now_ms, &session_id);
        emit_agent(hub, &event);
        let unset = json!({"phase": "model", "provider": null, "model": null});
        let event = run.agent_event("lifecycle", unset, now_ms, &session_id);
        emit_agent(hub, &event);
    }
    // The closing lifecycle event and the chat event share one seq.
    let end = match &ending {
        Ending::Completed { stop_reason } => json!({
            "phase": "end", "startedAt": run.started_at, "endedAt": now_ms, "aborted": false,
            "stopReason": stop_reason, "livenessState": "working", "executionSettled": true,
            "terminalReceipt": run.terminal_receipt(&session_id),
            "terminalReply": {"disposition": "visible", "text": run.text},
        }),
        Ending::Failed { message } => json!({
            "phase": "error", "startedAt": run.started_at, "endedAt": now_ms,
            "error": message, "aborted": false, "stopReason": "error",
        }),
        Ending::Aborted { stop_reason } => json!({
            "phase": "end", "status": "cancelled", "aborted": true, "stopReason": stop_reason,
            "startedAt": run.started_at, "endedAt": now_ms,
        }),
        Ending::TimedOut => json!({
            "phase": "end", "status": "timeout", "aborted": true, "stopReason": "timeout",
            "startedAt": run.started_at, "endedAt": now_ms,
        }),
    };
    if started {
        let event = run.agent_event("lifecycle", end, now_ms, &session_id);
        emit_agent(hub, &event);
    } else {
        run.next_seq();
    }
    let mut chat = match &ending {
        Ending::Completed { stop_reason } => {
            let mut chat = run.chat_event("final");
            chat["stopReason"] = json!(stop_reason);
            chat["message"] = json!({
                "role": "assistant",
                "content": [{"type": "text", "text": run.text}],
                "timestamp": now_ms,
            });
            chat
        }
        Ending::Failed { message } => {
            let mut chat = run.chat_event("error");
            chat["errorMessage"] = json!(message);
            chat
        }
        Ending::Aborted { stop_reason } => {
            let mut chat = run.chat_event("aborted");
            chat["stopReason"] = json!(stop_reason);
            chat
        }
        Ending::TimedOut => {
            let mut chat = run.chat_event("aborted");
            chat["stopReason"] = json!("timeout");
            chat
        }
    };
    if matches!(ending, Ending::Aborted { .. } | Ending::TimedOut) && !run.text.is_empty() {
        chat["message"] = json!({"role": "assistant", "content": [{"type": "text", "text": run.text}], "timestamp": now_ms});
    }
    emit_chat(hub, &chat, None, false);
    // The session row.
    if let Some(session) = hub.agents.sessions.get_mut(&session_key) {
        if started {
            session.ended_at = Some(now_ms);
            session.status = Some(match &ending {
                Ending::Completed { .. } => RunStatus::Done,
                Ending::Failed { .. } => RunStatus::Failed,
                Ending::Aborted { .. } => RunStatus::Killed,
                Ending::TimedOut => RunStatus::Timeout,
            });
            session.aborted_last_run = matches!(ending, Ending::Aborted { .. } | Ending::TimedOut);
        }
        if let Some(usage) = run.usage_total.or(run.usage) {
            session.input_tokens = usage.input;
            session.output_tokens = usage.output;
            session.total_tokens = usage.input.saturating_add(usage.output);
        }
        session.unread = true;
    }
    // Answers: the agent final, agent.wait, the idempotency entry.
    let final_answer = agent_final(&run, &ending, &session_id, now_ms);
    let ok = matches!(ending, Ending::Completed { .. });
    let replay = match &run.origin {
        Origin::Chat | Origin::Http { .. } => {
            json!({"runId": run.run_id, "status": if ok { "ok" } else { "error" }})
        }
        Origin::Agent { .. } => final_answer.clone(),
    };
    super::http_runs::ended(hub, &run, &ending);
    for key in std::iter::once(&run.dedupe_key).chain(&run.joined_keys) {
        hub.agents.dedupe.finish(key, replay.clone(), ok, hub.now);
    }
    if let Origin::Agent { conn, request_id } = &run.origin {
        answer_agent(hub, *conn, request_id, &final_answer, &ending);
    }
    let answer = wait_answer(&run, &ending, &session_id, now_ms);
    let waiting: Vec<Wait> = take_waits(hub, run_id);
    for w in waiting {
        hub.out.respond_ok(w.conn, &w.request_id, &answer);
    }
    hub.agents.remember_finished(run_id, answer);
    persist(hub, &session_key, TranscriptChange::Keep);
    sessions_changed(hub, &session_key, Some(("phase", "end")), Some(run_id));
    if was_active {
        start_next(hub, &session_key);
    }
}

fn take_waits(hub: &mut HubView<'_>, run_id: &str) -> Vec<Wait> {
    let (matching, rest) = std::mem::take(&mut hub.agents.waits)
        .into_iter()
        .partition(|w| w.run_id == run_id);
    hub.agents.waits = rest;
    matching
}

/// The `agent` method's final answer, as the reference shapes it.
fn agent_final(run: &Run, ending: &Ending, session_id: &str, now_ms: u64) -> serde_json::Value {
    let (provider, model) = run.provider_label();
    let duration = run.started_at.map_or(0, |s| now_ms.saturating_sub(s));
    match ending {
        Ending::Completed { stop_reason } => json!({
            "runId": run.run_id,
            "status": "ok",
            "summary": "completed",
            "result": {
                "payloads": [{"text": run.text, "mediaUrl": null}],
                "meta": {
                    "durationMs": duration,
                    "stopReason": stop_reason,
                    "agentMeta": {
                        "sessionId": session_id,
                        "sessionFile": run.session_key,
                        "provider": provider,
                        "model": model,
                        "contextTokens": run.model.as_ref().and_then(|m| m.context_tokens()),
                        "usage": run.usage_json(),
                        "lastCallUsage": run.last_call_usage_json(),
                        "promptTokens": run.usage.map(|u| u.input),
                        "assistantTurns": run.assistant_turns,
                        "terminalReceipt": run.terminal_receipt(session_id),
                    },
                    "toolSummary": {
                        "calls": run.tools.calls,
                        "tools": run.tools.used,
                        "failures": run.tools.failures,
                    },
                },
            },
        }),
        Ending::Failed { message } => {
            json!({"runId": run.run_id, "status": "error", "summary": message})
        }
        Ending::Aborted { .. } => {
            json!({"runId": run.run_id, "status": "aborted", "summary": "aborted"})
        }
        Ending::TimedOut => {
            json!({"runId": run.run_id, "status": "timeout", "summary": "timed out"})
        }
    }
}

fn answer_agent(
    hub: &mut HubView<'_>,
    conn: ConnId,
    request_id: &str,
    answer: &Value,
    ending: &Ending,
) {
    match ending {
        Ending::Completed { .. } => hub.out.respond_ok(conn, request_id, answer),
        Ending::Failed { message } => {
            let error = unavailable(message.clone());
            hub.out.respond_error_with(conn, request_id, &error, answer);
        }
        Ending::Aborted { .. } => hub.out.respond_ok(conn, request_id, answer),
        Ending::TimedOut => {
            let error = ErrorShape::new(ErrorCode::Unavailable, "agent run timed out");
            hub.out.respond_error_with(conn, request_id, &error, answer);
        }
    }
}

/// Abort the session's runs (`run_id`: only that one). Returns the ids
/// of the runs that were aborted.
pub(crate) fn abort(
    hub: &mut HubView<'_>,
    session_key: &str,
    run_id: Option<&str>,
    stop_reason: &str,
) -> Vec<String> {
    let ids: Vec<String> = hub
        .agents
        .runs_of(session_key)
        .into_iter()
        .filter(|id| run_id.is_none_or(|wanted| wanted == id))
        .collect();
    for id in &ids {
        finish(
            hub,
            id,
            Ending::Aborted {
                stop_reason: stop_reason.to_owned(),
            },
        );
    }
    ids
}

/// `agent.wait`: answer now if the run ended, else when it does (or with
/// `status:"timeout"` at the deadline).
pub(crate) fn wait(
    hub: &mut HubView<'_>,
    conn: ConnId,
    request_id: &str,
    run_id: &str,
    timeout_ms: u64,
) {
    if let Some(answer) = hub.agents.finished.get(run_id) {
        let answer = answer.clone();
        return hub.out.respond_ok(conn, request_id, &answer);
    }
    if hub.agents.waits.len() >= MAX_WAITS {
        let error = unavailable("too many agent.wait requests; retry later");
        return hub.out.respond_error(conn, request_id, &error);
    }
    let deadline = hub.now + std::time::Duration::from_millis(timeout_ms);
    hub.agents.waits.push(Wait {
        conn,
        request_id: request_id.to_owned(),
        run_id: run_id.to_owned(),
        deadline,
    });
}

/// Runs past their budget end as timed out; `agent.wait` waiters past
/// their deadline get `status:"timeout"`.
pub(crate) fn on_timer(hub: &mut HubView<'_>) {
    let now = hub.now;
    hub.agents.journal.retry_due(now);
    flush(hub);
    super::tool_loop::on_timer(hub);
    let late: Vec<String> = hub
        .agents
        .runs
        .values()
        .filter(|r| r.deadline.is_some_and(|d| d <= now))
        .map(|r| r.run_id.clone())
        .collect();
    for run_id in late {
        finish(hub, &run_id, Ending::TimedOut);
    }
    let (due, rest): (Vec<Wait>, Vec<Wait>) = std::mem::take(&mut hub.agents.waits)
        .into_iter()
        .partition(|w| w.deadline <= now);
    hub.agents.waits = rest;
    for w in due {
        hub.out.respond_ok(
            w.conn,
            &w.request_id,
            &json!({"runId": w.run_id, "status": "timeout"}),
        );
    }
}

/// Append a message to the session's transcript and tell subscribers.
pub(crate) fn append_message(hub: &mut HubView<'_>, session_key: &str, message: Value) {
    let now_ms = hub.clock.unix_ms(hub.now);
    let id = hub.rng.uuid_v4();
    let cwd = super::tool_loop::workspace_dir(hub);
    let Some(session) = hub.agents.sessions.get_mut(session_key) else {
        return;
    };
    // The transcript line holds the message as written, before the
    // `__openclaw {id, seq}` that readers get.
    let mut lines = Vec::with_capacity(2);
    if !session.header_written {
        lines.push(journal::header_line(
            &session.session_id,
            now_ms,
            cwd.as_deref(),
        ));
        session.header_written = true;
    }
    lines.push(journal::message_line(
        &id,
        session.last_entry_id.as_deref(),
        now_ms,
        &message,
    ));
    session.last_entry_id = Some(id.clone());
    let seq = session.append(message, &id, now_ms);
    let stored = session.messages.last().cloned().unwrap_or(Value::Null);
    let agent_id = session.agent_id.clone();
    persist(hub, session_key, TranscriptChange::Append(lines));
    let row = session_row(hub, session_key);
    let payload = json!({
        "sessionKey": session_key,
        "agentId": agent_id,
        "message": stored,
        "messageId": id,
        "messageSeq": seq,
        "session": row,
    });
    let to: Vec<ConnId> = hub.agents.subscribers.iter().copied().collect();
    hub.out.broadcast_to(&SESSION_MESSAGE_EVENT, &payload, &to);
}

/// The row of `session_key` as events and lists show it.
pub(crate) fn session_row(hub: &HubView<'_>, session_key: &str) -> Value {
    let now_ms = hub.clock.unix_ms(hub.now);
    let Some(session) = hub.agents.sessions.get(session_key) else {
        return Value::Null;
    };
    let active = hub.agents.active_run(session_key).map(str::to_owned);
    let label = model_label(hub, session.model_override.as_deref());
    session.row(&label, active.as_slice(), now_ms)
}

/// The provider/model a session would run with.
pub(crate) fn model_label(hub: &HubView<'_>, model_ref: Option<&str>) -> ModelLabel {
    match hub.config.models.resolve(model_ref) {
        Ok(m) => ModelLabel {
            context_tokens: m.context_tokens(),
            provider: Some(m.provider),
            model: Some(m.model),
        },
        Err(_) => ModelLabel::default(),
    }
}

/// `sessions.changed` to the subscribed connections.
pub(crate) fn sessions_changed(
    hub: &mut HubView<'_>,
    session_key: &str,
    why: Option<(&str, &str)>,
    run_id: Option<&str>,
) {
    if hub.agents.subscribers.is_empty() {
        return;
    }
    let ts = hub.clock.unix_ms(hub.now);
    let row = session_row(hub, session_key);
    let mut payload = json!({
        "sessionKey": session_key,
        "agentId": super::keys::agent_of(session_key),
        "ts": ts,
        "session": row,
    });
    if let Some((field, value)) = why {
        payload[field] = json!(value);
    }
    if let Some(run_id) = run_id {
        payload["runId"] = json!(run_id);
    }
    let to: Vec<ConnId> = hub.agents.subscribers.iter().copied().collect();
    hub.out.broadcast_to(&SESSIONS_CHANGED_EVENT, &payload, &to);
}

fn run_status(hub: &mut HubView<'_>, run: &mut Run, phase: &str, now_ms: u64, session_id: &str) {
    let event = run.agent_event("run_status", json!({"phase": phase}), now_ms, session_id);
    let mut chat = run.chat_event("status");
    chat["phase"] = json!(phase);
    emit_chat(hub, &chat, None, true);
    emit_agent(hub, &event);
}

pub(crate) fn emit_agent(hub: &mut HubView<'_>, payload: &Value) {
    hub.out.broadcast(&AGENT_EVENT, payload, false, |_| true);
}

/// A `chat` event: `v4` to protocol-4 clients, `v3` (if any) to protocol-3
/// ones. `live` events (deltas, status) may be skipped for a slow client.
fn emit_chat(hub: &mut HubView<'_>, v4: &Value, v3: Option<&Value>, live: bool) {
    let spec = if live { &CHAT_LIVE_EVENT } else { &CHAT_EVENT };
    let final_for_v3 = !live;
    hub.out
        .broadcast(spec, v4, false, |s| s.protocol != ProtocolVersion::V3);
    match (v3, final_for_v3) {
        (Some(v3), _) => hub
            .out
            .broadcast(spec, v3, false, |s| s.protocol == ProtocolVersion::V3),
        (None, true) => hub
            .out
            .broadcast(spec, v4, false, |s| s.protocol == ProtocolVersion::V3),
        // Status events are v4 only.
        (None, false) => {}
    }
}

/// Whether a run for `session_key` would be accepted now.
pub(crate) fn check_capacity(hub: &HubView<'_>, session_key: &str) -> Result<(), ErrorShape> {
    if hub.agents.runs.len() >= MAX_RUNS {
        return Err(unavailable("too many agent runs in progress; retry later"));
    }
    let queued = hub.agents.queues.get(session_key).map_or(0, |q| q.len());
    if queued >= MAX_QUEUED_PER_SESSION {
        return Err(unavailable(
            "too many messages waiting in this session; retry later",
        ));
    }
    if hub.agents.sessions.get(session_key).is_none()
        && hub.agents.sessions.len() >= super::sessions::MAX_SESSIONS
    {
        return Err(unavailable("too many sessions"));
    }
    Ok(())
}

/// Record the session's current row (and `transcript`) for the store, and
/// hand the runtime a batch if none is in flight.
pub(crate) fn persist(hub: &mut HubView<'_>, session_key: &str, transcript: TranscriptChange) {
    let change = match hub.agents.sessions.get(session_key) {
        Some(session) => SessionChange {
            agent_id: session.agent_id.clone(),
            session_key: session_key.to_owned(),
            session_id: session.session_id.clone(),
            entry: Some(journal::entry(session)),
            transcript,
        },
        None => return,
    };
    hub.agents.journal.record(change);
    flush(hub);
}

/// Record that a session is gone (its row and transcript).
pub(crate) fn persist_removal(
    hub: &mut HubView<'_>,
    agent_id: &str,
    session_key: &str,
    session_id: &str,
) {
    hub.agents.journal.record(SessionChange {
        agent_id: agent_id.to_owned(),
        session_key: session_key.to_owned(),
        session_id: session_id.to_owned(),
        entry: None,
        transcript: TranscriptChange::Delete,
    });
    flush(hub);
}

/// Start the next store batch if the journal allows one.
pub(crate) fn flush(hub: &mut HubView<'_>) {
    let effects = &mut *hub.effects;
    if let Some((token, changes)) = hub.agents.journal.take_batch(|| effects.take_token()) {
        hub.out.effect(Effect::WriteSessions { token, changes });
    }
}

/// The store answered a batch.
pub(crate) fn on_sessions_written(hub: &mut HubView<'_>, token: u64, ok: bool) {
    if hub.agents.journal.written(token, ok, hub.now) {
        flush(hub);
    }
}
