//! Clients of the service port: service URIs, gRPC channels (h2c for `http://`, TLS without
//! certificate verification for `https://`, as go-livepeer dials), and the HTTP client for
//! segments, results and transcoder callbacks, every body read with a size cap.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

use crate::NodeError;

/// go-livepeer's gRPC connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// go-livepeer's gRPC call timeout for discovery.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(8);

/// Where a node's service port is: `https://host:port` (the default scheme) or
/// `http://host:port` (cleartext, h2c).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceUri {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl ServiceUri {
    /// Parses `https://host:port`, `http://host:port` or `host:port` (TLS). A path, if
    /// any, is ignored; the port defaults to 8935.
    pub fn parse(text: &str) -> Result<Self, NodeError> {
        let bad = |why: &str| NodeError::Config(format!("service address {text:?}: {why}"));
        let t = text.trim();
        let (tls, rest) = if let Some(r) = t.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = t.strip_prefix("http://") {
            (false, r)
        } else if t.contains("://") {
            return Err(bad("only http:// and https:// are supported"));
        } else {
            (true, t)
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("expected host:port"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in an IPv6 address"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("bad port"))?,
                None if after.is_empty() => 8935,
                None => return Err(bad("expected host:port")),
            };
            (h.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad("bad port"))?),
                None => (authority.to_owned(), 8935),
            }
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        Ok(Self { tls, host, port })
    }

    /// The base URL for HTTP requests (no trailing slash).
    pub fn base(&self) -> String {
        self.to_string()
    }

    fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// Whether `url` points at this service (same scheme, host and port): result and
    /// input URLs are only fetched from the node that handed them out.
    pub fn owns(&self, url: &str) -> bool {
        let prefix = format!("{self}/");
        url.starts_with(&prefix)
    }
}

impl fmt::Display for ServiceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host_for_url(), self.port)
    }
}

/// A gRPC channel to a service port. The channel connects lazily and reconnects on its
/// own; the first call fails fast (`CONNECT_TIMEOUT`) if nobody listens.
pub fn grpc_channel(uri: &ServiceUri, call_timeout: Duration) -> Result<Channel, NodeError> {
    grpc_channel_pinned(uri, call_timeout, None)
}

/// [`grpc_channel`], taking only the certificate `pin` names when one is given.
pub fn grpc_channel_pinned(
    uri: &ServiceUri,
    call_timeout: Duration,
    pin: Option<Arc<crate::tls::PinCheck>>,
) -> Result<Channel, NodeError> {
    let tls = if uri.tls {
        Some(tokio_rustls::TlsConnector::from(crate::tls::client_config(
            pin, b"h2",
        )?))
    } else {
        None
    };
    // The connector below does TLS itself, so tonic always sees an http:// endpoint.
    let endpoint = Endpoint::from_shared(format!("http://{}:{}", uri.host_for_url(), uri.port))
        .map_err(|e| NodeError::Config(format!("service address {uri}: {e}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(call_timeout)
        .http2_keep_alive_interval(crate::service::KEEPALIVE_INTERVAL)
        .keep_alive_timeout(crate::service::KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true)
        .tcp_nodelay(true);
    let (host, port) = (uri.host.clone(), uri.port);
    let connector = tower::service_fn(move |_: http::Uri| {
        let (host, port, tls) = (host.clone(), port, tls.clone());
        async move {
            let tcp = crate::service::connect_tcp(&host, port).await?;
            let io = match tls {
                Some(tls) => {
                    let name = rustls::pki_types::ServerName::try_from(host.clone())
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                    tokio_util::either::Either::Left(tls.connect(name, tcp).await?)
                }
                None => tokio_util::either::Either::Right(tcp),
            };
            Ok::<_, std::io::Error>(TokioIo::new(io))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}

/// The HTTP client every role uses: no proxy, no redirects (a redirect could point a
/// fetch at a private address), `TCP_NODELAY`, certificates not verified (see
/// [`crate::tls`]).
pub fn http_client() -> Result<reqwest::Client, NodeError> {
    http_client_pinned(None)
}

/// [`http_client`], taking only the certificate `pin` names when one is given.
pub fn http_client_pinned(
    pin: Option<Arc<crate::tls::PinCheck>>,
) -> Result<reqwest::Client, NodeError> {
    let b = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(60));
    let b = match pin {
        Some(pin) => {
            b.tls_backend_preconfigured(crate::tls::client_config_owned(Some(pin), b"http/1.1")?)
        }
        None => b.tls_danger_accept_invalid_certs(true),
    };
    b.build()
        .map_err(|e| NodeError::Config(format!("building the HTTP client: {e}")))
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    TooLarge { limit: usize },
    Timeout,
    Transport(reqwest::Error),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => write!(f, "body larger than {limit} bytes"),
            Self::Timeout => f.write_str("body not received in time"),
            Self::Transport(e) => write!(f, "{e}"),
        }
    }
}

/// Reads a response body, refusing more than `limit` bytes and stopping at `deadline`.
pub async fn read_body(
    mut resp: reqwest::Response,
    limit: usize,
    deadline: tokio::time::Instant,
) -> Result<Bytes, BodyError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut buf = BytesMut::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .map_err(|_| BodyError::Timeout)?
            .map_err(BodyError::Transport)?;
        match chunk {
            Some(c) => {
                if buf.len().saturating_add(c.len()) > limit {
                    return Err(BodyError::TooLarge { limit });
                }
                buf.extend_from_slice(&c);
            }
            None => return Ok(buf.freeze()),
        }
    }
}

/// Shared handle so tests and roles can reuse one connection pool.
pub type HttpClient = Arc<reqwest::Client>;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Service URIs come from the chain's ServiceRegistry: anything may be there.
        #[test]
        fn any_text_parses_or_fails_cleanly(s in "\\PC{0,80}") {
            let _ = ServiceUri::parse(&s);
        }

        #[test]
        fn display_parses_back(tls: bool, host in "[a-z][a-z0-9.-]{0,30}", port: u16) {
            let u = ServiceUri { tls, host, port };
            prop_assert_eq!(ServiceUri::parse(&u.to_string()).unwrap(), u);
        }
    }

    #[test]
    fn service_uris() {
        let u = ServiceUri::parse("https://127.0.0.1:8935").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (true, "127.0.0.1", 8935));
        assert_eq!(u.to_string(), "https://127.0.0.1:8935");
        let u = ServiceUri::parse("http://orch.example:9000/").unwrap();
        assert_eq!((u.tls, u.port), (false, 9000));
        let u = ServiceUri::parse("10.0.0.1:7000").unwrap();
        assert!(u.tls);
        let u = ServiceUri::parse("https://[::1]:8935").unwrap();
        assert_eq!(u.to_string(), "https://[::1]:8935");
        assert_eq!(ServiceUri::parse("o.example").unwrap().port, 8935);
        for bad in [
            "ftp://x:1",
            "https://",
            "https://user@h:1",
            "h:notaport",
            "[::1",
        ] {
            assert!(ServiceUri::parse(bad).is_err(), "{bad}");
        }
        let u = ServiceUri::parse("https://127.0.0.1:8935").unwrap();
        assert!(u.owns("https://127.0.0.1:8935/results/ab/0.ts"));
        assert!(!u.owns("https://127.0.0.1:89350/x"));
        assert!(!u.owns("http://127.0.0.1:8935/x"));
    }
}
