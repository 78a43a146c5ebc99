//! The binary's commands, from parsed arguments to an exit code: logs and progress set up, the
//! work, the closing summary and the one error line.

use std::net::SocketAddr;

use secrecy::ExposeSecret as _;

use crate::auth::TokenSource;
use crate::cli::{ConnectionArgs, ExportArgs, LoggingArgs, ProfilesArgs, TokenArgs, env};
use crate::config::{self, Config, Demo};
use crate::error::{Error, exit};
use crate::http::Transport;
use crate::logging::{self, LogStyle};
use crate::progress::Progress;
use crate::run;
use crate::sandbox::{self, Sandbox, SandboxArgs, SandboxOptions};

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

/// Under `--demo`, the sandbox started on loopback for this command, and what it supplies.
async fn start_demo(args: &ConnectionArgs) -> Result<Option<(Sandbox, Demo)>, Error> {
    if !args.demo {
        return Ok(None);
    }
    let options = SandboxOptions::default();
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
    let sandbox = Sandbox::start(options.clone(), loopback)
        .await
        .map_err(|e| Error::Internal(format!("could not start the demo sandbox: {e}")))?;
    tracing::info!(base_url = %sandbox.base_url(), "started the demo sandbox");
    let demo = Demo {
        base_url: sandbox.base_url(),
        token_url: sandbox.token_url(),
        authority: sandbox.origin(),
        client_id: options.client_id.clone(),
        client_secret: options.client_secret.clone(),
        username: options.username.clone(),
        password: options.password.clone(),
        refresh_token: options.refresh_tokens.first().cloned(),
    };
    Ok(Some((sandbox, demo)))
}

/// `roster-export [options]`: one export run.
pub async fn export(args: ExportArgs, secret_on_command_line: bool) -> u8 {
    let (style, progress) = start_logging(&args.logging, true);
    if secret_on_command_line {
        tracing::warn!(
            "--client-secret on the command line is visible in process lists; prefer {} or --client-secret-file",
            env::CLIENT_SECRET
        );
    }
    let demo = match start_demo(&args.connection).await {
        Ok(demo) => demo,
        Err(err) => return fail(&err, style),
    };
    let result = match Config::from_args(&args, demo.as_ref().map(|(_, d)| d)) {
        Ok(config) => run::run(config, progress.clone()).await,
        Err(err) => Err(err),
    };
    if let Some((sandbox, _)) = demo {
        sandbox.shutdown().await;
    }
    match result {
        Ok(summary) => {
            if !args.logging.quiet && style == LogStyle::Text {
                progress.suspend(|| eprint!("{}", summary.table()));
            }
            let path = match &summary.output.path {
                Some(path) => path.display().to_string(),
                None => "standard output".to_string(),
            };
            tracing::info!(
                path = %path,
                records = summary.collections.iter().map(|c| c.records).sum::<u64>(),
                requests = summary.requests,
                retries = summary.retries,
                seconds = (summary.seconds * 1000.0).round() / 1000.0,
                "wrote {path}"
            );
            exit::SUCCESS
        }
        Err(err) => fail(&err, style),
    }
}

/// `roster-export token` (print an access token) and `roster-export auth rotate`.
pub async fn token(args: TokenArgs, rotate: bool) -> u8 {
    let (style, _) = start_logging(&args.logging, false);
    let demo = match start_demo(&args.connection).await {
        Ok(demo) => demo,
        Err(err) => return fail(&err, style),
    };
    let result = token_work(&args, demo.as_ref().map(|(_, d)| d), rotate).await;
    if let Some((sandbox, _)) = demo {
        sandbox.shutdown().await;
    }
    match result {
        Ok(()) => exit::SUCCESS,
        Err(err) => fail(&err, style),
    }
}

async fn token_work(args: &TokenArgs, demo: Option<&Demo>, rotate: bool) -> Result<(), Error> {
    let connection = config::token_connection(&args.connection, &args.network, demo)?;
    let transport = Transport::new(connection.http)?;
    let tokens = TokenSource::new(connection.grant, transport);
    if rotate {
        let Some(rotation) = tokens.rotate().await? else {
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
    let Some(token) = tokens.access_token().await? else {
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

/// `roster-export profiles`: list the config file's profiles on stdout.
pub fn profiles(args: ProfilesArgs) -> u8 {
    match config::profile_listing(args.config.as_deref()) {
        Ok(text) => {
            print!("{text}");
            exit::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            err.exit_code()
        }
    }
}

/// `roster-export sandbox`: serve until interrupted.
pub async fn sandbox(args: SandboxArgs) -> u8 {
    logging::init(
        LogStyle::Text,
        0,
        false,
        std::env::var(env::LOG).ok().as_deref(),
        Progress::hidden(),
    );
    match sandbox::run_forever(args).await {
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
