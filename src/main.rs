//! The `roster-export` binary: parse, set up logs, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::{FromArgMatches, parser::ValueSource};
use roster_export::cli::{self, AuthCommand, Cli, Command};
use roster_export::{app, error};

fn main() -> ExitCode {
    limit_heap_growth();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let matches = match cli::command().try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(err) => return error::to_exit_code(app::parse_failed(err, &args)),
    };
    let secret_on_command_line =
        matches.value_source("client_secret") == Some(ValueSource::CommandLine);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => return error::to_exit_code(app::parse_failed(err, &args)),
    };
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        eprintln!("error: could not start the async runtime");
        return error::to_exit_code(error::exit::UNEXPECTED);
    };
    let code = match cli.command {
        #[cfg(feature = "demo")]
        Some(Command::Sandbox(args)) => runtime.block_on(app::sandbox(args)),
        Some(Command::Token(args)) => runtime.block_on(app::token(args, false)),
        Some(Command::Auth(AuthCommand::Rotate(args))) => runtime.block_on(app::token(args, true)),
        Some(Command::Profiles(args)) => app::profiles(args),
        Some(Command::Validate(args)) => app::validate(args),
        Some(Command::Init(args)) => app::init(args),
        Some(Command::Check(args)) => runtime.block_on(app::check(args)),
        Some(Command::Completions(args)) => app::completions(args),
        Some(Command::Man) => app::man(),
        None => runtime.block_on(app::export(cli.export, secret_on_command_line)),
    };
    // Stuck connections must not hold up the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    error::to_exit_code(code)
}

/// glibc raises its mmap threshold after the first large buffer is freed and then keeps later
/// ones on the heap, where freed pages stay resident; a fixed threshold keeps peak memory flat.
/// 1 MiB: the HTTP read buffers (up to ~400 KiB, one per response) stay on the heap and are
/// reused, where a fresh mapping for each would have the kernel fault in and zero its pages;
/// page bodies, larger, come from a pool of their own (`http::buffers`).
fn limit_heap_growth() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}
