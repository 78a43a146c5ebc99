//! The command line: flags, their environment variables, help text and examples, and the flags
//! as the top layer of [`Settings`]. Clap's derives live here only; the domain types they parse
//! into (`AuthKind`, `Format`, …) belong to their modules.

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::auth::{AuthKind, ClientAuth, RefreshTokenGrant, SignatureMethod};
use crate::env_vars as env;
use crate::export::{Format, OutputOptions, ShrinkLimit, ValidateMode};
use crate::fleet::Shard;
use crate::http::{HttpSettings, Limit, PaceSettings, RetryPolicy};
use crate::logging::LogFormat;
use crate::pager::PagerSettings;
use crate::settings::{
    HeaderSetting, ProviderName, Secret, Settings, SettingsError, header_file, header_lines,
};

const ABOUT: &str = "Export rosters from a OneRoster v1.1 REST API into a OneRoster 1.1 CSV bundle, JSON or NDJSON.";

const AFTER_HELP: &str = "\
Every option can also be set with an environment variable ROSTER_EXPORT_<NAME> (shown with each option).
Secrets come from the environment or files: ROSTER_EXPORT_CLIENT_SECRET (or --client-secret-file),
ROSTER_EXPORT_PASSWORD, ROSTER_EXPORT_REFRESH_TOKEN (to create a token store), ROSTER_EXPORT_ACCESS_TOKEN,
ROSTER_EXPORT_HEADERS (`Name: value` lines).

Examples:
  # Try it with no account: the built-in sandbox district
  roster-export --demo --scope roster.readonly --out demo.zip

  # A new host: a profile to fill in, a check of the connection, then the export
  roster-export init --provider blackbaud && roster-export check && roster-export

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

  # Check a CSV bundle against the OneRoster 1.1 binding (one line per problem)
  roster-export validate /srv/rosters/district.zip

Exit codes:
  0    success
  2    usage or configuration error
  3    authentication or authorization failure
  4    server or data error after retries
  5    output could not be written
  130  interrupted (Ctrl-C, SIGTERM); the previous output is untouched";

/// `0.1.0 (abc1234 2026-11-23)`: the commit and date of the build (see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("ROSTER_EXPORT_COMMIT"),
    " ",
    env!("ROSTER_EXPORT_BUILD_DATE"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "roster-export",
    version = VERSION,
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
    #[cfg(feature = "demo")]
    Sandbox(roster_sandbox::SandboxArgs),
    /// Print an access token on stdout (and nothing else), e.g. for curl while debugging.
    Token(TokenArgs),
    /// Stored credentials: rotate the refresh token on demand.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// List the profiles in the config file, with where each one's secrets come from.
    Profiles(ProfilesArgs),
    /// Check a OneRoster 1.1 CSV bundle (a zip or a folder): manifest, headers, required cells,
    /// formats, repeated sourcedIds and references. One `file.csv:LINE: problem` line each.
    #[command(after_help = VALIDATE_AFTER_HELP)]
    Validate(ValidateArgs),
    /// Add a commented profile to the config file (created, private, when missing) to fill in.
    Init(InitArgs),
    /// Check the connection: a token, one small page of each collection, and what the host
    /// told (token lifetime, scopes, totals, Link, page cap, compression, rate limits, times).
    #[command(after_help = CHECK_AFTER_HELP)]
    Check(CheckArgs),
    /// Print a shell completion script on stdout (bash, zsh, fish, powershell, elvish).
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout, e.g. `roster-export man > roster-export.1`.
    Man,
}

const CHECK_AFTER_HELP: &str = "\
The report goes to stdout, logs to stderr. Exit codes are those of an export with the same
settings: 0 it should work, 2 configuration, 3 authentication or a refused collection, 4 the host
(e.g. every collection answers 404: not a OneRoster 1.1 base URL).";

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The host the profile is for (fills in its URLs and authentication); none: a generic
    /// OAuth 2.0 client-credentials profile.
    #[arg(long, value_name = "NAME", value_enum)]
    pub provider: Option<ProviderName>,
    /// The profile's name.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub profile: String,
    /// The config file (default: the platform's config folder, roster-export/config.toml).
    #[arg(long, value_name = "FILE", env = env::CONFIG)]
    pub config: Option<PathBuf>,
}

/// The options of `check`: how to reach and authenticate, and what an export would fetch.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Check only these collections (comma-separated), as --only narrows an export.
    #[arg(long, value_name = "LIST", env = env::ONLY, value_delimiter = ',', help_heading = "Selection")]
    pub only: Vec<String>,
    /// The page size an export would ask for; one page this size shows whether the host caps
    /// pages.
    #[arg(long, value_name = "N", env = env::PAGE_SIZE, value_parser = whole::<u64>(1, None), allow_negative_numbers = true, help_heading = "Network")]
    pub page_size: Option<u64>,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub logging: LoggingArgs,
}

impl CheckArgs {
    /// Every flag of `check` as a layer.
    pub fn settings(&self) -> Result<Settings, SettingsError> {
        let selection = Settings {
            only: Some(self.only.clone()).filter(|o| !o.is_empty()),
            page_size: self.page_size,
            ..Settings::default()
        };
        Ok(self
            .connection
            .settings()?
            .combine(self.network.settings())
            .combine(selection))
    }
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `--log-format` as the command line or the environment asks for it, read without clap, for
/// reporting a command line clap could not parse in the style the run would have used.
pub fn requested_log_format(args: &[std::ffi::OsString]) -> LogFormat {
    let mut given = None;
    let mut words = args.iter().map(|a| a.to_string_lossy());
    while let Some(word) = words.next() {
        if word == "--" {
            break;
        }
        if let Some(value) = word.strip_prefix("--log-format=") {
            given = Some(value.to_string());
        } else if word == "--log-format" {
            given = words.next().map(|v| v.to_string());
        }
    }
    given
        .or_else(|| std::env::var(env::LOG_FORMAT).ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_default()
}

/// A clap error as one line: its message and tip, without the usage block.
pub fn parse_error_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let body = text.split("\nUsage:").next().unwrap_or(&text);
    let body = body.split("\nFor more information").next().unwrap_or(body);
    let lines: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("; ").trim_start_matches("error: ").to_string()
}

/// Whether clap's outcome is help or a version, printed as clap prints it rather than reported.
pub fn is_help_or_version(err: &clap::Error) -> bool {
    use clap::error::ErrorKind;
    matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    )
}

/// The shell completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    clap_complete::generate(shell, &mut command(), "roster-export", out);
}

/// The man page, in roff.
pub fn man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    clap_mangen::Man::new(command()).render(out)
}

const VALIDATE_AFTER_HELP: &str = "\
Exit codes:
  0  no problems
  2  PATH is missing, not a zip or a folder, or cannot be read
  4  problems found (listed on stdout, then a summary line)";

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The bundle: a zip file or a folder.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Problems shown per rule; the rest are counted on one line.
    #[arg(long, value_name = "N", default_value_t = crate::validate::Options::DEFAULT_MAX_PER_RULE)]
    pub max_per_rule: usize,
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

/// A domain enum as a clap value: its names come from the type, the help from `$help`.
macro_rules! value_enum {
    ($ty:ty, |$v:ident| $help:expr) => {
        impl ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [Self] {
                <$ty>::ALL
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                let $v = *self;
                Some(PossibleValue::new(self.name()).help($help))
            }
        }
    };
}

value_enum!(AuthKind, |v| match v {
    AuthKind::ClientCredentials => "OAuth 2.0 client credentials (the default)",
    AuthKind::RefreshToken =>
        "OAuth 2.0 refresh token kept in --token-store and rotated as the host asks",
    AuthKind::Password =>
        "OAuth 2.0 password grant (a service user), token URL from --oidc-authority",
    AuthKind::OAuth1 => "OAuth 1.0a: every request signed with the client id and secret",
    AuthKind::Bearer =>
        "a ready access token from ROSTER_EXPORT_ACCESS_TOKEN or --access-token-file",
});

value_enum!(ClientAuth, |v| match v {
    ClientAuth::Basic =>
        "HTTP Basic base64(id:secret), not URL-encoded (what OneRoster hosts expect)",
    ClientAuth::Body => "client_id and client_secret as form fields in the body",
});

value_enum!(ProviderName, |v| match v {
    ProviderName::Blackbaud => "Blackbaud's OneRoster API (SKY afe-rostr): client credentials",
    ProviderName::BlackbaudSky =>
        "Blackbaud SKY APIs: a refresh token and the Bb-Api-Subscription-Key header",
    ProviderName::Classlink =>
        "a ClassLink Roster Server, reached directly: OAuth 1.0a, HMAC-SHA256 (--base-url per district)",
});

value_enum!(Format, |v| match v {
    Format::Csv => "a OneRoster 1.1 CSV bundle: a folder, or a zip when the path ends in .zip",
    Format::Json => "one <collection>.json array per collection, records as the server sent them",
    Format::Ndjson =>
        "one {\"collection\", \"record\"} line per record, to a file or to stdout (--out -)",
});

value_enum!(ValidateMode, |v| match v {
    ValidateMode::Warn => "log the problems and publish",
    ValidateMode::Error => "publish nothing when there are problems (exit 4)",
    ValidateMode::Off => "skip the checks",
});

value_enum!(LogFormat, |v| match v {
    LogFormat::Auto => "text on a terminal, JSON lines otherwise",
    LogFormat::Text => "text",
    LogFormat::Json => "JSON lines",
});

/// Where the data comes from and how to authenticate: shared by an export, `token` and `auth rotate`.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Use this profile of the config file (URLs, client id, scopes, output, secrets by reference).
    #[arg(long, value_name = "NAME", env = env::PROFILE, display_order = 3)]
    pub profile: Option<String>,
    /// The config file holding the profiles (default: the platform's config folder,
    /// roster-export/config.toml).
    #[arg(long, value_name = "FILE", env = env::CONFIG, help_heading = "Connection")]
    pub config: Option<PathBuf>,
    /// Fill in a known host's token and base URLs, auth and headers.
    #[arg(long, value_name = "NAME", env = env::PROVIDER, value_enum, help_heading = "Connection")]
    pub provider: Option<ProviderName>,
    /// The API base URL: either ending in /ims/oneroster/v1p1 or the root it hangs off.
    #[arg(long, value_name = "URL", env = env::BASE_URL, display_order = 4)]
    pub base_url: Option<String>,
    /// The OAuth 2.0 token URL (vendor specific; it may be on another host or path than the API).
    #[arg(long, value_name = "URL", env = env::TOKEN_URL, display_order = 5)]
    pub token_url: Option<String>,
    /// The OAuth client id (key); the consumer key under --auth oauth1.
    #[arg(long, value_name = "ID", env = env::CLIENT_ID, display_order = 6)]
    pub client_id: Option<String>,
    /// The client secret. Prefer the environment variable or --client-secret-file: process lists show flags.
    #[arg(long, value_name = "SECRET", env = env::CLIENT_SECRET, hide_env_values = true, help_heading = "Connection")]
    pub client_secret: Option<SecretString>,
    /// Read the client secret from this file (trailing newline ignored).
    #[arg(long, value_name = "FILE", env = env::CLIENT_SECRET_FILE, help_heading = "Connection")]
    pub client_secret_file: Option<PathBuf>,
    /// Start the built-in sandbox server on loopback and use it: no account needed.
    #[cfg(feature = "demo")]
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

    /// How to authenticate.
    #[arg(long, value_name = "KIND", env = env::AUTH, value_enum, help_heading = "Authentication")]
    pub auth: Option<AuthKind>,
    /// How the client id and secret are sent on token requests.
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
    /// (Blackbaud's last 365).
    #[arg(long, value_name = "DAYS", env = env::REFRESH_TOKEN_WARN_DAYS, value_parser = whole::<u32>(0, None), allow_negative_numbers = true, help_heading = "Authentication")]
    pub refresh_token_warn_days: Option<u32>,
    /// --auth bearer: read the access token from this file (or set ROSTER_EXPORT_ACCESS_TOKEN).
    #[arg(long, value_name = "FILE", env = env::ACCESS_TOKEN_FILE, help_heading = "Authentication")]
    pub access_token_file: Option<PathBuf>,
    /// --auth oauth1: hmac-sha256 or hmac-sha1.
    #[arg(long, value_name = "METHOD", env = env::SIGNATURE_METHOD, value_parser = parse_signature_method, help_heading = "Authentication")]
    pub signature_method: Option<SignatureMethod>,

    /// Scopes to request: roster-core.readonly, roster.readonly, roster-demographics.readonly,
    /// gradebook.readonly, resource.readonly, or full scope URIs. Repeat or separate with commas.
    #[arg(long = "scope", value_name = "SCOPE", env = env::SCOPE, value_delimiter = ',', display_order = 2)]
    pub scopes: Vec<String>,
}

/// Pacing, retries and trust: shared by every command that talks to a host.
#[derive(Debug, Args)]
pub struct NetworkArgs {
    /// Requests per second to each host, token requests included. `auto` starts modestly, grows
    /// while the host answers cleanly, follows a limit the host announces (RateLimit,
    /// X-RateLimit-*) and settles just under one it enforces with 429s; a number is a ceiling it
    /// starts at and never exceeds.
    #[arg(long, value_name = "auto|R", env = env::RATE, value_parser = parse_limit::<f64>, allow_negative_numbers = true, help_heading = "Network")]
    pub rate: Option<Limit<f64>>,
    /// Requests a fixed --rate lets through at once after a pause.
    #[arg(long, value_name = "N", env = env::BURST, value_parser = whole::<u32>(1, None), allow_negative_numbers = true, help_heading = "Network")]
    pub burst: Option<u32>,
    /// Tries per request before giving up (429 and 5xx are retried with backoff).
    #[arg(long, value_name = "N", env = env::MAX_ATTEMPTS, value_parser = whole::<u32>(1, Some(100)), allow_negative_numbers = true, help_heading = "Network")]
    pub max_attempts: Option<u32>,
    /// The longest backoff between tries, in seconds (it starts at half a second and doubles,
    /// with jitter, when the server gives no Retry-After).
    #[arg(long, value_name = "SECS", env = env::BACKOFF_MAX, value_parser = whole::<u64>(1, None), allow_negative_numbers = true, help_heading = "Network")]
    pub backoff_max: Option<u64>,
    /// The longest Retry-After to wait out, in seconds; a server asking for longer ends the run.
    #[arg(long, value_name = "SECS", env = env::MAX_RETRY_WAIT, value_parser = whole::<u64>(0, None), allow_negative_numbers = true, help_heading = "Network")]
    pub max_retry_wait: Option<u64>,
    /// Seconds one request may take, body included.
    #[arg(long, value_name = "SECS", env = env::TIMEOUT, value_parser = whole::<u64>(1, None), allow_negative_numbers = true, help_heading = "Network")]
    pub timeout: Option<u64>,
    /// Also trust the certificate authorities in this PEM file (a district server with its own
    /// certificate, a TLS-inspecting proxy). Repeatable.
    #[arg(long, value_name = "FILE", env = env::CA_CERT, help_heading = "Network")]
    pub ca_cert: Vec<PathBuf>,
    /// Trust a server that presents exactly a certificate in this PEM file, e.g. a self-signed
    /// one made with `openssl req -x509` (--ca-cert files are pinned too). Repeatable.
    #[arg(long, value_name = "FILE", env = env::PIN_CERT, help_heading = "Network")]
    pub pin_cert: Vec<PathBuf>,
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
    #[arg(long, value_name = "FORMAT", env = env::LOG_FORMAT, value_enum, default_value_t = LogFormat::Auto, help_heading = "Logging", overrides_with = "log_format")]
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

    /// Run every profile of the config file, each its own export (output, lock, state), several
    /// at once; tenants on one host share its rate limit.
    #[arg(long, conflicts_with_all = ["profile", "profiles", "demo"], help_heading = "Many districts")]
    pub all_profiles: bool,
    /// Run these profiles (comma-separated), as --all-profiles runs them all.
    #[arg(long, value_name = "LIST", value_delimiter = ',', conflicts_with_all = ["profile", "demo"], help_heading = "Many districts")]
    pub profiles: Vec<String>,
    /// With --all-profiles / --profiles: tenants exported at once.
    #[arg(long, value_name = "N", env = env::TENANTS, value_parser = clap::value_parser!(u32).range(1..=1000), help_heading = "Many districts")]
    pub tenants: Option<u32>,
    /// With --all-profiles / --profiles: run only shard I of N (0 ≤ I < N), the profiles whose
    /// name hashes there, e.g. --shard $JOB_COMPLETION_INDEX/4 in a Kubernetes Indexed Job.
    #[arg(long, value_name = "I/N", env = env::SHARD, value_parser = parse_shard, help_heading = "Many districts")]
    pub shard: Option<Shard>,

    /// Where to write: a path ending in .zip writes a zip, any other path a folder; `-` with
    /// --format ndjson streams to stdout. A zip or NDJSON file can also go to s3://bucket/key,
    /// gs://bucket/key, az://container/key (credentials from the platform's usual environment
    /// variables or instance role) or sftp://user@host[:port]/path.
    #[arg(long, value_name = "PATH|URL", env = env::OUT, display_order = 1)]
    pub out: Option<PathBuf>,
    /// The SSH private key for an sftp:// output (default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa).
    #[arg(long, value_name = "FILE", env = env::SFTP_KEY, help_heading = "Output")]
    pub sftp_key: Option<PathBuf>,
    /// The known_hosts file that must list the SFTP server's host key (default:
    /// ~/.ssh/known_hosts).
    #[arg(long, value_name = "FILE", env = env::SFTP_KNOWN_HOSTS, help_heading = "Output")]
    pub sftp_known_hosts: Option<PathBuf>,
    /// Trust an SFTP host key that known_hosts does not list yet, and record it there. A key that
    /// differs from the recorded one is still refused.
    #[arg(long, env = env::SFTP_ACCEPT_NEW_HOST_KEY, help_heading = "Output")]
    pub sftp_accept_new_host_key: bool,
    /// Output format.
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
    #[arg(long, value_name = "PERCENT|off", env = env::MAX_SHRINK, value_parser = parse_max_shrink, allow_negative_numbers = true, help_heading = "Output")]
    pub max_shrink: Option<ShrinkLimit>,
    /// Check a CSV bundle as `roster-export validate` does before publishing it: `warn` logs the
    /// problems and publishes, `error` publishes nothing (exit 4), `off` skips the checks.
    #[arg(long, value_name = "MODE", env = env::VALIDATE, value_enum, help_heading = "Output")]
    pub validate: Option<ValidateMode>,
    /// Deflate level of a .zip output: 0 stores, 1 is fast, 9 is smallest.
    #[arg(long, value_name = "0-9", env = env::ZIP_LEVEL, value_parser = whole::<u32>(0, Some(9)), allow_negative_numbers = true, help_heading = "Output")]
    pub zip_level: Option<u32>,

    /// Also write what the run did (records, requests, what changed per collection, the exit code)
    /// as JSON to this file, whether it succeeded or not.
    #[arg(long, value_name = "FILE", env = env::SUMMARY_JSON, help_heading = "Output")]
    pub summary_json: Option<PathBuf>,

    /// When a collection does not add up even after walking it again, publish the complete ones
    /// and mark it absent instead of failing the run.
    #[arg(long, env = env::ALLOW_PARTIAL, help_heading = "Output")]
    pub allow_partial: bool,

    /// Pull only what changed since the last run: each collection is asked for the records whose
    /// dateLastModified is newer than the last run saw, and the changes are applied to the
    /// previous output, which then equals a full pull. The first run (and any run whose state
    /// does not fit) pulls in full.
    #[arg(long, env = env::INCREMENTAL, help_heading = "Incremental")]
    pub incremental: bool,
    /// With --incremental: pull in full this time (the state is rewritten).
    #[arg(long, help_heading = "Incremental")]
    pub full: bool,
    /// With --incremental: pull in full when the last full pull is this many days old (0: never).
    #[arg(long, value_name = "DAYS", env = env::FULL_EVERY, value_parser = whole::<u32>(0, None), allow_negative_numbers = true, help_heading = "Incremental")]
    pub full_every: Option<u32>,
    /// With --incremental: the state file (default: one per output in the platform's state
    /// folder, e.g. ~/.local/state/roster-export/).
    #[arg(long, value_name = "FILE", env = env::STATE, help_heading = "Incremental")]
    pub state: Option<PathBuf>,
    /// Write a OneRoster delta bundle of the records changed since this RFC 3339 time (e.g.
    /// 2026-11-30T00:00:00Z): status and dateLastModified filled, deleted records kept, every
    /// file `delta` in the manifest.
    #[arg(long, value_name = "DATETIME", conflicts_with_all = ["incremental", "full"], help_heading = "Incremental")]
    pub since: Option<String>,

    /// Records asked for per request; hosts may send fewer, and the pager copes.
    #[arg(long, value_name = "N", env = env::PAGE_SIZE, value_parser = whole::<u64>(1, None), allow_negative_numbers = true, help_heading = "Network")]
    pub page_size: Option<u64>,
    /// Requests in flight to each host at once. `auto` starts at 4 and grows (up to 32) while
    /// latency stays flat, holds when it climbs, and shrinks on 429/503; a number (1 to 256) is a
    /// ceiling it starts at.
    #[arg(long, value_name = "auto|N", env = env::CONCURRENCY, value_parser = parse_limit::<usize>, allow_negative_numbers = true, help_heading = "Network")]
    pub concurrency: Option<Limit<usize>>,
    #[command(flatten)]
    pub network: NetworkArgs,

    #[command(flatten)]
    pub logging: LoggingArgs,
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    text.parse()
}

fn parse_max_shrink(text: &str) -> Result<ShrinkLimit, String> {
    text.parse()
}

fn parse_limit<T: std::str::FromStr + Clone + Send + Sync + 'static>(
    text: &str,
) -> Result<Limit<T>, String> {
    text.parse()
}

/// A whole number from `min` (to `max`), the message saying so in words (clap's own shows the
/// type's whole range, up to 2^64).
fn whole<T: TryFrom<u64> + Clone + Send + Sync + 'static>(
    min: u64,
    max: Option<u64>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |text: &str| {
        let wanted = match max {
            Some(max) => format!("a whole number from {min} to {max}"),
            None => format!("a whole number, at least {min}"),
        };
        let n: u64 = text
            .trim()
            .parse()
            .map_err(|_| format!("expected {wanted}, not `{text}`"))?;
        if n < min || max.is_some_and(|max| n > max) {
            return Err(format!("expected {wanted}, not {n}"));
        }
        T::try_from(n).map_err(|_| format!("{n} is too large"))
    }
}

fn parse_signature_method(text: &str) -> Result<SignatureMethod, String> {
    text.parse()
        .map_err(|e: crate::auth::oauth1::UnknownSignatureMethod| e.to_string())
}

/// The command with each option's default shown in its help, read from the module that owns
/// the default (none of them is set here, so a profile can set them all).
pub fn command() -> clap::Command {
    let http = HttpSettings::default();
    let retry = RetryPolicy::default();
    let pager = PagerSettings::default();
    let pace = PaceSettings::default();
    let defaults = [
        ("auth", AuthKind::ClientCredentials.to_string()),
        ("client_auth", ClientAuth::default().to_string()),
        ("signature_method", "hmac-sha256".to_string()),
        (
            "refresh_token_warn_days",
            RefreshTokenGrant::DEFAULT_WARN_DAYS.to_string(),
        ),
        ("rate", pace.rate.to_string()),
        ("burst", pace.burst.to_string()),
        ("max_attempts", retry.max_attempts.to_string()),
        ("backoff_max", retry.max_delay.as_secs().to_string()),
        (
            "max_retry_wait",
            retry.max_retry_after.as_secs().to_string(),
        ),
        ("timeout", http.request_timeout.as_secs().to_string()),
        ("page_size", pager.page_size.to_string()),
        ("concurrency", pace.concurrency.to_string()),
        ("format", Format::default().to_string()),
        ("max_shrink", ShrinkLimit::default().to_string()),
        ("zip_level", OutputOptions::DEFAULT_ZIP_LEVEL.to_string()),
        ("validate", ValidateMode::default().to_string()),
        (
            "full_every",
            crate::settings::DEFAULT_FULL_EVERY_DAYS.to_string(),
        ),
        ("tenants", crate::fleet::DEFAULT_TENANTS.to_string()),
    ];
    let mut command = Cli::command();
    for (id, value) in defaults {
        command = command.mut_arg(id, |arg| {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            arg.help(format!("{help} [default: {value}]"))
        });
    }
    command
}

/// A secret flag: the file named by `file_flag` wins over the value.
fn secret_flag(
    file: &Option<PathBuf>,
    file_flag: &str,
    value: Option<SecretString>,
) -> Option<Secret> {
    match file {
        Some(path) => Some(Secret::File {
            path: path.clone(),
            place: file_flag.to_string(),
        }),
        None => value.map(Secret::Value),
    }
}

/// An environment variable holding a secret (never a flag: process lists show flags).
fn env_secret(name: &str) -> Option<SecretString> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(SecretString::from)
}

/// `Some(true)` for a flag given, `None` otherwise, so a profile's `true` is not overridden by a
/// flag's absence.
fn flag(given: bool) -> Option<bool> {
    given.then_some(true)
}

impl ConnectionArgs {
    /// Whether `--demo` was given (always false in a build without the demo server).
    pub fn demo(&self) -> bool {
        #[cfg(feature = "demo")]
        return self.demo;
        #[cfg(not(feature = "demo"))]
        false
    }

    /// The connection flags (and the environment variables clap does not read) as a layer.
    pub fn settings(&self) -> Result<Settings, SettingsError> {
        let mut headers: Vec<HeaderSetting> = Vec::new();
        if let Some(path) = &self.header_file {
            headers.extend(header_file("--header-file", path)?);
        }
        if let Ok(text) = std::env::var(env::HEADERS) {
            headers.extend(header_lines(env::HEADERS, &text)?);
        }
        for header in &self.headers {
            let (name, value) = header.split_once(':').ok_or_else(|| {
                SettingsError("--header: expected `Name: value` (the value is not shown)".into())
            })?;
            headers.push(HeaderSetting {
                place: "--header".into(),
                name: name.to_string(),
                value: Secret::Value(SecretString::from(value.to_string())),
            });
        }
        let scopes = Some(self.scopes.clone()).filter(|s| s.iter().any(|s| !s.trim().is_empty()));
        Ok(Settings {
            provider: self.provider,
            base_url: self.base_url.clone(),
            token_url: self.token_url.clone(),
            oidc_authority: self.oidc_authority.clone(),
            auth: self.auth,
            client_auth: self.client_auth,
            client_id: self.client_id.clone(),
            client_secret: secret_flag(
                &self.client_secret_file,
                "--client-secret-file",
                self.client_secret.clone(),
            ),
            scopes,
            scope_as_written: flag(self.scope_as_written),
            username: self.username.clone(),
            password: secret_flag(
                &self.password_file,
                "--password-file",
                env_secret(env::PASSWORD),
            ),
            token_store: self.token_store.clone(),
            refresh_token: secret_flag(
                &self.refresh_token_file,
                "--refresh-token-file",
                env_secret(env::REFRESH_TOKEN),
            ),
            preserve_refresh_token: flag(self.preserve_refresh_token),
            refresh_token_warn_days: self.refresh_token_warn_days,
            access_token: secret_flag(
                &self.access_token_file,
                "--access-token-file",
                env_secret(env::ACCESS_TOKEN),
            ),
            signature_method: self.signature_method,
            headers,
            ..Settings::default()
        })
    }
}

impl NetworkArgs {
    /// The network flags as a layer.
    pub fn settings(&self) -> Settings {
        Settings {
            rate: self.rate,
            burst: self.burst,
            max_attempts: self.max_attempts,
            backoff_max: self.backoff_max,
            max_retry_wait: self.max_retry_wait,
            timeout: self.timeout,
            ca_certs: self.ca_cert.clone(),
            pin_certs: self.pin_cert.clone(),
            ..Settings::default()
        }
    }
}

impl TokenArgs {
    /// Every flag of `token` / `auth rotate` as a layer.
    pub fn settings(&self) -> Result<Settings, SettingsError> {
        Ok(self.connection.settings()?.combine(self.network.settings()))
    }
}

impl ExportArgs {
    /// Every flag of an export as a layer.
    pub fn settings(&self) -> Result<Settings, SettingsError> {
        let output = Settings {
            only: Some(self.only.clone()).filter(|o| !o.is_empty()),
            out: self.out.clone(),
            format: self.format,
            include_passwords: flag(self.include_passwords),
            system_code: self.system_code.clone(),
            max_shrink: self.max_shrink,
            zip_level: self.zip_level,
            validate: self.validate,
            allow_partial: flag(self.allow_partial),
            incremental: flag(self.incremental),
            full: flag(self.full),
            full_every: self.full_every,
            state: self.state.clone(),
            since: self.since.clone(),
            sftp_key: self.sftp_key.clone(),
            sftp_known_hosts: self.sftp_known_hosts.clone(),
            sftp_accept_new_host_key: flag(self.sftp_accept_new_host_key),
            page_size: self.page_size,
            concurrency: self.concurrency,
            ..Settings::default()
        };
        Ok(self
            .connection
            .settings()?
            .combine(self.network.settings())
            .combine(output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Credentials, Grant};
    use crate::settings::Config;

    #[test]
    fn every_default_is_shown_in_the_help() {
        let help = command().render_long_help().to_string();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for shown in [
            "[default: 5000]",
            "[default: auto]",
            "[default: 50]",
            "[default: basic]",
        ] {
            assert!(help.contains(shown), "{shown} missing from --help");
        }
    }

    fn parse(args: &[&str]) -> Result<Config, SettingsError> {
        let cli = Cli::try_parse_from(
            [
                "roster-export",
                "--scope",
                "roster.readonly",
                "--out",
                "x.zip",
            ]
            .iter()
            .chain(args),
        )
        .map_err(|e| SettingsError(e.to_string()))?;
        Config::resolve(&Settings::layered(cli.export.settings()?, None, None))
    }

    #[test]
    fn flags_win_over_the_preset() {
        let config = parse(&[
            "--provider",
            "blackbaud",
            "--client-id",
            "key",
            "--client-secret",
            "s3cret-value",
            "--token-url",
            "https://auth.example/t",
        ])
        .unwrap();
        let c = &config.connection;
        assert_eq!(
            c.base_url.as_ref().unwrap().as_str(),
            "https://api.sky.blackbaud.com/afe-rostr/ims/oneroster/v1p1/"
        );
        assert_eq!(
            c.http.pace.rate,
            Limit::Max(5.0),
            "Blackbaud's documented rate"
        );
        match &c.credentials {
            Credentials::Token(Grant::ClientCredentials(cc)) => {
                assert_eq!(cc.endpoint.url.as_str(), "https://auth.example/t");
                assert_eq!(
                    cc.scope,
                    "https://purl.imsglobal.org/spec/or/v1p1/scope/roster.readonly"
                );
            }
            other => panic!("{other:?}"),
        }
        let written = parse(&[
            "--provider",
            "blackbaud",
            "--client-id",
            "key",
            "--client-secret",
            "x",
            "--scope-as-written",
            "--scope",
            "custom.scope",
        ])
        .unwrap();
        match &written.connection.credentials {
            Credentials::Token(Grant::ClientCredentials(cc)) => {
                assert_eq!(cc.scope, "roster.readonly custom.scope")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_grant_shows_its_secrets_in_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let password = file("pw", "pw-secret-value\n");
        let token = file("tok", "bearer-secret-value\n");
        let refresh = file("rt", "refresh-secret-value\n");
        let store = dir.path().join("store.json").display().to_string();
        let common = [
            "--base-url",
            "https://h.example",
            "--token-url",
            "https://h.example/token",
            "--client-id",
            "key",
            "--client-secret",
            "client-secret-value",
            "--header",
            "X-Api-Key: header-secret-value",
        ];
        for extra in [
            vec!["--auth", "client-credentials"],
            vec!["--auth", "oauth1", "--signature-method", "hmac-sha1"],
            vec![
                "--auth",
                "password",
                "--username",
                "u",
                "--password-file",
                &password,
            ],
            vec!["--auth", "bearer", "--access-token-file", &token],
            vec![
                "--auth",
                "refresh-token",
                "--token-store",
                &store,
                "--refresh-token-file",
                &refresh,
            ],
        ] {
            let args: Vec<&str> = common.iter().copied().chain(extra.clone()).collect();
            let config = parse(&args).unwrap();
            let shown = format!("{config:?}");
            for secret in [
                "client-secret-value",
                "header-secret-value",
                "pw-secret-value",
                "bearer-secret-value",
                "refresh-secret-value",
            ] {
                assert!(!shown.contains(secret), "{extra:?} shows {secret}: {shown}");
            }
        }
        let err = parse(&["--base-url", "https://h.example", "--auth", "refresh-token"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--token-store"), "{err}");
        let err = parse(&[
            "--provider",
            "blackbaud-sky",
            "--client-id",
            "k",
            "--client-secret",
            "s",
            "--token-store",
            &store,
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("Bb-Api-Subscription-Key"), "{err}");
        let with_header = |header: &str| {
            let mut args = common[..8].to_vec();
            args.extend(["--header", header]);
            parse(&args).unwrap_err().to_string()
        };
        let err = with_header("Authorization: x");
        assert!(err.contains("set by the tool itself"), "{err}");
        let err = with_header("no colon here");
        assert!(err.contains("expected `Name: value`"), "{err}");
    }
}
