//! The macOS LaunchAgent plist (built and golden-tested everywhere; only
//! installed on macOS), with the reference's keep-alive policy.

pub struct PlistSpec {
    pub label: String,
    pub comment: String,
    pub program: Vec<String>,
    pub stdout_path: String,
    pub stderr_path: String,
    pub environment: Vec<(String, String)>,
}

/// XML text escaping for plist `<string>` values.
pub fn escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

pub fn render(spec: &PlistSpec) -> String {
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n");
    out.push_str("<plist version=\"1.0\">\n  <dict>\n");
    let key = |out: &mut String, k: &str| out.push_str(&format!("    <key>{k}</key>\n"));
    let string = |out: &mut String, v: &str| {
        out.push_str(&format!("    <string>{}</string>\n", escape(v)));
    };
    key(&mut out, "Label");
    string(&mut out, &spec.label);
    key(&mut out, "Comment");
    string(&mut out, &spec.comment);
    // Started at login, restarted when it exits, with a grace period to stop.
    key(&mut out, "RunAtLoad");
    out.push_str("    <true/>\n");
    key(&mut out, "KeepAlive");
    out.push_str("    <true/>\n");
    key(&mut out, "ExitTimeOut");
    out.push_str("    <integer>20</integer>\n");
    key(&mut out, "ProcessType");
    string(&mut out, "Interactive");
    key(&mut out, "ThrottleInterval");
    out.push_str("    <integer>10</integer>\n");
    // 63 = 0o077: files the gateway creates are private to the user.
    key(&mut out, "Umask");
    out.push_str("    <integer>63</integer>\n");
    key(&mut out, "StandardInPath");
    string(&mut out, "/dev/null");
    key(&mut out, "ProgramArguments");
    out.push_str("    <array>\n");
    for arg in &spec.program {
        out.push_str(&format!("      <string>{}</string>\n", escape(arg)));
    }
    out.push_str("    </array>\n");
    key(&mut out, "StandardOutPath");
    string(&mut out, &spec.stdout_path);
    key(&mut out, "StandardErrorPath");
    string(&mut out, &spec.stderr_path);
    let env: Vec<_> = spec
        .environment
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
    if !env.is_empty() {
        key(&mut out, "EnvironmentVariables");
        out.push_str("    <dict>\n");
        for (k, v) in env {
            out.push_str(&format!(
                "      <key>{}</key>\n      <string>{}</string>\n",
                escape(k),
                escape(v.trim())
            ));
        }
        out.push_str("    </dict>\n");
    }
    out.push_str("  </dict>\n</plist>\n");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn xml_specials_are_escaped() {
        assert_eq!(super::escape("a<b>&'\""), "a&lt;b&gt;&amp;&apos;&quot;");
    }
}
