//! Method routing: scope checks, params validation, and the handlers.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use serde_json::value::RawValue;
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
                let params = parse_params(
                    name,
                    request.params,
                    SystemEventParams::KEYS,
                    SystemEventParams::parse,
                );
                match params {
                    Ok(params) => {
                        self.system_event(conn, params, now);
                        self.respond_ok(conn, id, &json!({ "ok": true }));
                    }
                    Err(error) => self.respond_error(conn, id, &error),
                }
            }
            Method::LogsTail => match parse_params(
                name,
                request.params,
                LogsTailParams::KEYS,
                LogsTailParams::parse,
            ) {
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
///
/// Only the properties named in `keys` are parsed into values: the others
/// only need their names (to be reported as unexpected, or ignored), and
/// turning a peer's megabytes of unused JSON into a tree would cost the hub
/// (and every other connection) far more than the request is worth. The
/// frame decoder has already checked that `raw` is valid JSON.
fn parse_params<T>(
    method: &str,
    raw: Option<&RawValue>,
    keys: &[&str],
    parse: impl FnOnce(Option<&Value>) -> Result<T, String>,
) -> Result<T, ErrorShape> {
    let value = match raw {
        None => None,
        Some(raw) => Some(shallow_params(raw, keys).ok_or_else(|| {
            ErrorShape::invalid_request(format!("invalid {method} params: at root: must be object"))
        })?),
    };
    parse(value.as_ref()).map_err(|problem| {
        ErrorShape::invalid_request(format!("invalid {method} params: {problem}"))
    })
}

/// `raw` as a `Value` in which only the object properties named in `keys`
/// carry their values (others are `null`), and an array is empty: enough
/// for the method parsers, which look up known properties, list the names
/// of unknown ones and tell an object from anything else.
fn shallow_params(raw: &RawValue, keys: &[&str]) -> Option<Value> {
    let text = raw.get().trim_start_matches([' ', '\t', '\n', '\r']);
    if text.starts_with('[') {
        return Some(Value::Array(Vec::new()));
    }
    if !text.starts_with('{') {
        // A scalar: small, or a string (cheap to parse).
        return serde_json::from_str(text).ok();
    }
    // Repeated names: the last value wins, as with `JSON.parse` and `Value`.
    let top: Vec<(Cow<'_, str>, &RawValue)> = serde_json::from_str::<TopLevel<'_>>(text).ok()?.0;
    let mut object = serde_json::Map::new();
    for (key, value) in top {
        let value = if keys.contains(&key.as_ref()) {
            serde_json::from_str(value.get()).ok()?
        } else {
            Value::Null
        };
        object.insert(key.into_owned(), value);
    }
    Some(Value::Object(object))
}

/// An object's properties in order, each value left as raw text.
struct TopLevel<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Props;
        impl<'de> serde::de::Visitor<'de> for Props {
            type Value = TopLevel<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                #[derive(serde::Deserialize)]
                struct Key<'a>(#[serde(borrow)] Cow<'a, str>);
                let mut props = Vec::new();
                while let Some(Key(key)) = map.next_key()? {
                    props.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(TopLevel(props))
            }
        }
        d.deserialize_map(Props)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    /// The shallow parse must give each method exactly what a full parse gives.
    #[test]
    fn shallow_params_parse_like_full_params() {
        let cases = [
            r#"{"text":"hi","deviceId":"d","instanceId":"i","host":"h","ip":"1.2.3.4","mode":"backend","version":"1","platform":"linux","deviceFamily":"f","modelIdentifier":"m","lastInputSeconds":5,"reason":"r","tags":["a"]}"#,
            r#"{"text":1,"deviceId":2,"instanceId":[],"host":{},"ip":true,"mode":null,"version":1.5,"platform":[1],"deviceFamily":2,"modelIdentifier":3,"lastInputSeconds":-1,"reason":4,"tags":[1]}"#,
            r#"{"pad":[{"k":"v"},1,2],"text":"t","zzz":{"a":[1]}}"#,
            r#"{"text":"a","text":"b","x":1,"x":2}"#,
            r#"{"cursor":1,"limit":10,"maxBytes":100}"#,
            r#"{"cursor":"x","limit":0,"maxBytes":2000000,"other":[1,2,3]}"#,
            r#"{}"#,
            r#" [1,2,3]"#,
            r#"null"#,
            r#""text""#,
            r#"12"#,
        ];
        for case in cases {
            let full: Value = serde_json::from_str(case).unwrap();
            let shallow = shallow_params(&raw(case), SystemEventParams::KEYS).unwrap();
            assert_eq!(
                SystemEventParams::parse(Some(&full)),
                SystemEventParams::parse(Some(&shallow)),
                "system-event {case}"
            );
            let shallow = shallow_params(&raw(case), LogsTailParams::KEYS).unwrap();
            assert_eq!(
                LogsTailParams::parse(Some(&full)),
                LogsTailParams::parse(Some(&shallow)),
                "logs.tail {case}"
            );
        }
    }

    #[test]
    fn unknown_properties_are_not_parsed() {
        let params = shallow_params(
            &raw(r#"{"text":"t","pad":[{"deep":[1,2,3]}]}"#),
            SystemEventParams::KEYS,
        )
        .unwrap();
        assert_eq!(params, json!({"text": "t", "pad": null}));
    }
}
