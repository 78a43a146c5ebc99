//! Exports over real TLS: the sandbox serves HTTPS with a certificate from a test authority made
//! at run time, which the binary trusts only when given `--ca-cert`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use roster_sandbox::{SandboxOptions, SandboxStats, TlsIdentity};

use crate::support::*;

/// A test authority and a server certificate it signed for `localhost` and `127.0.0.1`.
struct Pki {
    ca_pem: String,
    identity: TlsIdentity,
}

fn pki() -> Pki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "roster-export test authority");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let mut leaf_params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &*ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        identity: TlsIdentity {
            cert_chain_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
        },
    }
}

fn tls_server(pki: &Pki) -> Server {
    Server::start(SandboxOptions {
        tls: Some(pki.identity.clone()),
        ..Default::default()
    })
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Exports the roster to `out`, trusting the authority in `ca`.
fn export_trusting(server: &Server, ca: &Path, out: &Path) -> Ran {
    run_to(
        server
            .export()
            .args(["--scope", "roster.readonly", "--ca-cert"])
            .arg(ca),
        out,
    )
}

#[test]
fn an_export_over_tls_with_ca_cert_gives_the_plain_http_bundle() {
    let pki = pki();
    let dir = workdir();
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);

    let plain = Server::fixture();
    let plain_out = dir.path().join("plain.zip");
    let ran = run_to(
        plain.export().args(["--scope", "roster.readonly"]),
        &plain_out,
    );
    ran.exits(0);

    let server = tls_server(&pki);
    assert!(
        server.base_url().starts_with("https://"),
        "{}",
        server.base_url()
    );
    assert!(
        server.token_url().starts_with("https://"),
        "{}",
        server.token_url()
    );
    // A client that connects and never says hello must not hold up the others.
    let _silent = std::net::TcpStream::connect(server.addr()).unwrap();
    let out = dir.path().join("tls.zip");
    export_trusting(&server, &ca, &out).exits(0);
    assert_eq!(bundle_files(&out), bundle_files(&plain_out));
    let stats = server.stats();
    assert_eq!(stats.tokens_issued, 1);
    assert!(stats.api_requests > 0);
}

#[test]
fn without_ca_cert_an_untrusted_certificate_exits_4_and_says_so() {
    let pki = pki();
    let server = tls_server(&pki);
    let dir = workdir();
    let out = dir.path().join("b.zip");
    let started = std::time::Instant::now();
    let ran = run_to(server.export().args(["--scope", "roster.readonly"]), &out);
    let stderr = &ran.stderr;
    assert_eq!(ran.code, Some(4), "{stderr}");
    assert!(
        stderr.contains(
            "certificate was rejected: it is not issued by an authority this machine trusts"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("--ca-cert"),
        "the hint names the flag: {stderr}"
    );
    // Trust does not come with time: no retries.
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(server.stats(), SandboxStats::default());
    assert!(!out.exists());
}

#[test]
fn a_ca_cert_file_that_is_missing_or_holds_no_certificate_exits_2_before_any_request() {
    let pki = pki();
    let server = tls_server(&pki);
    let dir = workdir();
    let missing = dir.path().join("no-such-ca.pem");
    let key_only = write(dir.path(), "key-only.pem", &pki.identity.key_pem);
    let cases = [
        (missing, "no-such-ca.pem: no such file"),
        (key_only, "key-only.pem: holds no certificate"),
    ];
    for (ca, expected) in cases {
        let out = dir.path().join("b.zip");
        let ran = export_trusting(&server, &ca, &out);
        let stderr = &ran.stderr;
        ran.exits(2).says(expected);
        assert_eq!(server.stats(), SandboxStats::default(), "{stderr}");
    }
}

/// Kills the child it holds when dropped, so a failing test leaves no server behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_sandbox_command_serves_https_with_tls_cert_and_tls_key() {
    let pki = pki();
    let dir = workdir();
    let cert = write(dir.path(), "server.pem", &pki.identity.cert_chain_pem);
    let key = write(dir.path(), "server.key", &pki.identity.key_pem);
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    // Not `bin_std()`: its logging flags belong to the export, not to `sandbox`.
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_roster-export"))
            .env_clear()
            .args(["sandbox", "--port", "0", "--tls-cert"])
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The banner's first lines, read on a thread so a silent server cannot hang the test.
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let url = |prefix: &str| loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("banner");
        if let Some(url) = line.strip_prefix(prefix) {
            break url.to_string();
        }
    };
    let base = url("base URL: ");
    let token = url("token URL: ");
    assert!(
        base.starts_with("https://") && token.starts_with("https://"),
        "{base} {token}"
    );

    let out = dir.path().join("b.zip");
    let ran = run_to(
        bin()
            .env("ROSTER_EXPORT_CLIENT_SECRET", SECRET)
            .args(["--base-url", &base, "--token-url", &token])
            .args(["--client-id", "demo-client", "--scope", "roster.readonly"])
            .arg("--ca-cert")
            .arg(&ca),
        &out,
    );
    ran.exits(0);
    assert_eq!(manifest(&bundle_files(&out))["file.users"], "bulk");
}

#[test]
fn oauth1_signs_https_urls_the_server_accepts() {
    let pki = pki();
    let dir = workdir();
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    let server = tls_server(&pki);
    let ran = run_to(
        server.export().arg("--ca-cert").arg(&ca).args([
            "--auth",
            "oauth1",
            "--scope",
            "roster.readonly",
            "--page-size",
            "20",
        ]),
        &dir.path().join("b.zip"),
    );
    ran.exits(0);
    let stats = server.stats();
    assert!(
        stats.oauth1_requests > 0 && stats.unauthorized == 0,
        "{stats:?}"
    );
}

/// A self-signed certificate with CA:TRUE that the server uses as its own, as
/// `openssl req -x509` makes them.
fn self_signed_server(name: &str) -> (String, TlsIdentity) {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let identity = TlsIdentity {
        cert_chain_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    };
    (cert.pem(), identity)
}

#[test]
fn a_self_signed_ca_certificate_used_by_the_server_is_trusted_only_when_named() {
    let (pem, identity) = self_signed_server("district server");
    let (other_pem, _) = self_signed_server("some other server");
    let server = Server::start(SandboxOptions {
        tls: Some(identity),
        ..Default::default()
    });
    let dir = workdir();
    let cert = write(dir.path(), "server.pem", &pem);
    let other = write(dir.path(), "other.pem", &other_pem);
    let out = dir.path().join("b.zip");
    let export = |flag: &str, file: &Path| {
        run_to(
            server
                .export()
                .args(["--scope", "roster.readonly", "--only", "orgs", flag])
                .arg(file),
            &out,
        )
    };
    export("--ca-cert", &cert).exits(0);
    assert_eq!(manifest(&bundle_files(&out))["file.orgs"], "bulk");
    export("--pin-cert", &cert).exits(0);
    for flag in ["--ca-cert", "--pin-cert"] {
        export(flag, &other)
            .exits(4)
            .says("the server's certificate was rejected");
    }
    run_to(server.export().args(["--scope", "roster.readonly"]), &out)
        .exits(4)
        .says("--ca-cert");
}
