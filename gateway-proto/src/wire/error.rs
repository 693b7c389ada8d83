//! Error codes and the `ErrorShape` carried by failed responses.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The error codes a gateway puts in `error.code`.
///
/// `Forbidden` exists only in protocol 4; on a connection negotiated at
/// protocol 3 it is sent as `InvalidRequest` (see [`ErrorCode::for_protocol`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    NotLinked,
    NotPaired,
    AgentTimeout,
    InvalidRequest,
    Forbidden,
    ApprovalNotFound,
    Unavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotLinked => "NOT_LINKED",
            ErrorCode::NotPaired => "NOT_PAIRED",
            ErrorCode::AgentTimeout => "AGENT_TIMEOUT",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::ApprovalNotFound => "APPROVAL_NOT_FOUND",
            ErrorCode::Unavailable => "UNAVAILABLE",
        }
    }

    /// The code as a client speaking `protocol` knows it: v3 has no `FORBIDDEN`.
    pub fn for_protocol(self, protocol: super::ProtocolVersion) -> ErrorCode {
        match (self, protocol) {
            (ErrorCode::Forbidden, super::ProtocolVersion::V3) => ErrorCode::InvalidRequest,
            (code, _) => code,
        }
    }
}

/// `{code, message, details?, retryable?, retryAfterMs?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorShape {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorShape {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorShape {
            code,
            message: message.into(),
            details: None,
            retryable: None,
            retry_after_ms: None,
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// `retryable: false`: the same request will fail again.
    pub fn not_retryable(mut self) -> Self {
        self.retryable = Some(false);
        self
    }

    pub fn with_retry_after(mut self, retry_after_ms: u64) -> Self {
        self.retryable = Some(true);
        self.retry_after_ms = Some(retry_after_ms);
        self
    }

    /// `details.code`, when the details object carries one.
    pub fn detail_code(&self) -> Option<&str> {
        self.details.as_ref()?.get("code")?.as_str()
    }
}
