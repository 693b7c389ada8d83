//! `gateway status --deep`: other gateway-like systemd units on this machine
//! (best effort), found as the reference finds them: a unit whose ExecStart
//! runs an `openclaw`/`clawdbot` `gateway`, or that carries the OpenClaw
//! service markers, other than this profile's own managed unit.

use std::path::Path;

/// The directories the reference scans for system units (with `--deep`).
const SYSTEM_DIRS: [&str; 3] = [
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
const MARKERS: [&str; 2] = ["openclaw", "clawdbot"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraService {
    pub label: String,
    pub detail: String,
    pub scope: &'static str,
    pub marker: &'static str,
}

impl ExtraService {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "platform": "linux",
            "label": self.label,
            "detail": self.detail,
            "scope": self.scope,
            "marker": self.marker,
            "legacy": self.marker != "openclaw",
        })
    }

    /// The reference's inspection hints for a unit.
    pub fn hints(&self) -> [String; 2] {
        let unit = quote(&self.label);
        let systemctl = format!("systemctl --{}", self.scope);
        [
            format!("{systemctl} status -- {unit}"),
            format!("{systemctl} cat -- {unit}"),
        ]
    }
}

fn quote(value: &str) -> String {
    let plain = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

/// User units under `home`, then (deep) the system unit directories; the
/// default profile's unit name is this install's own and never listed.
pub fn find(home: &Path, deep: bool) -> Vec<ExtraService> {
    let mut found = scan(&home.join(".config/systemd/user"), "user");
    let backup = home.join(".config/systemd/user/clawdbot-gateway.service.bak");
    if !found.iter().any(|s| s.label == "clawdbot-gateway.service") && backup.is_file() {
        found.push(ExtraService {
            label: "clawdbot-gateway.service".into(),
            detail: format!("unit backup: {}", backup.display()),
            scope: "user",
            marker: "clawdbot",
        });
    }
    if deep {
        for dir in SYSTEM_DIRS {
            found.extend(scan(Path::new(dir), "system"));
        }
    }
    found
}

fn scan(dir: &Path, scope: &'static str) -> Vec<ExtraService> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".service") && n != "openclaw-gateway.service")
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|entry| {
            let path = dir.join(&entry);
            let contents = std::fs::read_to_string(&path).ok()?;
            let name = entry.trim_end_matches(".service");
            let marker = classify(name, &contents)?;
            Some(ExtraService {
                label: entry.clone(),
                detail: format!("unit: {}", path.display()),
                scope,
                marker,
            })
        })
        .collect()
}

/// The marker of a gateway-like unit that is not a managed OpenClaw gateway
/// unit, or `None`.
pub fn classify(name: &str, contents: &str) -> Option<&'static str> {
    let marker = if has_service_marker(contents) {
        "openclaw"
    } else {
        marker_line_with_gateway(contents)?
    };
    let managed = has_service_marker(contents)
        || (name.starts_with("openclaw-gateway") && contents.to_lowercase().contains("gateway"));
    (!(marker == "openclaw" && managed)).then_some(marker)
}

fn has_service_marker(contents: &str) -> bool {
    let lower = contents.to_lowercase();
    lower.contains("openclaw_service_marker")
        && lower.contains("openclaw_service_kind")
        && lower.contains("openclaw")
        && lower.contains("gateway")
}

/// A live line naming `gateway` and a marker; an assignment only counts when
/// it is an ExecStart whose arguments include `gateway`.
fn marker_line_with_gateway(contents: &str) -> Option<&'static str> {
    for line in contents.lines() {
        let line = line.trim().to_lowercase();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            let runs_gateway = value
                .split_whitespace()
                .any(|arg| arg.trim_matches(['"', '\'']) == "gateway");
            if key.trim() != "execstart" || !runs_gateway {
                continue;
            }
        }
        if !line.contains("gateway") {
            continue;
        }
        if let Some(marker) = MARKERS.into_iter().find(|m| line.contains(m)) {
            return Some(marker);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_like_units_are_found_and_managed_ones_skipped() {
        assert_eq!(
            classify(
                "bot",
                "[Service]\nExecStart=/opt/clawdbot/bin/clawdbot gateway\n"
            ),
            Some("clawdbot")
        );
        assert_eq!(
            classify(
                "other",
                "[Service]\nExecStart=/usr/bin/openclaw gateway --port 1\n"
            ),
            Some("openclaw")
        );
        let managed = "[Service]\nExecStart=/usr/bin/openclaw gateway\nEnvironment=OPENCLAW_SERVICE_MARKER=openclaw\nEnvironment=OPENCLAW_SERVICE_KIND=gateway\n";
        assert_eq!(classify("openclaw-gateway-work", managed), None);
        assert_eq!(
            classify(
                "web",
                "[Service]\nExecStart=/usr/bin/nginx\nDescription=openclaw gateway proxy\n"
            ),
            None,
            "an assignment other than ExecStart does not count"
        );
        assert_eq!(classify("x", "# openclaw gateway\n"), None);
    }

    #[test]
    fn user_units_and_the_legacy_backup_are_listed() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".config/systemd/user");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("rescue.service"),
            "ExecStart=/usr/bin/openclaw gateway --port 9\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("openclaw-gateway.service"),
            "ExecStart=/usr/bin/openclaw gateway\n",
        )
        .unwrap();
        std::fs::write(dir.join("clawdbot-gateway.service.bak"), "x").unwrap();
        let found = find(home.path(), false);
        let labels: Vec<&str> = found.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["rescue.service", "clawdbot-gateway.service"]);
        assert_eq!(
            found[0].hints(),
            [
                "systemctl --user status -- rescue.service".to_string(),
                "systemctl --user cat -- rescue.service".to_string()
            ]
        );
    }
}
