//! The daemons' command line: `--config PATH` and `--check-config`, and the start every
//! daemon makes: arguments, configuration, `--check-config`, logging. Bad arguments and a bad
//! configuration both exit 64 (EX_USAGE).

use crate::config::Load;
use crate::logging::{self, LogFormat};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// EX_USAGE: bad arguments or a bad configuration.
pub const EX_USAGE: u8 = 64;

/// The arguments both daemons take; flatten them into the daemon's own `clap::Parser`.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// A TOML file with the same settings in lower case (`allowed_chat_ids = [1, 2]`);
    /// environment variables override it.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration (secrets masked) and exit: 0 if valid, 64 if not.
    #[arg(long)]
    pub check_config: bool,
}

/// Where a daemon's configuration keeps `LOG_LEVEL` and `LOG_FORMAT`.
pub type LoggingOf<C> = fn(&C) -> (&str, LogFormat);

/// Parses the arguments (`A` flattens [`ConfigArgs`]), loads the configuration with
/// `load`, answers `--check-config` and installs logging as `logging_of` reads it from the
/// configuration. `Err` is the exit code to leave with: 0 after `--help`, `--version` or a
/// good `--check-config`, 64 on bad arguments or configuration (each problem on stderr,
/// prefixed with `name`).
pub fn start<A, C>(
    name: &str,
    args_of: fn(&A) -> &ConfigArgs,
    load: fn(Option<&Path>) -> Load<C>,
    logging_of: LoggingOf<C>,
) -> Result<(A, C), ExitCode>
where
    A: clap::Parser,
{
    let args = match A::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return Err(match e.use_stderr() {
                true => ExitCode::from(EX_USAGE),
                false => ExitCode::SUCCESS,
            });
        }
    };
    let common = args_of(&args);
    let (config, effective) = match load(common.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{name}: {e}");
            return Err(ExitCode::from(EX_USAGE));
        }
    };
    if common.check_config {
        print!("{effective}");
        for w in effective.warnings() {
            eprintln!("{name}: warning: {w}");
        }
        return Err(ExitCode::SUCCESS);
    }
    let (level, format) = logging_of(&config);
    logging::init(level, format);
    Ok((args, config))
}
