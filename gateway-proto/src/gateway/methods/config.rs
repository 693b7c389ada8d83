//! `config.get`, `config.schema`, `config.schema.lookup`, `config.set`,
//! `config.patch` and `config.apply`. Reads and writes of the file are
//! effects; the decisions are [`crate::gateway::config_rpc`]'s. A write is
//! two effects: read the file, plan against it, then write only if the file
//! still has the text the plan saw.

use serde::Deserialize;
use serde_json::Value;

use super::{Call, HubView};
use crate::gateway::config_rpc::{self, WriteMethod, WriteReply, WriteRequest};
use crate::gateway::effects::{Request, StoreKey, Waiter};
use crate::gateway::io::{ConfigRead, ConfigWriteError, Effect};
use crate::gateway::registry::CONFIG_CHANGED_EVENT;
use crate::gateway::write_budget;
use crate::wire::{ErrorCode, ErrorShape, Property, Schema};

/// Config writes leave one at a time, in order.
const CONFIG_STORE: StoreKey = StoreKey("config");

const RAW: Schema = Schema::string(None, None);
const NON_EMPTY: Schema = Schema::string(Some(1), None);

pub(crate) static SET_PARAMS: Schema = Schema::object(
    &[
        Property::new("raw", RAW),
        Property::new("baseHash", NON_EMPTY),
    ],
    &["raw"],
);

pub(crate) static PATCH_PARAMS: Schema = Schema::object(
    &[
        Property::new("raw", RAW),
        Property::new("baseHash", NON_EMPTY),
        Property::new("replacePaths", Schema::Any),
        Property::new("sessionKey", Schema::Any),
        Property::new("deliveryContext", Schema::Any),
        Property::new("note", Schema::Any),
        Property::new("restartDelayMs", Schema::Any),
    ],
    &["raw"],
);

pub(crate) static LOOKUP_PARAMS: Schema = Schema::object(
    &[Property::new("path", Schema::string(Some(1), Some(1024)))],
    &["path"],
);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WriteParams {
    raw: String,
    base_hash: Option<String>,
    replace_paths: Option<Vec<String>>,
    note: Option<String>,
}

#[derive(Deserialize)]
struct LookupParams {
    path: String,
}

fn read(hub: &mut HubView<'_>, call: &Call<'_>, then: ConfigRead) {
    hub.start_read(call, |token| Effect::ReadConfig { token, then });
}

pub(crate) fn get(hub: &mut HubView<'_>, call: &Call<'_>) {
    read(hub, call, ConfigRead::Get);
}

pub(crate) fn schema(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.out
        .respond_ok(call.conn, call.id, &config_rpc::keys::schema());
}

pub(crate) fn schema_lookup(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, LookupParams);
    match config_rpc::keys::lookup(p.path.trim()) {
        Some(answer) => hub.out.respond_ok(call.conn, call.id, &answer),
        None => {
            let error = ErrorShape::invalid_request("config schema path not found");
            hub.out.respond_error(call.conn, call.id, &error);
        }
    }
}

fn write(hub: &mut HubView<'_>, call: &Call<'_>, method: WriteMethod) {
    let p = params_or_answer!(hub, call, WriteParams);
    let request = WriteRequest {
        method,
        raw: p.raw,
        base_hash: p.base_hash.filter(|h| !h.trim().is_empty()),
        replace_paths: p.replace_paths.unwrap_or_default(),
        note: p.note,
    };
    read(hub, call, ConfigRead::Write(Box::new(request)));
}

pub(crate) fn set(hub: &mut HubView<'_>, call: &Call<'_>) {
    write(hub, call, WriteMethod::Set);
}

pub(crate) fn patch(hub: &mut HubView<'_>, call: &Call<'_>) {
    if within_budget(hub, call, "config.patch") {
        write(hub, call, WriteMethod::Patch);
    }
}

pub(crate) fn apply(hub: &mut HubView<'_>, call: &Call<'_>) {
    if within_budget(hub, call, "config.apply") {
        write(hub, call, WriteMethod::Apply);
    }
}

/// The control-plane write budget, keyed by the caller's device (or its
/// address when it has none); answers the refusal when it is spent.
fn within_budget(hub: &mut HubView<'_>, call: &Call<'_>, method: &'static str) -> bool {
    let who = match hub.out.conns.get(call.conn) {
        Some(entry) => match &entry.device_id {
            Some(device) => format!("device:{device}"),
            None => format!("ip:{}", entry.conn.peer().ip),
        },
        None => return false,
    };
    let Err(wait) = hub.write_budget.consume(method, who, hub.now) else {
        return true;
    };
    let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    let error = ErrorShape::new(
        ErrorCode::Unavailable,
        format!(
            "rate limit exceeded for {method}; retry after {}s",
            wait_ms.div_ceil(1000)
        ),
    )
    .with_retry_after(wait_ms)
    .with_details(serde_json::json!({
        "method": method,
        "limit": format!("{} per {}s", write_budget::MAX_CALLS, write_budget::WINDOW.as_secs()),
    }));
    hub.out.respond_error(call.conn, call.id, &error);
    false
}

/// The file is read: answer `config.get`, or plan the write and start it.
pub(crate) fn on_read(
    hub: &mut HubView<'_>,
    waiter: Waiter,
    then: ConfigRead,
    result: Result<config_rpc::ConfigFile, String>,
) {
    let Waiter::Request { conn, request_id } = waiter else {
        return;
    };
    let file = match result {
        Ok(file) => file,
        Err(e) => {
            let error = ErrorShape::new(ErrorCode::Unavailable, e);
            return hub.out.respond_error(conn, &request_id, &error);
        }
    };
    let request = match then {
        ConfigRead::Get => {
            return hub
                .out
                .respond_ok(conn, &request_id, &config_rpc::get_answer(&file))
        }
        ConfigRead::Write(request) => request,
    };
    let write = match config_rpc::plan(&file, &request) {
        Ok(config_rpc::Plan::Answer(answer)) => {
            return hub.out.respond_ok(conn, &request_id, &answer)
        }
        Ok(config_rpc::Plan::Write(write)) => write,
        Err(message) => {
            let error = ErrorShape::invalid_request(message);
            return hub.out.respond_error(conn, &request_id, &error);
        }
    };
    let started = hub.effects.start(
        Request {
            waiter: Some(Waiter::Request {
                conn,
                request_id: request_id.clone(),
            }),
            // A write that lands must be announced even if nobody waits.
            commits: true,
            store: Some(CONFIG_STORE),
            deadline: true,
        },
        hub.now,
        |token| Effect::WriteConfig { token, write },
    );
    match started {
        Ok(Some(effect)) => hub.out.effect(effect),
        Ok(None) => {}
        Err(_) => {
            let error = ErrorShape::new(ErrorCode::Unavailable, "too many writes in flight")
                .with_retry_after(100);
            hub.out.respond_error(conn, &request_id, &error);
        }
    }
}

/// The write's outcome: on success every `operator.read` client hears
/// `config.changed` (before the writer's answer, as the reference sends
/// them), whether or not the writer still waits.
pub(crate) fn on_written(
    hub: &mut HubView<'_>,
    waiter: Option<Waiter>,
    reply: &WriteReply,
    result: Result<(), ConfigWriteError>,
) {
    let ts = hub.clock.unix_ms(hub.now);
    let answer: Result<Value, ErrorShape> = match result {
        Ok(()) => {
            let (answer, event) = config_rpc::written(reply, ts);
            hub.out
                .broadcast(&CONFIG_CHANGED_EVENT, &event, false, |_| true);
            Ok(answer)
        }
        Err(ConfigWriteError::Changed) => {
            Err(ErrorShape::invalid_request(config_rpc::HASH_MISMATCH))
        }
        Err(ConfigWriteError::Invalid(message)) => Err(ErrorShape::invalid_request(format!(
            "invalid config: {message}"
        ))),
        Err(ConfigWriteError::Io(message)) => Err(ErrorShape::new(
            ErrorCode::Unavailable,
            format!(
                "{} failed to write the config: {message}",
                reply.method.name()
            ),
        )),
    };
    if let Some(Waiter::Request { conn, request_id }) = waiter {
        match answer {
            Ok(answer) => hub.out.respond_ok(conn, &request_id, &answer),
            Err(error) => hub.out.respond_error(conn, &request_id, &error),
        }
    }
}
