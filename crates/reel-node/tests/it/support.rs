//! Shared test plumbing: media made with the ffmpeg CLI and ffprobe as the judge (both from
//! `reel_testkit::media`), and the roles started in-process on 127.0.0.1:0.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reel_media::VideoProfile;
use reel_net::http::{self as wire, BodyKind};
use reel_net::proto;
use reel_node::gateway::discovery::ListSource;
use reel_node::gateway::discovery::get_orchestrator;
use reel_node::gateway::{GatewaySettings, RunningGateway};
use reel_node::node::{GatewayBuilder, OrchestratorBuilder};
use reel_node::orchestrator::{OrchestratorSettings, RunningOrchestrator};
use reel_node::rpc::ServiceUri;
use reel_node::tasks::Tasks;
pub(crate) use reel_testkit::http::Http;
use tokio_util::sync::CancellationToken;

pub(crate) fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,node=info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// `n` one-second MPEG-TS segments (see `reel_testkit::media::segments`).
pub(crate) fn segments(dir: &Path, n: usize) -> Vec<Vec<u8>> {
    reel_testkit::media::segments(dir, n).expect("test media from the ffmpeg CLI")
}

/// (width, height, frames) of the video in a file or URL, by decoding.
pub(crate) fn probe(target: &str) -> (u64, u64, u64) {
    let v = reel_testkit::media::probe_video(target).unwrap_or_else(|e| panic!("{target}: {e}"));
    (u64::from(v.width), u64::from(v.height), v.frames)
}

pub(crate) fn write_temp(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

pub(crate) fn ladder(names: &[&str]) -> Vec<VideoProfile> {
    names
        .iter()
        .map(|n| VideoProfile::standard(n).unwrap())
        .collect()
}

pub(crate) fn any_addr() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// An orchestrator with test-friendly settings.
pub(crate) fn orch_settings(dir: &Path) -> OrchestratorSettings {
    orch_settings_at(any_addr(), dir)
}

/// [`orch_settings`] serving at `addr`.
pub(crate) fn orch_settings_at(addr: SocketAddr, dir: &Path) -> OrchestratorSettings {
    let mut s = OrchestratorSettings::new(addr);
    s.data_dir = Some(dir.to_path_buf());
    s.x264_preset = "ultrafast".into();
    s.encoder_threads = 1;
    s.cli_addr = Some(any_addr());
    s
}

pub(crate) async fn start_orch(
    settings: OrchestratorSettings,
    shutdown: &CancellationToken,
) -> RunningOrchestrator {
    OrchestratorBuilder::new(settings)
        .tasks(Tasks::with_shutdown(shutdown.child_token()))
        .start()
        .await
        .unwrap()
        .orchestrator
}

pub(crate) async fn start_gateway(
    orchs: Vec<ServiceUri>,
    ladder: Vec<VideoProfile>,
    rtmp: bool,
    shutdown: &CancellationToken,
) -> RunningGateway {
    let mut s = GatewaySettings::new(any_addr(), ladder);
    s.cli_addr = Some(any_addr());
    s.segment_length = Duration::from_secs(1);
    if rtmp {
        s.rtmp_addr = Some(any_addr());
    }
    GatewayBuilder::new(s)
        .source(Arc::new(ListSource(orchs)))
        .tasks(Tasks::with_shutdown(shutdown.child_token()))
        .start()
        .await
        .unwrap()
        .gateway
}

/// Pushes one segment to the gateway and returns (status, renditions by name with their
/// bytes and claimed pixels).
pub(crate) async fn push(
    http: &Http,
    gateway: SocketAddr,
    stream: &str,
    seq: usize,
    ts: &[u8],
) -> (u16, Vec<(String, Vec<u8>, u64)>, String) {
    let resp = http
        .send(
            http.client()
                .put(format!("http://{gateway}/live/{stream}/{seq}.ts"))
                .header("Accept", "multipart/mixed")
                .body(ts.to_vec()),
        )
        .await
        .unwrap();
    let status = resp.status;
    let ct = resp.header("content-type").unwrap_or_default().to_owned();
    let body = resp.body;
    if status != 200 {
        return (
            status,
            Vec::new(),
            String::from_utf8_lossy(&body).into_owned(),
        );
    }
    let boundary = reel_media::multipart::boundary(&ct).unwrap().to_owned();
    let parts = reel_media::multipart::parse(&boundary, &body).unwrap();
    let out = parts
        .into_iter()
        .map(|p| {
            (
                p.header("Rendition-Name").unwrap().to_owned(),
                p.body.to_vec(),
                p.header("Pixels").unwrap().parse().unwrap(),
            )
        })
        .collect();
    (status, out, String::new())
}

pub(crate) async fn get_json(http: &Http, url: String) -> serde_json::Value {
    http.get_json(url).await.unwrap()
}

/// A gateway talking to an orchestrator by hand: its own signer, sessions by discovery, and
/// segments of one manifest signed and posted.
pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) signer: reel_net::EthSigner,
    pub(crate) uri: ServiceUri,
    /// The manifest its segments belong to.
    pub(crate) manifest_id: &'static [u8],
}

impl Client {
    /// A client of the orchestrator at `uri` with a fresh signer.
    pub(crate) fn new(uri: &ServiceUri, manifest_id: &'static [u8]) -> Self {
        Self {
            http: reel_node::rpc::http_client().unwrap(),
            signer: reel_node::ephemeral_signer().unwrap(),
            uri: uri.clone(),
            manifest_id,
        }
    }

    /// Discovery: the orchestrator's answer to a signed request.
    pub(crate) async fn session(&self) -> Result<proto::OrchestratorInfo, reel_node::NodeError> {
        let req = reel_net::signed::signed_orchestrator_request(&self.signer);
        get_orchestrator(&self.uri, req, Duration::from_secs(5))
            .await
            .map(|(i, _)| i)
    }

    /// Signed segment data for `body` as segment `seq`, to P144p30fps16x9.
    pub(crate) fn seg_data(
        &self,
        info: &proto::OrchestratorInfo,
        seq: i64,
        body: &[u8],
    ) -> proto::SegData {
        let mut seg = proto::SegData {
            manifest_id: self.manifest_id.to_vec(),
            seq,
            hash: wire::segment_hash(body).to_vec(),
            duration: 1000,
            auth_token: info.auth_token.clone(),
            full_profiles3: ladder(&["P144p30fps16x9"])
                .iter()
                .map(reel_node::profiles::to_wire)
                .collect(),
            ..Default::default()
        };
        reel_net::signed::sign_seg_data(&self.signer, &mut seg).unwrap();
        seg
    }

    /// Posts `body` to `path` with the headers of `seg` and `payment`: (status, headers, body).
    pub(crate) async fn send(
        &self,
        path: &str,
        seg: &proto::SegData,
        payment: &proto::Payment,
        kind: BodyKind,
        body: Vec<u8>,
    ) -> (u16, reqwest::header::HeaderMap, Bytes) {
        let r = self
            .http
            .post(format!("{}{path}", self.uri))
            .headers(wire::segment_request_headers(seg, payment, kind))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.bytes().await.unwrap())
    }

    /// Posts an unpaid segment: (status, body).
    pub(crate) async fn post(
        &self,
        seg: &proto::SegData,
        kind: BodyKind,
        body: Vec<u8>,
    ) -> (u16, Bytes) {
        let (status, _, body) = self
            .send("/segment", seg, &proto::Payment::default(), kind, body)
            .await;
        (status, body)
    }
}
