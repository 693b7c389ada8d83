//! The gateway's own methods: `health`, `status`, `system-presence`,
//! `system-event`, `last-heartbeat`.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{Call, HubView};
use crate::gateway::health::status_summary;
use crate::gateway::presence::{presence_key, PresenceEntry};
use crate::wire::{ArrayRules, Property, Schema};

pub(crate) fn health(hub: &mut HubView<'_>, call: &Call<'_>) {
    let health = Arc::clone(hub.health.json());
    hub.out.respond_ok(call.conn, call.id, &*health);
}

pub(crate) fn status(hub: &mut HubView<'_>, call: &Call<'_>) {
    let summary = status_summary(
        hub.config,
        hub.clock.uptime_ms(hub.now),
        hub.out.conns.len(),
        hub.presence.list().len(),
    );
    hub.out.respond_ok(call.conn, call.id, &summary);
}

pub(crate) fn system_presence(hub: &mut HubView<'_>, call: &Call<'_>) {
    let presence = Arc::clone(hub.presence.json());
    hub.out.respond_ok(call.conn, call.id, &*presence);
}

/// No heartbeat has run on this gateway: the answer is null, as the
/// reference answers before its first heartbeat.
pub(crate) fn last_heartbeat(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out.respond_ok(call.conn, call.id, &Value::Null);
}

const TEXT: Schema = Schema::STRING;

/// `system-event`: a text line and optional presence facts about the sender.
pub(crate) static SYSTEM_EVENT_PARAMS: Schema = Schema::open_object(
    &[
        Property::new("text", TEXT),
        Property::new("deviceId", TEXT),
        Property::new("instanceId", TEXT),
        Property::new("host", TEXT),
        Property::new("ip", TEXT),
        Property::new("mode", TEXT),
        Property::new("version", TEXT),
        Property::new("platform", TEXT),
        Property::new("deviceFamily", TEXT),
        Property::new("modelIdentifier", TEXT),
        Property::new("lastInputSeconds", Schema::integer(Some(0), None)),
        Property::new("reason", TEXT),
        Property::new(
            "tags",
            Schema::Array(ArrayRules {
                items: &TEXT,
                min_items: None,
                max_items: None,
                unique_items: false,
            }),
        ),
    ],
    &["text"],
);

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SystemEventParams {
    text: String,
    device_id: Option<String>,
    instance_id: Option<String>,
    host: Option<String>,
    ip: Option<String>,
    mode: Option<String>,
    version: Option<String>,
    platform: Option<String>,
    device_family: Option<String>,
    model_identifier: Option<String>,
    /// An integer, possibly written `5.0` (the schema allows it).
    last_input_seconds: Option<f64>,
    reason: Option<String>,
    tags: Option<Vec<String>>,
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut_text(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Record the sender's presence line and broadcast the list.
pub(crate) fn system_event(hub: &mut HubView<'_>, call: &Call<'_>) {
    let params: SystemEventParams = match call.params() {
        Ok(params) => params,
        Err(error) => return hub.out.respond_error(call.conn, call.id, &error),
    };
    let Some(entry) = hub.out.conns.get(call.conn) else {
        return;
    };
    let raw_key = params
        .device_id
        .as_deref()
        .or(params.instance_id.as_deref())
        .or(params.host.as_deref())
        .unwrap_or(entry.conn_uuid.as_str());
    let key = presence_key(raw_key);
    let ip = params.ip.or_else(|| Some(entry.conn.peer().ip.to_string()));
    let presence = PresenceEntry {
        host: params.host,
        ip,
        version: params.version,
        platform: params.platform,
        device_family: params.device_family,
        model_identifier: params.model_identifier,
        mode: params.mode,
        last_input_seconds: params.last_input_seconds.map(|s| s as u64),
        reason: Some(params.reason.unwrap_or_else(|| "periodic".to_owned())),
        tags: params.tags,
        text: Some(cut_text(params.text, hub.config.limits.presence_text_max)),
        ts: hub.clock.unix_ms(hub.now),
        instance_id: params.instance_id,
        device_id: params.device_id,
        ..PresenceEntry::default()
    };
    hub.presence.upsert(key, presence, hub.now, &mut hub.out);
    hub.out
        .respond_ok(call.conn, call.id, &json!({ "ok": true }));
}

#[cfg(test)]
mod tests {
    use super::cut_text;

    #[test]
    fn text_is_cut_at_a_character_boundary() {
        assert_eq!(cut_text("short".into(), 8), "short");
        assert_eq!(cut_text("abcdefghij".into(), 4), "abcd");
        // 'é' is two bytes: a cut inside it keeps the whole character out.
        assert_eq!(cut_text("aé".into(), 2), "a");
    }
}
