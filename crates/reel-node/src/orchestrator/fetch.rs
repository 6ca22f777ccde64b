//! Segments sent by URL (`Content-Type: application/vnd+livepeer.uri`). go-livepeer fetches
//! whatever URL the gateway names, which lets any gateway make the orchestrator call its
//! own admin ports or a cloud metadata service (see docs/faults.md#segment-urls-and-ssrf). Here a
//! URL is fetched only if its scheme is allowed, every address its host resolves to is public, the
//! connection goes to exactly the address that was checked (no second lookup to rebind), no
//! redirect is followed, and the body is bounded in size and time.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;

/// What segment URLs may point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Schemes allowed (`https`, and `http` by default).
    pub schemes: Vec<String>,
    /// Allow loopback, private, link-local and other non-public targets. Tests on one
    /// machine and closed networks turn this on; the default is off.
    pub allow_private: bool,
    /// Whole download deadline (go-livepeer: 8 s).
    pub timeout: Duration,
    /// Largest body.
    pub max_bytes: usize,
}

impl Default for UrlPolicy {
    fn default() -> Self {
        Self {
            schemes: vec!["https".into(), "http".into()],
            allow_private: false,
            timeout: Duration::from_secs(8),
            max_bytes: 64 << 20,
        }
    }
}

/// Why a URL was not fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("segment URL scheme {0:?} is not allowed")]
    Scheme(String),
    #[error("segment URL host {host} resolves to {addr}, which is not a public address")]
    PrivateAddress { host: String, addr: IpAddr },
    #[error("segment URL host {0} does not resolve")]
    Unresolved(String),
    #[error("segment URL: {0}")]
    Invalid(String),
    #[error("downloading the segment: {0}")]
    Download(String),
}

/// Whether an address is one anybody on the internet can reach (not loopback, private,
/// link-local, CGNAT, documentation, multicast, unspecified, broadcast, or an IPv6 form of
/// those).
pub fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => is_public_v4(a),
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let seg0 = a.segments()[0];
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00 // unique local
                || (seg0 & 0xffc0) == 0xfe80 // link local
                || (seg0 == 0x2001 && a.segments()[1] == 0x0db8) // documentation
                || a.segments()[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible
        }
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    !(a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10 CGNAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24 protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18/15 benchmarking
        || o[0] >= 240)
}

/// Checks `url` against the policy and resolves it: the one address to connect to.
pub async fn check(policy: &UrlPolicy, url: &http::Uri) -> Result<SocketAddr, FetchError> {
    let scheme = url.scheme_str().unwrap_or_default().to_ascii_lowercase();
    if !policy
        .schemes
        .iter()
        .any(|s| s.eq_ignore_ascii_case(&scheme))
    {
        return Err(FetchError::Scheme(scheme));
    }
    let host = url
        .host()
        .ok_or_else(|| FetchError::Invalid("no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await
        .map_err(|_| FetchError::Unresolved(host.clone()))?
        .map_err(|_| FetchError::Unresolved(host.clone()))?
        .collect(),
    };
    let first = *addrs
        .first()
        .ok_or_else(|| FetchError::Unresolved(host.clone()))?;
    if !policy.allow_private {
        // Every answer must be public: an attacker's DNS could mix a private one in.
        if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
            return Err(FetchError::PrivateAddress {
                host,
                addr: bad.ip(),
            });
        }
    }
    Ok(first)
}

/// Fetches a segment URL under the policy.
pub async fn fetch(policy: &UrlPolicy, url: &http::Uri) -> Result<Bytes, FetchError> {
    let addr = check(policy, url).await?;
    let host = url.host().unwrap_or_default().to_owned();
    // A client pinned to the checked address: no second DNS lookup can move it.
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .resolve(&host, addr)
        .connect_timeout(Duration::from_secs(3))
        .tls_danger_accept_invalid_certs(false)
        .build()
        .map_err(|e| FetchError::Download(e.to_string()))?;
    let deadline = tokio::time::Instant::now() + policy.timeout;
    let resp = tokio::time::timeout_at(deadline, client.get(url.to_string()).send())
        .await
        .map_err(|_| FetchError::Download("timed out".into()))?
        .map_err(|e| FetchError::Download(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(FetchError::Download(format!("HTTP {}", resp.status())));
    }
    crate::rpc::read_body(resp, policy.max_bytes, deadline)
        .await
        .map_err(|e| FetchError::Download(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_private_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn loopback_and_bad_schemes_are_refused() {
        let p = UrlPolicy::default();
        let u: http::Uri = "http://127.0.0.1:7935/status".parse().unwrap();
        assert!(matches!(
            check(&p, &u).await,
            Err(FetchError::PrivateAddress { .. })
        ));
        let u: http::Uri = "http://localhost:7935/status".parse().unwrap();
        assert!(matches!(
            check(&p, &u).await,
            Err(FetchError::PrivateAddress { .. })
        ));
        let u: http::Uri = "http://[::1]:80/".parse().unwrap();
        assert!(check(&p, &u).await.is_err());
        let u: http::Uri = "ftp://example.com/x".parse().unwrap();
        assert!(matches!(check(&p, &u).await, Err(FetchError::Scheme(_))));
        let open = UrlPolicy {
            allow_private: true,
            ..UrlPolicy::default()
        };
        let u: http::Uri = "http://127.0.0.1:9/x".parse().unwrap();
        assert_eq!(
            check(&open, &u).await.unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
    }
}
