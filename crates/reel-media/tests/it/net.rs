//! Loopback plumbing for the server tests: servers on 127.0.0.1:0, a raw HTTP/1.1 client
//! (so the tests control every byte and can misbehave on purpose), and an RTMP client
//! handshake.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use reel_media::hls::HlsSettings;
use reel_media::server::HttpSettings;
use reel_media::{HlsStore, LocalTranscoder, MediaServer, SegmentHandler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::session::test_settings;

/// An HTTP media server with a local transcoder, stopped on drop.
pub(crate) struct TestHttp {
    pub(crate) addr: SocketAddr,
    pub(crate) hls: Arc<HlsStore>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) record_dir: tempfile::TempDir,
}

impl Drop for TestHttp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub(crate) async fn start_http(settings: HttpSettings) -> Result<TestHttp> {
    let record_dir = tempfile::tempdir()?;
    let hls = Arc::new(HlsStore::new(HlsSettings {
        window: 6,
        keep_in_memory: 8,
        record_dir: Some(record_dir.path().to_path_buf()),
    }));
    let transcoder = Arc::new(LocalTranscoder::new(test_settings(), 8)?);
    let handler: Arc<dyn SegmentHandler> = Arc::new(transcoder);
    start_http_with(settings, handler, hls, record_dir).await
}

pub(crate) async fn start_http_with(
    settings: HttpSettings,
    handler: Arc<dyn SegmentHandler>,
    hls: Arc<HlsStore>,
    record_dir: tempfile::TempDir,
) -> Result<TestHttp> {
    let shutdown = CancellationToken::new();
    let server = MediaServer::new(settings, handler, Arc::clone(&hls));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let running = server.spawn(listener, shutdown.clone())?;
    Ok(TestHttp {
        addr: running.local_addr(),
        hls,
        shutdown,
        record_dir,
    })
}

/// A parsed HTTP response.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl HttpResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request with `Connection: close` and reads the whole response.
pub(crate) async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse> {
    let mut sock = TcpStream::connect(addr).await?;
    sock.set_nodelay(true)?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "PUT" || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    sock.write_all(req.as_bytes()).await?;
    sock.write_all(body).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), sock.read_to_end(&mut raw))
        .await
        .context("response timed out")??;
    parse_response(&raw)
}

pub(crate) fn parse_response(raw: &[u8]) -> Result<HttpResponse> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of response headers")?;
    let head = std::str::from_utf8(&raw[..head_end])?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().context("no status line")?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .context("no status code")?
        .parse()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &raw[head_end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("chunk size line")?;
        let size = usize::from_str_radix(std::str::from_utf8(&data[..line_end])?.trim(), 16)?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            bail!("chunk cut short");
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Connects to an RTMP server and completes the client side of the handshake.
pub(crate) async fn rtmp_handshake(addr: SocketAddr) -> Result<TcpStream> {
    use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
    let mut sock = TcpStream::connect(addr).await?;
    sock.set_nodelay(true)?;
    let mut hs = Handshake::new(PeerType::Client);
    let c0c1 = hs.generate_outbound_p0_and_p1()?;
    sock.write_all(&c0c1).await?;
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf)).await??;
        if n == 0 {
            bail!("server closed during the handshake");
        }
        match hs.process_bytes(&buf[..n])? {
            HandshakeProcessResult::InProgress { response_bytes } => {
                sock.write_all(&response_bytes).await?;
            }
            HandshakeProcessResult::Completed { response_bytes, .. } => {
                sock.write_all(&response_bytes).await?;
                return Ok(sock);
            }
        }
    }
}

/// Reads until the peer closes; returns how long that took, or fails after `limit`.
pub(crate) async fn wait_closed(sock: &mut TcpStream, limit: Duration) -> Result<Duration> {
    let start = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(start + limit),
            sock.read(&mut buf),
        )
        .await
        {
            Err(_) => bail!("connection still open after {limit:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}
