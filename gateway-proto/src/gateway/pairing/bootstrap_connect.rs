//! A `connect` that authenticates with a one-time bootstrap token
//! (`auth.bootstrapToken`, from the link `openclaw dashboard` opens).
//!
//! The handshake has already checked the device signature; the token
//! itself lives in the shared store, where the CLI wrote it. The hub asks
//! the runtime to spend it ([`Effect::RedeemBootstrapToken`], ordered with
//! the pairing writes), then, if its profile allows what the device asks,
//! pairs the device with `approvedVia: "bootstrap"` and opens the session
//! with a fresh device token, so the browser never needs the shared secret.

use serde_json::json;

use super::bootstrap::BOOTSTRAP_TOKEN_TTL_MS;
use super::{BootstrapProfile, PAIRING_STORE};
use crate::gateway::effects::{Request, Waiter};
use crate::gateway::{Effect, Gateway, Output};
use crate::server::{close_code, truncate_reason, ConnectRequest};
use crate::time::Timestamp;
use crate::wire::{ErrorCode, ErrorShape};
use crate::ConnId;

/// The reference's words for a bootstrap token it will not take.
pub(crate) const BOOTSTRAP_REJECTED_MESSAGE: &str = "unauthorized: setup code invalid, expired, revoked, or already used (create a new code; review `openclaw devices list`)";

impl Gateway {
    /// Spend the connect's bootstrap token; the answer continues in
    /// [`Gateway::on_bootstrap_redeemed`].
    pub(crate) fn redeem_bootstrap(
        &mut self,
        conn: ConnId,
        request: Box<ConnectRequest>,
        now: Timestamp,
    ) {
        let presented = request
            .params
            .auth
            .bootstrap_token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        let Some(bootstrap_token) = presented else {
            return self.refuse_bootstrap(conn);
        };
        let oldest_issued_at_ms = self
            .clock
            .unix_ms(now)
            .saturating_sub(BOOTSTRAP_TOKEN_TTL_MS);
        let wait = Request {
            waiter: Some(Waiter::Handshake { conn }),
            // A spent token is spent even if the socket has gone.
            commits: true,
            store: Some(PAIRING_STORE),
            deadline: true,
        };
        let mut token = 0;
        let started = self.effects.start(wait, now, |assigned| {
            token = assigned;
            Effect::RedeemBootstrapToken {
                token: assigned,
                bootstrap_token,
                oldest_issued_at_ms,
            }
        });
        match started {
            Ok(effect) => {
                self.bootstrap_waits.insert(token, (conn, request));
                if let Some(effect) = effect {
                    self.out.push_back(Output::Effect(effect));
                }
            }
            Err(_) => {
                let busy =
                    ErrorShape::new(ErrorCode::Unavailable, "pairing store busy; retry shortly")
                        .with_retry_after(1000);
                self.reject_handshake(conn, busy, close_code::TRY_AGAIN_LATER);
            }
        }
    }

    /// The store spent (or did not find) the token: pair and open, or refuse.
    pub(crate) fn on_bootstrap_redeemed(
        &mut self,
        token: u64,
        result: Result<Option<BootstrapProfile>, String>,
        waited: bool,
        now: Timestamp,
    ) {
        let Some((conn, request)) = self.bootstrap_waits.remove(&token) else {
            return;
        };
        if !waited {
            return;
        }
        let profile = match result {
            Ok(Some(profile)) => profile,
            Ok(None) => return self.refuse_bootstrap(conn),
            Err(_) => {
                let failed = ErrorShape::new(ErrorCode::Unavailable, "pairing store read failed")
                    .with_retry_after(1000);
                return self.reject_handshake(conn, failed, close_code::TRY_AGAIN_LATER);
            }
        };
        let client_id = request.params.client.id.as_str();
        match profile.grant(client_id, request.role.as_str(), &request.params.scopes) {
            Some(granted) => self.admit_device(conn, request, Some(granted), now),
            None => self.refuse_bootstrap(conn),
        }
    }

    /// The reference's refusal of a bad, expired or spent bootstrap token.
    fn refuse_bootstrap(&mut self, conn: ConnId) {
        let error = ErrorShape::invalid_request(BOOTSTRAP_REJECTED_MESSAGE).with_details(json!({
            "code": "AUTH_BOOTSTRAP_TOKEN_INVALID",
            "authReason": "bootstrap_token_invalid",
            "canRetryWithDeviceToken": false,
            "recommendedNextStep": "review_auth_configuration",
        }));
        if let Some(entry) = self.conns.get_mut(conn) {
            let reason = truncate_reason(BOOTSTRAP_REJECTED_MESSAGE).to_owned();
            entry
                .conn
                .reject_with_reason(error, close_code::POLICY_VIOLATION, &reason);
        }
        self.conns.sync(conn, &mut self.out);
    }

    fn reject_handshake(&mut self, conn: ConnId, error: ErrorShape, code: u16) {
        if let Some(entry) = self.conns.get_mut(conn) {
            entry.conn.reject(error, code);
        }
        self.conns.sync(conn, &mut self.out);
    }
}
