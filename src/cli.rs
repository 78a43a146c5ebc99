//! The command line: flags, their environment variables, help text and examples. No I/O here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::export::{Format, MaxShrink};
use crate::sandbox::SandboxArgs;

/// Every environment variable the tool reads, in one place.
pub mod env {
    pub const BASE_URL: &str = "ROSTER_EXPORT_BASE_URL";
    pub const TOKEN_URL: &str = "ROSTER_EXPORT_TOKEN_URL";
    pub const CLIENT_ID: &str = "ROSTER_EXPORT_CLIENT_ID";
    pub const CLIENT_SECRET: &str = "ROSTER_EXPORT_CLIENT_SECRET";
    pub const CLIENT_SECRET_FILE: &str = "ROSTER_EXPORT_CLIENT_SECRET_FILE";
    pub const DEMO: &str = "ROSTER_EXPORT_DEMO";
    pub const SCOPE: &str = "ROSTER_EXPORT_SCOPE";
    pub const ONLY: &str = "ROSTER_EXPORT_ONLY";
    pub const OUT: &str = "ROSTER_EXPORT_OUT";
    pub const FORMAT: &str = "ROSTER_EXPORT_FORMAT";
    pub const INCLUDE_PASSWORDS: &str = "ROSTER_EXPORT_INCLUDE_PASSWORDS";
    pub const SYSTEM_CODE: &str = "ROSTER_EXPORT_SYSTEM_CODE";
    pub const MAX_SHRINK: &str = "ROSTER_EXPORT_MAX_SHRINK";
    pub const ALLOW_PARTIAL: &str = "ROSTER_EXPORT_ALLOW_PARTIAL";
    pub const PAGE_SIZE: &str = "ROSTER_EXPORT_PAGE_SIZE";
    pub const CONCURRENCY: &str = "ROSTER_EXPORT_CONCURRENCY";
    pub const RATE: &str = "ROSTER_EXPORT_RATE";
    pub const BURST: &str = "ROSTER_EXPORT_BURST";
    pub const MAX_ATTEMPTS: &str = "ROSTER_EXPORT_MAX_ATTEMPTS";
    pub const BACKOFF_MAX: &str = "ROSTER_EXPORT_BACKOFF_MAX";
    pub const MAX_RETRY_WAIT: &str = "ROSTER_EXPORT_MAX_RETRY_WAIT";
    pub const TIMEOUT: &str = "ROSTER_EXPORT_TIMEOUT";
    pub const CA_CERT: &str = "ROSTER_EXPORT_CA_CERT";
    pub const QUIET: &str = "ROSTER_EXPORT_QUIET";
    pub const LOG_FORMAT: &str = "ROSTER_EXPORT_LOG_FORMAT";
    pub const NO_PROGRESS: &str = "ROSTER_EXPORT_NO_PROGRESS";
    /// `EnvFilter` directives for the logs, e.g. `roster_export=debug`.
    pub const LOG: &str = "ROSTER_EXPORT_LOG";
}

const ABOUT: &str = "Export rosters from a OneRoster v1.1 REST API into a OneRoster 1.1 CSV bundle, JSON or NDJSON.";

const AFTER_HELP: &str = "\
Every option can also be set with an environment variable ROSTER_EXPORT_<NAME> (shown with each option).
The client secret comes from ROSTER_EXPORT_CLIENT_SECRET or --client-secret-file.

Examples:
  # Try it with no account: the built-in sandbox district
  roster-export --demo --scope roster.readonly --out demo.zip

  # A nightly CSV bundle (Blackbaud's OneRoster API)
  ROSTER_EXPORT_CLIENT_SECRET=... roster-export \\
      --base-url https://api.sky.blackbaud.com/afe-rostr/ims/oneroster/v1p1 \\
      --token-url https://oauth2.sky.blackbaud.com/token \\
      --client-id KEY --scope roster.readonly --scope roster-demographics.readonly \\
      --out /srv/rosters/district.zip

  # One record per line for jq
  roster-export --demo --scope roster.readonly --format ndjson --out - \\
      | jq -c 'select(.collection == \"users\") | .record.givenName'

  # Run the sandbox server on its own
  roster-export sandbox --port 8080

Exit codes:
  0    success
  2    usage or configuration error
  3    authentication or authorization failure
  4    server or data error after retries
  5    output could not be written
  130  interrupted (Ctrl-C, SIGTERM); the previous output is untouched";

#[derive(Debug, Parser)]
#[command(
    name = "roster-export",
    version,
    about = ABOUT,
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub export: ExportArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the built-in OneRoster v1.1 sandbox server and print its URLs and demo credentials.
    Sandbox(SandboxArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON lines otherwise.
    Auto,
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The API base URL: either ending in /ims/oneroster/v1p1 or the root it hangs off.
    #[arg(long, value_name = "URL", env = env::BASE_URL, help_heading = "Connection")]
    pub base_url: Option<String>,
    /// The OAuth 2.0 token URL (vendor specific).
    #[arg(long, value_name = "URL", env = env::TOKEN_URL, help_heading = "Connection")]
    pub token_url: Option<String>,
    /// The OAuth client id (key).
    #[arg(long, value_name = "ID", env = env::CLIENT_ID, help_heading = "Connection")]
    pub client_id: Option<String>,
    /// The client secret. Prefer the environment variable or --client-secret-file: process lists show flags.
    #[arg(long, value_name = "SECRET", env = env::CLIENT_SECRET, hide_env_values = true, help_heading = "Connection")]
    pub client_secret: Option<SecretString>,
    /// Read the client secret from this file (trailing newline ignored).
    #[arg(long, value_name = "FILE", env = env::CLIENT_SECRET_FILE, help_heading = "Connection")]
    pub client_secret_file: Option<PathBuf>,
    /// Start the built-in sandbox server on loopback and export from it: no account needed.
    #[arg(long, env = env::DEMO, conflicts_with_all = ["base_url", "token_url", "client_id"], help_heading = "Connection")]
    pub demo: bool,

    /// Scopes to request: roster-core.readonly, roster.readonly, roster-demographics.readonly,
    /// gradebook.readonly, resource.readonly, or full scope URIs. Repeat or separate with commas.
    #[arg(long = "scope", value_name = "SCOPE", env = env::SCOPE, value_delimiter = ',', help_heading = "Selection")]
    pub scopes: Vec<String>,
    /// Export only these collections (comma-separated), e.g. users,enrollments.
    #[arg(long, value_name = "LIST", env = env::ONLY, value_delimiter = ',', help_heading = "Selection")]
    pub only: Vec<String>,

    /// Where to write: a path ending in .zip writes a zip, any other path a folder; `-` with
    /// --format ndjson streams to stdout.
    #[arg(long, value_name = "PATH", env = env::OUT, help_heading = "Output")]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_name = "FORMAT", env = env::FORMAT, value_enum, default_value_t = Format::Csv, help_heading = "Output")]
    pub format: Format,
    /// Write users' passwords into users.csv (blank by default).
    #[arg(long, env = env::INCLUDE_PASSWORDS, help_heading = "Output")]
    pub include_passwords: bool,
    /// The manifest's source.systemCode, e.g. a district id.
    #[arg(long, value_name = "CODE", env = env::SYSTEM_CODE, help_heading = "Output")]
    pub system_code: Option<String>,

    /// Refuse to replace earlier output when a file would lose more than this share of its
    /// records (consumers treat missing rows as deletions): a percentage, or `off`.
    #[arg(long, value_name = "PERCENT|off", env = env::MAX_SHRINK, default_value = "50", value_parser = parse_max_shrink, help_heading = "Output")]
    pub max_shrink: ShrinkLimit,

    /// When a collection does not add up even after walking it again, publish the complete ones
    /// and mark it absent instead of failing the run.
    #[arg(long, env = env::ALLOW_PARTIAL, help_heading = "Output")]
    pub allow_partial: bool,

    /// Records asked for per request; hosts may send fewer, and the pager copes.
    #[arg(long, value_name = "N", env = env::PAGE_SIZE, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Network")]
    pub page_size: u64,
    /// Requests in flight at once.
    #[arg(long, value_name = "N", env = env::CONCURRENCY, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256), help_heading = "Network")]
    pub concurrency: u32,
    /// Requests per second across the run, token requests included.
    #[arg(long, value_name = "R", env = env::RATE, default_value_t = 10.0, help_heading = "Network")]
    pub rate: f64,
    /// Requests the rate limiter lets through at once after a pause.
    #[arg(long, value_name = "N", env = env::BURST, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Network")]
    pub burst: u32,
    /// Tries per request before giving up (429 and 5xx are retried with backoff).
    #[arg(long, value_name = "N", env = env::MAX_ATTEMPTS, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=100), help_heading = "Network")]
    pub max_attempts: u32,
    /// The longest backoff between tries, in seconds (it starts at half a second and doubles,
    /// with jitter, when the server gives no Retry-After).
    #[arg(long, value_name = "SECS", env = env::BACKOFF_MAX, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Network")]
    pub backoff_max: u64,
    /// The longest Retry-After to wait out, in seconds; a server asking for longer ends the run.
    #[arg(long, value_name = "SECS", env = env::MAX_RETRY_WAIT, default_value_t = 300, help_heading = "Network")]
    pub max_retry_wait: u64,
    /// Seconds one request may take, body included.
    #[arg(long, value_name = "SECS", env = env::TIMEOUT, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Network")]
    pub timeout: u64,
    /// Also trust the certificate authorities in this PEM file (a district server with its own
    /// certificate, a TLS-inspecting proxy). Repeatable.
    #[arg(long, value_name = "FILE", env = env::CA_CERT, help_heading = "Network")]
    pub ca_cert: Vec<PathBuf>,

    /// Print only errors.
    #[arg(short, long, env = env::QUIET, help_heading = "Logging")]
    pub quiet: bool,
    /// More detail in the logs (-v debug, -vv trace). ROSTER_EXPORT_LOG takes filter directives.
    #[arg(short, long, action = clap::ArgAction::Count, help_heading = "Logging")]
    pub verbose: u8,
    /// Log format.
    #[arg(long, value_name = "FORMAT", env = env::LOG_FORMAT, value_enum, default_value_t = LogFormat::Auto, help_heading = "Logging")]
    pub log_format: LogFormat,
    /// Never draw progress bars (they only appear when stderr is a terminal anyway).
    #[arg(long, env = env::NO_PROGRESS, help_heading = "Logging")]
    pub no_progress: bool,
}

/// `--max-shrink`: a limit, or none (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShrinkLimit(pub Option<MaxShrink>);

/// `50`, `50%` or `off`.
fn parse_max_shrink(text: &str) -> Result<ShrinkLimit, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(ShrinkLimit(None));
    }
    match text.trim_end_matches('%').trim().parse::<u32>() {
        Ok(p) if p <= 100 => Ok(ShrinkLimit(Some(MaxShrink(p)))),
        _ => Err(format!(
            "expected a percentage from 0 to 100, or off; got {text:?}"
        )),
    }
}
