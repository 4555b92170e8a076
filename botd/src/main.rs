//! botd's entry point: reads the configuration, installs SIGTERM/SIGINT, runs the bot and
//! maps the outcome to an exit code (0 done, 64 bad configuration or arguments, 1 failure).

use std::process::ExitCode;

use clap::Parser;

/// tempstream's Telegram bot. Configured by environment variables (see the README).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    config: kit::cli::ConfigArgs,
}

fn main() -> ExitCode {
    let (_, config) = match kit::cli::start::<Args, _>(
        "botd",
        |a| &a.config,
        botd::Config::load,
        |c| (&c.log_level, c.log_format),
    ) {
        Ok(started) => started,
        Err(code) => return code,
    };
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
    runtime.block_on(async move {
        let stop = match kit::shutdown_signal() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("botd: cannot install signal handlers: {e}");
                return ExitCode::FAILURE;
            }
        };
        match botd::run(config, stop).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "botd failed");
                eprintln!("botd: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
