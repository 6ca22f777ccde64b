//! One port for everything a peer talks to: gRPC and plain HTTP on the same listener, over
//! TLS or cleartext (h2c), like go-livepeer's service port. hyper's automatic connection
//! builder reads the first bytes of each connection and speaks HTTP/2 (gRPC, or HTTP/2
//! requests) or HTTP/1.1; the axum router then sends `application/grpc` paths
//! (`/net.Orchestrator/…`) to tonic and the rest to the HTTP handlers.
//!
//! Every connection gets `TCP_NODELAY` (small replies otherwise stall on delayed ACKs), a
//! handshake deadline, a header deadline, HTTP/2 pings, and a slot out of a bounded pool
//! of which one address may hold only so many; the peer's address travels in the
//! request extensions as axum's `ConnectInfo` for per-client rate limits.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// HTTP/2 pings on gRPC channels and on the service port, so that a link that drops
/// everything (rather than closing) is found dead within interval + timeout, and a remote
/// transcoder reconnects instead of waiting on a stream that will never deliver.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// How long a ping may go unanswered before the connection is closed.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// How a listener serves.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// TLS, or cleartext when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Time a new connection has to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// Most connections at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Most connections at once from one address: a single host holding connections open
    /// (slowloris) would otherwise take every slot and lock other peers out. Beyond it a
    /// connection is closed at once. Loopback peers (this machine's own roles, a local
    /// proxy) are not counted.
    pub max_connections_per_ip: usize,
    /// Time an HTTP/1.1 request's headers have to arrive, once the connection is up.
    pub header_timeout: Duration,
    /// How long open connections get to finish after shutdown.
    pub drain: Duration,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            tls: None,
            handshake_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_ip: 64,
            header_timeout: Duration::from_secs(10),
            drain: Duration::from_secs(2),
        }
    }
}

/// A running listener.
#[derive(Debug)]
pub struct Served {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Served {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the listener and its connections are done after shutdown.
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// Serves `router` on `listener` until `shutdown`.
pub fn serve(
    listener: TcpListener,
    router: Router,
    settings: ServeSettings,
    shutdown: CancellationToken,
) -> std::io::Result<Served> {
    let addr = listener.local_addr()?;
    let task = tokio::spawn(accept_loop(listener, router, settings, shutdown));
    Ok(Served { addr, task })
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    settings: ServeSettings,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let per_ip = Arc::new(PerIp::default());
    let tracker = TaskTracker::new();
    let acceptor = settings.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(target: "node::service", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let limit = if peer.ip().is_loopback() {
            usize::MAX
        } else {
            settings.max_connections_per_ip
        };
        let Some(ip_slot) = per_ip.take(peer.ip(), limit) else {
            tracing::debug!(target: "node::service", %peer, "too many connections from this address: closed");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let acceptor = acceptor.clone();
        let shutdown = shutdown.clone();
        let settings = settings.clone();
        tracker.spawn(async move {
            let _permit = (permit, ip_slot);
            match acceptor {
                Some(acceptor) => {
                    let tls = tokio::time::timeout(settings.handshake_timeout, acceptor.accept(tcp))
                        .await;
                    match tls {
                        Ok(Ok(stream)) => {
                            connection(TokioIo::new(stream), peer, router, &settings, shutdown)
                                .await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(target: "node::service", %peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(target: "node::service", %peer, "TLS handshake timed out");
                        }
                    }
                }
                None => connection(TokioIo::new(tcp), peer, router, &settings, shutdown).await,
            }
        });
    }
    tracker.close();
    tracker.wait().await;
}

async fn connection<I>(
    io: I,
    peer: SocketAddr,
    router: Router,
    settings: &ServeSettings,
    shutdown: CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move { Ok::<_, Infallible>(router.oneshot(req).await.unwrap_or_else(|e| match e {})) }
    });
    let mut builder = Builder::new(TokioExecutor::new());
    // A peer whose link silently dies (a cut cable, a partition) sends no FIN: without
    // pings its long-lived streams (a transcoder's registration) would look alive for the
    // minutes TCP takes to give up.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT);
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(target: "node::service", %peer, error = %e, "connection ended with an error");
            }
        }
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(settings.drain, conn).await;
        }
    }
}

/// Connections open per peer address.
#[derive(Debug, Default)]
struct PerIp(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

/// One connection's place in [`PerIp`], given back when the connection ends.
struct IpSlot(Arc<PerIp>, std::net::IpAddr);

impl PerIp {
    fn take(self: &Arc<Self>, ip: std::net::IpAddr, max: usize) -> Option<IpSlot> {
        let mut m = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = m.entry(ip).or_insert(0);
        if *n >= max.max(1) {
            return None;
        }
        *n = n.saturating_add(1);
        Some(IpSlot(Arc::clone(self), ip))
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = self
            .0
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.1) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// Binds a listener with an error that names the flag to change.
pub async fn bind(addr: SocketAddr, flag: &'static str) -> Result<TcpListener, crate::NodeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| crate::NodeError::Bind { addr, flag, source })
}

/// Binds a CLI port (`/status`, `/metrics`, `/healthz`). Those pages have no
/// authentication, so an address other than loopback is refused unless the operator says
/// `--cli-public`.
pub async fn bind_cli(addr: SocketAddr, public: bool) -> Result<TcpListener, crate::NodeError> {
    check_cli_addr(addr, public)?;
    bind(addr, "--cli-addr").await
}

/// Why [`bind_cli`] refuses `addr`, if it does.
pub fn check_cli_addr(addr: SocketAddr, public: bool) -> Result<(), crate::NodeError> {
    if public || addr.ip().is_loopback() {
        return Ok(());
    }
    Err(crate::NodeError::Config(format!(
        "--cli-addr {addr} is not a loopback address, and the CLI port (/status, /metrics, \
         /healthz) has no authentication: bind it to 127.0.0.1, or pass --cli-public to \
         serve it on {addr} anyway"
    )))
}

/// Connects with `TCP_NODELAY` set.
pub(crate) async fn connect_tcp(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect((host, port)).await?;
    let _ = s.set_nodelay(true);
    Ok(s)
}
