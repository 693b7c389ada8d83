//! The CLI session of a session: which CLI session a turn run by a CLI
//! backend continues, and keeping the one the CLI reports.
//!
//! The session row keeps one CLI session id per backend (`cliSessionIds`,
//! as the reference's session entry does), so it survives a restart with
//! the rest of the row.

use super::cli_backend::choose_session;
use super::hub::persist;
use super::journal::TranscriptChange;
use super::model::ModelRequest;
use crate::gateway::methods::HubView;

/// The longest CLI session id kept; a longer one is not a session id.
const MAX_CLI_SESSION_ID: usize = 256;

/// Fill in the CLI session of `request` (if it runs a CLI backend) from
/// what `session_key` stored.
pub(crate) fn attach(hub: &mut HubView<'_>, session_key: &str, request: &mut ModelRequest) {
    let Some(cli) = request.cli.as_mut() else {
        return;
    };
    let stored = hub
        .agents
        .sessions
        .get(session_key)
        .and_then(|s| s.cli_session_ids.get(&cli.id))
        .cloned();
    let rng = &mut *hub.rng;
    choose_session(cli, stored.as_deref(), || rng.uuid_v4());
}

/// The CLI reported its session id during `run_id`'s turn: keep it.
pub(crate) fn store(hub: &mut HubView<'_>, run_id: &str, cli_session: &str) {
    let cli_session = cli_session.trim();
    if cli_session.is_empty() || cli_session.len() > MAX_CLI_SESSION_ID {
        return;
    }
    let Some(run) = hub.agents.runs.get(run_id) else {
        return;
    };
    let session_key = run.session_key.clone();
    let cli = run.model.as_ref().and_then(|m| m.cli.as_ref());
    let Some(backend) = cli.map(|c| c.id.clone()) else {
        return;
    };
    let Some(session) = hub.agents.sessions.get_mut(&session_key) else {
        return;
    };
    if session.cli_session_ids.get(&backend).map(String::as_str) == Some(cli_session) {
        return;
    }
    session
        .cli_session_ids
        .insert(backend, cli_session.to_owned());
    persist(hub, &session_key, TranscriptChange::Keep);
}
