//! [`JobKind`] and [`JobWorker`], and the data they exchange.

use bytes::Bytes;
use std::{fmt, future::Future, pin::Pin, time::Duration};

/// A boxed future, for the object-safe worker trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A capability and one of its constraints (a model id; empty where the capability has
/// none), as advertised in `Capabilities` and priced in `capabilities_prices`. Displayed as
/// go-livepeer's "`<capability>_<model>`".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct CapabilityKey {
    pub capability: u32,
    pub model: String,
}

impl CapabilityKey {
    pub fn new(capability: u32, model: impl Into<String>) -> Self {
        Self {
            capability,
            model: model.into(),
        }
    }
}

impl fmt::Display for CapabilityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.capability, self.model)
    }
}

/// How a kind of work is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Tickets for the estimated units go with each job; the units the result reports are
    /// debited (transcoding: a segment's estimated pixels, then its real output pixels).
    PerJob,
    /// Tickets for the most the job can use go first; only what it used is debited and the
    /// rest stays as credit for the next job (an LLM's `max_tokens`, a WASM job's fuel).
    UpFront,
    /// A long-running session paid in advance for a first period and topped up every
    /// `interval`; the orchestrator debits as work is done and stops when credit runs out
    /// (live video-to-video).
    Streamed { interval: Duration },
}

/// Where an orchestrator runs a kind's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// On the orchestrator's own threads.
    InProcess,
    /// In a supervised child process of the orchestrator (a crash costs one job).
    WorkerProcess,
    /// On a worker that registered with the orchestrator over the network.
    Remote,
}

/// One request, as its client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    pub content_type: String,
    pub body: Bytes,
}

impl JobRequest {
    pub fn new(content_type: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self {
            content_type: content_type.into(),
            body: body.into(),
        }
    }
}

/// What a request is for and what it is paid for before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// The capability's constraint the request asks for (a model id; may be empty).
    pub model: String,
    /// Units paid for before the work: the estimate ([`Cadence::PerJob`]) or the most it
    /// can use ([`Cadence::UpFront`]).
    pub units: u64,
}

/// A part of a request that an orchestrator keeps once it has it, named by its sha256 (a
/// WebAssembly module): the gateway uploads it once per orchestrator and then sends
/// requests that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub sha256: [u8; 32],
    pub bytes: Bytes,
}

/// A worker's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutput {
    pub content_type: String,
    pub body: Bytes,
    /// Units of work the result took, as the worker counted them.
    pub units: u64,
}

/// Why a job did not run or its result was refused. Each names its HTTP status, so both
/// ends answer and report the same thing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// Missing or malformed fields, values out of range.
    #[error("{0}")]
    BadRequest(String),
    /// The body is over the kind's size limit.
    #[error("request body of {size} bytes is over the limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("unsupported content type `{0}`")]
    UnsupportedMedia(String),
    #[error("no orchestrator serves model `{model}` for {kind}")]
    UnknownModel { kind: String, model: String },
    /// Well-formed but not processable (an image with too many pixels, a module that does
    /// not validate).
    #[error("{0}")]
    Unprocessable(String),
    /// The worker ran and failed.
    #[error("the job failed: {0}")]
    Failed(String),
    /// No capacity (or no worker) for the model right now.
    #[error("insufficient capacity: {0}")]
    Busy(String),
    /// The gateway refused the result.
    #[error("result refused: {0}")]
    Verification(String),
    /// The request names content by hash that the orchestrator does not hold (it was never
    /// uploaded there, or was evicted): upload it and try again.
    #[error("content {0} is not on this orchestrator; upload it first")]
    MissingContent(String),
}

impl JobError {
    /// The HTTP status that goes with the error.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::TooLarge { .. } => 413,
            Self::UnsupportedMedia(_) => 415,
            Self::UnknownModel { .. } => 404,
            Self::Unprocessable(_) => 422,
            Self::Failed(_) | Self::Verification(_) => 500,
            Self::Busy(_) => 503,
            Self::MissingContent(_) => 409,
        }
    }

    /// Whether another orchestrator may do better (the gateway fails over on these).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Failed(_) | Self::Busy(_) | Self::Verification(_) | Self::MissingContent(_)
        )
    }
}

/// A kind of request/response work. Both ends hold the same kind: the gateway to price,
/// pay for and verify a job, the orchestrator to admit it and bill it.
pub trait JobKind: Send + Sync + 'static {
    /// Short name, unique among kinds ("text-to-image"); used in logs and metrics.
    fn name(&self) -> &str;

    /// The orchestrator's path for it (and the gateway's public one): `/<name>` unless the
    /// kind says otherwise.
    fn path(&self) -> String {
        format!("/{}", self.name())
    }

    /// The capability id it is advertised and priced under.
    fn capability(&self) -> u32;

    /// What one unit of price buys ("pixel", "token", "ms", "fuel").
    fn unit(&self) -> &str;

    fn cadence(&self) -> Cadence;

    /// The largest request body either end accepts.
    fn max_request_bytes(&self) -> usize;

    /// Checks a request and says what it is for and what to pay before it runs. The
    /// gateway calls it before choosing an orchestrator or paying, the orchestrator before
    /// crediting anything: a bad request costs nothing.
    fn admit(&self, request: &JobRequest) -> Result<Admission, JobError>;

    /// The units to debit for `output`. By default what the worker counted, never more
    /// than was paid for up front with [`Cadence::UpFront`].
    fn units_used(
        &self,
        _request: &JobRequest,
        admission: &Admission,
        output: &JobOutput,
    ) -> Result<u64, JobError> {
        Ok(match self.cadence() {
            Cadence::UpFront => output.units.min(admission.units),
            Cadence::PerJob | Cadence::Streamed { .. } => output.units,
        })
    }

    /// The gateway's check of a result, beyond the orchestrator's signature (which the node
    /// checks for every kind).
    fn verify(&self, request: &JobRequest, output: &JobOutput) -> Result<(), JobError>;

    /// Splits an admitted request into what travels with every job and the
    /// content-addressed parts ([`Content`]) an orchestrator keeps. By default everything
    /// travels every time.
    fn split(&self, request: &JobRequest) -> Result<(JobRequest, Vec<Content>), JobError> {
        Ok((request.clone(), Vec::new()))
    }

    /// For kinds whose result is a function of the request alone: what any two honest
    /// results of `request` agree on. A gateway re-runs a sampled share of such jobs on a
    /// second orchestrator and compares. `None` (the default): this result cannot be
    /// checked that way.
    fn fingerprint(&self, _request: &JobRequest, _output: &JobOutput) -> Option<String> {
        None
    }
}

/// What runs a kind's jobs on an orchestrator.
pub trait JobWorker: Send + Sync + 'static {
    fn placement(&self) -> Placement;

    /// Runs one admitted request for `model`.
    fn run(
        &self,
        model: &str,
        request: JobRequest,
    ) -> BoxFuture<'static, Result<JobOutput, JobError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_statuses() {
        assert_eq!(CapabilityKey::new(33, "smollm2").to_string(), "33_smollm2");
        assert_eq!(
            JobError::UnknownModel {
                kind: "llm".into(),
                model: "x".into()
            }
            .status(),
            404
        );
        assert_eq!(JobError::TooLarge { size: 2, max: 1 }.status(), 413);
        assert!(JobError::Busy("full".into()).is_retryable());
        assert!(!JobError::BadRequest("no prompt".into()).is_retryable());
    }
}
