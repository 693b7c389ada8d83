//! The SQLite state store shared with the reference: the gateway's pairing
//! tables ([`PairingStore`]) and the CLI's identity and cached tokens
//! ([`ClientIdentityStore`]), all in `<stateDir>/state/openclaw.sqlite`;
//! and the agents' sessions as files ([`SessionStore`]).
//! Pure storage: no threads, no knowledge of the hub.

mod bootstrap;
mod client;
mod error;
mod exec_approvals;
mod pairing;
mod rows;
mod schema;
pub mod sessions;

pub use bootstrap::IssuedBootstrapToken;
pub use client::{
    identity_pems, normalize_token_scopes, CachedDeviceToken, ClientIdentityStore,
    PRIMARY_IDENTITY_KEY,
};
pub use error::StoreError;
pub use exec_approvals::ExecApprovalsStore;
pub use pairing::PairingStore;
pub use schema::{database_path, BUSY_TIMEOUT, KNOWN_SCHEMA_VERSION};
pub use sessions::SessionStore;
