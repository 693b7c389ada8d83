//! The same-host fallback: when the local gateway refuses this CLI for lack
//! of the pairing scope (its own device awaits approval), `devices list`
//! reads the pairing tables of this state dir directly, and `devices
//! approve` of that very request writes the approval there, as the
//! reference does. The rows are shown as `device.pair.list` shows them: no
//! token secrets, tokens summarized, expired requests left out.
//!
//! Caveat: the reference gateway reads these tables on every pairing
//! decision, so it sees such an approval at once. Our gateway keeps the
//! pairing book in memory and only loads the tables at start-up: an
//! approval written here takes effect when it next starts. (Our CLI reaches
//! this path only when it connects as a device, i.e. without a shared
//! secret; with one it connects without a device and is never asked to
//! pair.)

use gateway_proto::gateway::pairing::{approve_in_snapshot, PairedDevice, PENDING_TTL_MS};
use gateway_smol::store::PairingStore;
use serde_json::{json, Value};

use super::super::target::state_dir;
use super::access::text;

pub const FALLBACK_NOTICE: &str = "Direct scope access failed; using local fallback.";
const STATE_MISMATCH: &str =
    "Gateway requires device pairing, but local fallback pairing state does not contain the gateway request.";

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A paired row without its secrets: tokens as `{role, scopes, times}`.
pub fn redact(device: &PairedDevice) -> Value {
    let mut shown = device.clone();
    shown.tokens = None;
    shown.approved_scopes = None;
    let mut value = serde_json::to_value(&shown).unwrap_or_default();
    if let (Some(tokens), Some(object)) = (&device.tokens, value.as_object_mut()) {
        let summaries: Vec<Value> = tokens
            .values()
            .map(|t| {
                let mut s =
                    json!({"role": t.role, "scopes": t.scopes, "createdAtMs": t.created_at_ms});
                for (key, at) in [
                    ("rotatedAtMs", t.rotated_at_ms),
                    ("revokedAtMs", t.revoked_at_ms),
                    ("lastUsedAtMs", t.last_used_at_ms),
                ] {
                    if let Some(at) = at {
                        s[key] = at.into();
                    }
                }
                s
            })
            .collect();
        object.insert("tokens".into(), summaries.into());
    }
    value
}

/// `{pending, paired}` from this state dir's store.
pub fn list() -> Result<Value, String> {
    let store = PairingStore::open(&state_dir()).map_err(|e| e.to_string())?;
    let snapshot = store.load().map_err(|e| e.to_string())?;
    let now = now_ms();
    let pending: Vec<Value> = snapshot
        .pending
        .into_iter()
        .filter(|r| {
            r.refreshed_at_ms
                .unwrap_or(r.ts)
                .saturating_add(PENDING_TTL_MS)
                > now
        })
        .map(|mut r| {
            r.refreshed_at_ms = None;
            serde_json::to_value(r).unwrap_or_default()
        })
        .collect();
    let paired: Vec<Value> = snapshot.paired.iter().map(redact).collect();
    Ok(json!({"pending": pending, "paired": paired}))
}

/// Approve `request_id` in this state dir's store with the owner's rights:
/// `{requestId, device}` as `device.pair.approve` answers, `Ok(None)` when
/// there is no such (live) request.
pub fn approve(request_id: &str) -> Result<Option<Value>, String> {
    let mut store = PairingStore::open(&state_dir()).map_err(|e| e.to_string())?;
    let snapshot = store.load().map_err(|e| e.to_string())?;
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)
        .map_err(|e| format!("no randomness for a device token: {e}"))?;
    let Some((device, changes)) = approve_in_snapshot(snapshot, request_id, now_ms(), seed)? else {
        return Ok(None);
    };
    store.apply(&changes).map_err(|e| e.to_string())?;
    Ok(Some(
        json!({"requestId": request_id, "device": redact(&device)}),
    ))
}

/// Whether the store holds a live pending request `request_id`.
pub fn has_pending(list: &Value, request_id: &str) -> bool {
    list["pending"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| text(r, "requestId") == Some(request_id))
}

/// The error for a local store that does not hold what the gateway said;
/// `current`: the request to approve instead, when there is one.
pub fn mismatch(details: &Value, current: Option<&str>) -> String {
    let mut lines = vec![match text(details, "requestId") {
        Some(id) => format!("{STATE_MISMATCH} Missing requestId: {id}."),
        None => STATE_MISMATCH.to_owned(),
    }];
    match current {
        Some(current) => {
            lines.push("That request was superseded by a newer pending request.".into());
            lines.push(format!(
                "Approve the current request instead: openclaw devices approve {current}"
            ));
        }
        None => {
            lines.push("The running gateway may be using a different OPENCLAW_PROFILE or OPENCLAW_STATE_DIR than this CLI.".into());
            lines.push("Rerun with the gateway's profile/state-dir; if the gateway uses shared auth, pass --token/--password to approve through it.".into());
        }
    }
    lines.join("\n")
}

/// The local store must hold the request the gateway just opened for this
/// CLI; when it does not, the gateway uses another state dir (or the request
/// was replaced) and the local rows would mislead.
pub fn check_matches(details: &Value, list: &Value) -> Result<(), String> {
    let Some(request_id) = text(details, "requestId") else {
        return Ok(());
    };
    let ids: Vec<&str> = list["pending"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| text(r, "requestId"))
        .collect();
    if ids.contains(&request_id) {
        return Ok(());
    }
    Err(mismatch(details, ids.first().copied()))
}
