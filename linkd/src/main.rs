//! The linkd binary: load the config, bind, run until SIGTERM/SIGINT, map errors to exit codes.
//!
//! Exit codes: 0 after a clean shutdown, 64 for bad arguments or configuration, 1 for
//! anything else.

use clap::Parser;
use linkd::Config;
use std::process::ExitCode;

/// The allocator: jemalloc on Linux with glibc, unless the `system-allocator` feature asks for
/// the system's (for heap profilers that follow `malloc`). Why jemalloc: see the `memory` module.
#[cfg(all(
    target_os = "linux",
    not(target_env = "musl"),
    not(feature = "system-allocator")
))]
mod allocator {
    #[global_allocator]
    static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

    /// jemalloc's settings, read at its first allocation (`_RJEM_MALLOC_CONF` in the
    /// environment overrides them): one background thread hands pages freed for a second back
    /// to the system, so the footprint follows the load down.
    #[allow(non_upper_case_globals)]
    #[export_name = "_rjem_malloc_conf"]
    pub static malloc_conf: &u8 =
        &b"background_thread:true,max_background_threads:1,dirty_decay_ms:1000,muzzy_decay_ms:0\0"
            [0];
}

/// tempstream's link daemon: watch page, gated HLS proxy and the link API.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    config: kit::cli::ConfigArgs,
}

/// The async runtime. On one CPU (the machine's, or what affinity and cgroup quotas leave) a
/// current-thread runtime: its run queue is one FIFO, so a thousand busy connections are
/// served in turn, where the multi-thread runtime's per-worker queue spills over into a
/// global queue polled less often. On more CPUs, the work-stealing multi-thread runtime
/// (`TOKIO_WORKER_THREADS` sets its size).
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut builder = if cpus == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()
}

fn main() -> ExitCode {
    let (_, config) = match kit::cli::start::<Args, _>(
        "linkd",
        |a| &a.config,
        Config::load,
        |c| (&c.log_level, c.log_format),
    ) {
        Ok(started) => started,
        Err(code) => return code,
    };
    for w in config.warnings() {
        tracing::warn!("{w}");
    }
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("linkd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // Signal handlers go in before anything is bound, so an early SIGTERM is a clean stop.
        let stop = match kit::shutdown_signal() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("linkd: cannot install signal handlers: {e}");
                return ExitCode::FAILURE;
            }
        };
        let listeners = match linkd::bind(&config).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("linkd: {e}");
                return ExitCode::FAILURE;
            }
        };
        match linkd::run(config, listeners, stop).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("linkd: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
