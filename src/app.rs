//! The binary's two commands, from parsed arguments to an exit code: logs and progress set up,
//! the run, the closing summary and the one error line.

use crate::cli::{ExportArgs, env};
use crate::config::Config;
use crate::error::{Error, exit};
use crate::logging::{self, LogStyle};
use crate::progress::Progress;
use crate::run;
use crate::sandbox::{self, SandboxArgs};

/// `roster-export [options]`: one export run.
pub async fn export(args: ExportArgs, secret_on_command_line: bool) -> u8 {
    let style = logging::style(args.log_format);
    let bars_wanted =
        !args.quiet && !args.no_progress && args.verbose == 0 && style == LogStyle::Text;
    let progress = Progress::new(bars_wanted);
    let filter = std::env::var(env::LOG).ok();
    logging::init(
        style,
        args.verbose,
        args.quiet,
        filter.as_deref(),
        progress.clone(),
    );
    if secret_on_command_line {
        tracing::warn!(
            "--client-secret on the command line is visible in process lists; prefer {} or --client-secret-file",
            env::CLIENT_SECRET
        );
    }
    let result = match Config::from_args(&args) {
        Ok(config) => run::run(config, progress.clone()).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(summary) => {
            if !args.quiet && style == LogStyle::Text {
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
        Err(err) => {
            report(&err, style);
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
