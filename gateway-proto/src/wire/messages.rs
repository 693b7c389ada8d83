//! Wire-visible failure texts of the reference gateway's handshake, so the
//! server and client agree on them byte for byte.
//!
//! # Shared-secret auth (`res` INVALID_REQUEST, then close 1008 with the message)
//!
//! The message names a hint chosen by the client kind:
//!
//! | client                                   | token hint                                         | password hint                                       |
//! |------------------------------------------|----------------------------------------------------|-----------------------------------------------------|
//! | CLI (`client.mode == "cli"`), loopback   | [`HINT_TOKEN_CLI_LOCAL`]                           | [`HINT_PASSWORD_CLI_LOCAL`]                         |
//! | CLI, remote (and every CLI in v3)        | [`HINT_TOKEN_CLI_REMOTE`]                          | [`HINT_PASSWORD_CLI_REMOTE`]                        |
//! | Control UI / webchat                     | [`HINT_TOKEN_UI`] ([`HINT_TOKEN_UI_MISSING`] when missing, v4) | [`HINT_PASSWORD_UI`]                    |
//! | anything else                            | [`HINT_TOKEN_OTHER`]                               | [`HINT_PASSWORD_OTHER`]                             |
//!
//! and the message is `"unauthorized: gateway token missing (<hint>)"`,
//! `"unauthorized: gateway token mismatch (<hint>)"`,
//! `"unauthorized: gateway password missing (<hint>)"` or
//! `"unauthorized: gateway password mismatch (<hint>)"` ([`auth_failure_message`]).
//! Captured: v4 local CLI mismatch is
//! "unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)";
//! v3 CLI mismatch is
//! "unauthorized: gateway token mismatch (set gateway.remote.token to match gateway.auth.token)".
//!
//! `details` is `{code, authReason, canRetryWithDeviceToken, recommendedNextStep}` ([`auth_failure_details`]):
//!
//! | code                     | authReason          | recommendedNextStep          |
//! |--------------------------|---------------------|------------------------------|
//! | `AUTH_TOKEN_MISSING`     | `token_missing`     | `update_auth_configuration`  |
//! | `AUTH_TOKEN_MISMATCH`    | `token_mismatch`    | `update_auth_credentials`    |
//! | `AUTH_PASSWORD_MISSING`  | `password_missing`  | `update_auth_configuration`  |
//! | `AUTH_PASSWORD_MISMATCH` | `password_mismatch` | `update_auth_credentials`    |
//! | `AUTH_RATE_LIMITED`      | `rate_limited`      | `wait_then_retry`            |
//!
//! `canRetryWithDeviceToken` is true only for a token mismatch where the
//! client presented a device identity and `auth.token` but no
//! `auth.deviceToken`; then `recommendedNextStep` is `retry_with_device_token`.
//!
//! # Rate limiting
//!
//! Failed shared-secret attempts are counted per client IP (and per
//! credential class: shared secret vs device token) in a sliding window:
//! [`RATE_LIMIT_MAX_ATTEMPTS`] failures within [`RATE_LIMIT_WINDOW_MS`] lock
//! the IP out for [`RATE_LIMIT_LOCKOUT_MS`]; while locked, further failures are
//! not counted and every attempt gets [`AUTH_RATE_LIMITED_MESSAGE`] with
//! `retryAfterMs = lockedUntil - now` (error `retryable: true`). A lockout that
//! has expired clears the counter. Loopback clients (127.0.0.0/8, ::1,
//! IPv4-mapped loopback) are exempt by default. A success resets the IP.
//!
//! # Device auth (`res` INVALID_REQUEST, close 1008; details `{code, reason}`)
//!
//! See the `DEVICE_*` constants; the `reason` strings are the reference's
//! internal ones and appear in `details.reason`.
//!
//! # Pairing (`res` NOT_PAIRED, close 1008)
//!
//! [`PAIRING_REQUIRED_MESSAGE`], details
//! `{code:"PAIRING_REQUIRED", reason: "not-paired"|"role-upgrade"|"scope-upgrade", requestId}`.

pub const AUTH_TOKEN_MISSING: &str = "AUTH_TOKEN_MISSING";
pub const AUTH_TOKEN_MISMATCH: &str = "AUTH_TOKEN_MISMATCH";
pub const AUTH_PASSWORD_MISSING: &str = "AUTH_PASSWORD_MISSING";
pub const AUTH_PASSWORD_MISMATCH: &str = "AUTH_PASSWORD_MISMATCH";
pub const AUTH_RATE_LIMITED: &str = "AUTH_RATE_LIMITED";

pub const HINT_TOKEN_CLI_LOCAL: &str = "use this gateway's gateway.auth.token or pair the device";
pub const HINT_TOKEN_CLI_REMOTE: &str = "set gateway.remote.token to match gateway.auth.token";
pub const HINT_TOKEN_UI: &str = "open the dashboard URL and paste the token in Control UI settings";
pub const HINT_TOKEN_UI_MISSING: &str =
    "paste in Control UI settings or openclaw doctor --generate-gateway-token; restart";
pub const HINT_TOKEN_OTHER: &str = "provide gateway auth token";
pub const HINT_PASSWORD_CLI_LOCAL: &str = "use this gateway's gateway.auth.password";
pub const HINT_PASSWORD_CLI_REMOTE: &str =
    "set gateway.remote.password to match gateway.auth.password";
pub const HINT_PASSWORD_UI: &str = "enter the password in Control UI settings";
pub const HINT_PASSWORD_OTHER: &str = "provide gateway auth password";

/// The captured v4 answer to a wrong token from a local CLI.
pub const AUTH_TOKEN_MISMATCH_CLI_LOCAL_MESSAGE: &str =
    "unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)";
/// The captured v3 answer to a wrong token from a CLI.
pub const AUTH_TOKEN_MISMATCH_CLI_REMOTE_MESSAGE: &str =
    "unauthorized: gateway token mismatch (set gateway.remote.token to match gateway.auth.token)";
pub const AUTH_RATE_LIMITED_MESSAGE: &str =
    "unauthorized: too many failed authentication attempts (retry later)";
/// No shared secret on a device-less connect (NOT_PAIRED, `DEVICE_IDENTITY_REQUIRED`).
pub const DEVICE_IDENTITY_REQUIRED_MESSAGE: &str = "device identity required";
pub const DEVICE_IDENTITY_REQUIRED: &str = "DEVICE_IDENTITY_REQUIRED";

pub const RATE_LIMIT_MAX_ATTEMPTS: u32 = 10;
pub const RATE_LIMIT_WINDOW_MS: u64 = 60_000;
pub const RATE_LIMIT_LOCKOUT_MS: u64 = 300_000;
pub const RATE_LIMIT_EXEMPT_LOOPBACK: bool = true;

pub const DEVICE_AUTH_DEVICE_ID_MISMATCH: &str = "DEVICE_AUTH_DEVICE_ID_MISMATCH";
pub const DEVICE_AUTH_DEVICE_ID_MISMATCH_MESSAGE: &str = "device identity mismatch";
pub const DEVICE_AUTH_DEVICE_ID_MISMATCH_REASON: &str = "device-id-mismatch";
pub const DEVICE_AUTH_SIGNATURE_EXPIRED: &str = "DEVICE_AUTH_SIGNATURE_EXPIRED";
pub const DEVICE_AUTH_SIGNATURE_EXPIRED_MESSAGE: &str = "device signature expired";
pub const DEVICE_AUTH_SIGNATURE_EXPIRED_REASON: &str = "device-signature-stale";
pub const DEVICE_AUTH_NONCE_REQUIRED: &str = "DEVICE_AUTH_NONCE_REQUIRED";
pub const DEVICE_AUTH_NONCE_REQUIRED_MESSAGE: &str = "device nonce required";
pub const DEVICE_AUTH_NONCE_REQUIRED_REASON: &str = "device-nonce-missing";
pub const DEVICE_AUTH_NONCE_MISMATCH: &str = "DEVICE_AUTH_NONCE_MISMATCH";
pub const DEVICE_AUTH_NONCE_MISMATCH_MESSAGE: &str = "device nonce mismatch";
pub const DEVICE_AUTH_NONCE_MISMATCH_REASON: &str = "device-nonce-mismatch";
pub const DEVICE_AUTH_SIGNATURE_INVALID: &str = "DEVICE_AUTH_SIGNATURE_INVALID";
pub const DEVICE_AUTH_SIGNATURE_INVALID_MESSAGE: &str = "device signature invalid";
pub const DEVICE_AUTH_SIGNATURE_INVALID_REASON: &str = "device-signature";
pub const DEVICE_AUTH_PUBLIC_KEY_INVALID: &str = "DEVICE_AUTH_PUBLIC_KEY_INVALID";
pub const DEVICE_AUTH_PUBLIC_KEY_INVALID_MESSAGE: &str = "device public key invalid";
pub const DEVICE_AUTH_PUBLIC_KEY_INVALID_REASON: &str = "device-public-key";

pub const PAIRING_REQUIRED: &str = "PAIRING_REQUIRED";
pub const PAIRING_REQUIRED_MESSAGE: &str = "pairing required";

/// Which shared-secret check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    TokenMissing,
    TokenMismatch,
    PasswordMissing,
    PasswordMismatch,
    RateLimited,
}

/// Who is connecting, as far as the hint is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthClientKind {
    /// A CLI on loopback (v4 points it at this gateway's own config).
    CliLocal,
    /// A CLI elsewhere, and every CLI at protocol 3.
    CliRemote,
    /// Control UI or webchat.
    Ui,
    Other,
}

impl AuthFailure {
    pub fn code(self) -> &'static str {
        match self {
            AuthFailure::TokenMissing => AUTH_TOKEN_MISSING,
            AuthFailure::TokenMismatch => AUTH_TOKEN_MISMATCH,
            AuthFailure::PasswordMissing => AUTH_PASSWORD_MISSING,
            AuthFailure::PasswordMismatch => AUTH_PASSWORD_MISMATCH,
            AuthFailure::RateLimited => AUTH_RATE_LIMITED,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            AuthFailure::TokenMissing => "token_missing",
            AuthFailure::TokenMismatch => "token_mismatch",
            AuthFailure::PasswordMissing => "password_missing",
            AuthFailure::PasswordMismatch => "password_mismatch",
            AuthFailure::RateLimited => "rate_limited",
        }
    }

    pub fn recommended_next_step(self) -> &'static str {
        match self {
            AuthFailure::TokenMissing | AuthFailure::PasswordMissing => "update_auth_configuration",
            AuthFailure::TokenMismatch | AuthFailure::PasswordMismatch => "update_auth_credentials",
            AuthFailure::RateLimited => "wait_then_retry",
        }
    }
}

/// The `error.message` for a shared-secret failure.
pub fn auth_failure_message(failure: AuthFailure, client: AuthClientKind) -> String {
    let token_hint = match client {
        AuthClientKind::CliLocal => HINT_TOKEN_CLI_LOCAL,
        AuthClientKind::CliRemote => HINT_TOKEN_CLI_REMOTE,
        AuthClientKind::Ui => HINT_TOKEN_UI,
        AuthClientKind::Other => HINT_TOKEN_OTHER,
    };
    let password_hint = match client {
        AuthClientKind::CliLocal => HINT_PASSWORD_CLI_LOCAL,
        AuthClientKind::CliRemote => HINT_PASSWORD_CLI_REMOTE,
        AuthClientKind::Ui => HINT_PASSWORD_UI,
        AuthClientKind::Other => HINT_PASSWORD_OTHER,
    };
    match failure {
        AuthFailure::TokenMissing if client == AuthClientKind::Ui => {
            format!("unauthorized: gateway token missing ({HINT_TOKEN_UI_MISSING})")
        }
        AuthFailure::TokenMissing => format!("unauthorized: gateway token missing ({token_hint})"),
        AuthFailure::TokenMismatch => {
            format!("unauthorized: gateway token mismatch ({token_hint})")
        }
        AuthFailure::PasswordMissing => {
            format!("unauthorized: gateway password missing ({password_hint})")
        }
        AuthFailure::PasswordMismatch => {
            format!("unauthorized: gateway password mismatch ({password_hint})")
        }
        AuthFailure::RateLimited => AUTH_RATE_LIMITED_MESSAGE.to_owned(),
    }
}

/// The `error.details` for a shared-secret failure.
pub fn auth_failure_details(
    failure: AuthFailure,
    can_retry_with_device_token: bool,
) -> serde_json::Value {
    let next = if can_retry_with_device_token && failure == AuthFailure::TokenMismatch {
        "retry_with_device_token"
    } else {
        failure.recommended_next_step()
    };
    serde_json::json!({
        "code": failure.code(),
        "authReason": failure.reason(),
        "canRetryWithDeviceToken": can_retry_with_device_token && failure == AuthFailure::TokenMismatch,
        "recommendedNextStep": next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_token_mismatch_v4_and_v3() {
        assert_eq!(
            auth_failure_message(AuthFailure::TokenMismatch, AuthClientKind::CliLocal),
            AUTH_TOKEN_MISMATCH_CLI_LOCAL_MESSAGE
        );
        assert_eq!(
            auth_failure_message(AuthFailure::TokenMismatch, AuthClientKind::CliRemote),
            AUTH_TOKEN_MISMATCH_CLI_REMOTE_MESSAGE
        );
        // Exactly the captured details object (p4-badtoken, p4-badtoken v3).
        assert_eq!(
            auth_failure_details(AuthFailure::TokenMismatch, false),
            serde_json::json!({
                "code": "AUTH_TOKEN_MISMATCH",
                "authReason": "token_mismatch",
                "canRetryWithDeviceToken": false,
                "recommendedNextStep": "update_auth_credentials"
            })
        );
    }

    #[test]
    fn every_failure_has_its_code_and_message() {
        let cases = [
            (AuthFailure::TokenMissing, AuthClientKind::Other, "unauthorized: gateway token missing (provide gateway auth token)", "update_auth_configuration"),
            (AuthFailure::TokenMissing, AuthClientKind::Ui, "unauthorized: gateway token missing (paste in Control UI settings or openclaw doctor --generate-gateway-token; restart)", "update_auth_configuration"),
            (AuthFailure::PasswordMissing, AuthClientKind::CliRemote, "unauthorized: gateway password missing (set gateway.remote.password to match gateway.auth.password)", "update_auth_configuration"),
            (AuthFailure::PasswordMismatch, AuthClientKind::CliLocal, "unauthorized: gateway password mismatch (use this gateway's gateway.auth.password)", "update_auth_credentials"),
            (AuthFailure::PasswordMismatch, AuthClientKind::Ui, "unauthorized: gateway password mismatch (enter the password in Control UI settings)", "update_auth_credentials"),
            (AuthFailure::RateLimited, AuthClientKind::CliLocal, "unauthorized: too many failed authentication attempts (retry later)", "wait_then_retry"),
        ];
        for (failure, client, message, next) in cases {
            assert_eq!(auth_failure_message(failure, client), message);
            let details = auth_failure_details(failure, false);
            assert_eq!(details["code"], failure.code());
            assert_eq!(details["recommendedNextStep"], next);
        }
        let retry = auth_failure_details(AuthFailure::TokenMismatch, true);
        assert_eq!(retry["canRetryWithDeviceToken"], true);
        assert_eq!(retry["recommendedNextStep"], "retry_with_device_token");
        assert_eq!(
            auth_failure_details(AuthFailure::PasswordMismatch, true)["canRetryWithDeviceToken"],
            false
        );
    }
}
