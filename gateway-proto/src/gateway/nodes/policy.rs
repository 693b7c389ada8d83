//! Which node commands may be declared, approved and invoked.
//!
//! The reference's policy (`docs/nodes/command-policy.md`): a command is
//! invocable only when the node declares it, its approved surface holds it,
//! and the gateway allowlist admits it. The allowlist is the platform's
//! defaults plus `gateway.nodes.commands.allow`, minus
//! `gateway.nodes.commands.deny`. Desktop host commands (`system.run`,
//! `browser.proxy`, …) are not defaults: they become invocable through an
//! approved surface that declares them. "Dangerous" commands (camera,
//! screen recording, contacts, sms, …) always need an explicit `allow`.
//! Private worker controls are never declarable nor invocable.

use std::collections::BTreeSet;

/// `system.run` and the commands that share its approval.
pub(crate) const SYSTEM_RUN_COMMANDS: &[&str] =
    &["system.run.prepare", "system.run", "system.which"];
/// Reached only through `exec.approvals.node.*`, never `node.invoke`.
pub(crate) const EXEC_APPROVALS_COMMANDS: &[&str] =
    &["system.execApprovals.get", "system.execApprovals.set"];
const FILE_COMMANDS: &[&str] = &["fs.listDir", "terminal.upload"];
const BROWSER_PROXY_COMMANDS: &[&str] = &["browser.proxy", "browser.proxy.upload.v1"];
const NOTIFY_COMMAND: &str = "system.notify";
const MCP_TOOLS_CALL: &str = "mcp.tools.call.v1";
const AGENT_CLI_CLAUDE_RUN: &str = "agent.cli.claude.run.v1";
const DEVICE_APPS: &str = "device.apps";
const DESKTOP_STREAM: &str = "desktop.stream";

/// Commands that cross an admin-only host boundary when invoked directly.
const ADMIN_ONLY_INVOKE: &[&str] = &[
    "browser.proxy",
    "browser.proxy.upload.v1",
    "fs.listDir",
    "terminal.upload",
];

/// The worker supervisor's private controls.
const PRIVATE_COMMANDS: &[&str] = &[
    "worker.bundle.install.v1",
    "worker.launch.v1",
    "worker.status.v1",
    "worker.cancel.v1",
    "worker.environment.stop.v1",
    "worker.workspace.exec.v1",
    "worker.workspace.prepare.v1",
    "worker.workspace.retain.v1",
    "worker.desktop.stream.v1",
    "worker.desktop.launch.v1",
    "worker.desktop.computer.v1",
    "worker.portal.stream.v1",
];

/// Never allowed without `gateway.nodes.commands.allow`.
const DANGEROUS_COMMANDS: &[&str] = &[
    "camera.snap",
    "camera.clip",
    "camera.ptz.control",
    "screen.record",
    "contacts.add",
    "calendar.add",
    "reminders.add",
    "sms.send",
    "sms.search",
    "health.summary",
];

const CAMERA: &[&str] = &["camera.list"];
const MAC_CAMERA: &[&str] = &["camera.ptz.status"];
const LOCATION: &[&str] = &["location.get"];
const DEVICE_INFO: &[&str] = &["device.info", "device.status"];
const ANDROID_NOTIFICATIONS: &[&str] = &["notifications.list", "notifications.actions"];
const ANDROID_DEVICE: &[&str] = &["device.permissions", "device.health", DEVICE_APPS];
const CONTACTS: &[&str] = &["contacts.search"];
const CALENDAR: &[&str] = &["calendar.events"];
const CALL_LOG: &[&str] = &["callLog.search"];
const REMINDERS: &[&str] = &["reminders.list"];
const PHOTOS: &[&str] = &["photos.latest"];
const MOTION: &[&str] = &["motion.activity", "motion.pedometer"];
const MOBILE_UI: &[&str] = &["mobile.ui.observe", "mobile.ui.act"];
const SCREEN: &[&str] = &["screen.snapshot", DESKTOP_STREAM];
const COMPUTER: &[&str] = &["computer.act"];
const SYSTEM: &[&str] = &[
    "system.run.prepare",
    "system.run",
    "system.which",
    "system.execApprovals.get",
    "system.execApprovals.set",
    "fs.listDir",
    "terminal.upload",
    NOTIFY_COMMAND,
    "browser.proxy",
    "browser.proxy.upload.v1",
    MCP_TOOLS_CALL,
    AGENT_CLI_CLAUDE_RUN,
];

/// Host commands a desktop node gets only through an approved surface.
fn is_desktop_host_command(command: &str) -> bool {
    SYSTEM_RUN_COMMANDS.contains(&command)
        || EXEC_APPROVALS_COMMANDS.contains(&command)
        || FILE_COMMANDS.contains(&command)
        || BROWSER_PROXY_COMMANDS.contains(&command)
        || [
            MCP_TOOLS_CALL,
            AGENT_CLI_CLAUDE_RUN,
            "screen.snapshot",
            DESKTOP_STREAM,
        ]
        .contains(&command)
}

/// The platform classes the defaults are keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Platform {
    Ios,
    WatchOs,
    Android,
    MacOs,
    Windows,
    Linux,
    Unknown,
}

impl Platform {
    fn is_desktop(self) -> bool {
        matches!(self, Platform::MacOs | Platform::Windows | Platform::Linux)
    }

    fn defaults(self) -> Vec<&'static str> {
        let parts: &[&[&str]] = match self {
            Platform::Ios => &[
                CAMERA,
                LOCATION,
                DEVICE_INFO,
                CONTACTS,
                CALENDAR,
                REMINDERS,
                PHOTOS,
                MOTION,
                &[NOTIFY_COMMAND],
            ],
            Platform::WatchOs => &[DEVICE_INFO, &[NOTIFY_COMMAND]],
            Platform::Android => &[
                CAMERA,
                LOCATION,
                ANDROID_NOTIFICATIONS,
                &[NOTIFY_COMMAND],
                DEVICE_INFO,
                ANDROID_DEVICE,
                CONTACTS,
                CALENDAR,
                CALL_LOG,
                REMINDERS,
                PHOTOS,
                MOTION,
                MOBILE_UI,
            ],
            Platform::MacOs => &[
                CAMERA,
                MAC_CAMERA,
                LOCATION,
                DEVICE_INFO,
                &[DEVICE_APPS],
                CONTACTS,
                CALENDAR,
                REMINDERS,
                PHOTOS,
                MOTION,
                SYSTEM,
                SCREEN,
                COMPUTER,
            ],
            Platform::Linux => &[SYSTEM, SCREEN, COMPUTER],
            Platform::Windows => &[CAMERA, LOCATION, DEVICE_INFO, SYSTEM, SCREEN, COMPUTER],
            Platform::Unknown => &[CAMERA, LOCATION, &[NOTIFY_COMMAND]],
        };
        parts.iter().flat_map(|p| p.iter().copied()).collect()
    }

    /// Classify a node from its claimed platform and device family, as the
    /// reference does: an exact platform id must agree with the family; a
    /// native label (`macos 15.1`) must too; an unrecognized platform is
    /// unknown; with no platform the family decides.
    pub(crate) fn classify(platform: Option<&str>, device_family: Option<&str>) -> Platform {
        let raw = normalize(platform.unwrap_or(""));
        let family = normalize(device_family.unwrap_or(""));
        let exact = match raw.as_str() {
            "ios" => Some(Platform::Ios),
            "watchos" => Some(Platform::WatchOs),
            "android" => Some(Platform::Android),
            "macos" => Some(Platform::MacOs),
            "windows" => Some(Platform::Windows),
            "linux" => Some(Platform::Linux),
            _ => None,
        };
        if let Some(id) = exact {
            return if family_matches(id, &family) {
                id
            } else {
                Platform::Unknown
            };
        }
        if let Some(id) = native_label(&raw, &family) {
            return id;
        }
        if !raw.is_empty() {
            return Platform::Unknown;
        }
        let by_family = [
            (Platform::Ios, &["iphone", "ipad", "ios"][..]),
            (Platform::WatchOs, &["apple watch", "watchos"][..]),
            (Platform::Android, &["android"][..]),
            (Platform::MacOs, &["mac"][..]),
            (Platform::Windows, &["windows"][..]),
            (Platform::Linux, &["linux"][..]),
        ];
        by_family
            .iter()
            .find(|(_, tokens)| tokens.iter().any(|t| family.contains(t)))
            .map_or(Platform::Unknown, |(id, _)| *id)
    }
}

fn normalize(value: &str) -> String {
    value.trim().to_lowercase()
}

fn family_matches(id: Platform, family: &str) -> bool {
    match id {
        Platform::Ios => family.is_empty() || matches!(family, "iphone" | "ipad" | "ios"),
        Platform::WatchOs => matches!(family, "apple watch" | "watchos"),
        Platform::Android => family.is_empty() || family == "android",
        Platform::MacOs => family == "mac",
        Platform::Windows => family == "windows",
        Platform::Linux => family == "linux",
        Platform::Unknown => false,
    }
}

/// `macos 15.1`, `ios 18`, `android 15 (sdk 35)`: a native app's label.
fn native_label(raw: &str, family: &str) -> Option<Platform> {
    let (name, version) = raw.split_once(' ')?;
    let version = version.strip_suffix(')').map_or(version, |v| {
        v.split_once(" (sdk ").map_or(v, |(head, sdk)| {
            if sdk.chars().all(|c| c.is_ascii_digit()) && !sdk.is_empty() {
                head
            } else {
                v
            }
        })
    });
    let numeric = !version.is_empty()
        && version.split('.').count() <= 3
        && version
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !numeric {
        return None;
    }
    match name {
        "ios" | "ipados" if matches!(family, "iphone" | "ipad" | "ios") => Some(Platform::Ios),
        "watchos" if matches!(family, "apple watch" | "watchos") => Some(Platform::WatchOs),
        "macos" if family == "mac" => Some(Platform::MacOs),
        "android" if family == "android" => Some(Platform::Android),
        _ => None,
    }
}

/// `gateway.nodes.commands.allow|deny`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeCommandRules {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

/// Which allowlist to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// What a connecting node may declare for approval: desktop host and
    /// dangerous commands included (approval or `allow` still gate them).
    Pairing,
    /// What may be invoked now; `approved` commands of a desktop node are
    /// admitted.
    Invoke,
}

/// The allowlist for one node.
pub(crate) fn allowlist(
    rules: &NodeCommandRules,
    platform: Platform,
    approved: &[String],
    purpose: Purpose,
) -> BTreeSet<String> {
    let pairing = purpose == Purpose::Pairing;
    let base = platform
        .defaults()
        .into_iter()
        .filter(|c| pairing || !platform.is_desktop() || !is_desktop_host_command(c));
    let approved = approved
        .iter()
        .map(String::as_str)
        .filter(|c| platform.is_desktop() && is_desktop_host_command(c.trim()));
    let mut allow: BTreeSet<String> = base
        .chain(approved)
        .chain(rules.allow.iter().map(String::as_str))
        .map(str::trim)
        .filter(|c| !c.is_empty() && (pairing || !DANGEROUS_COMMANDS.contains(c)))
        .map(str::to_owned)
        .collect();
    for extra in &rules.allow {
        let extra = extra.trim();
        if !extra.is_empty() {
            allow.insert(extra.to_owned());
        }
    }
    for blocked in &rules.deny {
        let blocked = blocked.trim();
        if !(pairing && DANGEROUS_COMMANDS.contains(&blocked)) {
            allow.remove(blocked);
        }
    }
    for private in PRIVATE_COMMANDS {
        allow.remove(*private);
    }
    allow
}

pub(crate) fn is_private(command: &str) -> bool {
    PRIVATE_COMMANDS.contains(&command.trim())
}

pub(crate) fn is_admin_only_invoke(command: &str) -> bool {
    ADMIN_ONLY_INVOKE.contains(&command)
}

pub(crate) fn is_browser_proxy(command: &str) -> bool {
    BROWSER_PROXY_COMMANDS.contains(&command)
}

/// Trimmed, de-duplicated, without private controls; order kept.
pub(crate) fn normalize_declared(commands: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    commands
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty() && !is_private(c) && seen.insert(*c))
        .map(str::to_owned)
        .collect()
}

/// Trimmed and de-duplicated, order kept (caps).
pub(crate) fn normalize_list(items: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    items
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty() && seen.insert(*c))
        .map(str::to_owned)
        .collect()
}

/// Sorted and de-duplicated (the node catalog's lists).
pub(crate) fn sorted_unique(items: &[String]) -> Vec<String> {
    let set: BTreeSet<&str> = items
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .collect();
    set.into_iter().map(str::to_owned).collect()
}

/// Capability families: a capability whose commands were all withheld by
/// policy is withheld too.
fn capability_family(cap: &str) -> Option<&'static [&'static str]> {
    match cap {
        "camera" => Some(&[
            "camera.list",
            "camera.ptz.status",
            "camera.snap",
            "camera.clip",
            "camera.ptz.control",
        ]),
        "computer" => Some(COMPUTER),
        "location" => Some(LOCATION),
        "screen" => Some(&["screen.snapshot", DESKTOP_STREAM, "screen.record"]),
        _ => None,
    }
}

pub(crate) fn retain_fulfilled_caps(
    caps: Vec<String>,
    admitted: &[String],
    withheld: &[String],
) -> Vec<String> {
    caps.into_iter()
        .filter(|cap| match capability_family(cap) {
            None => true,
            Some(family) => {
                !withheld.iter().any(|c| family.contains(&c.as_str()))
                    || admitted.iter().any(|c| family.contains(&c.as_str()))
            }
        })
        .collect()
}

/// The operator scopes approving a surface with these commands takes.
pub(crate) fn approve_scopes(commands: &[String]) -> Vec<&'static str> {
    let admin = commands.iter().any(|c| {
        is_admin_only_invoke(c)
            || SYSTEM_RUN_COMMANDS.contains(&c.as_str())
            || EXEC_APPROVALS_COMMANDS.contains(&c.as_str())
    });
    if admin {
        vec!["operator.pairing", "operator.admin"]
    } else if commands.is_empty() {
        vec!["operator.pairing"]
    } else {
        vec!["operator.pairing", "operator.write"]
    }
}

/// Why an invoke is refused by policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotAllowlisted,
    NotDeclared,
    NoCommands,
}

impl Refusal {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::NotAllowlisted => "command not allowlisted",
            Refusal::NotDeclared => "command not declared by node",
            Refusal::NoCommands => "node did not declare commands",
        }
    }

    /// The reference's message for this refusal.
    pub(crate) fn hint(
        self,
        command: &str,
        platform_label: &str,
        rules: &NodeCommandRules,
        pending_declares_it: bool,
    ) -> String {
        match self {
            Refusal::NotDeclared => format!(
                "node command not allowed: the node (platform: {platform_label}) does not support \"{command}\""
            ),
            Refusal::NotAllowlisted if command.starts_with("talk.") => format!(
                "node command not allowed: \"{command}\" requires a trusted Talk-capable node"
            ),
            Refusal::NotAllowlisted if rules.deny.iter().any(|d| d.trim() == command) => format!(
                "node command not allowed: \"{command}\" is blocked by gateway.nodes.commands.deny"
            ),
            Refusal::NotAllowlisted if DANGEROUS_COMMANDS.contains(&command) => format!(
                "node command not allowed: \"{command}\" requires explicit gateway.nodes.commands.allow opt-in"
            ),
            Refusal::NotAllowlisted => format!(
                "node command not allowed: \"{command}\" is not in the allowlist for platform \"{platform_label}\""
            ),
            Refusal::NoCommands if pending_declares_it => "node command not allowed: the node's declared command surface is pending approval; run `openclaw nodes pending`, then `openclaw nodes approve <requestId>`".to_owned(),
            Refusal::NoCommands => {
                "node command not allowed: the node did not declare any supported commands".to_owned()
            }
        }
    }
}

/// May `command` be invoked on a node whose effective commands are `effective`?
pub(crate) fn check_invoke(
    command: &str,
    effective: &[String],
    allow: &BTreeSet<String>,
) -> Result<(), Refusal> {
    if is_private(command) || !allow.contains(command) {
        return Err(Refusal::NotAllowlisted);
    }
    if effective.is_empty() {
        return Err(Refusal::NoCommands);
    }
    if !effective.iter().any(|c| c == command) {
        return Err(Refusal::NotDeclared);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn platforms_are_classified_like_the_reference() {
        let c = |p: &str, f: &str| Platform::classify(Some(p), Some(f));
        assert_eq!(c("linux", "Linux"), Platform::Linux);
        assert_eq!(c("linux", "Mac"), Platform::Unknown);
        assert_eq!(c("macOS 15.1", "Mac"), Platform::MacOs);
        assert_eq!(c("android 15 (sdk 35)", "Android"), Platform::Android);
        assert_eq!(c("", "iPhone"), Platform::Ios);
        assert_eq!(c("linux 6.1", "Linux"), Platform::Unknown);
        assert_eq!(c("", ""), Platform::Unknown);
    }

    #[test]
    fn linux_defaults_exclude_host_commands_until_approved() {
        let rules = NodeCommandRules::default();
        let allow = allowlist(&rules, Platform::Linux, &[], Purpose::Invoke);
        assert!(allow.contains("system.notify") && allow.contains("computer.act"));
        assert!(!allow.contains("system.run"));
        let approved = strings(&["system.run", "system.which"]);
        let allow = allowlist(&rules, Platform::Linux, &approved, Purpose::Invoke);
        assert!(allow.contains("system.run") && allow.contains("system.which"));
        let pairing = allowlist(&rules, Platform::Linux, &[], Purpose::Pairing);
        assert!(pairing.contains("system.run") && pairing.contains("browser.proxy"));
    }

    #[test]
    fn dangerous_commands_need_an_explicit_allow_and_deny_wins() {
        let mut rules = NodeCommandRules::default();
        let allow = allowlist(&rules, Platform::MacOs, &[], Purpose::Invoke);
        assert!(!allow.contains("camera.snap"));
        rules.allow.push("camera.snap".into());
        assert!(allowlist(&rules, Platform::MacOs, &[], Purpose::Invoke).contains("camera.snap"));
        rules.deny.push("camera.snap".into());
        rules.deny.push("system.notify".into());
        let allow = allowlist(&rules, Platform::MacOs, &[], Purpose::Invoke);
        assert!(!allow.contains("camera.snap") && !allow.contains("system.notify"));
        rules.allow.push("worker.launch.v1".into());
        assert!(
            !allowlist(&rules, Platform::Linux, &[], Purpose::Invoke).contains("worker.launch.v1")
        );
    }

    #[test]
    fn approval_scopes_follow_the_commands() {
        assert_eq!(approve_scopes(&[]), ["operator.pairing"]);
        assert_eq!(
            approve_scopes(&strings(&["system.notify"])),
            ["operator.pairing", "operator.write"]
        );
        assert_eq!(
            approve_scopes(&strings(&["system.notify", "system.which"])),
            ["operator.pairing", "operator.admin"]
        );
    }

    #[test]
    fn refusals_carry_the_reference_wording() {
        let rules = NodeCommandRules::default();
        let allow = allowlist(
            &rules,
            Platform::Linux,
            &strings(&["system.run"]),
            Purpose::Invoke,
        );
        let effective = strings(&["system.run"]);
        assert_eq!(check_invoke("system.run", &effective, &allow), Ok(()));
        let refused = check_invoke("camera.snap", &effective, &allow).unwrap_err();
        assert_eq!(
            refused.hint("camera.snap", "linux", &rules, false),
            "node command not allowed: \"camera.snap\" requires explicit gateway.nodes.commands.allow opt-in"
        );
        assert_eq!(
            check_invoke("system.notify", &effective, &allow),
            Err(Refusal::NotDeclared)
        );
        assert_eq!(
            check_invoke("system.notify", &[], &allow),
            Err(Refusal::NoCommands)
        );
    }
}
