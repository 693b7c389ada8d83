//! Service names per profile, as the reference derives them: the profile
//! `default` (or none) gets the plain names, any other profile a suffix.

/// The profile in effect (`OPENCLAW_PROFILE`, set by the global `--profile`
/// / `--dev`), with `default` and blanks meaning no profile.
pub fn profile_of(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("default"))
        .map(str::to_string)
}

/// `openclaw-gateway` or `openclaw-gateway-<profile>` (without `.service`).
pub fn gateway_unit(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!("openclaw-gateway-{p}"),
        None => "openclaw-gateway".into(),
    }
}

/// `ai.openclaw.gateway` or `ai.openclaw.<profile>`.
pub fn gateway_launchd_label(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!("ai.openclaw.{p}"),
        None => "ai.openclaw.gateway".into(),
    }
}

/// The Windows scheduled task name; only written into the environment.
pub fn gateway_windows_task(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!("OpenClaw Gateway ({p})"),
        None => "OpenClaw Gateway".into(),
    }
}

pub fn gateway_description(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!("OpenClaw Gateway (profile: {p})"),
        None => "OpenClaw Gateway".into(),
    }
}

/// The node host has one service whatever the profile.
pub const NODE_UNIT: &str = "openclaw-node";
pub const NODE_DESCRIPTION: &str = "OpenClaw Node";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_means_no_suffix() {
        assert_eq!(profile_of(Some("default")), None);
        assert_eq!(profile_of(Some("  ")), None);
        assert_eq!(profile_of(Some("work")).as_deref(), Some("work"));
        assert_eq!(gateway_unit(None), "openclaw-gateway");
        assert_eq!(gateway_unit(Some("dev")), "openclaw-gateway-dev");
        assert_eq!(gateway_launchd_label(Some("work")), "ai.openclaw.work");
        assert_eq!(
            gateway_description(Some("work")),
            "OpenClaw Gateway (profile: work)"
        );
    }
}
