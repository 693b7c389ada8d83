//! Method routing: scope checks, params validation, and the handlers.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use super::methods::{lookup, missing_scope, LogsTailParams, Method, SystemEventParams};
use super::presence::{presence_key, PresenceEntry};
use super::{Effect, EffectResult, Gateway, PendingEffect};
use crate::wire::{ErrorCode, ErrorShape, ProtocolVersion, RequestFrame};
use crate::ConnId;

impl Gateway {
    pub(super) fn dispatch(&mut self, conn: ConnId, request: RequestFrame<'_>, now: Instant) {
        let Some(session) = self.conns.get(&conn).and_then(|e| e.conn.session()) else {
            return;
        };
        let id = request.id.as_ref();
        let name = request.method.as_ref();
        let found = lookup(name);
        if let Some(scope) = missing_scope(
            found.map(|(_, access)| access),
            session.role,
            session.scopes,
        ) {
            let message = format!("missing scope: {}", scope.as_str());
            let mut error = ErrorShape::new(ErrorCode::Forbidden, message);
            // Protocol 3 answered with the bare message (and INVALID_REQUEST,
            // which `respond_error` maps per protocol).
            if session.protocol != ProtocolVersion::V3 {
                error = error.with_details(json!({
                    "code": "MISSING_SCOPE",
                    "missingScope": scope.as_str(),
                    "requiredScopes": [scope.as_str()],
                }));
            }
            return self.respond_error(conn, id, &error);
        }
        let Some((method, _)) = found else {
            return self.respond_error(
                conn,
                id,
                &ErrorShape::invalid_request(format!("unknown method: {name}")),
            );
        };
        match method {
            Method::Health => {
                let health = Arc::clone(&self.health_json);
                self.respond_ok(conn, id, &*health);
            }
            Method::SystemPresence => {
                let presence = Arc::clone(&self.presence_json);
                self.respond_ok(conn, id, &*presence);
            }
            Method::Status => {
                let summary = super::health::status_summary(
                    &self.config,
                    self.uptime_ms(now),
                    self.conns.len(),
                    self.presence.len(),
                );
                self.respond_ok(conn, id, &summary);
            }
            Method::LastHeartbeat => {
                // No heartbeat has run on this gateway: the answer is null, as the
                // reference answers before its first heartbeat.
                self.respond_ok(conn, id, &Value::Null);
            }
            Method::SystemEvent => {
                match parse_params(name, request.params, SystemEventParams::parse) {
                    Ok(params) => {
                        self.system_event(conn, params, now);
                        self.respond_ok(conn, id, &json!({ "ok": true }));
                    }
                    Err(error) => self.respond_error(conn, id, &error),
                }
            }
            Method::LogsTail => match parse_params(name, request.params, LogsTailParams::parse) {
                Ok(params) => self.request_logs(conn, id, params),
                Err(error) => self.respond_error(conn, id, &error),
            },
        }
    }

    fn respond_ok<T: serde::Serialize + ?Sized>(&mut self, conn: ConnId, id: &str, payload: &T) {
        if let Some(entry) = self.conns.get_mut(&conn) {
            entry.conn.respond_ok(id, payload, &mut self.buf);
        }
        self.sync_conn(conn);
    }

    fn respond_error(&mut self, conn: ConnId, id: &str, error: &ErrorShape) {
        if let Some(entry) = self.conns.get_mut(&conn) {
            entry.conn.respond_error(id, error, &mut self.buf);
        }
        self.sync_conn(conn);
    }

    fn system_event(&mut self, conn: ConnId, params: SystemEventParams, now: Instant) {
        let Some(entry) = self.conns.get(&conn) else {
            return;
        };
        let raw_key = params
            .device_id
            .as_deref()
            .or(params.instance_id.as_deref())
            .or(params.host.as_deref())
            .unwrap_or(entry.conn_uuid.as_str());
        let key = presence_key(raw_key);
        let entry = PresenceEntry {
            host: params.host,
            ip: params.ip.or_else(|| Some(entry.conn.peer().ip.to_string())),
            version: params.version,
            platform: params.platform,
            device_family: params.device_family,
            model_identifier: params.model_identifier,
            mode: params.mode,
            last_input_seconds: params.last_input_seconds,
            reason: Some(params.reason.unwrap_or_else(|| "periodic".to_owned())),
            tags: params.tags,
            text: Some(params.text),
            ts: self.unix_ms(now),
            instance_id: params.instance_id,
            device_id: params.device_id,
            ..PresenceEntry::default()
        };
        self.presence.upsert(key, entry, now);
        self.presence_changed();
    }

    fn request_logs(&mut self, conn: ConnId, id: &str, params: LogsTailParams) {
        if self.pending_effects.len() >= self.config.limits.max_pending_effects {
            let error = ErrorShape::new(ErrorCode::Unavailable, "too many log reads in flight")
                .with_retry_after(100);
            return self.respond_error(conn, id, &error);
        }
        let token = self.next_effect_token;
        self.next_effect_token += 1;
        self.pending_effects.insert(
            token,
            PendingEffect {
                conn,
                request_id: id.to_owned(),
            },
        );
        self.out.push_back(super::Output::Effect(Effect::ReadLogs {
            token,
            cursor: params.cursor,
            limit: params.limit,
            max_bytes: params.max_bytes,
        }));
    }

    pub(super) fn on_effect_done(&mut self, result: EffectResult, _now: Instant) {
        match result {
            EffectResult::Logs { token, result } => {
                let Some(pending) = self.pending_effects.remove(&token) else {
                    return;
                };
                match result {
                    Ok(slice) => {
                        let mut payload = json!({
                            "file": slice.file,
                            "cursor": slice.cursor,
                            "size": slice.size,
                            "lines": slice.lines,
                        });
                        if slice.truncated {
                            payload["truncated"] = true.into();
                        }
                        if slice.reset {
                            payload["reset"] = true.into();
                        }
                        self.respond_ok(pending.conn, &pending.request_id, &payload);
                    }
                    Err(message) => {
                        let error = ErrorShape::new(
                            ErrorCode::Unavailable,
                            format!("log read failed: {message}"),
                        );
                        self.respond_error(pending.conn, &pending.request_id, &error);
                    }
                }
            }
        }
    }
}

/// Parse a method's params, turning a problem into the reference's
/// "invalid <method> params: <problem>".
fn parse_params<T>(
    method: &str,
    raw: Option<&serde_json::value::RawValue>,
    parse: impl FnOnce(Option<&Value>) -> Result<T, String>,
) -> Result<T, ErrorShape> {
    let value: Option<Value> = match raw {
        None => None,
        Some(raw) => match serde_json::from_str(raw.get()) {
            Ok(value) => Some(value),
            Err(_) => {
                return Err(ErrorShape::invalid_request(format!(
                    "invalid {method} params: at root: must be object"
                )))
            }
        },
    };
    parse(value.as_ref()).map_err(|problem| {
        ErrorShape::invalid_request(format!("invalid {method} params: {problem}"))
    })
}
