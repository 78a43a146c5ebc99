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
use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::{HttpError, ca};

/// The rustls configuration for `ca_certs` and `pin_certs`; `None` when neither names a file
/// (reqwest's own set-up, the platform's roots, is used then).
pub fn client_config(
    ca_certs: &[PathBuf],
    pin_certs: &[PathBuf],
) -> Result<Option<ClientConfig>, HttpError> {
    if ca_certs.is_empty() && pin_certs.is_empty() {
        return Ok(None);
    }
    let roots = ca::load_all(ca_certs)?;
    let mut pins = roots.clone();
    pins.extend(ca::load_pins(pin_certs)?);
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let platform =
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone())
            .map_err(|e| HttpError::Client(format!("the certificate verifier: {e}")))?;
    let verifier = Pinned {
        pins,
        inner: Arc::new(platform),
        provider: provider.clone(),
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| HttpError::Client(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // What reqwest offers when it builds the configuration itself.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(config))
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
