//! The gateway's `/status` document: its streams, each with its pool of orchestrators, and
//! its job pools.

use std::sync::Arc;

use reel_media::StreamName;

use super::core::Core;
use super::kinds::JobPoolStatus;
use super::pool::{OrchStatus, Pool, orch_status};

/// What `/status` shows of a stream.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamStatus {
    pub stream: String,
    pub segments: u64,
    pub current: Option<String>,
    pub orchestrators: Vec<OrchStatus>,
}

/// The gateway's `/status` document.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GatewayStatus {
    pub role: &'static str,
    pub version: &'static str,
    pub address: String,
    pub uptime_seconds: u64,
    pub payments: bool,
    pub ladder: Vec<String>,
    pub streams: Vec<StreamStatus>,
    /// Request/response work bought, per (capability, model).
    pub jobs: Vec<JobPoolStatus>,
    /// The background tasks: runs, failures in a row, last error.
    pub tasks: serde_json::Value,
}

impl Core {
    pub(super) async fn status(&self) -> GatewayStatus {
        let slots: Vec<(StreamName, Arc<tokio::sync::Mutex<Pool>>)> = self
            .streams
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect())
            .unwrap_or_default();
        let mut streams = Vec::new();
        for (name, slot) in slots {
            // A stream busy with a segment is shown by what is known without waiting.
            let Ok(st) = slot.try_lock() else {
                streams.push(StreamStatus {
                    stream: name.to_string(),
                    segments: 0,
                    current: None,
                    orchestrators: Vec::new(),
                });
                continue;
            };
            streams.push(StreamStatus {
                stream: name.to_string(),
                segments: st.jobs,
                current: st.current.as_ref().map(ToString::to_string),
                orchestrators: orch_status(&st, crate::jobs::transcode::CAPABILITY),
            });
        }
        GatewayStatus {
            role: "gateway",
            version: crate::caps::VERSION,
            address: self.signer.address().to_checksum(None),
            uptime_seconds: self.started.elapsed().as_secs(),
            payments: self.payments.is_some(),
            ladder: self
                .settings
                .ladder
                .iter()
                .map(|p| p.name.clone())
                .collect(),
            streams,
            jobs: self.jobs.status().await,
            tasks: self.health.json(),
        }
    }
}
