//! `linkctl migrate`: moves linkd's SQLite database into PostgreSQL (links, ids, tokens,
//! keys, events, the audit trail), then reads every row back and compares. Works on the
//! files, not through linkd's socket: stop linkd first.

use linkd::store::copy::{self, Summary};
use linkd::store::postgres::redact;
use std::path::PathBuf;
use std::process::ExitCode;

/// What `linkctl migrate --help` adds.
pub const AFTER_HELP: &str = "\
Stop linkd first (systemctl stop linkd, or docker compose stop tempstream) and keep a copy
of the SQLite file as a backup; the file itself is only read. The PostgreSQL database must
be empty of tempstream's rows (a linkd that ran on it is refused). Then set DATABASE_URL for
every gate and start them.

The URL holds a password: prefer DATABASE_URL in the environment or the config file to
--to on the command line, where other users of the machine can see it.

Exit codes: 0 copied and verified, 1 refused or failed (nothing kept in PostgreSQL), 2 usage.";

/// Options of `linkctl migrate`.
#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The PostgreSQL database to move into [default: DATABASE_URL]
    #[arg(long, value_name = "URL")]
    to: Option<String>,
    /// The SQLite database to move [default: DB_PATH, as linkd reads it]
    #[arg(long, value_name = "PATH")]
    from: Option<PathBuf>,
    /// linkd's TOML configuration file, read for DB_PATH and DATABASE_URL
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

/// Runs `linkctl migrate` and prints what it did (as JSON with `json`).
pub fn run(args: &MigrateArgs, json: bool) -> ExitCode {
    let (db_path, db_url) = match copy::configured(args.config.as_deref()) {
        Ok((settings, _)) => settings,
        Err(e) => return fail(json, 2, &e.to_string()),
    };
    let from = args.from.clone().unwrap_or(db_path);
    let to = match args.to.as_deref().map(copy::postgres_url) {
        Some(Ok(url)) => url,
        Some(Err(why)) => return fail(json, 2, &format!("--to: {why}")),
        None => match db_url {
            Some(url) => url,
            None => {
                return fail(
                    json,
                    2,
                    "no target: give --to postgres://... or set DATABASE_URL",
                )
            }
        },
    };
    match copy::sqlite_to_postgres(&from, &to) {
        Ok(summary) => {
            print!("{}", shown(json, &from, &redact(to.expose()), &summary));
            ExitCode::SUCCESS
        }
        Err(e) => fail(json, 1, &e.to_string()),
    }
}

/// Prints `message` on stderr (as `{"error": ...}` with `json`) and gives exit code `code`.
fn fail(json: bool, code: u8, message: &str) -> ExitCode {
    if json {
        let kind = if code == 2 { "usage" } else { "migrate" };
        let error = serde_json::json!({ "code": kind, "message": message });
        eprintln!("{}", serde_json::json!({ "error": error }));
    } else {
        eprintln!("linkctl migrate: {message}");
    }
    ExitCode::from(code)
}

/// The summary: every table with its rows, copied and verified.
fn shown(json: bool, from: &std::path::Path, to: &str, summary: &Summary) -> String {
    if json {
        let tables: serde_json::Map<String, serde_json::Value> = summary
            .tables
            .iter()
            .map(|(t, n)| (t.to_string(), (*n).into()))
            .collect();
        let doc = serde_json::json!({
            "from": from.display().to_string(),
            "to": to,
            "verified": true,
            "tables": tables,
        });
        return format!("{doc}\n");
    }
    let mut out = format!(
        "copied {} into {to}; every row read back and compared:\n",
        from.display()
    );
    for (table, rows) in &summary.tables {
        out.push_str(&format!("  {table:<20} {rows:>8} rows\n"));
    }
    out.push_str(
        "next: set DATABASE_URL for every gate and start them; keep the SQLite file as a backup\n",
    );
    out
}
