//! What the core decides about the Control UI (the browser app the runtime
//! serves from disk): its settings as the runtime found them, the answers of
//! its authenticated JSON routes, and which app builds may connect.

use serde_json::json;

use super::agents::keys::DEFAULT_AGENT;
use super::config::AuthConfig;
use super::Gateway;
use crate::server::secrets_equal;

/// The client id the Control UI connects with.
pub const CONTROL_UI_CLIENT_ID: &str = "openclaw-control-ui";

/// The Control UI as served by this gateway (`gateway.controlUi`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControlUiInfo {
    /// `gateway.controlUi.basePath`, normalised: `""` or `/segment[/…]`.
    pub base_path: String,
    /// The build id of the app served from an installed `openclaw`
    /// package (found, not configured). A UI page of another build is an
    /// old page left open across an upgrade: it must reload before it may
    /// call anything. `None`: no check (no UI, or a configured root whose
    /// build this gateway cannot vouch for).
    pub build_id: Option<String>,
    /// `gateway.controlUi.root` is set: the app is the user's own build.
    pub configured_root: bool,
    /// `data-openclaw-terminal-enabled`: this gateway has no terminal.
    pub terminal_enabled: bool,
}

impl ControlUiInfo {
    /// `hello-ok.server.controlUiBuildSource`: the UI compares its own build
    /// id with `server.buildId` only for an app the gateway ships itself.
    pub fn build_source(&self) -> &'static str {
        if self.configured_root {
            "configured"
        } else {
            "bundled"
        }
    }
}

/// An authenticated Control UI route the runtime hands to the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlUiApi {
    /// `GET <base>/control-ui-config.json`: the settings the app reads at load.
    Config,
    /// `GET <base>/avatar/<agentId>[?meta=1]`.
    Avatar { agent_id: String, meta: bool },
}

/// A complete HTTP answer of a Control UI route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlUiAnswer {
    pub status: u16,
    pub content_type: &'static str,
    /// `Cache-Control`, when the reference sends one.
    pub cache_control: Option<&'static str>,
    pub body: String,
}

const JSON: &str = "application/json; charset=utf-8";

impl ControlUiAnswer {
    fn json(status: u16, cache_control: Option<&'static str>, body: String) -> Self {
        ControlUiAnswer {
            status,
            content_type: JSON,
            cache_control,
            body,
        }
    }

    /// The plain-text 404 of every Control UI path.
    pub fn not_found() -> Self {
        ControlUiAnswer {
            status: 404,
            content_type: "text/plain; charset=utf-8",
            cache_control: None,
            body: "Not Found".to_owned(),
        }
    }

    fn unauthorized() -> Self {
        let body = json!({"error": {"message": "Unauthorized", "type": "unauthorized"}});
        Self::json(401, None, body.to_string())
    }
}

/// Whether an avatar path segment can name an agent (anything else is 404
/// before authentication, as in the reference).
pub fn valid_agent_segment(agent_id: &str) -> bool {
    let bytes = agent_id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

/// The secret of a `Bearer` authorization header, when it has one.
fn bearer_secret(authorization: Option<&str>) -> Option<&str> {
    authorization
        .map(str::trim)
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret.trim())
        .filter(|s| !s.is_empty())
}

/// Whether `authorization` carries the gateway's shared secret as a bearer
/// token (always, when the gateway has none). Constant-time comparison.
pub(crate) fn bearer_authorized(auth: &AuthConfig, authorization: Option<&str>) -> bool {
    let expected = match auth {
        AuthConfig::None => return true,
        AuthConfig::Token(secret) | AuthConfig::Password(secret) => secret,
    };
    bearer_secret(authorization).is_some_and(|given| secrets_equal(given, expected))
}

impl Gateway {
    /// Answer an authenticated Control UI route. Pure: no state changes.
    pub fn control_ui_api(
        &self,
        api: &ControlUiApi,
        authorization: Option<&str>,
    ) -> ControlUiAnswer {
        if let ControlUiApi::Avatar { agent_id, .. } = api {
            if !valid_agent_segment(agent_id) {
                return ControlUiAnswer::not_found();
            }
        }
        // The shared secret, or (as the reference allows on these read
        // routes) the operator token of a paired device: after a reload the
        // app holds only the device token its hello-ok gave it.
        let device_token_ok = || {
            bearer_secret(authorization)
                .is_some_and(|token| self.pairing.operator_by_token(token).is_some())
        };
        if !bearer_authorized(&self.config.auth, authorization) && !device_token_ok() {
            return ControlUiAnswer::unauthorized();
        }
        match api {
            ControlUiApi::Config => {
                ControlUiAnswer::json(200, Some("no-cache"), self.control_ui_config().to_string())
            }
            // No agent of this gateway has an avatar: its metadata says so,
            // and the image itself does not exist.
            ControlUiApi::Avatar { meta: true, .. } => {
                let body = json!({
                    "avatarUrl": null, "avatarSource": null,
                    "avatarStatus": null, "avatarReason": null,
                });
                ControlUiAnswer::json(200, Some("no-cache"), body.to_string())
            }
            ControlUiApi::Avatar { meta: false, .. } => ControlUiAnswer::not_found(),
        }
    }

    /// `/control-ui-config.json`, the reference's fields for a gateway with
    /// the default assistant and nothing else configured.
    fn control_ui_config(&self) -> serde_json::Value {
        let ui = &self.config.control_ui;
        let mut config = json!({
            "basePath": ui.base_path,
            "assistantName": "Assistant",
            "assistantAvatar": "A",
            "assistantAvatarSource": null,
            "assistantAvatarStatus": null,
            "assistantAvatarReason": null,
            "assistantAgentId": DEFAULT_AGENT,
            "serverVersion": self.config.server_version,
            "embedSandbox": "scripts",
            "allowExternalEmbedUrls": false,
            "automaticallyFetchFavicons": true,
            "communityInvite": true,
            "terminalEnabled": ui.terminal_enabled,
            "cliAgentsEnabled": true,
            "pluginAssetsRequireAuth": !matches!(self.config.auth, AuthConfig::None),
            "pluginFrameGrants": [],
        });
        // Only for an app this gateway ships (not a configured root).
        if let (Some(build_id), false) = (&ui.build_id, ui.configured_root) {
            config["serverBuildId"] = json!(build_id);
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_segments_follow_the_reference_pattern() {
        assert!(valid_agent_segment("main"));
        assert!(valid_agent_segment("a_b-9"));
        assert!(!valid_agent_segment(""));
        assert!(!valid_agent_segment("-x"));
        assert!(!valid_agent_segment("a.b"));
        assert!(!valid_agent_segment(&"a".repeat(65)));
    }

    #[test]
    fn bearer_needs_the_exact_secret() {
        let auth = AuthConfig::Token("s3cret".into());
        assert!(bearer_authorized(&auth, Some("Bearer s3cret")));
        assert!(bearer_authorized(&auth, Some("bearer  s3cret ")));
        assert!(!bearer_authorized(&auth, Some("Bearer s3cre")));
        assert!(!bearer_authorized(&auth, Some("Basic s3cret")));
        assert!(!bearer_authorized(&auth, None));
        assert!(bearer_authorized(&AuthConfig::None, None));
    }
}
