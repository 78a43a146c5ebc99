//! `roster-sandbox`: the sandbox OneRoster server on its own, for benchmarks and trying things by
//! hand (`roster-export sandbox` is the same server). Ctrl-C stops it gracefully; SIGTERM's
//! default action ends it at once, which is all a benchmark needs.

use clap::Parser;

/// Runs the sandbox OneRoster v1.1 server until Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "roster-sandbox", version, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    args: roster_sandbox::SandboxArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match roster_sandbox::run_forever(cli.args, shutdown).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::from(2)
        }
    }
}
