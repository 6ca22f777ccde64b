//! TLS for the service port, the way go-livepeer does it: the orchestrator serves a
//! self-signed ECDSA P-256 certificate (kept as `cert.pem`/`key.pem` in its data directory
//! so it survives restarts), and clients do not verify it (go-livepeer's
//! `InsecureSkipVerify`: trust comes from the on-chain address that signs results and
//! tickets, not from a CA). The handshake itself is still checked: the peer must prove it
//! holds the certificate's key.

use std::path::Path;
use std::sync::Arc;

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
#[derive(Debug)]
pub struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
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
                std::fs::create_dir_all(dir)
                    .map_err(|e| NodeError::io(format!("creating {}", dir.display()), e))?;
                let (c, k) = self_signed(hosts)?;
                std::fs::write(&cp, c)
                    .map_err(|e| NodeError::io(format!("writing {}", cp.display()), e))?;
                write_private(&kp, k.as_bytes())?;
                tracing::info!(target: "node::tls", cert = %cp.display(), "created a self-signed certificate");
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
    let provider = provider();
    let verifier = Arc::new(AnyCertificate {
        algorithms: provider.signature_verification_algorithms,
    });
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(cfg))
}

/// Accepts any certificate but still checks that the server signed the handshake with the
/// certificate's key.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
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
        server_config(a).unwrap();
        grpc_client_config().unwrap();
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
