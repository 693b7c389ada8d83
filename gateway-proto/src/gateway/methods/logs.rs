//! `logs.tail`: a slice of the gateway's JSON-lines log, read by the runtime.

use serde::Deserialize;
use serde_json::json;

use super::{Call, HubView};
use crate::gateway::effects::Request;
use crate::gateway::{Effect, LogSlice};
use crate::wire::{ErrorCode, ErrorShape};
use crate::wire::{Property, Schema};
use crate::ConnId;

pub const LOGS_DEFAULT_LIMIT: usize = 200;
pub const LOGS_MAX_LIMIT: u64 = 5000;
pub const LOGS_DEFAULT_MAX_BYTES: usize = 250_000;
pub const LOGS_MAX_BYTES: u64 = 1_000_000;

/// The reference's `LogsTailParams`.
pub(crate) static LOGS_TAIL_PARAMS: Schema = Schema::object(
    &[
        Property::new("cursor", Schema::integer(Some(0), None)),
        Property::new(
            "limit",
            Schema::integer(Some(1), Some(LOGS_MAX_LIMIT as i64)),
        ),
        Property::new(
            "maxBytes",
            Schema::integer(Some(1), Some(LOGS_MAX_BYTES as i64)),
        ),
    ],
    &[],
);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogsTailParams {
    cursor: Option<serde_json::Number>,
    limit: Option<serde_json::Number>,
    max_bytes: Option<serde_json::Number>,
}

/// A schema-checked non-negative integer, exact when written as one (a byte
/// cursor may pass 2^53), and also when written `5.0` as JavaScript allows.
fn integer(n: &serde_json::Number) -> u64 {
    n.as_u64()
        .unwrap_or_else(|| n.as_f64().map_or(0, |f| f as u64))
}

/// Ask the runtime for the slice; the answer comes with the effect's result.
pub(crate) fn logs_tail(hub: &mut HubView<'_>, call: &Call<'_>) {
    let params: LogsTailParams = match call.params() {
        Ok(params) => params,
        Err(error) => return hub.out.respond_error(call.conn, call.id, &error),
    };
    let request = Request::read_for(call.conn, call.id);
    let started = hub
        .effects
        .start(request, hub.now, |token| Effect::ReadLogs {
            token,
            cursor: params.cursor.as_ref().map(integer),
            limit: params
                .limit
                .as_ref()
                .map_or(LOGS_DEFAULT_LIMIT, |l| integer(l) as usize),
            max_bytes: params
                .max_bytes
                .as_ref()
                .map_or(LOGS_DEFAULT_MAX_BYTES, |b| integer(b) as usize),
        });
    match started {
        Ok(Some(effect)) => hub.out.effect(effect),
        Ok(None) => {}
        Err(_) => {
            let error = ErrorShape::new(ErrorCode::Unavailable, "too many log reads in flight")
                .with_retry_after(100);
            hub.out.respond_error(call.conn, call.id, &error);
        }
    }
}

/// Answer a `logs.tail` with the runtime's result.
pub(crate) fn answer(
    out: &mut crate::gateway::outbox::Outbox<'_>,
    conn: ConnId,
    request_id: &str,
    result: Result<LogSlice, String>,
) {
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
            out.respond_ok(conn, request_id, &payload);
        }
        Err(message) => {
            let error = ErrorShape::new(
                ErrorCode::Unavailable,
                format!("log read failed: {message}"),
            );
            out.respond_error(conn, request_id, &error);
        }
    }
}
