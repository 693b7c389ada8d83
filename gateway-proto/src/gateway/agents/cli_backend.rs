//! CLI backends: a local command (`claude -p`, or any program) answering
//! as the model. The core only decides *what* to run; the runtime spawns it.
//!
//! Where a backend comes from:
//!
//! - **Built in:** `claude-cli`, with the argv the reference's bundled
//!   Anthropic plugin registers (see [`builtin`]).
//! - **v3 config:** `agents.defaults.cliBackends.<id> {command, args,
//!   resumeArgs, output, resumeOutput, input, maxPromptArgChars, modelArg,
//!   modelAliases, sessionArg, sessionArgs, sessionMode, sessionIdFields,
//!   systemPromptArg, systemPromptFileArg, systemPromptWhen}`. An entry with
//!   a built-in id overrides the built-in field by field; any other id needs
//!   a `command`. The v4 reference dropped the key (its backends come from
//!   plugins); this gateway still reads it so any command can be configured.
//!
//! How a model picks one ([`CliBackends::backend_for`]):
//!
//! - the ref's provider is a backend id (`claude-cli/claude-sonnet-5`), or
//! - `agents.defaults.models["<provider>/<model>"].agentRuntime.id` names a
//!   backend (v4: `anthropic/claude-opus-5` run by `claude-cli`).

use std::collections::BTreeMap;

use serde_json::Value;

/// The id of the built-in Claude Code backend.
pub const CLAUDE_CLI: &str = "claude-cli";

/// How the command's stdout is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CliOutput {
    /// Plain text: every line is reply text.
    Text,
    /// One JSON document (text, session id and usage read from it).
    Json,
    /// One JSON object per line (stream events, a final result).
    Jsonl,
}

impl CliOutput {
    fn parse(name: &str) -> Option<CliOutput> {
        match name {
            "text" => Some(CliOutput::Text),
            "json" => Some(CliOutput::Json),
            "jsonl" => Some(CliOutput::Jsonl),
            _ => None,
        }
    }
}

/// How the prompt reaches the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CliInput {
    /// As the last argument.
    Arg,
    /// Written to stdin, which is then closed.
    Stdin,
}

/// When a CLI session id is passed (`sessionMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CliSessionMode {
    /// Always: a new id when the session has none stored yet.
    Always,
    /// Only an id stored by an earlier turn.
    Existing,
    /// Never.
    None,
}

/// When the system prompt is passed (`systemPromptWhen`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemPromptWhen {
    /// On a fresh CLI session only (the CLI keeps it after that).
    First,
    Always,
    Never,
}

/// One backend, and (filled by the core per turn) the CLI session to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliBackend {
    /// The backend id (the model ref's provider, the key of the session's
    /// stored CLI session ids).
    pub id: String,
    pub command: String,
    pub args: Vec<String>,
    /// Replaces `args` when resuming a stored session (`{sessionId}`
    /// placeholders are filled).
    pub resume_args: Option<Vec<String>>,
    pub output: CliOutput,
    /// The output mode when resuming, if it differs.
    pub resume_output: Option<CliOutput>,
    pub input: CliInput,
    /// A prompt longer than this goes to stdin even in `arg` mode.
    pub max_prompt_arg_chars: Option<usize>,
    /// The flag before the model id (`--model`); none: the model is not passed.
    pub model_arg: Option<String>,
    /// Model id → the id the CLI knows (`claude-opus-4-6` → `opus`).
    pub model_aliases: BTreeMap<String, String>,
    /// The flag before the session id (`--session-id`).
    pub session_arg: Option<String>,
    /// Arguments carrying the session id as `{sessionId}`; win over
    /// `session_arg`.
    pub session_args: Option<Vec<String>>,
    pub session_mode: CliSessionMode,
    /// Fields of the JSON output that hold the CLI's session id.
    pub session_id_fields: Vec<String>,
    /// The flag before the system prompt text.
    pub system_prompt_arg: Option<String>,
    /// The flag before a file holding the system prompt (wins over
    /// `system_prompt_arg`).
    pub system_prompt_file_arg: Option<String>,
    pub system_prompt_when: SystemPromptWhen,
    /// This turn's CLI session id, if one is passed.
    pub session_id: Option<String>,
    /// Whether `session_id` was stored by an earlier turn (resume) rather
    /// than made up for this one.
    pub resuming: bool,
}

/// The session id fields the reference reads when a backend names none.
pub const DEFAULT_SESSION_ID_FIELDS: [&str; 4] = [
    "session_id",
    "sessionId",
    "conversation_id",
    "conversationId",
];

/// The argv of the bundled `claude-cli` backend (the reference's defaults).
const CLAUDE_ARGS: [&str; 11] = [
    "-p",
    "--output-format",
    "stream-json",
    "--include-partial-messages",
    "--verbose",
    "--setting-sources",
    "user",
    "--allowedTools",
    "mcp__openclaw__*",
    "--disallowedTools",
    "ScheduleWakeup,CronCreate,Bash(run_in_background:true),Monitor",
];

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// A built-in backend by id: `claude-cli` (`claude -p`, stream-json on
/// stdout, prompt on stdin, `--session-id` for a new session and
/// `--resume` for a stored one). The reference bundles no `codex-cli`.
pub fn builtin(id: &str) -> Option<CliBackend> {
    if id != CLAUDE_CLI {
        return None;
    }
    let args = strings(&CLAUDE_ARGS);
    let mut resume_args = args.clone();
    resume_args.extend(strings(&["--resume", "{sessionId}"]));
    Some(CliBackend {
        id: id.to_owned(),
        command: "claude".into(),
        args,
        resume_args: Some(resume_args),
        output: CliOutput::Jsonl,
        resume_output: None,
        input: CliInput::Stdin,
        max_prompt_arg_chars: None,
        model_arg: Some("--model".into()),
        model_aliases: BTreeMap::new(),
        session_arg: None,
        session_args: Some(strings(&["--session-id", "{sessionId}"])),
        session_mode: CliSessionMode::Always,
        session_id_fields: strings(&DEFAULT_SESSION_ID_FIELDS),
        system_prompt_arg: None,
        system_prompt_file_arg: Some("--append-system-prompt-file".into()),
        system_prompt_when: SystemPromptWhen::Always,
        session_id: None,
        resuming: false,
    })
}

/// The backends a config offers and which models run on one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CliBackends {
    /// Configured backends (v3 key), built-ins already merged in.
    configured: BTreeMap<String, CliBackend>,
    /// `provider/model` → backend id, from `agentRuntime.id`.
    runtimes: BTreeMap<String, String>,
}

impl CliBackends {
    /// Read `agents.defaults.cliBackends` and the per-model `agentRuntime`
    /// settings; what cannot be used is pushed onto `warnings`.
    pub fn from_config(config: &Value, warnings: &mut Vec<String>) -> CliBackends {
        let mut backends = CliBackends::default();
        let defaults = config.pointer("/agents/defaults");
        let section = defaults.and_then(|d| d.get("cliBackends"));
        if let Some(map) = section.and_then(Value::as_object) {
            for (id, raw) in map {
                match backend_from(id, raw) {
                    Ok(backend) => {
                        backends.configured.insert(id.clone(), backend);
                    }
                    Err(warning) => warnings.push(warning),
                }
            }
        }
        let models = defaults.and_then(|d| d.get("models"));
        if let Some(map) = models.and_then(Value::as_object) {
            for (model_ref, entry) in map {
                let runtime = entry
                    .pointer("/agentRuntime/id")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|id| !id.is_empty());
                if let Some(id) = runtime {
                    backends.runtimes.insert(model_ref.clone(), id.to_owned());
                }
            }
        }
        backends
    }

    /// The backend with this id: configured, else built in.
    pub fn get(&self, id: &str) -> Option<CliBackend> {
        self.configured.get(id).cloned().or_else(|| builtin(id))
    }

    /// The backend that runs `provider/model`, if any: the model's
    /// `agentRuntime.id` when it names a backend (other runtime ids, such
    /// as the embedded one, leave the model on its provider), else the
    /// provider itself when it is a backend id.
    pub fn backend_for(&self, provider: &str, model: &str) -> Option<CliBackend> {
        let runtime = self.runtimes.get(&format!("{provider}/{model}"));
        runtime
            .and_then(|id| self.get(id))
            .or_else(|| self.get(provider))
    }
}

fn string_list(raw: &Value, field: &str, where_: &str) -> Result<Option<Vec<String>>, String> {
    match raw.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{where_}.{field}: must be a list of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("{where_}.{field}: must be a list of strings")),
    }
}

fn text(raw: &Value, field: &str, where_: &str) -> Result<Option<String>, String> {
    match raw.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(format!("{where_}.{field}: must be a string")),
    }
}

/// A word of a closed set (`output`, `input`, …).
fn word<T>(
    raw: &Value,
    field: &str,
    where_: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, String> {
    match text(raw, field, where_)? {
        None => Ok(None),
        Some(name) => parse(&name)
            .map(Some)
            .ok_or_else(|| format!("{where_}.{field}: \"{name}\" is not supported")),
    }
}

/// One `cliBackends.<id>` entry over the built-in of that id (if any).
fn backend_from(id: &str, raw: &Value) -> Result<CliBackend, String> {
    let where_ = format!("agents.defaults.cliBackends.{id}");
    if !raw.is_object() {
        return Err(format!("{where_}: must be an object"));
    }
    let base = builtin(id);
    let command = text(raw, "command", &where_)?
        .or_else(|| base.as_ref().map(|b| b.command.clone()))
        .ok_or_else(|| format!("{where_}.command: required for a custom CLI backend"))?;
    let mut backend = base.unwrap_or_else(|| CliBackend {
        id: id.to_owned(),
        command: String::new(),
        args: Vec::new(),
        resume_args: None,
        output: CliOutput::Text,
        resume_output: None,
        input: CliInput::Arg,
        max_prompt_arg_chars: None,
        model_arg: None,
        model_aliases: BTreeMap::new(),
        session_arg: None,
        session_args: None,
        session_mode: CliSessionMode::Existing,
        session_id_fields: strings(&DEFAULT_SESSION_ID_FIELDS),
        system_prompt_arg: None,
        system_prompt_file_arg: None,
        system_prompt_when: SystemPromptWhen::First,
        session_id: None,
        resuming: false,
    });
    backend.command = command;
    if let Some(args) = string_list(raw, "args", &where_)? {
        backend.args = args;
    }
    if let Some(args) = string_list(raw, "resumeArgs", &where_)? {
        backend.resume_args = Some(args);
    }
    if let Some(output) = word(raw, "output", &where_, CliOutput::parse)? {
        backend.output = output;
    }
    if let Some(output) = word(raw, "resumeOutput", &where_, CliOutput::parse)? {
        backend.resume_output = Some(output);
    }
    let input = word(raw, "input", &where_, |name| match name {
        "arg" => Some(CliInput::Arg),
        "stdin" => Some(CliInput::Stdin),
        _ => None,
    })?;
    if let Some(input) = input {
        backend.input = input;
    }
    if let Some(n) = raw.get("maxPromptArgChars").and_then(Value::as_u64) {
        backend.max_prompt_arg_chars = usize::try_from(n).ok().filter(|n| *n > 0);
    }
    if let Some(flag) = text(raw, "modelArg", &where_)? {
        backend.model_arg = Some(flag);
    }
    if let Some(map) = raw.get("modelAliases").and_then(Value::as_object) {
        for (from, to) in map {
            if let Some(to) = to.as_str() {
                backend.model_aliases.insert(from.clone(), to.to_owned());
            }
        }
    }
    if let Some(flag) = text(raw, "sessionArg", &where_)? {
        backend.session_arg = Some(flag);
    }
    if let Some(args) = string_list(raw, "sessionArgs", &where_)? {
        backend.session_args = Some(args);
    }
    let mode = word(raw, "sessionMode", &where_, |name| match name {
        "always" => Some(CliSessionMode::Always),
        "existing" => Some(CliSessionMode::Existing),
        "none" => Some(CliSessionMode::None),
        _ => None,
    })?;
    if let Some(mode) = mode {
        backend.session_mode = mode;
    }
    if let Some(fields) = string_list(raw, "sessionIdFields", &where_)? {
        backend.session_id_fields = fields;
    }
    if let Some(flag) = text(raw, "systemPromptArg", &where_)? {
        backend.system_prompt_arg = Some(flag);
    }
    if let Some(flag) = text(raw, "systemPromptFileArg", &where_)? {
        backend.system_prompt_file_arg = Some(flag);
    }
    let when = word(raw, "systemPromptWhen", &where_, |name| match name {
        "first" => Some(SystemPromptWhen::First),
        "always" => Some(SystemPromptWhen::Always),
        "never" => Some(SystemPromptWhen::Never),
        _ => None,
    })?;
    if let Some(when) = when {
        backend.system_prompt_when = when;
    }
    Ok(backend)
}

/// Choose this turn's CLI session: the id a previous turn stored
/// (resuming), else a new one from `new_id` when the mode is `always`.
pub fn choose_session(
    backend: &mut CliBackend,
    stored: Option<&str>,
    new_id: impl FnOnce() -> String,
) {
    let stored = stored.map(str::trim).filter(|id| !id.is_empty());
    let (session_id, resuming) = match (backend.session_mode, stored) {
        (CliSessionMode::None, _) => (None, false),
        (_, Some(id)) => (Some(id.to_owned()), true),
        (CliSessionMode::Always, None) => (Some(new_id()), false),
        (CliSessionMode::Existing, None) => (None, false),
    };
    backend.session_id = session_id;
    backend.resuming = resuming;
}
