//! Real storage servers on loopback for the remote-output tests: moto's S3 server (PyPI
//! `moto[server]`), Azurite's Blob service (npm `azurite`) and OpenSSH's sshd (Debian
//! `openssh-server`) with throw-away keys. `.ci/run` installs them; run by hand without them, a
//! test says so loudly and skips (under CI it fails).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where a binary is, if installed.
fn installed(name: &str) -> Option<PathBuf> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
    (found.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
}

/// `None` (after a loud message) when `what` is missing and this is a run by hand.
fn need(name: &str, what: &str) -> Option<PathBuf> {
    let found = installed(name);
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is not installed; .ci/run must install {what}"
        );
        eprintln!("\n!!! SKIPPED: {name} is not installed ({what}); this test did not run !!!\n");
    }
    found
}

/// A free loopback port (a race with other processes is possible but unlikely).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `cmd` with its output discarded and waits until something accepts connections on
/// `port`; panics (and ends the process) if it exits first or is not listening after `limit`.
fn serve(cmd: &mut Command, port: u16, limit: Duration, what: &str) -> Reaped {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut process = Reaped(Some(child));
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = process.0.as_mut().and_then(|c| c.try_wait().unwrap()) {
            panic!("{what} exited early: {status}");
        }
        assert!(started.elapsed() < limit, "{what} did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    process
}

/// A process ended (SIGKILL) and reaped on drop.
struct Reaped(Option<Child>);

impl Reaped {
    fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        self.stop();
    }
}

/// moto's S3 server: the one `.ci/run` started (`ROSTER_TEST_S3_ENDPOINT`), or one of our own.
pub struct S3 {
    pub endpoint: String,
    _process: Reaped,
}

impl S3 {
    pub fn start() -> Option<S3> {
        if let Ok(endpoint) = std::env::var("ROSTER_TEST_S3_ENDPOINT") {
            return Some(S3 {
                endpoint,
                _process: Reaped(None),
            });
        }
        let moto = need("moto_server", "pip install 'moto[server]'")?;
        let port = free_port();
        let process = serve(
            Command::new(moto).args(["-H", "127.0.0.1", "-p", &port.to_string()]),
            port,
            Duration::from_secs(30),
            "moto_server",
        );
        Some(S3 {
            endpoint: format!("http://127.0.0.1:{port}"),
            _process: process,
        })
    }

    fn store(&self, bucket: &str) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("testing-key-id")
            .with_secret_access_key(S3_SECRET)
            .build()
            .unwrap()
    }

    /// A plain, unsigned request (moto lets anyone create a bucket): status line, body.
    fn request(&self, method: &str, path: &str) -> (String, Vec<u8>) {
        http(&self.endpoint, method, path, &[], b"")
    }
}

/// The S3 secret the tests use: it must never show in what the binary prints.
pub const S3_SECRET: &str = "testing-secret-access-key-0123456789";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{}", N.fetch_add(1, Ordering::Relaxed))
}

/// An object store on loopback that the binary publishes to: what a test needs of it.
pub trait Store {
    /// The scheme of the binary's `--out` URL for this store (`s3`, `az`).
    const SCHEME: &'static str;

    /// `http://127.0.0.1:PORT`, where the store listens.
    fn endpoint(&self) -> String;

    /// A bucket (container) of its own for one test.
    fn bucket(&self, test: &str) -> String;

    /// An object's bytes; `None` when it does not exist.
    fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>>;

    /// The keys in a bucket, sorted (to see that no temporary object was left).
    fn keys(&self, bucket: &str) -> Vec<String>;

    /// Sets the variables that point the binary at this store, reached through `endpoint` (the
    /// store's own, or a relay in front of it).
    fn point(&self, cmd: &mut Command, endpoint: &str);

    /// Points the binary at this store.
    fn env(&self, cmd: &mut Command) {
        self.point(cmd, &self.endpoint());
    }

    /// The binary's `--out` URL for `<bucket>/<key>` in this store.
    fn url(&self, bucket_and_key: &str) -> String {
        format!("{}://{bucket_and_key}", Self::SCHEME)
    }
}

impl Store for S3 {
    const SCHEME: &'static str = "s3";

    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    fn bucket(&self, test: &str) -> String {
        let name = format!("{test}-{}-{}", std::process::id(), rand_suffix());
        let (status, _) = self.request("PUT", &format!("/{name}"));
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "create bucket: {status}"
        );
        name
    }

    /// Read with object_store, signed.
    fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        use object_store::ObjectStoreExt as _;
        let store = self.store(bucket);
        let path = object_store::path::Path::from(key);
        runtime().block_on(async {
            match store.get(&path).await {
                Ok(got) => Some(got.bytes().await.unwrap().to_vec()),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => panic!("get {key}: {e}"),
            }
        })
    }

    fn keys(&self, bucket: &str) -> Vec<String> {
        use futures::TryStreamExt as _;
        use object_store::ObjectStore as _;
        let store = self.store(bucket);
        let mut keys: Vec<String> = runtime().block_on(async {
            store
                .list(None)
                .map_ok(|meta| meta.location.to_string())
                .try_collect()
                .await
                .unwrap()
        });
        keys.sort();
        keys
    }

    fn point(&self, cmd: &mut Command, endpoint: &str) {
        cmd.env("AWS_ACCESS_KEY_ID", "testing-key-id")
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", endpoint);
    }
}

/// Azurite's Blob service (npm `azurite`, binary `azurite-blob`), one per test, keeping its data in
/// a throw-away folder. The binary reaches it through object_store's emulator mode
/// (`AZURE_STORAGE_USE_EMULATOR=true`, `AZURITE_BLOB_STORAGE_URL`), which signs with Azurite's
/// well-known development account and key.
pub struct Azurite {
    port: u16,
    _dir: tempfile::TempDir,
    _process: Reaped,
}

/// Azurite's development account and its key: published by Microsoft for the emulator, so not a
/// secret, but the binary must not print it either.
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The Blob REST API version the test's own requests ask for.
const AZURE_API_VERSION: &str = "2023-11-03";

impl Azurite {
    pub fn start() -> Option<Azurite> {
        let azurite = need(
            "azurite-blob",
            "npm install azurite, with its node_modules/.bin on PATH",
        )?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        // Telemetry off: nothing may leave the machine.
        let process = serve(
            Command::new(azurite)
                .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                .arg("--location")
                .arg(dir.path())
                .args(["--silent", "--skipApiVersionCheck", "--disableTelemetry"])
                .current_dir(dir.path()),
            port,
            Duration::from_secs(60),
            "azurite-blob",
        );
        Some(Azurite {
            port,
            _dir: dir,
            _process: process,
        })
    }

    /// A Blob REST request on `/<account>/<path>?<query>`, signed with Shared Key. object_store
    /// cannot create a container and Azurite does not let an anonymous caller do it, so the test
    /// signs its own requests: an HMAC-SHA256 over the verb, eleven standard headers (left empty),
    /// the `x-ms-` headers and the resource with its query (keys in order).
    fn request(&self, method: &str, path: &str, query: &[(&str, &str)]) -> (String, Vec<u8>) {
        use base64::Engine as _;
        use hmac::Mac as _;
        let date = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&jiff::Timestamp::now())
            .unwrap();
        let path = format!("/{AZURITE_ACCOUNT}/{path}");
        let mut query = query.to_vec();
        query.sort();
        let empty_headers = "\n".repeat(11);
        let mut to_sign = format!(
            "{method}\n{empty_headers}x-ms-date:{date}\nx-ms-version:{AZURE_API_VERSION}\n\
             /{AZURITE_ACCOUNT}{path}"
        );
        for (name, value) in &query {
            to_sign.push_str(&format!("\n{name}:{value}"));
        }
        let key = base64::engine::general_purpose::STANDARD
            .decode(AZURITE_KEY)
            .unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(to_sign.as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let pairs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let target = if pairs.is_empty() {
            path
        } else {
            format!("{path}?{}", pairs.join("&"))
        };
        let authorization = format!("SharedKey {AZURITE_ACCOUNT}:{signature}");
        let headers = [
            ("x-ms-date", date.as_str()),
            ("x-ms-version", AZURE_API_VERSION),
            ("Authorization", authorization.as_str()),
        ];
        http(&self.endpoint(), method, &target, &headers, b"")
    }
}

impl Store for Azurite {
    const SCHEME: &'static str = "az";

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Container names are 3-63 lowercase letters, digits and hyphens.
    fn bucket(&self, test: &str) -> String {
        let name = format!("{test}-{}-{}", std::process::id(), rand_suffix());
        let (status, body) = self.request("PUT", &name, &[("restype", "container")]);
        assert!(
            status.starts_with("HTTP/1.1 201"),
            "create container: {status} {}",
            String::from_utf8_lossy(&body)
        );
        name
    }

    fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let (status, body) = self.request("GET", &format!("{bucket}/{key}"), &[]);
        match status.split_whitespace().nth(1) {
            Some("200") => Some(body),
            Some("404") => None,
            _ => panic!("get {key}: {status}"),
        }
    }

    /// From List Blobs' XML: each blob's `<Name>`.
    fn keys(&self, bucket: &str) -> Vec<String> {
        let query = [("restype", "container"), ("comp", "list")];
        let (status, body) = self.request("GET", bucket, &query);
        assert!(status.starts_with("HTTP/1.1 200"), "list: {status}");
        let xml = String::from_utf8(body).unwrap();
        let mut keys: Vec<String> = xml
            .split("<Name>")
            .skip(1)
            .map(|rest| rest.split("</Name>").next().unwrap().to_string())
            .collect();
        keys.sort();
        keys
    }

    fn point(&self, cmd: &mut Command, endpoint: &str) {
        cmd.env("AZURE_STORAGE_USE_EMULATOR", "true")
            .env("AZURITE_BLOB_STORAGE_URL", endpoint);
    }
}

/// A plain HTTP/1.0 request (one connection, read to its end) to a loopback server at `endpoint`
/// (`http://host:port`): the status line (with `HTTP/1.1`, whichever the server answered) and the
/// body.
fn http(
    endpoint: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (String, Vec<u8>) {
    let host = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!("{method} {target} HTTP/1.0\r\nHost: {host}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .lines()
        .next()
        .unwrap_or_default()
        .replace("HTTP/1.0", "HTTP/1.1");
    (status, response[split + 4..].to_vec())
}

/// An sshd on loopback, run as this user, with a throw-away host key and client key.
pub struct Sshd {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub user: String,
    process: Reaped,
}

impl Sshd {
    pub fn start() -> Option<Sshd> {
        let sshd = need("/usr/sbin/sshd", "apt-get install openssh-server")?;
        need("ssh-keygen", "apt-get install openssh-client")?;
        let dir = tempfile::tempdir().unwrap();
        for key in ["host_key", "client_key"] {
            keygen(&dir.path().join(key));
        }
        std::fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        // sshd run as root wants its privilege-separation folder.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        let port = free_port();
        let d = dir.path().display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nPubkeyAuthentication yes\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
        );
        std::fs::write(dir.path().join("sshd_config"), config).unwrap();
        let process = serve(
            Command::new(sshd)
                .args(["-D", "-e", "-f"])
                .arg(dir.path().join("sshd_config")),
            port,
            Duration::from_secs(10),
            "sshd",
        );
        Some(Sshd {
            port,
            dir,
            user,
            process,
        })
    }

    /// Stops the server (for failure tests); the files it served stay.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// `sftp://user@127.0.0.1:port/<path>` for an absolute local path.
    pub fn url(&self, path: &Path) -> String {
        format!(
            "sftp://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// The host key's fingerprint as `ssh-keygen -l` prints it (`SHA256:…`).
    pub fn host_fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.dir.path().join("host_key.pub"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    }

    /// A known_hosts line that vouches for this server's host key.
    pub fn known_hosts_line(&self) -> String {
        let key = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap();
        let mut parts = key.split_whitespace();
        let (kind, blob) = (parts.next().unwrap(), parts.next().unwrap());
        format!("[127.0.0.1]:{} {kind} {blob}\n", self.port)
    }

    /// The binary's SFTP flags: the client key and `known_hosts`.
    pub fn flags(&self, cmd: &mut std::process::Command, known_hosts: &Path) {
        cmd.arg("--sftp-key")
            .arg(self.client_key())
            .arg("--sftp-known-hosts")
            .arg(known_hosts);
    }
}

/// A new ed25519 key pair at `path` and `path.pub`, no passphrase.
pub fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}
