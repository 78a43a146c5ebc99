//! The TLS set-up when the user names certificates: the platform's verifier with the
//! `--ca-cert` authorities added, and in front of it a check that accepts a server presenting
//! exactly one of the named certificates.
//!
//! A district server whose certificate was made by `openssl req -x509` uses a self-signed
//! CA:TRUE certificate directly. Named with `--ca-cert`, it is a trusted authority, yet WebPKI
//! refuses an authority's certificate as a server's own (`CaUsedAsEndEntity`), though curl takes
//! it. Pinning fixes that narrowly: a certificate byte-identical to a named one is accepted once
//! the handshake signature proves the server holds its key; every other certificate goes to the
//! usual verifier, which decides as it always did. The name in the URL is not matched against a
//! pinned certificate: the user vouched for those exact bytes, and without the key no other
//! server can present them.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::{HttpError, ca};

/// The rustls configuration for `ca_certs` and `pin_certs`. With neither, the platform's roots
/// as reqwest would set them up itself, built once per process: loading the system's
/// certificates costs milliseconds, once per client, and a fleet builds a client per tenant.
pub fn client_config(
    ca_certs: &[PathBuf],
    pin_certs: &[PathBuf],
) -> Result<ClientConfig, HttpError> {
    if ca_certs.is_empty() && pin_certs.is_empty() {
        static PLATFORM: OnceLock<Result<ClientConfig, String>> = OnceLock::new();
        return PLATFORM
            .get_or_init(|| {
                let provider = provider();
                let platform = rustls_platform_verifier::Verifier::new(provider.clone())
                    .map_err(|e| format!("the certificate verifier: {e}"))?;
                finish(provider, Arc::new(platform)).map_err(|e| e.to_string())
            })
            .clone()
            .map_err(HttpError::Client);
    }
    let roots = ca::load_all(ca_certs)?;
    let mut pins = roots.clone();
    pins.extend(ca::load_pins(pin_certs)?);
    let provider = provider();
    let platform =
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone())
            .map_err(|e| HttpError::Client(format!("the certificate verifier: {e}")))?;
    let verifier = Pinned {
        pins,
        inner: Arc::new(platform),
        provider: provider.clone(),
    };
    finish(provider, Arc::new(verifier))
}

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// What reqwest sets up around a verifier: TLS 1.2 and 1.3, no client certificate, h2 and
/// HTTP/1.1 offered.
fn finish(
    provider: Arc<CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
) -> Result<ClientConfig, HttpError> {
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| HttpError::Client(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts a server certificate identical to a pinned one; defers to `inner` otherwise.
#[derive(Debug)]
struct Pinned {
    pins: Vec<CertificateDer<'static>>,
    inner: Arc<dyn ServerCertVerifier>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pins
            .iter()
            .any(|pin| pin.as_ref() == end_entity.as_ref())
        {
            return Ok(ServerCertVerified::assertion());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    // The handshake signatures are checked against the presented certificate's key for pinned
    // and verified certificates alike.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
