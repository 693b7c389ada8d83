//! Runs of OpenAI-compatible HTTP completions ([`Origin::Http`]): their
//! deltas and ending, reported to the runtime's waiting client.

use super::runs::{Ending, Origin, Run};
use crate::gateway::methods::HubView;
use crate::gateway::openai_http::HttpRunUpdate;
use crate::gateway::Effect;

/// New reply text of `run_id`.
pub(crate) fn delta(hub: &mut HubView<'_>, run_id: &str, text: &str) {
    if let Some(Origin::Http { stream }) = hub.agents.runs.get(run_id).map(|r| &r.origin) {
        let update = HttpRunUpdate::Delta(text.to_owned());
        let stream = *stream;
        hub.out.effect(Effect::RunStream { stream, update });
    }
}

/// The run ended: its one ending, and the stream is done.
pub(crate) fn ended(hub: &mut HubView<'_>, run: &Run, ending: &Ending) {
    let Origin::Http { stream } = run.origin else {
        return;
    };
    hub.agents.http_streams.remove(&stream);
    let update = match ending {
        Ending::Completed { stop_reason } => HttpRunUpdate::Final {
            text: run.text.clone(),
            usage: run.usage,
            stop_reason: stop_reason.clone(),
        },
        Ending::Failed { message } => HttpRunUpdate::Failed {
            message: message.clone(),
        },
        Ending::Aborted { stop_reason } => HttpRunUpdate::Failed {
            message: format!("run aborted ({stop_reason})"),
        },
        Ending::TimedOut => HttpRunUpdate::Failed {
            message: "run timed out".into(),
        },
    };
    hub.out.effect(Effect::RunStream { stream, update });
}
