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
    pub const PROFILE: &str = "ROSTER_EXPORT_PROFILE";
    pub const CONFIG: &str = "ROSTER_EXPORT_CONFIG";
    pub const PROVIDER: &str = "ROSTER_EXPORT_PROVIDER";
    pub const AUTH: &str = "ROSTER_EXPORT_AUTH";
    pub const CLIENT_AUTH: &str = "ROSTER_EXPORT_CLIENT_AUTH";
    pub const SCOPE_AS_WRITTEN: &str = "ROSTER_EXPORT_SCOPE_AS_WRITTEN";
    pub const OIDC_AUTHORITY: &str = "ROSTER_EXPORT_OIDC_AUTHORITY";
    pub const TOKEN_STORE: &str = "ROSTER_EXPORT_TOKEN_STORE";
    pub const REFRESH_TOKEN: &str = "ROSTER_EXPORT_REFRESH_TOKEN";
    pub const REFRESH_TOKEN_FILE: &str = "ROSTER_EXPORT_REFRESH_TOKEN_FILE";
    pub const PRESERVE_REFRESH_TOKEN: &str = "ROSTER_EXPORT_PRESERVE_REFRESH_TOKEN";
    pub const REFRESH_TOKEN_WARN_DAYS: &str = "ROSTER_EXPORT_REFRESH_TOKEN_WARN_DAYS";
    pub const USERNAME: &str = "ROSTER_EXPORT_USERNAME";
    pub const PASSWORD: &str = "ROSTER_EXPORT_PASSWORD";
    pub const PASSWORD_FILE: &str = "ROSTER_EXPORT_PASSWORD_FILE";
    pub const ACCESS_TOKEN: &str = "ROSTER_EXPORT_ACCESS_TOKEN";
    pub const ACCESS_TOKEN_FILE: &str = "ROSTER_EXPORT_ACCESS_TOKEN_FILE";
    pub const SIGNATURE_METHOD: &str = "ROSTER_EXPORT_SIGNATURE_METHOD";
    /// Extra request headers, one `Name: value` per line (values are kept secret).
    pub const HEADERS: &str = "ROSTER_EXPORT_HEADERS";
    pub const HEADER_FILE: &str = "ROSTER_EXPORT_HEADER_FILE";
    pub const QUIET: &str = "ROSTER_EXPORT_QUIET";
    pub const LOG_FORMAT: &str = "ROSTER_EXPORT_LOG_FORMAT";
    pub const NO_PROGRESS: &str = "ROSTER_EXPORT_NO_PROGRESS";
    /// `EnvFilter` directives for the logs, e.g. `roster_export=debug`.
    pub const LOG: &str = "ROSTER_EXPORT_LOG";
}

const ABOUT: &str = "Export rosters from a OneRoster v1.1 REST API into a OneRoster 1.1 CSV bundle, JSON or NDJSON.";

const AFTER_HELP: &str = "\
Every option can also be set with an environment variable ROSTER_EXPORT_<NAME> (shown with each option).
Secrets come from the environment or files: ROSTER_EXPORT_CLIENT_SECRET (or --client-secret-file),
ROSTER_EXPORT_PASSWORD, ROSTER_EXPORT_REFRESH_TOKEN (to create a token store), ROSTER_EXPORT_ACCESS_TOKEN,
ROSTER_EXPORT_HEADERS (`Name: value` lines).

Examples:
  # Try it with no account: the built-in sandbox district
  roster-export --demo --scope roster.readonly --out demo.zip

  # A nightly CSV bundle (Blackbaud's OneRoster API; --provider fills in its URLs)
  ROSTER_EXPORT_CLIENT_SECRET=... roster-export --provider blackbaud --client-id KEY \\
      --scope roster.readonly --scope roster-demographics.readonly --out /srv/rosters/district.zip

  # A district profile from ~/.config/roster-export/config.toml (see `roster-export profiles`)
  roster-export --profile northside

  # A host that signs requests with OAuth 1.0a
  ROSTER_EXPORT_CLIENT_SECRET=... roster-export --auth oauth1 --client-id KEY \\
      --base-url https://d.example/ims/oneroster/v1p1 --scope roster.readonly --out district.zip

  # An access token for curl
  roster-export token --demo --scope roster.readonly

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
    /// Print an access token on stdout (and nothing else), e.g. for curl while debugging.
    Token(TokenArgs),
    /// Stored credentials: rotate the refresh token on demand.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// List the profiles in the config file, with where each one's secrets come from.
    Profiles(ProfilesArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Trade the stored refresh token for a new one now and save it (--auth refresh-token).
    Rotate(TokenArgs),
}

/// The options of `token` and `auth rotate`: how to reach and authenticate, no output.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub logging: LoggingArgs,
}

#[derive(Debug, Args)]
pub struct ProfilesArgs {
    /// The config file to read (default: the platform's config folder, roster-export/config.toml).
    #[arg(long, value_name = "FILE", env = env::CONFIG)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON lines otherwise.
    Auto,
    Text,
    Json,
}

/// How the tool authenticates to the host (ONEROSTER.md §2.1, §2.1b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthKind {
    /// OAuth 2.0 client credentials (the default).
    ClientCredentials,
    /// OAuth 2.0 refresh token kept in --token-store and rotated as the host asks.
    RefreshToken,
    /// OAuth 2.0 resource-owner password grant (a service user), token URL from --oidc-authority.
    Password,
    /// OAuth 1.0a: every request signed with the client id and secret (HMAC-SHA256 or -SHA1).
    #[value(name = "oauth1")]
    #[serde(rename = "oauth1")]
    OAuth1,
    /// A ready access token from ROSTER_EXPORT_ACCESS_TOKEN or --access-token-file.
    Bearer,
}

/// How the client id and secret travel on token requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuth {
    /// HTTP Basic base64(id:secret), not URL-encoded (what OneRoster hosts expect).
    #[default]
    Basic,
    /// client_id and client_secret as form fields in the body.
    Body,
}

/// Hosts whose URLs and habits are known (ONEROSTER.md §8); every value can be overridden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderName {
    /// Blackbaud's OneRoster API (SKY afe-rostr): client credentials.
    Blackbaud,
    /// Blackbaud SKY APIs with a user-authorized refresh token and the Bb-Api-Subscription-Key header.
    BlackbaudSky,
    /// A ClassLink Roster Server, reached directly: OAuth 1.0a with HMAC-SHA256 (--base-url per district).
    Classlink,
}

/// Where the data comes from and how to authenticate: shared by an export, `token` and `auth rotate`.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Use this profile of the config file (URLs, client id, scopes, output, secrets by reference).
    #[arg(long, value_name = "NAME", env = env::PROFILE, help_heading = "Connection")]
    pub profile: Option<String>,
    /// The config file holding the profiles (default: the platform's config folder,
    /// roster-export/config.toml).
    #[arg(long, value_name = "FILE", env = env::CONFIG, help_heading = "Connection")]
    pub config: Option<PathBuf>,
    /// Fill in a known host's token and base URLs, auth and headers.
    #[arg(long, value_name = "NAME", env = env::PROVIDER, value_enum, help_heading = "Connection")]
    pub provider: Option<ProviderName>,
    /// The API base URL: either ending in /ims/oneroster/v1p1 or the root it hangs off.
    #[arg(long, value_name = "URL", env = env::BASE_URL, help_heading = "Connection")]
    pub base_url: Option<String>,
    /// The OAuth 2.0 token URL (vendor specific; it may be on another host or path than the API).
    #[arg(long, value_name = "URL", env = env::TOKEN_URL, help_heading = "Connection")]
    pub token_url: Option<String>,
    /// The OAuth client id (key); the consumer key under --auth oauth1.
    #[arg(long, value_name = "ID", env = env::CLIENT_ID, help_heading = "Connection")]
    pub client_id: Option<String>,
    /// The client secret. Prefer the environment variable or --client-secret-file: process lists show flags.
    #[arg(long, value_name = "SECRET", env = env::CLIENT_SECRET, hide_env_values = true, help_heading = "Connection")]
    pub client_secret: Option<SecretString>,
    /// Read the client secret from this file (trailing newline ignored).
    #[arg(long, value_name = "FILE", env = env::CLIENT_SECRET_FILE, help_heading = "Connection")]
    pub client_secret_file: Option<PathBuf>,
    /// Start the built-in sandbox server on loopback and use it: no account needed.
    #[arg(long, env = env::DEMO, conflicts_with_all = ["base_url", "token_url", "client_id", "profile", "provider"], help_heading = "Connection")]
    pub demo: bool,
    /// Extra request header for the API, `Name: value` (e.g. Bb-Api-Subscription-Key). Values are
    /// kept out of logs; prefer ROSTER_EXPORT_HEADERS or --header-file for secret ones. Repeatable.
    #[arg(
        long = "header",
        value_name = "NAME: VALUE",
        help_heading = "Connection"
    )]
    pub headers: Vec<String>,
    /// Read extra API request headers from this file, one `Name: value` per line.
    #[arg(long, value_name = "FILE", env = env::HEADER_FILE, help_heading = "Connection")]
    pub header_file: Option<PathBuf>,

    /// How to authenticate [default: client-credentials].
    #[arg(long, value_name = "KIND", env = env::AUTH, value_enum, help_heading = "Authentication")]
    pub auth: Option<AuthKind>,
    /// How the client id and secret are sent on token requests [default: basic].
    #[arg(long, value_name = "STYLE", env = env::CLIENT_AUTH, value_enum, help_heading = "Authentication")]
    pub client_auth: Option<ClientAuth>,
    /// Send the scopes exactly as written instead of expanding short names to v1p1 URIs (for
    /// hosts that know only the short names).
    #[arg(long, env = env::SCOPE_AS_WRITTEN, help_heading = "Authentication")]
    pub scope_as_written: bool,
    /// --auth password: the OpenID Connect authority; its /.well-known/openid-configuration names
    /// the token URL (--token-url overrides it).
    #[arg(long, value_name = "URL", env = env::OIDC_AUTHORITY, help_heading = "Authentication")]
    pub oidc_authority: Option<String>,
    /// --auth password: the user name.
    #[arg(long, value_name = "NAME", env = env::USERNAME, help_heading = "Authentication")]
    pub username: Option<String>,
    /// --auth password: read the password from this file (or set ROSTER_EXPORT_PASSWORD).
    #[arg(long, value_name = "FILE", env = env::PASSWORD_FILE, help_heading = "Authentication")]
    pub password_file: Option<PathBuf>,
    /// --auth refresh-token: the file (0600) that keeps the refresh token; it is rewritten
    /// atomically whenever the host hands out a new one. Created from ROSTER_EXPORT_REFRESH_TOKEN
    /// or --refresh-token-file when it does not exist yet.
    #[arg(long, value_name = "FILE", env = env::TOKEN_STORE, help_heading = "Authentication")]
    pub token_store: Option<PathBuf>,
    /// --auth refresh-token: the first refresh token, read only to create a missing --token-store.
    #[arg(long, value_name = "FILE", env = env::REFRESH_TOKEN_FILE, help_heading = "Authentication")]
    pub refresh_token_file: Option<PathBuf>,
    /// --auth refresh-token: ask the host to keep the refresh token (preserve_refresh_token=true)
    /// instead of rotating it on every use; rotate with `roster-export auth rotate`.
    #[arg(long, env = env::PRESERVE_REFRESH_TOKEN, help_heading = "Authentication")]
    pub preserve_refresh_token: bool,
    /// --auth refresh-token: warn when the stored refresh token is older than this many days
    /// (Blackbaud's last 365) [default: 330].
    #[arg(long, value_name = "DAYS", env = env::REFRESH_TOKEN_WARN_DAYS, help_heading = "Authentication")]
    pub refresh_token_warn_days: Option<u32>,
    /// --auth bearer: read the access token from this file (or set ROSTER_EXPORT_ACCESS_TOKEN).
    #[arg(long, value_name = "FILE", env = env::ACCESS_TOKEN_FILE, help_heading = "Authentication")]
    pub access_token_file: Option<PathBuf>,
    /// --auth oauth1: hmac-sha256 or hmac-sha1 [default: hmac-sha256].
    #[arg(long, value_name = "METHOD", env = env::SIGNATURE_METHOD, help_heading = "Authentication")]
    pub signature_method: Option<String>,

    /// Scopes to request: roster-core.readonly, roster.readonly, roster-demographics.readonly,
    /// gradebook.readonly, resource.readonly, or full scope URIs. Repeat or separate with commas.
    #[arg(long = "scope", value_name = "SCOPE", env = env::SCOPE, value_delimiter = ',', help_heading = "Selection")]
    pub scopes: Vec<String>,
}

/// Pacing, retries and trust: shared by every command that talks to a host.
#[derive(Debug, Args)]
pub struct NetworkArgs {
    /// Requests per second across the run, token requests included [default: 10].
    #[arg(long, value_name = "R", env = env::RATE, help_heading = "Network")]
    pub rate: Option<f64>,
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
}

#[derive(Debug, Args)]
pub struct LoggingArgs {
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

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Export only these collections (comma-separated), e.g. users,enrollments.
    #[arg(long, value_name = "LIST", env = env::ONLY, value_delimiter = ',', help_heading = "Selection")]
    pub only: Vec<String>,

    /// Where to write: a path ending in .zip writes a zip, any other path a folder; `-` with
    /// --format ndjson streams to stdout.
    #[arg(long, value_name = "PATH", env = env::OUT, help_heading = "Output")]
    pub out: Option<PathBuf>,
    /// Output format [default: csv].
    #[arg(long, value_name = "FORMAT", env = env::FORMAT, value_enum, help_heading = "Output")]
    pub format: Option<Format>,
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

    /// Records asked for per request; hosts may send fewer, and the pager copes [default: 5000].
    #[arg(long, value_name = "N", env = env::PAGE_SIZE, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Network")]
    pub page_size: Option<u64>,
    /// Requests in flight at once [default: 4].
    #[arg(long, value_name = "N", env = env::CONCURRENCY, value_parser = clap::value_parser!(u32).range(1..=256), help_heading = "Network")]
    pub concurrency: Option<u32>,
    #[command(flatten)]
    pub network: NetworkArgs,

    #[command(flatten)]
    pub logging: LoggingArgs,
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
