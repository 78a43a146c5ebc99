//! Shared test plumbing: a sandbox on a loopback port, the binary with a scrubbed environment,
//! and readers for what it writes.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use roster_sandbox::{Applied, Changes, Sandbox, SandboxOptions, SandboxStats};
use serde_json::Value;

/// Every test's run of the binary ends within this.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

pub const SECRET: &str = "demo-secret";

/// A sandbox served from its own runtime, so tests stay synchronous.
pub struct Server {
    runtime: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
}

impl Server {
    pub fn start(options: SandboxOptions) -> Server {
        Server::start_at(options, "127.0.0.1:0")
    }

    /// A sandbox on another loopback address, e.g. `127.0.0.2:0`: another origin.
    pub fn start_at(options: SandboxOptions, addr: &str) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let addr: SocketAddr = addr.parse().unwrap();
        let sandbox = runtime
            .block_on(Sandbox::start(options, addr))
            .expect("sandbox starts");
        Server {
            runtime,
            sandbox: Some(sandbox),
        }
    }

    pub fn fixture() -> Server {
        Server::start(SandboxOptions::default())
    }

    fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("running")
    }

    pub fn base_url(&self) -> String {
        self.sandbox().base_url()
    }

    pub fn token_url(&self) -> String {
        self.sandbox().token_url()
    }

    /// The sandbox's origin: its OIDC authority.
    pub fn origin(&self) -> String {
        self.sandbox().origin()
    }

    pub fn stats(&self) -> SandboxStats {
        self.sandbox().stats()
    }

    /// Changes the district (updates, inserts, `tobedeleted` marks, outright deletes).
    pub fn apply(&self, changes: Changes) -> Applied {
        self.sandbox().apply(changes).expect("the changes apply")
    }

    /// `n` deterministic changes of every kind.
    pub fn churn(&self, n: usize, seed: u64) -> Applied {
        self.sandbox().churn(n, seed)
    }

    /// The binary, pointed at this server, with a scrubbed environment.
    pub fn addr(&self) -> SocketAddr {
        self.sandbox().addr()
    }

    pub fn export(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::from_std(self.export_std());
        cmd.timeout(RUN_TIMEOUT);
        cmd
    }

    /// Exports with `args` to `out` and asserts it succeeded.
    pub fn export_ok(&self, args: &[&str], out: &Path) {
        self.export()
            .args(args)
            .arg("--out")
            .arg(out)
            .assert()
            .success();
    }

    /// The same as a plain process, for tests that signal it while it runs.
    pub fn export_std(&self) -> std::process::Command {
        self.connect(bin_std())
    }

    /// The binary running `subcommand` (`token`, `auth rotate`), pointed at this server.
    pub fn subcommand(&self, subcommand: &[&str]) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::from_std(self.connect(bin_for_std(subcommand)));
        cmd.timeout(RUN_TIMEOUT);
        cmd
    }

    /// Adds this server's URLs, the demo client's id and secret, and a rate that never slows a test.
    fn connect(&self, mut cmd: std::process::Command) -> std::process::Command {
        cmd.env("ROSTER_EXPORT_CLIENT_SECRET", SECRET)
            .arg("--base-url")
            .arg(self.base_url())
            .arg("--token-url")
            .arg(self.token_url())
            .arg("--client-id")
            .arg("demo-client")
            .arg("--rate")
            .arg("1000");
        cmd
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            self.runtime.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(5), sandbox.shutdown()).await;
            });
        }
    }
}

/// The binary with nothing from the developer's environment: no proxies, no ROSTER_EXPORT_*.
pub fn bin() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::from_std(bin_std());
    cmd.timeout(RUN_TIMEOUT);
    cmd
}

/// The binary running `subcommand` (`check`, `init`, …) with a scrubbed environment, pointed
/// at no server.
pub fn bin_for(subcommand: &[&str]) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::from_std(bin_for_std(subcommand));
    cmd.timeout(RUN_TIMEOUT);
    cmd
}

/// What `cmd` printed and its exit code, checked for secrets.
pub fn ran(cmd: &mut assert_cmd::Command) -> Ran {
    let output = cmd.output().unwrap();
    let (stdout, stderr) = text(&output);
    assert_no_secret("stdout", &stdout);
    assert_no_secret("stderr", &stderr);
    Ran {
        code: output.status.code(),
        stdout,
        stderr,
    }
}

/// A loopback port nothing listens on (bound, then let go).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

pub fn bin_std() -> std::process::Command {
    bin_for_std(&[])
}

/// The binary running `subcommand` (none: an export), its logging options after it, with a
/// scrubbed environment.
fn bin_for_std(subcommand: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_roster-export"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        // Output locks go to a runtime folder of the test build's own, not the machine's.
        .env(
            "XDG_RUNTIME_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("xdg-runtime"),
        )
        .env("RUST_BACKTRACE", "0")
        .args(subcommand)
        .args(["--log-format", "text", "--no-progress"]);
    cmd
}

/// Publishes the fixture district's roster bundle at `out` (a zip) and returns its bytes: the
/// "previous" output that a failing run must leave alone.
pub fn previous_bundle(out: &Path) -> Vec<u8> {
    Server::fixture().export_ok(&["--scope", "roster.readonly"], out);
    std::fs::read(out).unwrap()
}

/// A fresh folder for a test's output.
pub fn workdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// The fixture district's records, per collection, as the sandbox serves them.
pub fn fixture(collection: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/roster-sandbox/fixtures/district")
        .join(format!("{collection}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text).unwrap();
    value
        .as_object()
        .and_then(|o| o.values().find_map(|v| v.as_array().cloned()))
        .unwrap_or_else(|| panic!("{} holds no array", path.display()))
}

/// Fixture records a bulk file lists: those not marked for deletion.
pub fn fixture_active(collection: &str) -> Vec<Value> {
    fixture(collection)
        .into_iter()
        .filter(|r| !matches!(r["status"].as_str(), Some("tobedeleted") | Some("inactive")))
        .collect()
}

/// A CSV file: the header and the rows keyed by their first column (sourcedId).
#[derive(Debug)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn parse(bytes: &[u8]) -> Table {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes);
        let header = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        let rows = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        Table { header, rows }
    }

    pub fn column(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    /// The row whose sourcedId is `id`; panics unless exactly one.
    pub fn row(&self, id: &str) -> BTreeMap<String, String> {
        let found: Vec<&Vec<String>> = self.rows.iter().filter(|r| r[0] == id).collect();
        assert_eq!(found.len(), 1, "rows with sourcedId {id}");
        self.header
            .iter()
            .cloned()
            .zip(found[0].iter().cloned())
            .collect()
    }

    pub fn ids(&self) -> Vec<String> {
        self.rows.iter().map(|r| r[0].clone()).collect()
    }
}

/// The files of a bundle, by name: a zip's entries or a folder's files.
pub fn bundle_files(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            let entry = entry.unwrap();
            files.insert(
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap(),
            );
        }
    } else {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).unwrap();
            let name = entry.name().unwrap().to_string();
            assert!(!name.contains('/'), "zip entries sit at the root: {name}");
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            files.insert(name, bytes);
        }
    }
    for (name, bytes) in &files {
        assert_no_secret(name, &String::from_utf8_lossy(bytes));
    }
    files
}

/// Asserts that two bundles (zips or folders) hold the same files with the same bytes, naming the
/// first file and line that differ when they do not.
#[track_caller]
pub fn assert_same_bundle(got: &Path, want: &Path, what: &str) {
    let (got, want) = (bundle_files(got), bundle_files(want));
    let names = |files: &BTreeMap<String, Vec<u8>>| files.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&got), names(&want), "{what}: the files differ");
    for (name, bytes) in &got {
        if bytes != &want[name] {
            let (g, w) = (
                String::from_utf8_lossy(bytes),
                String::from_utf8_lossy(&want[name]),
            );
            let line = g.lines().zip(w.lines()).position(|(a, b)| a != b);
            panic!(
                "{what}: {name} differs at line {}:\n got: {:?}\nwant: {:?}",
                line.map_or(0, |l| l + 1),
                line.and_then(|l| g.lines().nth(l)).unwrap_or("(end)"),
                line.and_then(|l| w.lines().nth(l)).unwrap_or("(end)"),
            );
        }
    }
}

/// manifest.csv as a map.
pub fn manifest(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
    let table = Table::parse(&files["manifest.csv"]);
    assert_eq!(table.header, ["propertyName", "value"]);
    table
        .rows
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

/// Names in `dir` other than `keep`: staging leftovers and the like.
pub fn leftovers(dir: &Path, keep: &[&str]) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !keep.iter().any(|k| p.file_name().is_some_and(|n| n == *k)))
        .collect()
}

/// What a finished run left: its exit code, stdout and stderr.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Asserts the exit code, showing stderr when it is another.
    #[track_caller]
    pub fn exits(&self, code: i32) -> &Ran {
        assert_eq!(self.code, Some(code), "{}", self.stderr);
        self
    }

    /// Asserts that stderr says `text`.
    #[track_caller]
    pub fn says(&self, text: &str) -> &Ran {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Asserts that stderr does not say `text`.
    #[track_caller]
    pub fn never_says(&self, text: &str) -> &Ran {
        assert!(
            !self.stderr.contains(text),
            "stderr says {text:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Asserts that stdout shows `text`.
    #[track_caller]
    pub fn shows(&self, text: &str) -> &Ran {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// One test's set-up: a sandbox, a fresh folder, and the output path in it.
pub struct Scenario {
    pub server: Server,
    pub dir: tempfile::TempDir,
    pub out: PathBuf,
}

impl Scenario {
    /// A sandbox started with `options`; the output is `b.zip` in a fresh folder.
    pub fn new(options: SandboxOptions) -> Scenario {
        let dir = workdir();
        let out = dir.path().join("b.zip");
        Scenario {
            server: Server::start(options),
            dir,
            out,
        }
    }

    /// The same, over an earlier bundle of the fixture district at the output: its bytes, which
    /// a failing run must leave alone.
    pub fn over_previous(options: SandboxOptions) -> (Scenario, Vec<u8>) {
        let scenario = Scenario::new(options);
        let before = previous_bundle(&scenario.out);
        (scenario, before)
    }

    /// Exports with `args` to the output.
    pub fn export(&self, args: &[&str]) -> Ran {
        run_to(self.server.export().args(args), &self.out)
    }

    /// Asserts the previous bundle is exactly as it was and nothing was left beside it.
    #[track_caller]
    pub fn untouched(&self, before: &[u8]) {
        assert_eq!(
            std::fs::read(&self.out).unwrap(),
            before,
            "the previous bundle is untouched"
        );
        assert_eq!(
            leftovers(self.dir.path(), &["b.zip"]),
            Vec::<PathBuf>::new(),
            "nothing is left beside it"
        );
    }
}

/// Runs `cmd` writing to `out`, and collects what it printed, which must never carry a secret.
pub fn run_to(cmd: &mut assert_cmd::Command, out: &Path) -> Ran {
    let output = cmd.arg("--out").arg(out).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert_no_secret("stdout", &stdout);
    assert_no_secret("stderr", &stderr);
    Ran {
        code: output.status.code(),
        stdout,
        stderr,
    }
}

/// Every run the suite inspects is also a secret search: the client secret, its Basic encoding
/// and any bearer token stay out of what the tool prints and writes.
pub fn assert_no_secret(what: &str, text: &str) {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("demo-client:{SECRET}"));
    for needle in [SECRET, basic.as_str(), "Bearer "] {
        assert!(!text.contains(needle), "{what} carries {needle:?}");
    }
}

/// Stdout and stderr of a finished run, as text.
pub fn text(output: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Whether a `.NAME.staging-*` item is under `dir` (searched three levels deep: a remote output's
/// work folder is `<cache>/roster-export/work/<hash>`).
pub fn has_staging(dir: &Path) -> bool {
    fn walk(dir: &Path, depth: u32) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        entries.flatten().any(|e| {
            e.file_name().to_string_lossy().contains(".staging-")
                || (depth > 0 && e.path().is_dir() && walk(&e.path(), depth - 1))
        })
    }
    walk(dir, 4)
}

/// Waits (at most 20 s) until the running `child` has a staging folder under `dir`: it is past
/// its checks and writing.
#[track_caller]
pub fn wait_for_staging(dir: &Path, child: &mut std::process::Child) {
    let waited = std::time::Instant::now();
    while !has_staging(dir) {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "no staging folder"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended too early"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (at most 60 s) for `child` to end; its exit status and stderr.
#[track_caller]
pub fn finish(mut child: std::process::Child) -> (std::process::ExitStatus, String) {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                pipe.read_to_string(&mut stderr).unwrap();
            }
            return (status, stderr);
        }
        assert!(started.elapsed() < RUN_TIMEOUT, "the run did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A sandbox slow enough (100 ms a request) that a run, asking one record a page, is still going
/// when a test steps in.
pub fn slow_server() -> Server {
    Server::start(SandboxOptions {
        latency: Some(Duration::from_millis(100)),
        ..Default::default()
    })
}

/// Starts a slow run of every roster collection (one record a page, one request at a time) to
/// `out` against `slow`, after `setup` adds what else it needs; stderr is piped for [`finish`].
pub fn spawn_slow(
    slow: &Server,
    out: impl AsRef<std::ffi::OsStr>,
    setup: impl FnOnce(&mut std::process::Command),
) -> std::process::Child {
    let mut cmd = slow.export_std();
    cmd.args(["--scope", "roster.readonly", "--page-size", "1"])
        .args(["--concurrency", "1"])
        .arg("--out")
        .arg(out)
        .stderr(std::process::Stdio::piped());
    setup(&mut cmd);
    cmd.spawn().unwrap()
}
