//! linkctl: manage watch links from scripts and the shell, over linkd's socket.
//!
//! Exit codes: 0 ok, 1 linkd refused (its message is printed), 2 usage, 69 linkd unreachable.
//! `--json` prints one JSON document (a link object, an array of them, or the status).

use clap::{Parser, Subcommand};
use proto::{ApiError, Link, SigningKeyRotation, Status};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tarpc::context;

/// Manage tempstream watch links through linkd's socket.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// linkd's socket [default: $RPC_SOCKET, else ./linkd.sock]
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a link: temporary (TTL like 30m, 1h30m, 2d; default linkd's DEFAULT_LINK_TTL) or permanent.
    New {
        /// How long the link plays.
        ttl: Option<String>,
        /// A label for the link (at most 200 characters).
        #[arg(long)]
        note: Option<String>,
        /// A link that never expires.
        #[arg(long, conflicts_with = "ttl")]
        permanent: bool,
    },
    /// List the active links.
    List,
    /// Switch a link off, by id or the newest one.
    Off {
        /// The link's id.
        #[arg(required_unless_present = "last", conflicts_with = "last")]
        id: Option<i64>,
        /// The newest active link.
        #[arg(long)]
        last: bool,
    },
    /// Give an active link a new expiry, TTL from now.
    Extend {
        /// The link's id.
        id: i64,
        /// New TTL from now.
        ttl: String,
    },
    /// Stream and service status.
    Status,
    /// The key that signs viewers' playback sessions.
    #[command(subcommand)]
    SigningKey(SigningKeyCommand),
}

#[derive(Subcommand)]
enum SigningKeyCommand {
    /// Sign new sessions with a new key; sessions signed by older keys stay valid until they end.
    Rotate {
        /// End every session signed by an older key now (its viewers open their link again).
        #[arg(long)]
        logout_all: bool,
    },
}

enum Failure {
    Refused(ApiError),
    Unreachable(String),
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let socket = args
        .socket
        .clone()
        .or_else(|| {
            std::env::var_os("RPC_SOCKET")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("./linkd.sock"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("linkctl: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(execute(&args, &socket)) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(Failure::Refused(e)) => {
            eprintln!("linkctl: {e}");
            ExitCode::from(1)
        }
        Err(Failure::Unreachable(why)) => {
            eprintln!(
                "linkctl: cannot reach linkd at {}: {why} (is linkd running? is your user in its group?)",
                socket.display()
            );
            ExitCode::from(69)
        }
    }
}

async fn execute(args: &Args, socket: &std::path::Path) -> Result<String, Failure> {
    let client = proto::connect(socket)
        .await
        .map_err(|e| Failure::Unreachable(e.to_string()))?;
    let json = args.json;
    match &args.command {
        Command::New {
            ttl,
            note,
            permanent,
        } => {
            let link = if *permanent {
                call(client.create_permanent_link(ctx(), note.clone()).await)?
            } else {
                call(client.create_link(ctx(), ttl.clone(), note.clone()).await)?
            };
            Ok(if json {
                to_json(&link)
            } else {
                link_table(&[link])
            })
        }
        Command::List => {
            let links = call(client.list_active(ctx()).await)?;
            Ok(if json {
                to_json(&links)
            } else if links.is_empty() {
                "no active links\n".into()
            } else {
                link_table(&links)
            })
        }
        Command::Off { id, last } => {
            let link = if *last {
                call(client.disable_last(ctx()).await)?
            } else {
                let id = id.expect("clap requires an id without --last");
                call(client.disable_link(ctx(), id).await)?
            };
            Ok(if json {
                to_json(&link)
            } else {
                format!("link {} disabled\n", link.id)
            })
        }
        Command::Extend { id, ttl } => {
            let link = call(client.extend_link(ctx(), *id, ttl.clone()).await)?;
            Ok(if json {
                to_json(&link)
            } else {
                link_table(&[link])
            })
        }
        Command::Status => {
            let status = call(client.status(ctx()).await)?;
            Ok(if json {
                to_json(&status)
            } else {
                status_text(&status)
            })
        }
        Command::SigningKey(SigningKeyCommand::Rotate { logout_all }) => {
            let r = call(client.rotate_signing_key(ctx(), *logout_all).await)?;
            Ok(if json { to_json(&r) } else { rotation_text(&r) })
        }
    }
}

fn ctx() -> context::Context {
    let mut c = context::current();
    c.deadline = std::time::Instant::now() + Duration::from_secs(15);
    c
}

fn call<T>(r: Result<Result<T, ApiError>, tarpc::client::RpcError>) -> Result<T, Failure> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::Refused(e)),
        Err(e) => Err(Failure::Unreachable(e.to_string())),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("wire types serialize");
    s.push('\n');
    s
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// "in 59m" / "12m ago" for a Unix time.
fn relative(t: i64, now: i64) -> String {
    let d = humantime::format_duration(Duration::from_secs(t.abs_diff(now))).to_string();
    let d = d.split(' ').take(2).collect::<Vec<_>>().join(" ");
    if t >= now {
        format!("in {d}")
    } else {
        format!("{d} ago")
    }
}

fn link_table(links: &[Link]) -> String {
    let now = now();
    let mut rows = vec![[
        "ID".to_string(),
        "STATE".into(),
        "EXPIRES".into(),
        "VIEWERS".into(),
        "NOTE".into(),
        "URL".into(),
    ]];
    for l in links {
        rows.push([
            l.id.to_string(),
            l.state.to_string(),
            l.expires_at
                .map(|t| relative(t, now))
                .unwrap_or_else(|| "never".into()),
            l.viewers.to_string(),
            l.note.clone(),
            l.url.clone(),
        ]);
    }
    let mut widths = [0usize; 6];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(widths.iter())
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn rotation_text(r: &SigningKeyRotation) -> String {
    if r.logged_out_all {
        format!(
            "signing key {} in use; every older session was ended\n",
            r.key_id
        )
    } else {
        format!(
            "signing key {} in use; sessions signed by {} older key(s) stay valid until they end\n",
            r.key_id, r.older_keys_accepted
        )
    }
}

fn status_text(s: &Status) -> String {
    let stream = match (s.live, s.live_since) {
        (true, Some(t)) => format!("live since {}", relative(t, s.now)),
        (true, None) => "live".into(),
        (false, Some(t)) => format!("offline since {}", relative(t, s.now)),
        (false, None) => "offline".into(),
    };
    format!(
        "stream:        {stream}\nviewers:       {}\nactive links:  {}\nlinkd:         {} (up {})\n",
        s.viewers,
        s.active_links,
        s.version,
        humantime::format_duration(Duration::from_secs(s.uptime_s)),
    )
}
