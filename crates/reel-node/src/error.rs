//! The crate's one error type. Policy code branches on [`NodeError::is_retryable`] and
//! [`NodeError::should_suspend_orchestrator`], never on message text.

use std::net::SocketAddr;
use std::time::Duration;

/// Everything that can go wrong in a node role.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A listen address is taken or not ours.
    #[error("listening on {addr}: {source} (in use? pass {flag})")]
    Bind {
        addr: SocketAddr,
        flag: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Certificate or key trouble.
    #[error("TLS: {reason}")]
    Tls { reason: String },
    /// A file-system or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A setting that cannot work; says which flag to change.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A request to an orchestrator failed (gateway side).
    #[error("orchestrator {uri}: {kind}: {detail}")]
    Orchestrator {
        uri: String,
        kind: FailureKind,
        detail: String,
    },
    /// No orchestrator could take a segment.
    #[error("no orchestrator available for stream {stream}: {reason}")]
    NoOrchestrators { stream: String, reason: String },
    /// The gateway runs as many streams as it may.
    #[error("too many streams: {limit} already running (--max-streams)")]
    TooManyStreams { limit: usize },
    /// Every attempt on a segment failed.
    #[error("segment {seq} of stream {stream} failed after {attempts} attempts; last: {last}")]
    SegmentFailed {
        stream: String,
        seq: u64,
        attempts: u32,
        last: String,
    },
    /// A request of a job kind refused before it went anywhere (or a result refused).
    #[error(transparent)]
    Job(#[from] reel_jobs::JobError),
    /// Every attempt at a job failed.
    #[error("{kind} job for model `{model}` failed after {attempts} attempts; last: {last}")]
    JobFailed {
        kind: String,
        model: String,
        attempts: u32,
        last: String,
    },
    /// The orchestrator refused this transcoder for good (wrong secret, bad capacity).
    #[error(
        "orchestrator {orch} refused the registration: {reason} (check --orch-secret and --capacity)"
    )]
    RegistrationRefused { orch: String, reason: String },
    /// A wait ran out.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    /// A read from the chain failed (RPC down, contract missing).
    #[error("chain read {op} failed: {message}")]
    ChainRead { op: &'static str, message: String },
    #[error(transparent)]
    Net(#[from] reel_net::NetError),
    #[error(transparent)]
    Pm(#[from] reel_pm::PmError),
    #[error(transparent)]
    Media(#[from] reel_media::MediaError),
    #[error(transparent)]
    Chain(#[from] reel_chain::ChainError),
}

/// Why a request to an orchestrator failed, as the gateway's policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// Could not connect, or the connection broke (dial tcp, unexpected EOF).
    Connect,
    /// No answer in time.
    Timeout,
    /// `OrchestratorBusy`: the session already has a segment in flight.
    Busy,
    /// `OrchestratorCapped`: no room for a new session.
    Capped,
    /// An HTTP status other than 200, or an error string in the result.
    Refused,
    /// Ticket params need a refresh (expired, exhausted, rand mismatch).
    Payment,
    /// The result does not parse or its renditions cannot be fetched.
    BadResult,
    /// The result signature or the pixel counts do not match (see
    /// docs/faults.md#tampered-renditions).
    Verification,
    /// The orchestrator's price is above the gateway's maximum.
    Price,
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Connect => "connection failed",
            Self::Timeout => "timed out",
            Self::Busy => "OrchestratorBusy",
            Self::Capped => "OrchestratorCapped",
            Self::Refused => "refused",
            Self::Payment => "payment refused",
            Self::BadResult => "bad result",
            Self::Verification => "verification failed",
            Self::Price => "price too high",
        })
    }
}

impl NodeError {
    /// A gateway-side failure of one orchestrator.
    pub fn orchestrator(uri: &str, kind: FailureKind, detail: impl Into<String>) -> Self {
        Self::Orchestrator {
            uri: uri.to_owned(),
            kind,
            detail: detail.into(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// The failure kind, for an orchestrator failure.
    pub fn failure_kind(&self) -> Option<FailureKind> {
        match self {
            Self::Orchestrator { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Worth trying the same work again (elsewhere or later).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Orchestrator { .. }
            | Self::Timeout { .. }
            | Self::NoOrchestrators { .. }
            | Self::ChainRead { .. } => true,
            Self::Chain(e) => e.is_retryable(),
            Self::Media(e) => e.is_retryable(),
            Self::Pm(e) => e.is_store_unavailable(),
            _ => false,
        }
    }

    /// Whether the gateway should stop sending this stream's segments to the orchestrator
    /// for a while (docs/compatibility.md#session-pools-and-selection: submit errors, busy/capped
    /// answers, bad results, verification).
    pub fn should_suspend_orchestrator(&self) -> bool {
        matches!(
            self.failure_kind(),
            Some(
                FailureKind::Connect
                    | FailureKind::Timeout
                    | FailureKind::Busy
                    | FailureKind::Capped
                    | FailureKind::Refused
                    | FailureKind::BadResult
                    | FailureKind::Verification
                    | FailureKind::Price
            )
        )
    }

    /// Whether the gateway should fetch fresh ticket params before retrying this
    /// orchestrator.
    pub fn should_refresh_session(&self) -> bool {
        matches!(self.failure_kind(), Some(FailureKind::Payment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let v = NodeError::orchestrator("https://o", FailureKind::Verification, "pixels");
        assert!(v.should_suspend_orchestrator() && v.is_retryable());
        let p = NodeError::orchestrator("https://o", FailureKind::Payment, "expired");
        assert!(!p.should_suspend_orchestrator() && p.should_refresh_session());
        assert!(!NodeError::Config("x".into()).is_retryable());
        assert_eq!(
            v.to_string(),
            "orchestrator https://o: verification failed: pixels"
        );
    }
}
