//! The binary's commands, from parsed arguments to an exit code: logs and progress set up, the
//! settings layered and resolved, the work, the closing summary and the one error line.

use secrecy::ExposeSecret as _;

use crate::auth::Authorizer;
use crate::cli::{
    CheckArgs, CompletionsArgs, ConnectionArgs, ExportArgs, InitArgs, LoggingArgs, ProfilesArgs,
    TokenArgs, ValidateArgs,
};
use crate::env_vars as env;
use crate::error::{Error, exit};
use crate::fleet::{self, FleetPlan};
use crate::http::Transport;
use crate::logging::{self, LogStyle};
use crate::progress::Progress;
use crate::run;
use crate::settings::{self, Config, Connection, Settings};

/// Sets up logs (and progress bars when wanted) for a command.
fn start_logging(args: &LoggingArgs, bars: bool) -> (LogStyle, Progress) {
    let style = logging::style(args.log_format);
    let bars_wanted =
        bars && !args.quiet && !args.no_progress && args.verbose == 0 && style == LogStyle::Text;
    let progress = Progress::new(bars_wanted);
    let filter = std::env::var(env::LOG).ok();
    logging::init(
        style,
        args.verbose,
        args.quiet,
        filter.as_deref(),
        progress.clone(),
    );
    (style, progress)
}

/// The demo sandbox, while a command uses it.
#[cfg(feature = "demo")]
type DemoServer = roster_sandbox::Sandbox;
#[cfg(not(feature = "demo"))]
type DemoServer = std::convert::Infallible;

/// Under `--demo`, the sandbox started on loopback for this command, and the settings layer it
/// supplies in place of a provider preset.
#[cfg(feature = "demo")]
async fn start_demo(args: &ConnectionArgs) -> Result<Option<(DemoServer, Settings)>, Error> {
    use crate::settings::Secret;
    use roster_sandbox::{Sandbox, SandboxOptions};
    use secrecy::SecretString;

    if !args.demo() {
        return Ok(None);
    }
    let options = SandboxOptions::default();
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let sandbox = Sandbox::start(options.clone(), loopback)
        .await
        .map_err(|e| Error::Internal(format!("could not start the demo sandbox: {e}")))?;
    tracing::info!(base_url = %sandbox.base_url(), "started the demo sandbox");
    let secret = |s: &str| Secret::Value(SecretString::from(s.to_string()));
    let layer = Settings {
        base_url: Some(sandbox.base_url()),
        token_url: Some(sandbox.token_url()),
        client_id: Some(options.client_id.clone()),
        client_secret: Some(secret(&options.client_secret)),
        username: Some(options.username.clone()),
        password: Some(secret(&options.password)),
        refresh_token: options.refresh_tokens.first().map(|t| secret(t)),
        ..Settings::default()
    };
    Ok(Some((sandbox, layer)))
}

#[cfg(not(feature = "demo"))]
async fn start_demo(_: &ConnectionArgs) -> Result<Option<(DemoServer, Settings)>, Error> {
    Ok(None)
}

async fn stop_demo(demo: Option<DemoServer>) {
    #[cfg(feature = "demo")]
    if let Some(sandbox) = demo {
        sandbox.shutdown().await;
    }
    #[cfg(not(feature = "demo"))]
    let _ = demo;
}

/// The command line over the profile it names (or the config file's default one), over the
/// presets and the demo.
fn layered(
    args: &ConnectionArgs,
    flags: Settings,
    demo: Option<Settings>,
) -> Result<Settings, Error> {
    let config = args.config.as_deref();
    let profile = match &args.profile {
        Some(name) => Some(settings::profile_layer(name, config)?),
        // The demo's sandbox is the whole connection: no profile goes under it.
        None if args.demo() => None,
        None => match settings::default_profile(config)? {
            Some(chosen) => {
                tracing::info!(
                    profile = %chosen.name,
                    config = %chosen.file.display(),
                    "using profile {} of {} ({})",
                    chosen.name,
                    chosen.file.display(),
                    chosen.why
                );
                Some(settings::profile_layer(&chosen.name, config)?)
            }
            None => None,
        },
    };
    Ok(Settings::layered(flags, profile, demo))
}

/// Runs `work` with the demo sandbox (when asked for) up around it.
async fn with_demo<T>(
    args: &ConnectionArgs,
    work: impl AsyncFnOnce(Option<Settings>) -> Result<T, Error>,
) -> Result<T, Error> {
    let (server, layer) = match start_demo(args).await? {
        Some((server, layer)) => (Some(server), Some(layer)),
        None => (None, None),
    };
    let result = work(layer).await;
    stop_demo(server).await;
    result
}

/// Writes the `--summary-json` document: a temporary file beside it, renamed over it.
fn write_summary(path: &std::path::Path, doc: &serde_json::Value) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let written = tempfile::NamedTempFile::new_in(dir).and_then(|mut tmp| {
        use std::io::Write as _;
        serde_json::to_writer_pretty(&mut tmp, doc)?;
        tmp.write_all(b"\n")?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map(drop).map_err(|e| e.error)
    });
    if let Err(e) = written {
        tracing::warn!("could not write --summary-json {}: {e}", path.display());
    }
}

/// `roster-export [options]`: one export run, or with `--all-profiles` / `--profiles` one per
/// profile.
pub async fn export(args: ExportArgs, secret_on_command_line: bool) -> u8 {
    if args.all_profiles || !args.profiles.is_empty() {
        return many(args).await;
    }
    let started = std::time::Instant::now();
    let (style, progress) = start_logging(&args.logging, true);
    if secret_on_command_line {
        tracing::warn!(
            "--client-secret on the command line is visible in process lists; prefer {} or --client-secret-file",
            env::CLIENT_SECRET
        );
    }
    let result = with_demo(&args.connection, async |demo| {
        let settings = layered(&args.connection, args.settings()?, demo)?;
        let config = Config::resolve(&settings)?;
        run::run(config, progress.clone()).await
    })
    .await;
    if let Some(path) = &args.summary_json {
        let doc = match &result {
            Ok(summary) => summary.to_json(),
            Err(err) => run::failure_json(
                run::Mode::Full,
                err.exit_code(),
                &err.to_string(),
                started.elapsed().as_secs_f64(),
            ),
        };
        write_summary(path, &doc);
    }
    progress.clear();
    match result {
        Ok(summary) => {
            if !args.logging.quiet && style == LogStyle::Text {
                progress.suspend(|| eprint!("{}", summary.table()));
            } else {
                summary.log_hosts();
            }
            let path = match &summary.output.path {
                Some(path) => path.display().to_string(),
                None => "standard output".to_string(),
            };
            tracing::info!(
                path = %path,
                records = summary.records(),
                requests = summary.requests,
                retries = summary.retries,
                rate_limited = summary.rate_limited,
                seconds = (summary.seconds * 1000.0).round() / 1000.0,
                "wrote {path}"
            );
            exit::SUCCESS
        }
        Err(err) => fail(&err, style),
    }
}

/// `roster-export --all-profiles` / `--profiles a,b`: every tenant's export, a table (or a log
/// line per host) at the end, and the fleet's exit code.
async fn many(args: ExportArgs) -> u8 {
    // Bars for dozens of tenants at once would be noise: one log line per tenant instead.
    let (style, _) = start_logging(&args.logging, false);
    let plan = args.settings().map_err(Error::from).and_then(|flags| {
        let plan = FleetPlan::select(
            args.connection.config.clone(),
            &args.profiles,
            args.shard,
            args.tenants.map(|n| n as usize),
            &flags,
        )?;
        Ok((flags, plan))
    });
    let (flags, plan) = match plan {
        Ok(plan) => plan,
        Err(err) => return fail(&err, style),
    };
    let shard = args
        .shard
        .map(|s| format!(" (shard {s})"))
        .unwrap_or_default();
    tracing::info!(
        tenants = plan.profiles.len(),
        at_once = plan.tenants,
        "running {} tenants{shard}, {} at once",
        plan.profiles.len(),
        plan.tenants
    );
    let summary = fleet::run(&plan, &flags, &Progress::hidden()).await;
    if let Some(path) = &args.summary_json {
        write_summary(path, &summary.to_json());
    }
    if !args.logging.quiet && style == LogStyle::Text {
        eprint!("{}", summary.table());
    }
    let code = summary.exit_code();
    tracing::info!(
        tenants = summary.tenants.len(),
        failed = summary.failed(),
        exit_code = code,
        seconds = (summary.seconds * 1000.0).round() / 1000.0,
        "{} of {} tenants published",
        summary.tenants.len() - summary.failed(),
        summary.tenants.len()
    );
    code
}

/// `roster-export token` (print an access token) and `roster-export auth rotate`.
pub async fn token(args: TokenArgs, rotate: bool) -> u8 {
    let (style, _) = start_logging(&args.logging, false);
    let result = with_demo(&args.connection, async |demo| {
        let settings = layered(&args.connection, args.settings()?, demo)?;
        token_work(Connection::resolve(&settings, false)?, rotate).await
    })
    .await;
    match result {
        Ok(()) => exit::SUCCESS,
        Err(err) => fail(&err, style),
    }
}

async fn token_work(connection: Connection, rotate: bool) -> Result<(), Error> {
    let transport = Transport::standalone(connection.http)?;
    let credentials = Authorizer::new(connection.credentials, transport);
    if rotate {
        let Some(rotation) = credentials.rotate().await? else {
            return Err(Error::usage(
                "auth rotate works with --auth refresh-token (and its --token-store)",
            ));
        };
        if rotation.rotated {
            tracing::info!(
                previous_issued_at = %rotation.previous_issued_at,
                "rotated the refresh token; the new one is saved in the token store"
            );
        } else {
            tracing::warn!(
                "the host returned the same refresh token; the token store is unchanged"
            );
        }
        return Ok(());
    }
    let Some(token) = credentials.access_token().await? else {
        return Err(Error::usage(
            "--auth oauth1 signs each request; there is no access token to print",
        ));
    };
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", token.expose_secret())
        .and_then(|()| out.flush())
        .map_err(|e| Error::Internal(format!("could not write to standard output: {e}")))
}

/// `roster-export check`: the report on stdout; the exit code an export would have.
pub async fn check(args: CheckArgs) -> u8 {
    let (style, _) = start_logging(&args.logging, false);
    let result = with_demo(&args.connection, async |demo| {
        let settings = layered(&args.connection, args.settings()?, demo)?;
        let connection = Connection::resolve(&settings, true)?;
        let collections = connection.planned(&settings)?;
        let page_size = settings
            .page_size
            .unwrap_or(crate::pager::PagerSettings::default().page_size);
        let mut out = std::io::stdout();
        crate::check::check(connection, collections, page_size, &mut out).await
    })
    .await;
    match result {
        Ok(()) => exit::SUCCESS,
        Err(err) => fail(&err, style),
    }
}

/// `roster-export init`: a commented profile added to the config file.
pub fn init(args: InitArgs) -> u8 {
    match settings::init_profile(args.provider, &args.profile, args.config.as_deref()) {
        Ok(done) => {
            let how = if done.created {
                "created it, readable by you only"
            } else {
                "appended; nothing else changed"
            };
            let select = if done.created || args.profile == "default" {
                String::new()
            } else {
                format!(" --profile {}", done.profile)
            };
            println!(
                "wrote profile `{}` to {} ({how})
next: fill in its TODO lines, then run                  `roster-export check{select}`",
                done.profile,
                done.file.display()
            );
            exit::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            exit::USAGE
        }
    }
}

/// `roster-export completions SHELL`.
pub fn completions(args: CompletionsArgs) -> u8 {
    crate::cli::completions(args.shell, &mut std::io::stdout());
    exit::SUCCESS
}

/// `roster-export man`.
pub fn man() -> u8 {
    match crate::cli::man_page(&mut std::io::stdout()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: could not write to standard output: {e}");
            exit::OUTPUT
        }
        _ => exit::SUCCESS,
    }
}

/// A command line clap could not parse: clap's own words on a terminal (and for `--help` and
/// `--version`), one JSON error line like any other failure when logs are JSON.
pub fn parse_failed(err: clap::Error, args: &[std::ffi::OsString]) -> u8 {
    if crate::cli::is_help_or_version(&err) {
        err.exit();
    }
    match logging::style(crate::cli::requested_log_format(args)) {
        LogStyle::Text => err.exit(),
        LogStyle::Json => {
            logging::init(LogStyle::Json, 0, false, None, Progress::hidden());
            tracing::error!(
                exit_code = exit::USAGE,
                "{}",
                crate::cli::parse_error_line(&err)
            );
            exit::USAGE
        }
    }
}

/// `roster-export profiles`: list the config file's profiles on stdout.
pub fn profiles(args: ProfilesArgs) -> u8 {
    match settings::profile_listing(args.config.as_deref()) {
        Ok(text) => {
            print!("{text}");
            exit::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            exit::USAGE
        }
    }
}

/// `roster-export validate PATH`: the problems of a CSV bundle on stdout, like grep's matches.
pub fn validate(args: ValidateArgs) -> u8 {
    use std::io::Write as _;
    let options = crate::validate::Options {
        max_per_rule: args.max_per_rule,
    };
    let report = match crate::validate::check_path(&args.path, &options) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("error: {err}");
            return exit::USAGE;
        }
    };
    let mut out = std::io::stdout().lock();
    match write!(out, "{report}").and_then(|()| out.flush()) {
        // A reader that went away (`| head`) has seen what it wanted; the code still tells.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: could not write to standard output: {e}");
            return exit::OUTPUT;
        }
        _ => {}
    }
    // Problems in the bundle are data errors, like those an export meets.
    if report.is_clean() {
        exit::SUCCESS
    } else {
        exit::SERVER
    }
}

/// `roster-export sandbox`: serve until interrupted.
#[cfg(feature = "demo")]
pub async fn sandbox(args: roster_sandbox::SandboxArgs) -> u8 {
    logging::init(
        LogStyle::Text,
        0,
        false,
        std::env::var(env::LOG).ok().as_deref(),
        Progress::hidden(),
    );
    match roster_sandbox::run_forever(args, crate::signal::shutdown()).await {
        Ok(()) => exit::SUCCESS,
        Err(err) => {
            eprintln!("error: sandbox: {err}");
            exit::USAGE
        }
    }
}

/// Reports `err` and returns its exit code.
fn fail(err: &Error, style: LogStyle) -> u8 {
    report(err, style);
    err.exit_code()
}

/// The final error: one line a person can act on (a JSON event under JSON logs).
fn report(err: &Error, style: LogStyle) {
    if err.is_quiet() {
        return;
    }
    match style {
        LogStyle::Text => eprintln!("error: {err}"),
        LogStyle::Json => tracing::error!(exit_code = err.exit_code(), "{err}"),
    }
}
