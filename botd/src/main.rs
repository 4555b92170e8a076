//! botd's entry point: reads the configuration, installs SIGTERM/SIGINT, runs the bot and
//! maps the outcome to an exit code (0 done, 64 bad configuration or arguments, 1 failure).

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;

/// tempstream's Telegram bot. Configured by environment variables (see the README).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// A TOML file with the same settings in lower case (`allowed_chat_ids = [1, 2]`);
    /// environment variables override it.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Print the effective configuration (token masked) and exit: 0 if valid, 64 if not.
    #[arg(long)]
    check_config: bool,
}

const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(EX_USAGE);
        }
    };
    let config = match botd::Config::from_figment(&botd::Config::figment(args.config.as_deref())) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("botd: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    if args.check_config {
        print!("{}", config.describe());
        return ExitCode::SUCCESS;
    }
    botd::init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("botd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(botd::run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "botd failed");
            eprintln!("botd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; stop botd with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}
