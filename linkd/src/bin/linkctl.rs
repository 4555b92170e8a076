//! linkctl: manage watch links from scripts and the shell, over linkd's socket.
//!
//! Exit codes: 0 ok, 1 linkd refused (its message is printed), 2 usage, 69 linkd unreachable.
//! `--json` prints one JSON document (a link object, an array of them, or the status), and
//! errors as `{"error": {"code": ..., "message": ...}}` on stderr.
//!
//! Without `--socket` it tries `$RPC_SOCKET`, then the systemd units' socket, then
//! `./linkd.sock`, and names every path it tried when none answers.

#[path = "linkctl/audit.rs"]
mod audit;
#[path = "linkctl/migrate.rs"]
mod migrate;
#[path = "linkctl/report.rs"]
mod report;
#[path = "linkctl/stream_key.rs"]
mod stream_key;

use clap::{Parser, Subcommand};
use proto::client::{call_with_deadline, socket_candidates, CallError as Failure};
use proto::{ApiError, Link, LinkApiClient, SigningKeyRotation, Status};
use report::report;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tarpc::context;

#[path = "linkctl/sharing.rs"]
mod sharing;

/// What `--help` shows after the options.
const AFTER_HELP: &str = "\
Examples:
  linkctl new 90m --note Grandma     a link for 90 minutes (30m, 1h30m, 1.5h, 2d; up to 30d)
  linkctl new --permanent            a link that never expires
  linkctl new 2h --max-viewers 2     at most 2 devices watch at once (--once: one device only)
  linkctl list                       the active links, newest first
  linkctl off 3                      switch link 3 off (--last: the newest; --all: every one)
  linkctl extend 3 2h                link 3 now ends 2 hours from now
  linkctl greet 3 'Hello Grandma!'   what link 3's viewers see (the note never is)
  linkctl kick 3 | rotate 3          cut off link 3's viewers now | give it a new URL
  linkctl --json status              live/offline, viewers, version, as JSON
  linkctl log 3                      who opened link 3, on how many devices, for how long
  linkctl viewers                    who is watching now
  linkctl stream-key show            the RTMP URL and stream key for OBS
  linkctl migrate --to postgres://.. move the SQLite database into PostgreSQL (linkd stopped)

The socket: --socket PATH, else $RPC_SOCKET, else /run/tempstream/linkd.sock (the systemd
units), else ./linkd.sock; the first that answers is used.

Exit codes:
  0   done
  1   linkd refused (not found, already disabled, expired, bad TTL or note, storage)
  2   usage error
  69  linkd is not reachable (not running, or your user is not in its group)

With --json, an error is one JSON object on stderr: {\"error\": {\"code\": ..., \"message\": ...}},
code one of not_found, already_disabled, expired, no_active_links, bad_ttl, bad_note,
bad_max_viewers, storage, shutting_down, unreachable.";

/// Manage tempstream watch links through linkd's socket.
#[derive(Parser)]
#[command(name = "linkctl", version, about, after_help = AFTER_HELP)]
struct Args {
    /// linkd's socket [default: $RPC_SOCKET, else /run/tempstream/linkd.sock, else ./linkd.sock]
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
        /// At most N devices watch at once (1 to 100).
        #[arg(long, value_name = "N")]
        max_viewers: Option<u32>,
        /// One device only: the first that plays keeps the link.
        #[arg(long)]
        once: bool,
    },
    /// List the active links.
    List,
    /// Switch a link off, by id, the newest one or all of them.
    Off {
        /// The link's id.
        #[arg(required_unless_present_any = ["last", "all"], conflicts_with_all = ["last", "all"])]
        id: Option<i64>,
        /// The newest active link.
        #[arg(long, conflicts_with = "all")]
        last: bool,
        /// Every active link.
        #[arg(long)]
        all: bool,
    },
    /// End a link's current viewing sessions now; the link stays and plays for the next opening.
    Kick {
        /// The link's id.
        id: i64,
    },
    /// Give a link a new URL (same id, note, expiry and limits); the old one stops at once.
    Rotate {
        /// The link's id.
        id: i64,
    },
    /// Give an active link a new expiry, TTL from now.
    Extend {
        /// The link's id.
        id: i64,
        /// New TTL from now.
        ttl: String,
    },
    /// Set the line viewers of a link see on the watch page (no TEXT removes it). A link's
    /// note is your private label and never shown to viewers.
    Greet {
        /// The link's id.
        id: i64,
        /// The greeting, e.g. "Hello Grandma!" (at most 200 characters).
        text: Option<String>,
    },
    /// Stream and service status.
    Status,
    /// The key that signs viewers' playback sessions.
    #[command(subcommand)]
    SigningKey(SigningKeyCommand),
    /// A link's story from the audit trail: opened how often, on how many devices, watched
    /// how long, and its latest events.
    Log {
        /// The link's id.
        id: i64,
    },
    /// Who is watching now, per link.
    Viewers,
    /// The key OBS publishes with.
    #[command(subcommand)]
    StreamKey(stream_key::StreamKeyCommand),
    /// Move the SQLite database into PostgreSQL and verify the copy (stop linkd first).
    #[command(after_help = migrate::AFTER_HELP)]
    Migrate(migrate::MigrateArgs),
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

/// Connects to the first socket that answers; otherwise says what each one answered.
async fn connect(paths: &[PathBuf]) -> Result<proto::LinkApiClient, Failure> {
    let mut tried = Vec::new();
    for path in paths {
        match proto::connect(path).await {
            Ok(c) => return Ok(c),
            Err(e) => tried.push(format!("{}: {e}", path.display())),
        }
    }
    let hint = "is linkd running? is your user in its group? --socket PATH names another socket";
    Err(Failure::Unreachable(match tried.as_slice() {
        [one] => format!("cannot reach linkd at {one} ({hint})"),
        _ => format!("cannot reach linkd; tried {} ({hint})", tried.join(", ")),
    }))
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
    if let Command::Migrate(m) = &args.command {
        return migrate::run(m, args.json);
    }
    let sockets = socket_candidates(args.socket.as_deref(), std::env::var_os("RPC_SOCKET"));
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
    match rt.block_on(execute(&args, &sockets)) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            report(args.json, &failure);
            match failure {
                Failure::Api(_) => ExitCode::from(1),
                Failure::Unreachable(_) => ExitCode::from(69),
            }
        }
    }
}

async fn execute(args: &Args, sockets: &[PathBuf]) -> Result<String, Failure> {
    let client = connect(sockets).await?;
    let json = args.json;
    match &args.command {
        Command::New {
            ttl,
            note,
            permanent,
            max_viewers,
            once,
        } => {
            let limits = proto::Limits {
                max_viewers: *max_viewers,
                once: *once,
            };
            sharing::create(&client, json, ttl, *permanent, note, limits).await
        }
        Command::List => {
            let links = call(&client, |c, ctx| async move { c.list_active(ctx).await }).await?;
            Ok(out(json, &links, |l| match l.is_empty() {
                true => "no active links\n".into(),
                false => link_table(l),
            }))
        }
        Command::Off { all: true, .. } => sharing::off_all(&client, json).await,
        Command::Kick { id } => sharing::kick(&client, json, *id).await,
        Command::Rotate { id } => sharing::rotate(&client, json, *id).await,
        Command::Off { id, last, .. } => {
            let link = if *last {
                call(&client, |c, ctx| async move { c.disable_last(ctx).await }).await?
            } else {
                let id = id.expect("clap requires an id without --last");
                call(
                    &client,
                    |c, ctx| async move { c.disable_link(ctx, id).await },
                )
                .await?
            };
            Ok(out(json, &link, |l| format!("link {} disabled\n", l.id)))
        }
        Command::Extend { id, ttl } => {
            let link = call(&client, |c, ctx| async move {
                c.extend_link(ctx, *id, ttl.clone()).await
            })
            .await?;
            Ok(out(json, &link, |l| link_table(std::slice::from_ref(l))))
        }
        Command::Greet { id, text } => {
            let link = call(&client, |c, ctx| async move {
                c.set_greeting(ctx, *id, text.clone()).await
            })
            .await?;
            let greets = text.as_deref().is_some_and(|t| !t.trim().is_empty());
            Ok(out(json, &link, |l| match greets {
                true => format!("link {} greets its viewers\n", l.id),
                false => format!("link {} has no greeting\n", l.id),
            }))
        }
        Command::Status => {
            let mut status = call(&client, |c, ctx| async move { c.status(ctx).await }).await?;
            // In JSON, `live_since` is when the stream went live: nothing while it is offline.
            if json && !status.live {
                status.live_since = None;
            }
            Ok(out(json, &status, status_text))
        }
        Command::SigningKey(SigningKeyCommand::Rotate { logout_all }) => {
            let r = call(&client, |c, ctx| async move {
                c.rotate_signing_key(ctx, *logout_all).await
            })
            .await?;
            Ok(out(json, &r, rotation_text))
        }
        Command::Log { id } => audit::log(&client, *id, json).await,
        Command::Viewers => audit::viewers(&client, json).await,
        Command::StreamKey(cmd) => stream_key::execute(&client, json, cmd).await,
        Command::Migrate(_) => unreachable!("migrate runs without linkd"),
    }
}

/// How long linkd may take to answer.
const DEADLINE: Duration = Duration::from_secs(15);

async fn call<T, F, Fut>(client: &LinkApiClient, f: F) -> Result<T, Failure>
where
    F: FnOnce(LinkApiClient, context::Context) -> Fut,
    Fut: std::future::Future<Output = Result<Result<T, ApiError>, tarpc::client::RpcError>>,
{
    call_with_deadline(client.clone(), DEADLINE, f).await
}

/// `v` as JSON with `--json`, else as `text` writes it for a person.
fn out<T: serde::Serialize>(json: bool, v: &T, text: impl FnOnce(&T) -> String) -> String {
    match json {
        true => to_json(v),
        false => text(v),
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
        "LIMITS".into(),
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
            sharing::limits_text(&l.limits),
            l.note.clone(),
            l.url.clone(),
        ]);
    }
    table(&rows)
}

/// Rows as columns aligned by their widest cell.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
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
