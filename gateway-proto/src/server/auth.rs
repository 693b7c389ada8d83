//! Shared-secret authentication: which secret a client presented, and a
//! comparison that leaks neither the secret nor its length.

use std::time::Duration;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::gateway::pairing::TokenRefusal;
use crate::gateway::AuthConfig;
use crate::wire::messages::{
    auth_failure_details, auth_failure_message, AuthClientKind, AuthFailure as AuthFailureKind,
};
use crate::wire::{ConnectParams, ErrorShape, ProtocolVersion};

/// How a connection authenticated (`hello-ok.auth.method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    None,
    Token,
    Password,
    /// A paired device's own token (instead of the shared secret).
    DeviceToken,
    /// A one-time bootstrap token from `openclaw dashboard`, spent to pair
    /// the signed device that presents it.
    BootstrapToken,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::Token => "token",
            AuthMethod::Password => "password",
            AuthMethod::DeviceToken => "device-token",
            AuthMethod::BootstrapToken => "bootstrap-token",
        }
    }
}

/// Checks a paired device's token (the hub's pairing book). The handshake
/// asks it when a signed device presents a token that is not the shared
/// secret.
pub trait DeviceTokens {
    /// Whether `token` is the live token of `device_id` for `role`,
    /// covering `scopes`.
    fn check(
        &self,
        device_id: &str,
        role: &str,
        token: &str,
        scopes: &[String],
    ) -> Result<(), TokenRefusal>;
}

/// For a gateway without pairing: no device token is valid.
pub struct NoDeviceTokens;

impl DeviceTokens for NoDeviceTokens {
    fn check(&self, _: &str, _: &str, _: &str, _: &[String]) -> Result<(), TokenRefusal> {
        Err(TokenRefusal::DeviceNotPaired)
    }
}

/// The token a signed device presents as its own: `auth.deviceToken`, else
/// `auth.token` (which a paired client may send its device token in).
/// The flag says whether it was explicit.
pub(crate) fn device_token_candidate(params: &ConnectParams) -> Option<(&str, bool)> {
    params.device.as_ref()?;
    if let Some(token) = presented(params.auth.device_token.as_deref()) {
        return Some((token, true));
    }
    presented(params.auth.token.as_deref()).map(|t| (t, false))
}

/// The refusal of a device token, in the reference's words: a scope
/// mismatch says so; an explicit device token says "device token
/// mismatch"; a shared-token fallback keeps the shared secret's failure.
pub(crate) fn device_token_failure(
    refusal: TokenRefusal,
    explicit: bool,
    shared: AuthFailure,
) -> AuthFailure {
    let (code, reason, next, message) = match refusal {
        TokenRefusal::ScopeMismatch => (
            "AUTH_SCOPE_MISMATCH",
            "scope_mismatch",
            "review_auth_configuration",
            "unauthorized: device token scope mismatch (re-pair or approve scope upgrade)",
        ),
        _ if explicit => (
            "AUTH_DEVICE_TOKEN_MISMATCH",
            "device_token_mismatch",
            "update_auth_credentials",
            "unauthorized: device token mismatch (rotate/reissue device token)",
        ),
        _ => {
            return AuthFailure {
                delayed: true,
                ..shared
            }
        }
    };
    AuthFailure {
        error: ErrorShape::invalid_request(message).with_details(serde_json::json!({
            "code": code,
            "authReason": reason,
            "canRetryWithDeviceToken": false,
            "recommendedNextStep": next,
        })),
        delayed: true,
    }
}

/// A wrong shared token from a signed device that sent no device token:
/// the reference tells it to retry with the device token it may hold.
pub(crate) fn offer_device_token_retry(failure: &mut AuthFailure) {
    if failure.error.detail_code() == Some(AuthFailureKind::TokenMismatch.code()) {
        if let Some(details) = failure.error.details.as_mut() {
            details["canRetryWithDeviceToken"] = true.into();
            details["recommendedNextStep"] = "retry_with_device_token".into();
        }
    }
}

/// Why a shared-secret check failed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AuthFailure {
    pub error: ErrorShape,
    /// A wrong secret is answered only after the configured delay, slowing guessing.
    pub delayed: bool,
}

/// Compare two secrets in constant time, whatever their lengths.
///
/// Both sides are hashed first and the fixed-size digests compared with
/// `ct_eq`: comparing the raw bytes would return early on a length
/// difference and so tell a guesser the secret's length.
pub fn secrets_equal(given: &str, expected: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    bool::from(given.as_slice().ct_eq(expected.as_slice()))
}

/// A presented secret as the reference reads it: surrounding whitespace is
/// trimmed, and an empty or whitespace-only value counts as absent.
pub(crate) fn presented(secret: Option<&str>) -> Option<&str> {
    secret.map(str::trim).filter(|s| !s.is_empty())
}

fn failure(kind: AuthFailureKind, client: AuthClientKind, delayed: bool) -> AuthFailure {
    AuthFailure {
        error: ErrorShape::invalid_request(auth_failure_message(kind, client))
            .with_details(auth_failure_details(kind, false)),
        delayed,
    }
}

/// Which wording of the hints a client gets: protocol 3 gateways gave every
/// CLI the "remote" hint; protocol 4 points a local CLI at its own config.
pub(crate) fn auth_client_kind(
    params: &ConnectParams,
    protocol: ProtocolVersion,
    is_local: bool,
) -> AuthClientKind {
    let client = &params.client;
    let is_cli = client.mode == "cli" || client.id == "cli";
    let is_ui = matches!(
        client.id.as_str(),
        "openclaw-control-ui" | "webchat-ui" | "webchat"
    ) || matches!(client.mode.as_str(), "ui" | "webchat");
    match (is_cli, is_ui) {
        (true, _) if protocol == ProtocolVersion::V4 && is_local => AuthClientKind::CliLocal,
        (true, _) => AuthClientKind::CliRemote,
        (false, true) => AuthClientKind::Ui,
        (false, false) => AuthClientKind::Other,
    }
}

/// Check the secret a client presented against the gateway's auth config.
///
/// As with the reference, the field of the configured mode is read first and
/// the other field is the fallback: a token sent as `auth.password` to a
/// token gateway (or the reverse) is checked like one in the right field.
/// Values are [`presented`]-normalized.
pub(crate) fn check_shared_secret(
    config: &AuthConfig,
    token: Option<&str>,
    password: Option<&str>,
    client: AuthClientKind,
) -> Result<AuthMethod, AuthFailure> {
    let (token, password) = (presented(token), presented(password));
    match config {
        AuthConfig::None => Ok(AuthMethod::None),
        AuthConfig::Token(expected) => match token.or(password) {
            None => Err(failure(AuthFailureKind::TokenMissing, client, false)),
            Some(given) if secrets_equal(given, expected) => Ok(AuthMethod::Token),
            Some(_) => Err(failure(AuthFailureKind::TokenMismatch, client, true)),
        },
        AuthConfig::Password(expected) => match password.or(token) {
            None => Err(failure(AuthFailureKind::PasswordMissing, client, false)),
            Some(given) if secrets_equal(given, expected) => Ok(AuthMethod::Password),
            Some(_) => Err(failure(AuthFailureKind::PasswordMismatch, client, true)),
        },
    }
}

/// The error for a locked-out address.
pub(crate) fn rate_limited(retry_after: Duration) -> ErrorShape {
    let retry_ms = u64::try_from(retry_after.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let mut details = auth_failure_details(AuthFailureKind::RateLimited, false);
    details["retryAfterMs"] = retry_ms.into();
    ErrorShape::invalid_request(auth_failure_message(
        AuthFailureKind::RateLimited,
        AuthClientKind::Other,
    ))
    .with_details(details)
    .with_retry_after(retry_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison_is_correct() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
        assert!(!secrets_equal("", "a"));
    }

    #[test]
    fn token_outcomes() {
        let config = AuthConfig::Token("t".into());
        assert_eq!(
            check_shared_secret(&config, Some("t"), None, AuthClientKind::CliLocal),
            Ok(AuthMethod::Token)
        );
        let wrong =
            check_shared_secret(&config, Some("x"), None, AuthClientKind::CliLocal).unwrap_err();
        assert!(wrong.delayed);
        assert_eq!(wrong.error.detail_code(), Some("AUTH_TOKEN_MISMATCH"));
        let missing =
            check_shared_secret(&config, Some("  "), None, AuthClientKind::CliLocal).unwrap_err();
        assert_eq!(missing.error.detail_code(), Some("AUTH_TOKEN_MISSING"));
    }

    #[test]
    fn a_secret_in_the_other_field_counts_and_blank_is_absent() {
        let token = AuthConfig::Token("t".into());
        assert_eq!(
            check_shared_secret(&token, None, Some("t"), AuthClientKind::Other),
            Ok(AuthMethod::Token)
        );
        assert_eq!(
            check_shared_secret(&token, Some(""), Some(" t "), AuthClientKind::Other),
            Ok(AuthMethod::Token)
        );
        let password = AuthConfig::Password("p".into());
        assert_eq!(
            check_shared_secret(&password, Some("p"), None, AuthClientKind::Other),
            Ok(AuthMethod::Password)
        );
        let missing =
            check_shared_secret(&password, Some(" "), Some(""), AuthClientKind::Other).unwrap_err();
        assert_eq!(missing.error.detail_code(), Some("AUTH_PASSWORD_MISSING"));
    }
}
