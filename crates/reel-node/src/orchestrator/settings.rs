//! What an orchestrator is started with: [`OrchestratorSettings`], with go-livepeer's flag
//! names and the defaults.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::Address;
use reel_pm::PricePerPixel;

#[cfg(feature = "test-hooks")]
use super::faults::{self, Fault};
use super::fetch::UrlPolicy;
use super::registry;
use super::workers::WorkerSettings;
use crate::ratelimit::RateSettings;
use crate::rpc::ServiceUri;

/// Bytes of uploaded job content an orchestrator keeps by default.
pub(super) const DEFAULT_CONTENT_BYTES: usize = 256 << 20;
/// The largest single upload.
pub(super) const MAX_CONTENT_UPLOAD: usize = 16 << 20;

/// Orchestrator settings (go-livepeer flag names in the CLI).
#[derive(Debug, Clone)]
pub struct OrchestratorSettings {
    /// Where the service port binds (`-httpAddr`).
    pub http_addr: SocketAddr,
    /// The URI gateways and transcoders use (`-serviceAddr`); by default the bound address.
    pub service_uri: Option<ServiceUri>,
    /// TLS with a self-signed certificate; otherwise h2c.
    pub tls: bool,
    /// Certificate, key and ticket store live here; `None` keeps the certificate in memory.
    pub data_dir: Option<PathBuf>,
    /// `/status` and `/metrics` (`-cliAddr`).
    pub cli_addr: Option<SocketAddr>,
    /// Concurrent sessions (streams) accepted (`-maxSessions`).
    pub max_sessions: usize,
    /// Price per pixel (`-pricePerUnit` / `-pixelsPerUnit`).
    pub price: PricePerPixel,
    /// Prices for particular gateways (`-pricePerGateway`).
    pub price_per_gateway: HashMap<Address, PricePerPixel>,
    /// Secret remote transcoders register with (`-orchSecret`); none = no remote
    /// transcoders.
    pub orch_secret: Option<String>,
    /// Transcode here too (`-transcoder` on an orchestrator).
    pub local_transcode: bool,
    /// Do that local work in supervised worker processes rather than in this one
    /// (`--transcode-in-child`; see [`workers`](super::workers)).
    pub workers: Option<WorkerSettings>,
    /// libx264 preset and threads per encoder for local work.
    pub x264_preset: String,
    pub encoder_threads: usize,
    /// A session without a segment for this long is closed.
    pub session_idle: Duration,
    /// Largest segment body accepted inline.
    pub max_segment_bytes: usize,
    /// Time to receive a segment body.
    pub upload_timeout: Duration,
    /// Segments given by URL.
    pub url_policy: UrlPolicy,
    /// Per-client request limits on the service port.
    pub rate: RateSettings,
    /// How long renditions stay downloadable, and how many bytes of them at most.
    pub result_ttl: Duration,
    pub result_memory: usize,
    /// Test-only misbehaviour.
    #[cfg(feature = "test-hooks")]
    pub fault: Option<Fault>,
    /// Request/response work offered besides transcoding, per (capability, model).
    pub jobs: Vec<crate::jobs::Offer>,
    /// Longest a request/response job may run.
    pub job_timeout: Duration,
    /// What gateways uploaded for jobs to name by hash (WebAssembly modules), shared with
    /// the workers that read it.
    pub content: Arc<reel_jobs::ContentStore>,
    /// Where remote workers of every kind register. Offers served by remote job workers
    /// take their [`JobWorker`](crate::jobs::JobWorker) from it
    /// ([`registry::WorkerRegistry::job_worker`]).
    pub workers_registry: Arc<registry::WorkerRegistry>,
    /// Body limits of BYOC requests and worker answers.
    pub byoc: crate::byoc::ByocLimits,
}

impl OrchestratorSettings {
    /// Defaults for a service bound to `http_addr`.
    pub fn new(http_addr: SocketAddr) -> Self {
        Self {
            http_addr,
            service_uri: None,
            tls: true,
            data_dir: None,
            cli_addr: None,
            max_sessions: 10,
            price: PricePerPixel::ZERO,
            price_per_gateway: HashMap::new(),
            orch_secret: None,
            local_transcode: true,
            workers: None,
            x264_preset: "veryfast".into(),
            encoder_threads: 0,
            session_idle: Duration::from_secs(60),
            max_segment_bytes: 64 << 20,
            upload_timeout: Duration::from_secs(30),
            url_policy: UrlPolicy::default(),
            rate: RateSettings::default(),
            result_ttl: Duration::from_secs(120),
            result_memory: 512 << 20,
            #[cfg(feature = "test-hooks")]
            fault: faults::from_env(),
            jobs: Vec::new(),
            job_timeout: Duration::from_secs(120),
            content: Arc::new(reel_jobs::ContentStore::new(DEFAULT_CONTENT_BYTES)),
            workers_registry: registry::WorkerRegistry::new(),
            byoc: crate::byoc::ByocLimits::default(),
        }
    }
}
