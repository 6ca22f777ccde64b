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

/// Orchestrator settings (go-livepeer flag names in the CLI). `Debug` never shows the
/// secret.
#[derive(Clone)]
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
    /// Serve `cli_addr` on an address other than loopback (`--cli-public`).
    pub cli_public: bool,
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
            cli_public: false,
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

impl std::fmt::Debug for OrchestratorSettings {
    // Hand-written so that the secret can never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("OrchestratorSettings");
        d.field("http_addr", &self.http_addr)
            .field("service_uri", &self.service_uri)
            .field("tls", &self.tls)
            .field("data_dir", &self.data_dir)
            .field("cli_addr", &self.cli_addr)
            .field("cli_public", &self.cli_public)
            .field("max_sessions", &self.max_sessions)
            .field("price", &self.price)
            .field("price_per_gateway", &self.price_per_gateway)
            .field(
                "orch_secret",
                &self.orch_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("local_transcode", &self.local_transcode)
            .field("workers", &self.workers)
            .field("x264_preset", &self.x264_preset)
            .field("encoder_threads", &self.encoder_threads)
            .field("session_idle", &self.session_idle)
            .field("max_segment_bytes", &self.max_segment_bytes)
            .field("upload_timeout", &self.upload_timeout)
            .field("url_policy", &self.url_policy)
            .field("rate", &self.rate)
            .field("result_ttl", &self.result_ttl)
            .field("result_memory", &self.result_memory);
        #[cfg(feature = "test-hooks")]
        d.field("fault", &self.fault);
        d.field("jobs", &self.jobs)
            .field("job_timeout", &self.job_timeout)
            .field("content", &self.content)
            .field("workers_registry", &self.workers_registry)
            .field("byoc", &self.byoc)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let mut s = OrchestratorSettings::new(([127, 0, 0, 1], 0).into());
        s.orch_secret = Some("hunter2-orch-secret".into());
        let text = format!("{s:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("orch_secret: Some(\"<redacted>\")"), "{text}");
        let t = crate::transcoder::TranscoderSettings::new(
            crate::rpc::ServiceUri::parse("https://127.0.0.1:8935")
                .unwrap_or_else(|e| panic!("{e}")),
            "hunter2-orch-secret".into(),
        );
        let text = format!("{t:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        let w = crate::worker::JobWorkerSettings::new(
            crate::rpc::ServiceUri::parse("https://127.0.0.1:8935")
                .unwrap_or_else(|e| panic!("{e}")),
            "hunter2-orch-secret".into(),
            Vec::new(),
        );
        let text = format!("{w:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}
