//! TLS for the service port, the way go-livepeer does it: the orchestrator serves a
//! self-signed ECDSA P-256 certificate (kept as `cert.pem`/`key.pem` in its data directory
//! so it survives restarts), and clients do not verify it (go-livepeer's
//! `InsecureSkipVerify`: trust comes from the on-chain address that signs results and
//! tickets, not from a CA). The handshake itself is still checked: the peer must prove it
//! holds the certificate's key.
//!
//! A client may pin the certificate instead: [`CertPin`] is its SHA-256 fingerprint (the
//! orchestrator logs it at start), and a client given one refuses any other certificate
//! before a byte of the request (a remote transcoder's secret) is sent.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::NodeError;

/// File names in the data directory (go-livepeer's).
pub const CERT_FILE: &str = "cert.pem";
pub const KEY_FILE: &str = "key.pem";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn tls_err(reason: impl std::fmt::Display) -> NodeError {
    NodeError::Tls {
        reason: reason.to_string(),
    }
}

/// A certificate chain and its key.
pub struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl fmt::Debug for Identity {
    // Hand-written so that the private key can never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The SHA-256 fingerprint of the leaf certificate, what a client pins.
    pub fn fingerprint(&self) -> Option<CertPin> {
        self.certs.first().map(CertPin::of)
    }
}

/// The SHA-256 fingerprint of a DER certificate, as a client pins it
/// (`--orch-cert-sha256`). Parsed from 64 hex digits, with or without `:` between bytes;
/// shown as lower-case hex without separators.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertPin(pub [u8; 32]);

impl CertPin {
    /// The fingerprint of `cert`.
    pub fn of(cert: &CertificateDer<'_>) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(cert.as_ref()).into())
    }
}

impl fmt::Display for CertPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for CertPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertPin({self})")
    }
}

impl FromStr for CertPin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex: String = s.trim().chars().filter(|c| *c != ':').collect();
        let bad =
            || format!("{s:?} is not a SHA-256 fingerprint (64 hex digits, optionally with ':')");
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2).ok_or_else(bad)?;
            *b = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Self(out))
    }
}

/// A pin and what the last handshake against it saw: a client checks
/// [`PinCheck::mismatch`] after a failed connection to tell a wrong certificate (fatal)
/// from a network failure (retried).
#[derive(Debug)]
pub struct PinCheck {
    pin: CertPin,
    mismatch: Mutex<Option<CertPin>>,
}

impl PinCheck {
    pub fn new(pin: CertPin) -> Arc<Self> {
        Arc::new(Self {
            pin,
            mismatch: Mutex::new(None),
        })
    }

    pub fn pin(&self) -> CertPin {
        self.pin
    }

    /// The fingerprint of the last certificate refused, if any (and forgets it).
    pub fn mismatch(&self) -> Option<CertPin> {
        self.mismatch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    fn check(&self, cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let got = CertPin::of(cert);
        // Not secret (the certificate is public), so a plain compare.
        if got == self.pin {
            return Ok(());
        }
        *self
            .mismatch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(got);
        Err(rustls::Error::General(format!(
            "certificate SHA-256 {got} is not the pinned {}",
            self.pin
        )))
    }
}

/// A fresh self-signed certificate for `hosts` (DNS names or IP addresses).
pub fn self_signed(hosts: &[String]) -> Result<(String, String), NodeError> {
    let ck = rcgen::generate_simple_self_signed(hosts.to_vec()).map_err(tls_err)?;
    Ok((ck.cert.pem(), ck.signing_key.serialize_pem()))
}

/// Loads `cert.pem`/`key.pem` from `dir`, creating a self-signed pair for `hosts` first if
/// they do not exist. Without a directory the pair lives in memory only.
pub fn load_or_create(dir: Option<&Path>, hosts: &[String]) -> Result<Identity, NodeError> {
    let (cert_pem, key_pem) = match dir {
        Some(dir) => {
            let (cp, kp) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
            if !(cp.exists() && kp.exists()) {
                crate::util::private_dir(dir)?;
                let (c, k) = self_signed(hosts)?;
                std::fs::write(&cp, c)
                    .map_err(|e| NodeError::io(format!("writing {}", cp.display()), e))?;
                write_private(&kp, k.as_bytes())?;
                tracing::info!(target: "node::tls", cert = %cp.display(), "created a self-signed certificate");
            }
            if let Some(mode) = crate::util::loose_mode(&kp) {
                tracing::warn!(target: "node::tls", key = %kp.display(), mode = format!("{mode:o}"),
                    "the TLS key is readable by other users; chmod 600 it");
            }
            let c = std::fs::read_to_string(&cp)
                .map_err(|e| NodeError::io(format!("reading {}", cp.display()), e))?;
            let k = std::fs::read_to_string(&kp)
                .map_err(|e| NodeError::io(format!("reading {}", kp.display()), e))?;
            (c, k)
        }
        None => self_signed(hosts)?,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err(format!("{CERT_FILE}: {e}")))?;
    if certs.is_empty() {
        return Err(tls_err(format!("{CERT_FILE} holds no certificate")));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| tls_err(format!("{KEY_FILE}: {e}")))?;
    Ok(Identity { certs, key })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| NodeError::io(format!("creating {}", path.display()), e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| NodeError::io(format!("writing {}", path.display()), e))
}

/// The server side: HTTP/2 (gRPC) and HTTP/1.1 offered by ALPN.
pub fn server_config(id: Identity) -> Result<Arc<rustls::ServerConfig>, NodeError> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(id.certs, id.key)
        .map_err(tls_err)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The client side for gRPC (HTTP/2 by ALPN), not verifying the certificate's issuer.
pub fn grpc_client_config() -> Result<Arc<rustls::ClientConfig>, NodeError> {
    client_config(None, b"h2")
}

/// A client config offering `alpn`: without a pin any certificate is taken (its issuer is
/// not checked); with one, only the certificate with that fingerprint.
pub fn client_config(
    pin: Option<Arc<PinCheck>>,
    alpn: &[u8],
) -> Result<Arc<rustls::ClientConfig>, NodeError> {
    Ok(Arc::new(client_config_owned(pin, alpn)?))
}

/// [`client_config`], not shared (the HTTP client takes it by value).
pub fn client_config_owned(
    pin: Option<Arc<PinCheck>>,
    alpn: &[u8],
) -> Result<rustls::ClientConfig, NodeError> {
    let provider = provider();
    let verifier = Arc::new(AnyCertificate {
        algorithms: provider.signature_verification_algorithms,
        pin,
    });
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![alpn.to_vec()];
    Ok(cfg)
}

/// Accepts any certificate (or only the pinned one) but still checks that the server
/// signed the handshake with the certificate's key.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
    pin: Option<Arc<PinCheck>>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(pin) = &self.pin {
            pin.check(end_entity)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_then_reuses_the_pair() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let a = load_or_create(Some(dir.path()), &hosts).unwrap();
        let b = load_or_create(Some(dir.path()), &hosts).unwrap();
        assert_eq!(a.certs, b.certs, "the certificate survives a restart");
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
            .unwrap();
        assert_eq!(mode & 0o777, 0o600);
        let fresh = dir.path().join("fresh");
        load_or_create(Some(&fresh), &hosts).unwrap();
        let dmode = std::fs::metadata(&fresh)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
            .unwrap();
        assert_eq!(
            dmode & 0o777,
            0o700,
            "a data directory it creates is private"
        );
        server_config(a).unwrap();
        grpc_client_config().unwrap();
    }

    #[test]
    fn fingerprints_parse_print_and_never_show_the_key() {
        let id = load_or_create(None, &["localhost".to_owned()]).unwrap();
        let fp = id.fingerprint().unwrap();
        let text = fp.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<CertPin>().unwrap(), fp);
        let colons =
            fp.0.iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":");
        assert_eq!(colons.parse::<CertPin>().unwrap(), fp, "openssl's form");
        assert!("abc".parse::<CertPin>().is_err());
        assert!("zz".repeat(32).parse::<CertPin>().is_err());
        // The identity's Debug shows the fingerprint, never the key.
        let key_pem = {
            let dir = tempfile::tempdir().unwrap();
            load_or_create(Some(dir.path()), &["localhost".to_owned()]).unwrap();
            std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap()
        };
        let dbg = format!("{id:?}");
        assert!(dbg.contains(&text), "{dbg}");
        assert!(
            !dbg.contains("PRIVATE") && !dbg.contains(&key_pem[40..80]),
            "{dbg}"
        );
        // A pin refuses another certificate and remembers what it saw.
        let other = load_or_create(None, &["localhost".to_owned()]).unwrap();
        let check = PinCheck::new(fp);
        assert!(check.check(&id.certs[0]).is_ok());
        assert!(check.mismatch().is_none());
        let err = check.check(&other.certs[0]).unwrap_err().to_string();
        assert!(err.contains(&text), "{err}");
        assert_eq!(check.mismatch(), other.fingerprint());
    }

    #[test]
    fn a_broken_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = vec!["localhost".to_owned()];
        load_or_create(Some(dir.path()), &hosts).unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "garbage").unwrap();
        let err = load_or_create(Some(dir.path()), &hosts).unwrap_err();
        assert!(err.to_string().contains(KEY_FILE), "{err}");
    }
}
