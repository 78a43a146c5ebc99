//! Real storage servers on loopback for the remote-output tests: moto's S3 server (PyPI
//! `moto[server]`) and OpenSSH's sshd (Debian `openssh-server`) with throw-away keys. `.ci/run`
//! installs both; run by hand without them, a test says so loudly and skips (under CI it fails).

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

/// Waits until something accepts connections on `port`, or panics after `limit`.
fn wait_for_port(port: u16, limit: Duration, child: &mut Child, what: &str) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what} exited early: {status}");
        }
        assert!(started.elapsed() < limit, "{what} did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
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
        let mut child = Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port, Duration::from_secs(30), &mut child, "moto_server");
        Some(S3 {
            endpoint: format!("http://127.0.0.1:{port}"),
            _process: Reaped(Some(child)),
        })
    }

    /// Creates a bucket of its own for one test.
    pub fn bucket(&self, test: &str) -> String {
        let name = format!("{test}-{}-{}", std::process::id(), rand_suffix());
        let status = self.request("PUT", &format!("/{name}"));
        assert!(
            status.0.starts_with("HTTP/1.1 200"),
            "create bucket: {}",
            status.0
        );
        name
    }

    /// An object's bytes; `None` when it does not exist. Read with object_store, signed.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
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

    /// The keys in a bucket (to see that no temporary object was left).
    pub fn keys(&self, bucket: &str) -> Vec<String> {
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

    /// A plain, unsigned HTTP/1.0 request (moto lets anyone create a bucket): status line, body.
    fn request(&self, method: &str, path: &str) -> (String, Vec<u8>) {
        let host = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
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

    /// The AWS variables that point the binary at this server.
    pub fn env(&self, cmd: &mut std::process::Command) {
        cmd.env("AWS_ACCESS_KEY_ID", "testing-key-id")
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &self.endpoint);
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
        let mut child = Command::new(sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(dir.path().join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port, Duration::from_secs(10), &mut child, "sshd");
        Some(Sshd {
            port,
            dir,
            user,
            process: Reaped(Some(child)),
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
