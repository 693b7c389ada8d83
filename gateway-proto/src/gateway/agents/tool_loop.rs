//! The tool loop: a model turn that asks for tools runs them, one call
//! after another, and hands the results to the next model turn.

use super::tools::{BootstrapFile, ToolOutcome};
use crate::gateway::methods::HubView;

/// The workspace of a starting run is ready.
pub(crate) fn on_workspace(
    _hub: &mut HubView<'_>,
    _token: u64,
    _result: Result<Vec<BootstrapFile>, String>,
) {
}

/// A tool action ended.
pub(crate) fn on_tool_outcome(_hub: &mut HubView<'_>, _token: u64, _outcome: ToolOutcome) {}
