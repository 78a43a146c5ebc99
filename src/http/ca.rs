//! Extra certificate authorities from `--ca-cert` files, trusted on top of the platform's roots
//! (for district servers with their own authority and for TLS-inspecting proxies), and the
//! certificates of `--pin-cert` files, trusted as they are (see `pin`).
//!
//! Files are read and checked once, before the first request, so a wrong path or a file that
//! holds no certificate is a usage error rather than a run of failed handshakes.

use std::path::{Path, PathBuf};

use tokio_rustls::rustls::RootCertStore;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::{PemObject, SectionKind};

/// Why a `--ca-cert` (or `--pin-cert`) file cannot be used. Every variant names the flag and
/// the file.
#[derive(Debug, thiserror::Error)]
pub enum CaCertError {
    #[error("{flag} {}: no such file", path.display())]
    Missing { flag: &'static str, path: PathBuf },
    #[error("{flag} {}: could not read it: {source}", path.display())]
    Unreadable {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{flag} {}: not a PEM file ({reason}); expected one or more \
         -----BEGIN CERTIFICATE----- blocks",
        path.display()
    )]
    NotPem {
        flag: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{flag} {}: holds no certificate, only {found}", path.display())]
    NoCertificate {
        flag: &'static str,
        path: PathBuf,
        found: String,
    },
    #[error(
        "{flag} {}: certificate {number} of the file is not usable as an authority: {reason}",
        path.display()
    )]
    BadCertificate {
        flag: &'static str,
        path: PathBuf,
        /// 1-based, in file order.
        number: usize,
        reason: String,
    },
}

/// The certificates of every `--ca-cert` file, in order.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<CertificateDer<'static>>, CaCertError> {
    let mut all = Vec::new();
    for path in paths {
        let certs = load(path)?;
        tracing::debug!(
            path = %path.display(),
            certificates = certs.len(),
            "trusting the certificates of {} in addition to the platform's",
            path.display()
        );
        all.extend(certs);
    }
    Ok(all)
}

/// The certificates of every `--pin-cert` file: trusted as they are, for the server that
/// presents exactly one of them, whether or not they could serve as authorities.
pub fn load_pins(paths: &[PathBuf]) -> Result<Vec<CertificateDer<'static>>, CaCertError> {
    let mut all = Vec::new();
    for path in paths {
        all.extend(read_pem("--pin-cert", path)?);
    }
    Ok(all)
}

/// The certificates of one PEM file, each checked to work as a trust anchor.
pub fn load(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaCertError> {
    let flag = "--ca-cert";
    let certs = read_pem(flag, path)?;
    // The same check the verifier makes when it is built, done here so the message names the file.
    let mut store = RootCertStore::empty();
    for (index, cert) in certs.iter().enumerate() {
        store
            .add(cert.clone())
            .map_err(|e| CaCertError::BadCertificate {
                flag,
                path: path.to_path_buf(),
                number: index + 1,
                reason: e.to_string(),
            })?;
    }
    Ok(certs)
}

/// The CERTIFICATE blocks of the PEM file at `path`, given with `flag`.
fn read_pem(flag: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, CaCertError> {
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => CaCertError::Missing {
            flag,
            path: path.to_path_buf(),
        },
        _ => CaCertError::Unreadable {
            flag,
            path: path.to_path_buf(),
            source,
        },
    })?;
    parse(&bytes).map_err(|problem| match problem {
        Problem::NotPem(reason) => CaCertError::NotPem {
            flag,
            path: path.to_path_buf(),
            reason,
        },
        Problem::NoCertificate(found) => CaCertError::NoCertificate {
            flag,
            path: path.to_path_buf(),
            found,
        },
    })
}

enum Problem {
    NotPem(String),
    NoCertificate(String),
}

/// The CERTIFICATE blocks of a PEM text; other blocks (keys, CRLs) are skipped, but a file of
/// nothing else is refused, since it is surely not the file that was meant.
fn parse(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, Problem> {
    let mut certs = Vec::new();
    let mut others = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes) {
        let (kind, der) = section.map_err(|e| Problem::NotPem(e.to_string()))?;
        match kind {
            SectionKind::Certificate => certs.push(CertificateDer::from(der)),
            other => others.push(describe(other)),
        }
    }
    if !certs.is_empty() {
        return Ok(certs);
    }
    if !others.is_empty() {
        others.dedup();
        return Err(Problem::NoCertificate(others.join(", ")));
    }
    let reason = if bytes.iter().all(u8::is_ascii_whitespace) {
        "it is empty".to_string()
    } else if bytes.first() == Some(&0x30) {
        // An ASN.1 SEQUENCE: a DER certificate, which has to be converted first.
        "it looks like binary DER; convert it with `openssl x509 -inform der -in FILE -out FILE.pem`"
            .to_string()
    } else {
        "no -----BEGIN line".to_string()
    };
    Err(Problem::NotPem(reason))
}

fn describe(kind: SectionKind) -> &'static str {
    match kind {
        SectionKind::Certificate => "a certificate",
        SectionKind::PublicKey => "a public key",
        SectionKind::RsaPrivateKey | SectionKind::PrivateKey | SectionKind::EcPrivateKey => {
            "a private key"
        }
        SectionKind::Crl => "a certificate revocation list",
        SectionKind::Csr => "a certificate signing request",
        _ => "a PEM block of another kind",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(name: &str) -> (String, rcgen::KeyPair) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        (params.self_signed(&key).unwrap().pem(), key)
    }

    #[test]
    fn a_bundle_of_two_certificates_loads_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bundle.pem");
        let (first, _) = ca("first test authority");
        let (second, _) = ca("second test authority");
        std::fs::write(&path, format!("# two authorities\n{first}\n{second}")).unwrap();
        let certs = load(&path).unwrap();
        assert_eq!(certs.len(), 2);
        assert_ne!(certs[0], certs[1]);
        assert_eq!(load_all(&[path.clone(), path]).unwrap().len(), 4);
        assert_eq!(
            load_pins(std::slice::from_ref(&dir.path().join("bundle.pem")))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn files_without_a_usable_certificate_are_named_and_explained() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = ca("unused");
        let cases: [(&str, Vec<u8>, &str); 5] = [
            (
                "key.pem",
                key.serialize_pem().into_bytes(),
                "only a private key",
            ),
            ("empty.pem", b"\n".to_vec(), "it is empty"),
            ("cert.der", vec![0x30, 0x82, 0x01, 0x0a], "binary DER"),
            ("notes.txt", b"hello".to_vec(), "no -----BEGIN line"),
            (
                "junk.pem",
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
                "certificate 1 of the file is not usable",
            ),
        ];
        for (name, bytes, expected) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let message = load(&path).unwrap_err().to_string();
            assert!(message.contains(name), "{message}");
            assert!(message.contains(expected), "{name}: {message}");
        }
        let missing = dir.path().join("missing.pem");
        let message = load(&missing).unwrap_err().to_string();
        assert!(message.contains("missing.pem: no such file"), "{message}");
    }
}
