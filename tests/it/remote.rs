//! Outputs beyond the local disk, against real servers on loopback: moto's S3 server, Azurite's
//! Blob service and OpenSSH's sshd. Published bytes read back identical; a failed upload keeps the
//! previous object or file; the shrink guard reads a remote previous bundle back; host keys must be
//! known.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use roster_sandbox::{District, SandboxOptions};

use crate::servers::{AZURITE_KEY, Azurite, S3, S3_SECRET, Sshd, Store, keygen};
use crate::support::*;

/// Asserts that `printed` carries no store's key or secret.
#[track_caller]
fn assert_no_store_secret(printed: &str) {
    assert!(!printed.contains(S3_SECRET), "the S3 secret leaked");
    assert!(
        !printed.contains(AZURITE_KEY),
        "the Azure account key leaked"
    );
    assert!(!printed.contains("PRIVATE KEY"), "a private key leaked");
}

/// Runs `cmd` and collects what it printed, which must carry neither a store's secret nor a key.
fn ran(cmd: &mut Command) -> Ran {
    let output = cmd.stdin(Stdio::null()).output().unwrap();
    let (stdout, stderr) = text(&output);
    for printed in [&stdout, &stderr] {
        assert_no_secret("output", printed);
        assert_no_store_secret(printed);
    }
    Ran {
        code: output.status.code(),
        stdout,
        stderr,
    }
}

/// An export of the fixture's roster to `out`, with a cache folder of the test's own (where a
/// remote output is staged). `server` must outlive the run.
fn export_to(server: &Server, out: &str, cache: &Path) -> Command {
    let mut cmd = server.export_std();
    cmd.args(["--scope", "roster.readonly", "--out", out])
        .env("XDG_CACHE_HOME", cache);
    cmd
}

/// The fixture's roster bundle as a local zip: what any upload of it must equal byte for byte.
fn local_reference(server: &Server, dir: &Path) -> Vec<u8> {
    let out = dir.join("reference.zip");
    server.export_ok(&["--scope", "roster.readonly"], &out);
    std::fs::read(out).unwrap()
}

/// Publishes `server`'s roster to `<scheme>://BUCKET/district.zip`: the URL and the object, the
/// previous output a later run must leave alone.
fn published_to(
    store: &impl Store,
    server: &Server,
    bucket: &str,
    cache: &Path,
) -> (String, Vec<u8>) {
    let url = store.url(&format!("{bucket}/district.zip"));
    let mut first = export_to(server, &url, cache);
    store.env(&mut first);
    ran(&mut first).exits(0);
    let before = store.get(bucket, "district.zip").unwrap();
    (url, before)
}

/// The fixture's roster published to `store` as a new object, then over the previous one: each
/// time it reads back (through the store's own API) equal to a local export, and nothing else is
/// left in the bucket or the cache.
fn publishes_byte_identical(store: &impl Store) {
    let bucket = store.bucket("publish");
    let server = Server::fixture();
    let dir = workdir();
    let url = store.url(&format!("{bucket}/nightly/district.zip"));
    for round in ["new", "over the previous one"] {
        let mut cmd = export_to(&server, &url, dir.path());
        store.env(&mut cmd);
        ran(&mut cmd).exits(0);
        assert_eq!(
            store.get(&bucket, "nightly/district.zip").as_deref(),
            Some(local_reference(&server, dir.path()).as_slice()),
            "{round}"
        );
        assert_eq!(
            store.keys(&bucket),
            ["nightly/district.zip"],
            "no stray keys"
        );
    }
    assert!(!has_staging(dir.path()), "no staging left in the cache");
}

#[test]
fn a_zip_published_to_s3_reads_back_byte_identical() {
    let Some(s3) = S3::start() else { return };
    publishes_byte_identical(&s3);
}

#[test]
fn a_zip_published_to_azure_reads_back_byte_identical() {
    let Some(azurite) = Azurite::start() else {
        return;
    };
    publishes_byte_identical(&azurite);
}

/// A TCP relay from a loopback port to `to` that can be cut: a server that goes away mid-run.
struct Relay {
    port: u16,
    cut: Arc<AtomicBool>,
}

impl Relay {
    fn start(to: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if flag.load(Ordering::SeqCst) {
                    // Gone: connections are dropped unanswered.
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(&to) else {
                    continue;
                };
                for (mut from, mut into) in [
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    (upstream, client),
                ] {
                    let flag = flag.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0
                                || flag.load(Ordering::SeqCst)
                                || into.write_all(&buf[..n]).is_err()
                            {
                                break;
                            }
                        }
                        let _ = into.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, cut }
    }
}

/// A run whose store goes away while it is under way, and one to a bucket that does not exist:
/// both exit 5 naming the URL, and the previous object stays as it was, with nothing beside it.
fn a_failed_upload_keeps_the_previous_object(store: &impl Store) {
    let fixture = Server::fixture();
    let bucket = store.bucket("failed");
    let dir = workdir();
    let (url, before) = published_to(store, &fixture, &bucket, dir.path());
    losing_the_store_keeps(store, &bucket, &url, &before, dir.path());

    // A bucket that does not exist: the same, and it names the URL.
    let missing = store.url(&format!("{bucket}-missing/district.zip"));
    let mut cmd = export_to(&fixture, &missing, dir.path());
    store.env(&mut cmd);
    ran(&mut cmd).exits(5).says(&missing);
}

/// A run to `url` whose store goes away while it is under way exits 5 naming the URL, and the
/// previous object (`before`, at `district.zip`) stays as it was, alone in its bucket.
fn losing_the_store_keeps(
    store: &impl Store,
    bucket: &str,
    url: &str,
    before: &[u8],
    cache: &Path,
) {
    let relay = Relay::start(store.endpoint().trim_start_matches("http://").to_string());
    let slow = slow_server();
    let mut child = spawn_slow(&slow, url, |cmd| {
        store.point(cmd, &format!("http://127.0.0.1:{}", relay.port));
        cmd.env("XDG_CACHE_HOME", cache);
    });
    wait_for_staging(cache, &mut child);
    relay.cut.store(true, Ordering::SeqCst);
    let (status, stderr) = finish(child);
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(stderr.contains(url), "{stderr}");
    assert_no_store_secret(&stderr);
    assert_eq!(
        store.get(bucket, "district.zip").unwrap(),
        before,
        "untouched"
    );
    assert_eq!(store.keys(bucket), ["district.zip"], "no stray keys");
    assert!(!has_staging(cache), "no staging left");
}

#[test]
fn a_failed_s3_upload_exits_non_zero_and_keeps_the_previous_object() {
    let Some(s3) = S3::start() else { return };
    a_failed_upload_keeps_the_previous_object(&s3);
}

#[test]
fn a_failed_azure_upload_exits_non_zero_and_keeps_the_previous_object() {
    let Some(azurite) = Azurite::start() else {
        return;
    };
    a_failed_upload_keeps_the_previous_object(&azurite);
}

#[test]
fn the_shrink_guard_reads_a_remote_previous_bundle_back() {
    let fixture = Server::fixture();
    let Some(s3) = S3::start() else { return };
    let bucket = s3.bucket("shrink");
    let dir = workdir();
    let (url, before) = published_to(&s3, &fixture, &bucket, dir.path());
    the_shrink_guard_keeps(&s3, &bucket, &url, &before, dir.path());
}

/// A run of a much smaller roster to `url` downloads the previous bundle (`before`, at
/// `district.zip`), counts it, refuses (exit 4) and leaves it, and its downloaded copy is gone.
fn the_shrink_guard_keeps(
    store: &impl Store,
    bucket: &str,
    url: &str,
    before: &[u8],
    cache: &Path,
) {
    let tiny = Server::start(SandboxOptions {
        district: District::Synthetic { users: 2, seed: 1 },
        ..Default::default()
    });
    let mut shrunk = export_to(&tiny, url, cache);
    store.env(&mut shrunk);
    ran(&mut shrunk).exits(4).says("would fall from").says(url);
    assert_eq!(store.get(bucket, "district.zip").unwrap(), before, "kept");
    assert!(!has_staging(cache));
    let work = cache.join("roster-export/work");
    let left: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .collect();
    assert!(left.is_empty(), "the downloaded copy is gone: {left:?}");
}

#[test]
fn a_plain_http_s3_endpoint_off_loopback_is_refused() {
    let dir = workdir();
    let server = Server::fixture();
    // `.invalid` never resolves: nothing can be sent anywhere even if the check failed.
    let mut cmd = export_to(&server, "s3://rosters/district.zip", dir.path());
    cmd.env("AWS_ACCESS_KEY_ID", "testing-key-id")
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
        .env("AWS_ENDPOINT_URL", "http://s3.invalid:9000");
    ran(&mut cmd)
        .exits(2)
        .says("refusing the plain-http endpoint http://s3.invalid:9000/")
        .says("AWS_ALLOW_HTTP=true");
}

#[test]
fn a_plain_http_azure_or_gcs_endpoint_off_loopback_is_refused() {
    let dir = workdir();
    let server = Server::fixture();
    let gcs_key = r#"{"gcs_base_url":"http://gcs.invalid:4443","disable_oauth":true,"client_email":"","private_key":"","private_key_id":""}"#;
    for (out, env, shown, allow) in [
        (
            "az://rosters/district.zip",
            vec![
                ("AZURE_STORAGE_USE_EMULATOR", "true"),
                ("AZURITE_BLOB_STORAGE_URL", "http://azure.invalid:10000"),
            ],
            "http://azure.invalid:10000/",
            "AZURE_ALLOW_HTTP=true",
        ),
        (
            "gs://rosters/district.zip",
            vec![("GOOGLE_SERVICE_ACCOUNT_KEY", gcs_key)],
            "http://gcs.invalid:4443/",
            "GOOGLE_ALLOW_HTTP=true",
        ),
    ] {
        let mut cmd = export_to(&server, out, dir.path());
        cmd.envs(env);
        ran(&mut cmd)
            .exits(2)
            .says(&format!("refusing the plain-http endpoint {shown}"))
            .says(allow);
    }
}

#[test]
fn a_folder_output_cannot_go_to_a_remote_store() {
    let fixture = Server::fixture();
    let dir = workdir();
    let mut cmd = export_to(&fixture, "s3://rosters/district", dir.path());
    ran(&mut cmd).exits(2).says("name the output ….zip");
}

#[test]
fn sftp_publishes_byte_identical_and_trusts_only_known_host_keys() {
    let Some(sshd) = Sshd::start() else { return };
    let server = Server::fixture();
    let dir = workdir();
    let target = sshd.dir.path().join("drop");
    std::fs::create_dir(&target).unwrap();
    let url = sshd.url(&target.join("district.zip"));
    let known_hosts = dir.path().join("known_hosts");
    let export = |extra: &[&str]| {
        let mut cmd = export_to(&server, &url, dir.path());
        sshd.flags(&mut cmd, &known_hosts);
        cmd.args(extra);
        ran(&mut cmd)
    };

    // Unknown: refused, naming the key offered and what to do; nothing uploaded.
    export(&[])
        .exits(5)
        .says(&sshd.host_fingerprint())
        .says("ssh-ed25519")
        .says("--sftp-accept-new-host-key");
    assert!(leftovers(&target, &[]).is_empty());

    // Accepted once when told, and recorded; then known.
    export(&["--sftp-accept-new-host-key"])
        .exits(0)
        .says("trusted the new host key");
    assert_eq!(
        std::fs::read_to_string(&known_hosts).unwrap().trim_start(),
        sshd.known_hosts_line()
    );
    export(&[]).exits(0);
    let published = std::fs::read(target.join("district.zip")).unwrap();
    assert_eq!(published, local_reference(&server, dir.path()));
    assert_eq!(
        leftovers(&target, &["district.zip"]),
        Vec::<std::path::PathBuf>::new()
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(target.join("district.zip"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // A changed key is refused even with the flag, naming the known_hosts line.
    let other = dir.path().join("other_key");
    keygen(&other);
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let mut parts = other_pub.split_whitespace();
    let line = format!(
        "[127.0.0.1]:{} {} {}\n",
        sshd.port,
        parts.next().unwrap(),
        parts.next().unwrap()
    );
    std::fs::write(&known_hosts, line).unwrap();
    export(&["--sftp-accept-new-host-key"])
        .exits(5)
        .says("line 1")
        .says(&sshd.host_fingerprint());
    assert_eq!(
        std::fs::read(target.join("district.zip")).unwrap(),
        published
    );
}

#[test]
fn a_failed_sftp_upload_exits_non_zero_and_keeps_the_previous_file() {
    let fixture = Server::fixture();
    let Some(mut sshd) = Sshd::start() else {
        return;
    };
    let dir = workdir();
    let target = sshd.dir.path().join("district.zip");
    let url = sshd.url(&target);
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts_line()).unwrap();
    let mut first = export_to(&fixture, &url, dir.path());
    sshd.flags(&mut first, &known_hosts);
    ran(&mut first).exits(0);
    let before = std::fs::read(&target).unwrap();

    // A folder that does not exist on the server.
    let missing = sshd.url(&sshd.dir.path().join("missing/district.zip"));
    let mut cmd = export_to(&fixture, &missing, dir.path());
    sshd.flags(&mut cmd, &known_hosts);
    ran(&mut cmd).exits(5).says(&missing);

    // The server goes away while the run is under way.
    let slow = slow_server();
    let mut child = spawn_slow(&slow, &url, |cmd| {
        sshd.flags(cmd, &known_hosts);
        cmd.env("XDG_CACHE_HOME", dir.path());
    });
    wait_for_staging(dir.path(), &mut child);
    sshd.stop();
    let (status, stderr) = finish(child);
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");
    assert_eq!(std::fs::read(&target).unwrap(), before, "untouched");
    let left = leftovers(sshd.dir.path(), &[]);
    assert!(
        left.iter()
            .all(|p| !p.to_string_lossy().contains(".upload-")),
        "no partial upload left: {left:?}"
    );
    assert!(!has_staging(dir.path()));
}

#[test]
fn ndjson_goes_to_s3_as_one_object() {
    let Some(s3) = S3::start() else { return };
    let bucket = s3.bucket("ndjson");
    let server = Server::fixture();
    let dir = workdir();
    let local = dir.path().join("reference.ndjson");
    server.export_ok(
        &["--scope", "roster.readonly", "--format", "ndjson"],
        &local,
    );
    let url = format!("s3://{bucket}/district.ndjson");
    let mut cmd = export_to(&server, &url, dir.path());
    cmd.args(["--format", "ndjson"]);
    s3.env(&mut cmd);
    ran(&mut cmd).exits(0).says("uploaded");
    assert_eq!(
        s3.get(&bucket, "district.ndjson").unwrap(),
        std::fs::read(&local).unwrap()
    );
}

#[test]
fn an_incremental_run_to_s3_merges_into_the_previous_object() {
    let Some(s3) = S3::start() else { return };
    let bucket = s3.bucket("incremental");
    let server = Server::fixture();
    let dir = workdir();
    let url = format!("s3://{bucket}/nightly/district.zip");
    let state = dir.path().join("state.json");
    let night = || {
        let mut cmd = export_to(&server, &url, dir.path());
        cmd.arg("--incremental").arg("--state").arg(&state);
        s3.env(&mut cmd);
        ran(&mut cmd)
    };
    night().exits(0).says("no state yet");
    server.churn(8, 5);
    night().exits(0).says("(changes applied)");
    assert_eq!(
        s3.get(&bucket, "nightly/district.zip").as_deref(),
        Some(local_reference(&server, dir.path()).as_slice()),
        "the merged object equals a full pull"
    );
    assert_eq!(s3.keys(&bucket), ["nightly/district.zip"], "no stray keys");
}
