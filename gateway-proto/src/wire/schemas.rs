//! The reference's frame and handshake schemas as static [`Schema`]s,
//! transcribed from `schema-v3.json` and `schema-v4-core.json` (the
//! conformance tests compare them with those files).

use super::connect::{CLIENT_IDS_V3, CLIENT_IDS_V4, CLIENT_MODES_V3, CLIENT_MODES_V4};
use super::validate::{ArrayRules, Pattern, Property, Schema, StringRules};
use super::ProtocolVersion;

const NON_NEGATIVE: Schema = Schema::integer(Some(0), None);
/// Both `traceparent` (v4) and `expectedProfileId`/`recipientProfileId` are
/// capped at 128 characters.
const TRACEPARENT: Schema = Schema::string(None, Some(128));
const PROFILE_ID: Schema = Schema::string(Some(1), Some(128));

pub static REQUEST_FRAME_V3: Schema = Schema::object(
    &[
        Property::new("type", Schema::Const("req")),
        Property::new("id", Schema::NON_EMPTY),
        Property::new("method", Schema::NON_EMPTY),
        Property::new("params", Schema::Any),
    ],
    &["type", "id", "method"],
);

pub static REQUEST_FRAME_V4: Schema = Schema::object(
    &[
        Property::new("type", Schema::Const("req")),
        Property::new("id", Schema::NON_EMPTY),
        Property::new("method", Schema::NON_EMPTY),
        Property::new("params", Schema::Any),
        Property::new("traceparent", TRACEPARENT),
        Property::new("expectedProfileId", PROFILE_ID),
    ],
    &["type", "id", "method"],
);

pub static ERROR_SHAPE: Schema = Schema::object(
    &[
        Property::new("code", Schema::NON_EMPTY),
        Property::new("message", Schema::NON_EMPTY),
        Property::new("details", Schema::Any),
        Property::new("retryable", Schema::Boolean),
        Property::new("retryAfterMs", NON_NEGATIVE),
    ],
    &["code", "message"],
);

/// The same in both versions.
pub static RESPONSE_FRAME: Schema = Schema::object(
    &[
        Property::new("type", Schema::Const("res")),
        Property::new("id", Schema::NON_EMPTY),
        Property::new("ok", Schema::Boolean),
        Property::new("payload", Schema::Any),
        Property::new(
            "error",
            Schema::object(
                &[
                    Property::new("code", Schema::NON_EMPTY),
                    Property::new("message", Schema::NON_EMPTY),
                    Property::new("details", Schema::Any),
                    Property::new("retryable", Schema::Boolean),
                    Property::new("retryAfterMs", NON_NEGATIVE),
                ],
                &["code", "message"],
            ),
        ),
    ],
    &["type", "id", "ok"],
);

pub static STATE_VERSION: Schema = Schema::object(
    &[
        Property::new("presence", NON_NEGATIVE),
        Property::new("health", NON_NEGATIVE),
    ],
    &["presence", "health"],
);

const STATE_VERSION_INLINE: Schema = Schema::object(
    &[
        Property::new("presence", NON_NEGATIVE),
        Property::new("health", NON_NEGATIVE),
    ],
    &["presence", "health"],
);

pub static EVENT_FRAME_V3: Schema = Schema::object(
    &[
        Property::new("type", Schema::Const("event")),
        Property::new("event", Schema::NON_EMPTY),
        Property::new("payload", Schema::Any),
        Property::new("seq", NON_NEGATIVE),
        Property::new("stateVersion", STATE_VERSION_INLINE),
    ],
    &["type", "event"],
);

pub static EVENT_FRAME_V4: Schema = Schema::object(
    &[
        Property::new("type", Schema::Const("event")),
        Property::new("event", Schema::NON_EMPTY),
        Property::new("payload", Schema::Any),
        Property::new("seq", NON_NEGATIVE),
        Property::new("stateVersion", STATE_VERSION_INLINE),
        Property::new("recipientProfileId", PROFILE_ID),
    ],
    &["type", "event"],
);

/// `logs.tail` params (identical in both versions); here mostly as the
/// transcript check for "at /limit: must be integer".
pub static LOGS_TAIL_PARAMS: Schema = Schema::object(
    &[
        Property::new("cursor", NON_NEGATIVE),
        Property::new("limit", Schema::integer(Some(1), Some(5000))),
        Property::new("maxBytes", Schema::integer(Some(1), Some(1_000_000))),
    ],
    &[],
);

const NON_EMPTY_LIST: Schema = Schema::array_of(&Schema::NON_EMPTY);
const PERMISSIONS: Schema = Schema::Map(&Schema::Boolean);

const DEVICE: Schema = Schema::object(
    &[
        Property::new("id", Schema::NON_EMPTY),
        Property::new("publicKey", Schema::NON_EMPTY),
        Property::new("signature", Schema::NON_EMPTY),
        Property::new("signedAt", NON_NEGATIVE),
        Property::new("nonce", Schema::NON_EMPTY),
    ],
    &["id", "publicKey", "signature", "signedAt", "nonce"],
);

const CLIENT_V3: Schema = Schema::object(
    &[
        Property::new("id", Schema::Enum(CLIENT_IDS_V3)),
        Property::new("displayName", Schema::NON_EMPTY),
        Property::new("version", Schema::NON_EMPTY),
        Property::new("platform", Schema::NON_EMPTY),
        Property::new("deviceFamily", Schema::NON_EMPTY),
        Property::new("modelIdentifier", Schema::NON_EMPTY),
        Property::new("mode", Schema::Enum(CLIENT_MODES_V3)),
        Property::new("instanceId", Schema::NON_EMPTY),
    ],
    &["id", "version", "platform", "mode"],
);

const CLIENT_V4: Schema = Schema::object(
    &[
        Property::new("id", Schema::Enum(CLIENT_IDS_V4)),
        Property::new("displayName", Schema::NON_EMPTY),
        Property::new("version", Schema::NON_EMPTY),
        Property::new("buildId", Schema::string(Some(1), Some(96))),
        Property::new("platform", Schema::NON_EMPTY),
        Property::new("deviceFamily", Schema::NON_EMPTY),
        Property::new("modelIdentifier", Schema::NON_EMPTY),
        Property::new("timeZone", Schema::string(Some(1), Some(64))),
        Property::new("mode", Schema::Enum(CLIENT_MODES_V4)),
        Property::new("instanceId", Schema::NON_EMPTY),
    ],
    &["id", "version", "platform", "mode"],
);

const AUTH_V3: Schema = Schema::object(
    &[
        Property::new("token", Schema::STRING),
        Property::new("bootstrapToken", Schema::STRING),
        Property::new("deviceToken", Schema::STRING),
        Property::new("password", Schema::STRING),
    ],
    &[],
);

const AUTH_V4: Schema = Schema::object(
    &[
        Property::new("token", Schema::STRING),
        Property::new("bootstrapToken", Schema::STRING),
        Property::new("deviceToken", Schema::STRING),
        Property::new("password", Schema::STRING),
        Property::new("approvalRuntimeToken", Schema::STRING),
        Property::new("agentRuntimeIdentityToken", Schema::STRING),
    ],
    &[],
);

fn is_lower_hex_64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

const WORKER_RUNS: Schema = Schema::object(
    &[
        Property::new(
            "bundleHash",
            Schema::String(StringRules {
                min_length: Some(64),
                max_length: Some(64),
                pattern: Some(Pattern {
                    source: "^[a-f0-9]{64}$",
                    matches: is_lower_hex_64,
                }),
            }),
        ),
        Property::new("openclawVersion", Schema::string(Some(1), Some(128))),
        Property::new(
            "protocolFeatures",
            Schema::Array(ArrayRules {
                items: &Schema::string(Some(1), Some(128)),
                min_items: None,
                max_items: Some(64),
                unique_items: true,
            }),
        ),
        Property::new(
            "bundlePrewarm",
            Schema::integer(Some(1), Some(9_007_199_254_740_991)),
        ),
    ],
    &["bundleHash", "openclawVersion", "protocolFeatures"],
);

const MODEL_CATALOG: Schema = Schema::AnyOf(&[
    Schema::object(
        &[
            Property::new("agentId", Schema::NON_EMPTY),
            Property::new("sessionKey", Schema::NON_EMPTY),
        ],
        &[],
    ),
    Schema::object(
        &[
            Property::new("agentId", Schema::NON_EMPTY),
            Property::new("shortId", Schema::NON_EMPTY),
            Property::new("slugHint", Schema::NON_EMPTY),
        ],
        &["shortId"],
    ),
]);

const PROTOCOL: Schema = Schema::integer(Some(1), None);

pub static CONNECT_PARAMS_V3: Schema = Schema::object(
    &[
        Property::new("minProtocol", PROTOCOL),
        Property::new("maxProtocol", PROTOCOL),
        Property::new("client", CLIENT_V3),
        Property::new("caps", NON_EMPTY_LIST),
        Property::new("commands", NON_EMPTY_LIST),
        Property::new("permissions", PERMISSIONS),
        Property::new("pathEnv", Schema::STRING),
        Property::new("role", Schema::NON_EMPTY),
        Property::new("scopes", NON_EMPTY_LIST),
        Property::new("device", DEVICE),
        Property::new("auth", AUTH_V3),
        Property::new("locale", Schema::STRING),
        Property::new("userAgent", Schema::STRING),
    ],
    &["minProtocol", "maxProtocol", "client"],
);

/// Property order follows schema-v4-core.json, which decides the order of
/// problems when several properties are wrong.
pub static CONNECT_PARAMS_V4: Schema = Schema::object(
    &[
        Property::new("minProtocol", PROTOCOL),
        Property::new("maxProtocol", PROTOCOL),
        Property::new("client", CLIENT_V4),
        Property::new("caps", NON_EMPTY_LIST),
        Property::new("commands", NON_EMPTY_LIST),
        Property::new("computerUse", Schema::Any),
        Property::new("workerRuns", WORKER_RUNS),
        Property::new("permissions", PERMISSIONS),
        Property::new("pathEnv", Schema::STRING),
        Property::new("role", Schema::NON_EMPTY),
        Property::new("scopes", NON_EMPTY_LIST),
        Property::new("modelCatalog", MODEL_CATALOG),
        Property::new("device", DEVICE),
        Property::new("auth", AUTH_V4),
        Property::new("locale", Schema::STRING),
        Property::new("userAgent", Schema::STRING),
    ],
    &["minProtocol", "maxProtocol", "client"],
);

pub fn request_frame(version: ProtocolVersion) -> &'static Schema {
    match version {
        ProtocolVersion::V3 => &REQUEST_FRAME_V3,
        ProtocolVersion::V4 => &REQUEST_FRAME_V4,
    }
}

pub fn event_frame(version: ProtocolVersion) -> &'static Schema {
    match version {
        ProtocolVersion::V3 => &EVENT_FRAME_V3,
        ProtocolVersion::V4 => &EVENT_FRAME_V4,
    }
}

pub fn connect_params(version: ProtocolVersion) -> &'static Schema {
    match version {
        ProtocolVersion::V3 => &CONNECT_PARAMS_V3,
        ProtocolVersion::V4 => &CONNECT_PARAMS_V4,
    }
}
