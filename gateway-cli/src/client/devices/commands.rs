//! The `devices` subcommands: each resolves the target, makes its calls and
//! prints the reference's output. Exit codes: 0 done, 1 refused or failed
//! (including the approve preview, by design), 2 bad usage (argh).

use serde_json::{json, Value};

use super::super::call::target_or_exit;
use super::super::print;
use super::super::target::Target;
use super::access::{self, text, ADMIN_SCOPE, PAIRING_SCOPE};
use super::call::{call, cli_error, is_default_local, Failure};
use super::{
    human, local, ApproveArgs, ClearArgs, Common, DevicesCmd, DevicesSub, ListArgs, RejectArgs,
    RemoveArgs, RenameArgs, RevokeArgs, RotateArgs,
};

pub fn run_devices(cmd: DevicesCmd) -> i32 {
    match cmd.command {
        DevicesSub::List(a) => run_list(a),
        DevicesSub::Approve(a) => run_approve(a),
        DevicesSub::Reject(a) => run_reject(a),
        DevicesSub::Remove(a) => run_remove(a),
        DevicesSub::Rename(a) => run_rename(a),
        DevicesSub::Rotate(a) => run_rotate(a),
        DevicesSub::Revoke(a) => run_revoke(a),
        DevicesSub::Clear(a) => run_clear(a),
    }
}

fn target(common: &Common) -> Result<Target, i32> {
    target_or_exit(
        common.url.as_deref(),
        common.token.as_deref(),
        common.password.as_deref(),
        common.json,
    )
}

fn list_of(value: &Value, key: &str) -> Vec<Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// `device.pair.list` as `(pending, paired)`; read from the local store when
/// the local gateway refuses this CLI's device for want of approval.
fn list_with_fallback(
    target: &Target,
    common: &Common,
) -> Result<(Vec<Value>, Vec<Value>), Failure> {
    let scopes = Some(vec![PAIRING_SCOPE.to_owned()]);
    let list = match call(target, common, "device.pair.list", json!({}), scopes) {
        Ok(list) => list,
        Err(failure) => {
            let Some(details) = failure.pairing_required() else {
                return Err(failure);
            };
            if !is_default_local(common, target) {
                return Err(failure);
            }
            let list = local::list().map_err(Failure::Cli)?;
            local::check_matches(&details, &list).map_err(Failure::Cli)?;
            if !common.json {
                let color = print::color_enabled();
                print::line(&print::paint(local::FALLBACK_NOTICE, "33", color));
            }
            list
        }
    };
    Ok((list_of(&list, "pending"), list_of(&list, "paired")))
}

fn run_list(args: ListArgs) -> i32 {
    let common = args.common();
    let target = match target(&common) {
        Ok(t) => t,
        Err(code) => return code,
    };
    match list_with_fallback(&target, &common) {
        Ok((pending, paired)) => {
            if common.json {
                print::json(&json!({"pending": pending, "paired": paired}));
            } else {
                print::line(&human::list(&pending, &paired));
            }
            0
        }
        Err(failure) => failure.report(&target, common.json),
    }
}

/// Show the newest request and the command that approves it; exit 1.
fn preview_latest(target: &Target, common: &Common) -> i32 {
    let (pending, paired) = match list_with_fallback(target, common) {
        Ok(lists) => lists,
        Err(failure) => return failure.report(target, common.json),
    };
    let Some(request) = access::latest(&pending) else {
        eprintln!("No pending device pairing requests to approve");
        return 1;
    };
    let request_id = text(request, "requestId").unwrap_or("");
    let state = access::approval_state(request, access::paired_for(&paired, request));
    let command = human::approve_command(request_id, common);
    if common.json {
        let given = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        print::json(&json!({
            "selected": request,
            "approvalState": {
                "kind": state.kind.as_str(),
                "requested": state.requested.to_json(),
                "approved": state.approved.as_ref().map(access::Access::to_json),
            },
            "approveCommand": command,
            "requiresAuthFlags": {"token": given(&common.token), "password": given(&common.password)},
        }));
        return 1;
    }
    let color = print::color_enabled();
    let mut lines = vec![
        format!(
            "{} {}",
            print::paint("Selected pending device request", "33", color),
            print::paint(&human::clean(request_id), "36", color)
        ),
        format!("  Device: {}", human::pending_identity(request)),
        format!("  Requested: {}", state.requested.summary()),
    ];
    if let Some(approved) = &state.approved {
        lines.push(format!("  Approved: {}", approved.summary()));
    }
    if let Some(ip) = text(request, "remoteIp") {
        lines.push(format!("  IP:     {}", human::clean(ip)));
    }
    lines.push(format!("  Note:   {}", human::kind_note(state.kind)));
    print::line(&lines.join("\n"));
    eprintln!("Approve this exact request with: {command}");
    if let Some(reminder) = human::auth_reminder(common) {
        eprintln!("{reminder}");
    }
    1
}

/// Approve through the gateway with the scopes the request needs, retrying
/// once as admin when the narrower scopes are not enough. `Ok(None)`: no
/// such request.
fn approve_via_gateway(
    target: &Target,
    common: &Common,
    request_id: &str,
) -> Result<Option<Value>, Failure> {
    // What the request asks for decides the scopes to connect with; a
    // failed listing just leaves the method's own scope.
    let scopes = list_with_fallback(target, common)
        .ok()
        .and_then(|(pending, paired)| {
            let request = pending
                .iter()
                .find(|r| text(r, "requestId") == Some(request_id))?;
            access::approve_scopes(request, &paired)
        });
    let params = json!({"requestId": request_id});
    let was_admin = scopes
        .as_ref()
        .is_some_and(|s| s.iter().any(|x| x == ADMIN_SCOPE));
    match call(
        target,
        common,
        "device.pair.approve",
        params.clone(),
        scopes,
    ) {
        Ok(result) => Ok(Some(result)),
        Err(failure) if failure.says("device pairing approval denied") && !was_admin => {
            let admin = Some(vec![ADMIN_SCOPE.to_owned()]);
            match call(target, common, "device.pair.approve", params, admin) {
                Ok(result) => Ok(Some(result)),
                Err(f) if f.is_unknown_request() => Ok(None),
                Err(f) => Err(f),
            }
        }
        Err(failure) => match failure.pairing_required() {
            Some(details) if is_default_local(common, target) => {
                approve_locally(common, request_id, &details)
            }
            _ if failure.is_unknown_request() => Ok(None),
            _ => Err(failure),
        },
    }
}

/// The same-host fallback of `approve`: only for the request the gateway
/// just opened for this CLI (or when it named none), as the reference.
fn approve_locally(
    common: &Common,
    request_id: &str,
    details: &Value,
) -> Result<Option<Value>, Failure> {
    let gateway_request = text(details, "requestId");
    if gateway_request.is_some_and(|id| id != request_id) {
        let list = local::list().map_err(Failure::Cli)?;
        let known = local::has_pending(&list, request_id)
            || gateway_request.is_some_and(|id| local::has_pending(&list, id));
        if !known {
            return Ok(None);
        }
        return Err(Failure::Cli(local::mismatch(details, None)));
    }
    match local::approve(request_id).map_err(Failure::Cli)? {
        Some(result) => {
            if !common.json {
                let color = print::color_enabled();
                print::line(&print::paint(local::FALLBACK_NOTICE, "33", color));
            }
            Ok(Some(result))
        }
        None if gateway_request == Some(request_id) => {
            Err(Failure::Cli(local::mismatch(details, None)))
        }
        None => Ok(None),
    }
}

fn run_approve(args: ApproveArgs) -> i32 {
    let common = args.common();
    let target = match target(&common) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let request_id = args
        .request_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty());
    let request_id = match request_id {
        Some(id) if !args.latest => id.to_owned(),
        _ => return preview_latest(&target, &common),
    };
    match approve_via_gateway(&target, &common, &request_id) {
        Ok(Some(result)) => {
            if common.json {
                print::json(&result);
            } else {
                let approved = text(&result, "requestId").unwrap_or(&request_id);
                let device = result
                    .get("device")
                    .and_then(|d| text(d, "deviceId"))
                    .unwrap_or("ok");
                let color = print::color_enabled();
                print::line(&format!(
                    "{} {} {}",
                    print::paint("Approved", "32", color),
                    print::paint(device, "36", color),
                    print::paint(&format!("({approved})"), "2", color)
                ));
            }
            0
        }
        Ok(None) => {
            eprintln!(
                "No pending device request matches {}. Run openclaw devices list and retry with the current request ID.",
                human::clean(&request_id)
            );
            1
        }
        Err(failure) => {
            let own_upgrade = failure
                .pairing_required()
                .is_some_and(|d| text(&d, "reason") == Some("scope-upgrade"));
            if own_upgrade {
                eprintln!("This device can't approve its own scope upgrade. Approve it from the Control UI or another authorized device.");
                return 1;
            }
            failure.report(&target, common.json)
        }
    }
}

/// Print a method's answer: as JSON, or as one line.
fn answer(
    common: &Common,
    target: &Target,
    result: Result<Value, Failure>,
    line: impl FnOnce(&Value) -> String,
) -> i32 {
    match result {
        Ok(value) => {
            if common.json {
                print::json(&value);
            } else {
                print::line(&line(&value));
            }
            0
        }
        Err(failure) => failure.report(target, common.json),
    }
}

fn run_reject(args: RejectArgs) -> i32 {
    let common = args.common();
    let request_id = args.request_id.trim();
    if request_id.is_empty() {
        return cli_error(
            "requestId is required. Run openclaw devices list to choose a pending request.",
            common.json,
        );
    }
    let target = match target(&common) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let result = call(
        &target,
        &common,
        "device.pair.reject",
        json!({"requestId": request_id}),
        None,
    );
    answer(&common, &target, result, |v| {
        let color = print::color_enabled();
        format!(
            "{} {}",
            print::paint("Rejected", "33", color),
            print::paint(text(v, "deviceId").unwrap_or("ok"), "36", color)
        )
    })
}

fn run_remove(args: RemoveArgs) -> i32 {
    let common = args.common();
    let device_id = args.device_id.trim().to_owned();
    if device_id.is_empty() {
        return cli_error(
            "deviceId is required. Run openclaw devices list to choose a paired device.",
            common.json,
        );
    }
    let target = match target(&common) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let result = call(
        &target,
        &common,
        "device.pair.remove",
        json!({"deviceId": device_id}),
        None,
    );
    answer(&common, &target, result, |_| {
        let color = print::color_enabled();
        format!(
            "{} {}",
            print::paint("Removed", "33", color),
            print::paint(&device_id, "36", color)
        )
    })
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn run_rename(args: RenameArgs) -> i32 {
    let common = args.common();
    let (Some(device_id), Some(label)) = (non_empty(&args.device), non_empty(&args.name)) else {
        return cli_error("--device and --name are required. Run openclaw devices list to choose a paired device.", common.json);
    };
    let target = match target(&common) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let params = json!({"deviceId": device_id, "label": label});
    let result = call(&target, &common, "device.pair.rename", params, None);
    answer(&common, &target, result, |_| {
        let color = print::color_enabled();
        format!(
            "{} {} {} {}",
            print::paint("Renamed", "32", color),
            print::paint(&device_id, "36", color),
            print::paint("→", "2", color),
            human::clean(&label)
        )
    })
}

/// `--device` and `--role`, or the reference's complaint.
fn device_and_role(
    device: &Option<String>,
    role: &Option<String>,
    json: bool,
) -> Result<(String, String), i32> {
    match (non_empty(device), non_empty(role)) {
        (Some(d), Some(r)) => Ok((d, r)),
        _ => Err(cli_error("--device and --role are required. Run openclaw devices list to choose a paired device.", json)),
    }
}

/// The scopes to manage (device, role)'s token with: read from the list of
/// paired devices, as the reference does.
fn token_scopes(
    target: &Target,
    common: &Common,
    device_id: &str,
    role: &str,
    explicit: Option<&[String]>,
) -> Option<Vec<String>> {
    if role != "operator" {
        return Some(vec![ADMIN_SCOPE.to_owned()]);
    }
    let paired = call(target, common, "device.pair.list", json!({}), None)
        .map(|list| list_of(&list, "paired"))
        .unwrap_or_default();
    access::token_management_scopes(&paired, device_id, role, explicit)
}

fn run_rotate(args: RotateArgs) -> i32 {
    let common = args.common();
    let (device_id, role) = match device_and_role(&args.device, &args.role, common.json) {
        Ok(pair) => pair,
        Err(code) => return code,
    };
    if args.no_scopes && !args.scope.is_empty() {
        return cli_error("--no-scopes cannot be combined with --scope.", common.json);
    }
    let target = match target(&common) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let explicit: Option<Vec<String>> = if args.no_scopes {
        Some(Vec::new())
    } else if args.scope.is_empty() {
        None
    } else {
        Some(args.scope.clone())
    };
    let mut params = json!({"deviceId": device_id, "role": role});
    if let Some(scopes) = &explicit {
        params["scopes"] = json!(scopes);
    }
    let scopes = token_scopes(&target, &common, &device_id, &role, explicit.as_deref());
    match call(&target, &common, "device.token.rotate", params, scopes) {
        // Always JSON: the answer is rotation metadata (and maybe a token).
        Ok(value) => {
            print::json(&value);
            0
        }
        Err(failure) => failure.report(&target, common.json),
    }
}

fn run_revoke(args: RevokeArgs) -> i32 {
    let common = args.common();
    let (device_id, role) = match device_and_role(&args.device, &args.role, common.json) {
        Ok(pair) => pair,
        Err(code) => return code,
    };
    let target = match target(&common) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let scopes = token_scopes(&target, &common, &device_id, &role, None);
    let params = json!({"deviceId": device_id, "role": role});
    match call(&target, &common, "device.token.revoke", params, scopes) {
        Ok(value) => {
            print::json(&value);
            0
        }
        Err(failure) => failure.report(&target, common.json),
    }
}

fn run_clear(args: ClearArgs) -> i32 {
    let common = args.common();
    if !args.yes {
        return cli_error("Refusing to clear pairing table without --yes", common.json);
    }
    let target = match target(&common) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let list = match call(&target, &common, "device.pair.list", json!({}), None) {
        Ok(list) => list,
        Err(failure) => return failure.report(&target, common.json),
    };
    let mut removed = Vec::new();
    for device in list_of(&list, "paired") {
        let Some(device_id) = text(&device, "deviceId") else {
            continue;
        };
        if let Err(failure) = call(
            &target,
            &common,
            "device.pair.remove",
            json!({"deviceId": device_id}),
            None,
        ) {
            return failure.report(&target, common.json);
        }
        removed.push(device_id.to_owned());
    }
    let mut rejected = Vec::new();
    if args.pending {
        for request in list_of(&list, "pending") {
            let Some(request_id) = text(&request, "requestId") else {
                continue;
            };
            if let Err(failure) = call(
                &target,
                &common,
                "device.pair.reject",
                json!({"requestId": request_id}),
                None,
            ) {
                return failure.report(&target, common.json);
            }
            rejected.push(request_id.to_owned());
        }
    }
    if common.json {
        print::json(&json!({"removedDevices": removed, "rejectedPending": rejected}));
        return 0;
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let color = print::color_enabled();
    print::line(&format!(
        "{} {} paired device{}",
        print::paint("Cleared", "33", color),
        removed.len(),
        plural(removed.len())
    ));
    if args.pending {
        print::line(&format!(
            "{} {} pending request{}",
            print::paint("Rejected", "33", color),
            rejected.len(),
            plural(rejected.len())
        ));
    }
    0
}
