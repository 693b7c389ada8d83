//! The systemd unit text, with the reference's fixed restart policy and its
//! quoting rules (so `doctor` can compare byte for byte with what is installed).

/// What goes into a unit; the caller decides names, paths and environment.
pub struct UnitSpec {
    pub description: String,
    pub program: Vec<String>,
    /// Ordered `KEY=value` pairs; blank values are left out, as the reference does.
    pub environment: Vec<(String, String)>,
    /// `Some(user)` for a system unit (`User=`, `WantedBy=multi-user.target`).
    pub system_user: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct LineBreakInUnit(pub String);

impl std::fmt::Display for LineBreakInUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} cannot contain CR or LF characters", self.0)
    }
}

/// A line break would end the directive and let a value inject others: refuse it.
fn no_line_breaks(value: &str, what: &str) -> Result<(), LineBreakInUnit> {
    if value.contains(['\r', '\n']) {
        return Err(LineBreakInUnit(what.into()));
    }
    Ok(())
}

/// Quote a word when it holds whitespace, `"` or `\` (escaping those two);
/// otherwise leave it bare. `%` must already be doubled by the caller.
pub fn escape_word(value: &str) -> String {
    if !value
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        return value.to_string();
    }
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The words of a unit value, as [`escape_word`] and systemd quote them:
/// double-quoted words may hold spaces, `\"` and `\\`; `%%` is `%`.
pub fn split_words(value: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            return words;
        };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => word.extend(chars.next()),
                    c => word.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                word.push(c);
            }
        }
        words.push(word.replace("%%", "%"));
    }
}

/// What a unit file records about the command it runs (the reference's
/// `service.command`): the `ExecStart=` words, each `Environment=` pair in
/// order, and `WorkingDirectory=`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordedCommand {
    pub program_arguments: Vec<String>,
    pub environment: Vec<(String, String)>,
    pub working_directory: Option<String>,
}

/// Read `unit_text`'s `[Service]` command; `None` without an `ExecStart=`.
pub fn recorded_command(unit_text: &str) -> Option<RecordedCommand> {
    let mut command = RecordedCommand::default();
    let mut has_exec = false;
    for line in unit_text.lines().map(str::trim) {
        if let Some(exec) = line.strip_prefix("ExecStart=") {
            command.program_arguments = split_words(exec);
            has_exec = true;
        } else if let Some(env) = line.strip_prefix("Environment=") {
            for assignment in split_words(env) {
                if let Some((key, value)) = assignment.split_once('=') {
                    command.environment.push((key.to_owned(), value.to_owned()));
                }
            }
        } else if let Some(dir) = line.strip_prefix("WorkingDirectory=") {
            command.working_directory = split_words(dir).into_iter().next();
        }
    }
    has_exec.then_some(command)
}

/// systemd expands `%x` specifiers in these directives; `%%` is a literal `%`.
fn escape_percent(value: &str) -> String {
    value.replace('%', "%%")
}

/// The fixed policy lines of each section, in the reference's order.
const UNIT_POLICY: &[&str] = &[
    "After=network-online.target",
    "Wants=network-online.target",
    "StartLimitBurst=10",
    "StartLimitIntervalSec=300",
];
const SERVICE_POLICY: &[&str] = &[
    "Restart=always",
    "RestartSec=5",
    // 78 (EX_CONFIG): a config error will not heal by restarting.
    "RestartPreventExitStatus=78",
    "TimeoutStopSec=330",
    "TimeoutStartSec=30",
    "SuccessExitStatus=0 143",
    "OOMPolicy=continue",
    "KillMode=mixed",
];

pub fn render(spec: &UnitSpec) -> Result<String, LineBreakInUnit> {
    let description = spec.description.trim();
    no_line_breaks(description, "Description")?;
    let mut exec = Vec::new();
    for arg in &spec.program {
        no_line_breaks(arg, "ExecStart arguments")?;
        exec.push(escape_word(&escape_percent(arg)));
    }
    let mut lines = vec!["[Unit]".to_string(), format!("Description={description}")];
    lines.extend(UNIT_POLICY.iter().map(|l| l.to_string()));
    lines.push(String::new());
    lines.push("[Service]".into());
    if let Some(user) = &spec.system_user {
        no_line_breaks(user, "User")?;
        lines.push(format!("User={user}"));
    }
    lines.push(format!("ExecStart={}", exec.join(" ")));
    lines.extend(SERVICE_POLICY.iter().map(|l| l.to_string()));
    for (key, value) in &spec.environment {
        if value.trim().is_empty() {
            continue;
        }
        no_line_breaks(key, "Environment names")?;
        no_line_breaks(value, "Environment values")?;
        let pair = escape_percent(&format!("{key}={}", value.trim()));
        lines.push(format!("Environment={}", escape_word(&pair)));
    }
    lines.push(String::new());
    lines.push("[Install]".into());
    lines.push(
        if spec.system_user.is_some() {
            "WantedBy=multi-user.target"
        } else {
            "WantedBy=default.target"
        }
        .into(),
    );
    lines.push(String::new());
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_command_reads_back_word_for_word() {
        let unit = "[Service]\nExecStart=/opt/open claw/openclaw gateway --port 1\nWorkingDirectory=/srv\nEnvironment=HOME=/root\nEnvironment=\"NAME=OpenClaw 100%% \\\"Gateway\\\"\"\n";
        let command = recorded_command(unit).unwrap();
        assert_eq!(
            command.program_arguments,
            ["/opt/open", "claw/openclaw", "gateway", "--port", "1"]
        );
        assert_eq!(command.working_directory.as_deref(), Some("/srv"));
        assert_eq!(
            command.environment,
            [
                ("HOME".to_owned(), "/root".to_owned()),
                ("NAME".to_owned(), "OpenClaw 100% \"Gateway\"".to_owned())
            ]
        );
        let quoted = escape_word("/opt/open claw/openclaw");
        assert_eq!(
            split_words(&format!("{quoted} gateway")),
            ["/opt/open claw/openclaw", "gateway"]
        );
        assert_eq!(recorded_command("[Service]\n"), None);
    }

    #[test]
    fn plain_words_stay_bare_and_others_are_quoted() {
        assert_eq!(escape_word("/usr/bin/openclaw"), "/usr/bin/openclaw");
        assert_eq!(
            escape_word("/opt/my dir/openclaw"),
            "\"/opt/my dir/openclaw\""
        );
        assert_eq!(escape_word("a\"b"), "\"a\\\"b\"");
        assert_eq!(escape_word("a\\b"), "\"a\\\\b\"");
        assert_eq!(
            escape_word("tab\there"),
            "\"tab\\there\"".replace("\\t", "\t")
        );
    }

    #[test]
    fn percent_is_doubled_and_line_breaks_are_refused() {
        let spec = UnitSpec {
            description: "OpenClaw Gateway".into(),
            program: vec!["/bin/x%y".into()],
            environment: vec![
                ("A".into(), "50%".into()),
                ("EMPTY".into(), "  ".into()),
                ("B".into(), "two words".into()),
            ],
            system_user: None,
        };
        let unit = render(&spec).unwrap();
        assert!(unit.contains("ExecStart=/bin/x%%y\n"));
        assert!(unit.contains("Environment=A=50%%\n"));
        assert!(unit.contains("Environment=\"B=two words\"\n"));
        assert!(!unit.contains("EMPTY"));
        let bad = UnitSpec {
            environment: vec![("T".into(), "x\nExecStartPre=/bin/evil".into())],
            ..spec
        };
        assert_eq!(
            render(&bad),
            Err(LineBreakInUnit("Environment values".into()))
        );
    }
}
