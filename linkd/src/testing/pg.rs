//! A throw-away PostgreSQL server for tests: Debian's `initdb` and `postgres` (from
//! `/usr/lib/postgresql/<version>/bin`) on a temporary directory and a free loopback port,
//! as a non-root user when the test runs as root (`postgres` if that user exists, else
//! `nobody`). Password authentication over TCP, so that tests see a URL with a secret in it.
//! Readiness is polled with a deadline; the server is killed when the value is dropped.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// What a test without PostgreSQL's binaries is told.
const MISSING: &str = "install postgresql (scripts/install-deps.sh)";

/// The database every [`TempPostgres`] creates.
const DATABASE: &str = "tempstream";

/// A PostgreSQL server of a test.
pub struct TempPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    password: String,
    /// uid and gid the server runs as, when the test runs as root.
    run_as: Option<(u32, u32)>,
    server: Option<Child>,
}

impl TempPostgres {
    /// Makes a cluster on a temporary directory, starts it on a free loopback port and
    /// creates the database `tempstream`; panics when PostgreSQL is not installed.
    pub fn start() -> TempPostgres {
        let bin = bin_dir().unwrap_or_else(|| panic!("{MISSING}"));
        let dir = tempfile::Builder::new()
            .prefix("tempstream-pg")
            .tempdir()
            .expect("temp dir");
        let run_as = run_as();
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown temp dir");
        }
        let password = crate::token::Token::generate().expose().to_string();
        let mut pg = TempPostgres {
            port: free_port(),
            dir,
            bin,
            password,
            run_as,
            server: None,
        };
        pg.init();
        pg.start_again();
        pg.create_database(DATABASE);
        pg
    }

    /// The URL of the database `tempstream`, password included.
    pub fn url(&self) -> String {
        self.url_of(DATABASE)
    }

    /// The URL of database `name` on this server, password included.
    pub fn url_of(&self, name: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{name}",
            self.password, self.port
        )
    }

    /// The superuser's password (in [`TempPostgres::url`]).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates another empty database `name`; returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let mut c = diesel::PgConnection::establish(&self.url_of("postgres"))
            .expect("connect to the test PostgreSQL");
        c.batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("create database");
        self.url_of(name)
    }

    /// Stops the server cleanly (fast shutdown) and waits for it.
    pub fn stop(&mut self) {
        self.signal(libc::SIGINT);
    }

    /// Kills the server and its backends at once (a crash) and waits for it.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
    }

    /// Starts the server again on the same directory and port; returns once it accepts
    /// connections. Retries while the previous server's processes are still going away.
    pub fn start_again(&mut self) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let mut child = self.spawn_server();
            match self.wait_ready(&mut child, deadline) {
                Ok(()) => {
                    self.server = Some(child);
                    return;
                }
                Err(why) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("PostgreSQL did not start: {why}\n{}", self.log());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// `program` of PostgreSQL's bin directory, as the server's user.
    fn command(&self, program: &str) -> Command {
        let mut cmd = match self.run_as {
            Some((uid, gid)) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(self.bin.join(program));
                c
            }
            None => Command::new(self.bin.join(program)),
        };
        cmd.current_dir(self.dir.path()).env("LC_ALL", "C");
        cmd
    }

    fn init(&self) {
        let pwfile = self.dir.path().join("pw");
        std::fs::write(&pwfile, &self.password).expect("write password file");
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).expect("chown password file");
        }
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(self.data())
            .args([
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "--auth-local=trust",
            ])
            .args(["--auth-host=scram-sha-256", "--pwfile"])
            .arg(&pwfile)
            .output()
            .unwrap_or_else(|e| panic!("run initdb: {e}; {MISSING}"));
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn spawn_server(&self) -> Child {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("postgres.log"))
            .expect("server log");
        self.command("postgres")
            .arg("-D")
            .arg(self.data())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_directories="])
            // No fsync (the machine does not crash in a test), but every commit reaches
            // the WAL before it is reported: a killed server loses nothing committed.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=on"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("server log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start postgres: {e}; {MISSING}"))
    }

    /// Polls `pg_isready` until the server answers, it exits or `deadline` passes.
    fn wait_ready(&self, child: &mut Child, deadline: Instant) -> Result<(), String> {
        let ready = self.bin.join("pg_isready");
        loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("postgres exited: {status}"));
            }
            let answered = Command::new(&ready)
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "postgres", "-d", "postgres"])
                .status()
                .map_err(|e| e.to_string())?;
            if answered.success() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err("not ready in time".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `sig` to the server (with SIGKILL to its backends too: each is its own
    /// session, out of the server's process group) and waits for all of them to end.
    fn signal(&mut self, sig: libc::c_int) {
        let Some(mut child) = self.server.take() else {
            return;
        };
        let postmaster = child.id() as libc::pid_t;
        let backends = if sig == libc::SIGKILL {
            children_of(postmaster)
        } else {
            Vec::new()
        };
        for pid in std::iter::once(postmaster).chain(backends.iter().copied()) {
            // SAFETY: kill(2) on processes this value started; no memory involved.
            unsafe {
                libc::kill(pid, sig);
            }
        }
        let _ = child.wait();
        let deadline = Instant::now() + READY_WITHIN;
        while backends.iter().any(|p| alive(*p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The processes whose parent is `pid` (from `/proc`).
fn children_of(pid: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let child: libc::pid_t = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // "pid (comm) state ppid ...": the command may hold spaces and parentheses.
            let ppid: libc::pid_t = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (ppid == pid).then_some(child)
        })
        .collect()
}

/// Whether process `pid` still exists (a zombie counts as gone).
fn alive(pid: libc::pid_t) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` and `postgres`.
fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            let has = |p: &str| bin.join(p).is_file();
            (has("initdb") && has("postgres") && has("pg_isready")).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// The uid and gid to run as when this process is root: `postgres`, else `nobody`.
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let ids = |name: &str| {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name) && f.len() > 3)
                .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
                .flatten()
        })
    };
    Some(
        ids("postgres")
            .or_else(|| ids("nobody"))
            .expect("a user postgres or nobody to run PostgreSQL as"),
    )
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free loopback port")
        .port()
}
