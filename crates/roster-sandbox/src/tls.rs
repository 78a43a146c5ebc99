//! HTTPS for the sandbox: a rustls server configuration from PEM text, a listener for
//! `axum::serve` that hands over connections once their handshake is done, and the host name the
//! sandbox's URLs should use so that its certificate covers them.
//!
//! Handshakes run in tasks of their own, each with a time limit, so a slow or broken client never
//! holds up the next connection.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::client::verify_server_name;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::server::ParsedCertificate;
use tokio_rustls::server::TlsStream;
use tokio_util::task::AbortOnDropHandle;

/// A handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate chain (server certificate first) and private key the sandbox serves HTTPS with.
#[derive(Clone)]
pub struct TlsIdentity {
    pub cert_chain_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("cert_chain_pem", &self.cert_chain_pem)
            .field("key_pem", &"[REDACTED]")
            .finish()
    }
}

impl TlsIdentity {
    /// Reads the two PEM files (`--tls-cert`, `--tls-key`); errors name the file.
    pub fn from_files(cert: &Path, key: &Path) -> io::Result<TlsIdentity> {
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        };
        Ok(TlsIdentity {
            cert_chain_pem: read(cert)?,
            key_pem: read(key)?,
        })
    }
}

/// The server configuration for `identity`, and its server certificate.
pub(crate) fn server_config(
    identity: &TlsIdentity,
) -> io::Result<(Arc<ServerConfig>, CertificateDer<'static>)> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    let chain = CertificateDer::pem_slice_iter(identity.cert_chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("the TLS certificate chain is not valid PEM: {e}")))?;
    let leaf = chain
        .first()
        .cloned()
        .ok_or_else(|| invalid("the TLS certificate file holds no certificate".to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes())
        .map_err(|e| invalid(format!("the TLS key file holds no usable private key: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            invalid(format!(
                "the TLS certificate and key do not go together: {e}"
            ))
        })?;
    // The sandbox speaks HTTP/1.1 only; without this a client offering h2 might expect it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), leaf))
}

/// The host for the sandbox's URLs: the IP itself when the certificate covers it, else
/// `localhost` for a loopback IP when the certificate covers that.
pub(crate) fn url_host(leaf: &CertificateDer<'_>, ip: IpAddr) -> String {
    let covers = |name: ServerName<'_>| {
        ParsedCertificate::try_from(leaf).is_ok_and(|cert| verify_server_name(&cert, &name).is_ok())
    };
    let literal = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    if covers(ServerName::IpAddress(ip.into())) {
        return literal;
    }
    if ip.is_loopback()
        && covers(ServerName::DnsName(
            "localhost".try_into().expect("valid name"),
        ))
    {
        return "localhost".to_string();
    }
    tracing::warn!(
        "the sandbox's TLS certificate covers neither {ip} nor localhost; clients will refuse it"
    );
    literal
}

/// Connections that finished their TLS handshake, for `axum::serve`.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    /// Accepts and shakes hands in the background; stops when the listener is dropped.
    _acceptor: AbortOnDropHandle<()>,
}

impl TlsListener {
    pub(crate) fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), tx));
        Ok(TlsListener {
            ready,
            local,
            _acceptor: AbortOnDropHandle::new(acceptor),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop never ends on its own; if it is gone, nothing will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Accepts TCP connections and runs each handshake in its own task; handshakes in flight are
/// cancelled with this task.
async fn accept_loop(
    mut tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let mut handshakes = JoinSet::new();
    loop {
        tokio::select! {
            // axum's own accept: it logs and waits out errors such as running out of files.
            (stream, peer) = axum::serve::Listener::accept(&mut tcp) => {
                // TLS records are small writes; don't let Nagle hold them back.
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let ready = ready.clone();
                handshakes.spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = ready.send((tls, peer)).await;
                        }
                        Ok(Err(err)) => tracing::info!(%peer, "sandbox: TLS handshake failed: {err}"),
                        Err(_) => tracing::info!(%peer, "sandbox: TLS handshake timed out"),
                    }
                });
            }
            // Reaps finished handshakes so the set does not grow.
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => {}
            () = ready.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(names: &[&str]) -> TlsIdentity {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .self_signed(&key)
            .unwrap();
        TlsIdentity {
            cert_chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    fn host_for(names: &[&str], ip: &str) -> String {
        let (_, leaf) = server_config(&identity(names)).unwrap();
        url_host(&leaf, ip.parse().unwrap())
    }

    #[test]
    fn urls_use_a_host_the_certificate_covers() {
        assert_eq!(
            host_for(&["127.0.0.1", "localhost"], "127.0.0.1"),
            "127.0.0.1"
        );
        assert_eq!(host_for(&["localhost"], "127.0.0.1"), "localhost");
        assert_eq!(host_for(&["localhost"], "::1"), "localhost");
        assert_eq!(host_for(&["::1"], "::1"), "[::1]");
        // Covered by nothing: the IP, and a warning.
        assert_eq!(host_for(&["example.org"], "127.0.0.1"), "127.0.0.1");
    }

    #[test]
    fn an_identity_that_does_not_load_is_invalid_input() {
        let good = identity(&["localhost"]);
        let other = identity(&["localhost"]);
        let cases = [
            (
                TlsIdentity {
                    cert_chain_pem: String::new(),
                    ..good.clone()
                },
                "holds no certificate",
            ),
            (
                TlsIdentity {
                    key_pem: good.cert_chain_pem.clone(),
                    ..good.clone()
                },
                "no usable private key",
            ),
            (
                TlsIdentity {
                    key_pem: other.key_pem,
                    ..good
                },
                "do not go together",
            ),
        ];
        for (identity, expected) in cases {
            let err = server_config(&identity).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains(expected), "{err}");
        }
    }
}
