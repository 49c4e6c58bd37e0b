//! TLS on the API port (`[tls]`: PEM certificate chain and private key), with rustls. The
//! handshake runs in the connection's task under the header-read timeout
//! (`crate::connections`); plain HTTP stays the default.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;

/// Why `[tls]` cannot be used; the server does not start.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("[tls] needs both cert and key (PEM files)")]
    Incomplete,
    #[error("[tls] cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("[tls] {} holds no certificate", .0.display())]
    NoCertificate(PathBuf),
    #[error("[tls] certificate and key cannot be used: {0}")]
    Config(#[from] rustls::Error),
}

/// The acceptor for `[tls]`, or None for plain HTTP.
pub fn acceptor(config: &TlsConfig) -> Result<Option<TlsAcceptor>, TlsError> {
    if !config.enabled() {
        return Ok(None);
    }
    if config.cert.as_os_str().is_empty() || config.key.as_os_str().is_empty() {
        return Err(TlsError::Incomplete);
    }
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Read { path, source }
    };
    let certs = CertificateDer::pem_file_iter(&config.cert)
        .map_err(read_err(&config.cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_err(&config.cert))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(config.cert.clone()));
    }
    let key = PrivateKeyDer::from_pem_file(&config.key).map_err(read_err(&config.key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}
