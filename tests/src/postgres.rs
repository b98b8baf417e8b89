//! A scratch PostgreSQL server of a test's own, for fault tests that stop and
//! restart the metadata store: the server every other test shares must never
//! go down.
//!
//! The server runs from a fresh data directory (`initdb`, trust
//! authentication) in a temporary directory, on a free port of 127.0.0.1,
//! and is stopped (immediately) and removed when the value is dropped. The
//! binaries are `FERRY_TEST_PG_BIN` or the newest `/usr/lib/postgresql/*/bin`.
//! PostgreSQL refuses to run as root, so under root the server runs as the
//! `postgres` system user, which then owns the temporary directory.

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::Command,
};

use tempfile::TempDir;

pub struct ScratchPostgres {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    /// The system user and group the server runs as, when started by root.
    owner: Option<(u32, u32)>,
}

impl ScratchPostgres {
    /// Initialises and starts a server; panics with the tool's output when
    /// that fails.
    pub async fn start() -> Self {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("ferry-scratch-pg-")
            .tempdir()
            .expect("a temporary directory");
        let owner = run_as();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("give the scratch directory to the postgres user");
        }
        let server = ScratchPostgres {
            bin,
            port: free_port(),
            dir,
            owner,
        };
        server.tool(
            "initdb",
            &[
                "-D",
                &server.data().display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        server.start_again().await;
        server
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`, where the harness may
    /// create databases ([`crate::DbOptions::postgres_admin_url`]).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server the way an administrator's restart does (`fast`:
    /// every connection is terminated) and waits until it is down.
    pub async fn stop(&self) {
        let data = self.data().display().to_string();
        self.tool_async(
            "pg_ctl",
            vec![
                "-D".into(),
                data,
                "-m".into(),
                "fast".into(),
                "-w".into(),
                "stop".into(),
            ],
        )
        .await;
    }

    /// Starts the (stopped) server again and waits until it accepts
    /// connections.
    pub async fn start_again(&self) {
        let data = self.data().display().to_string();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.tool_async(
            "pg_ctl",
            vec![
                "-D".into(),
                data,
                "-l".into(),
                log,
                "-o".into(),
                options,
                "-w".into(),
                "start".into(),
            ],
        )
        .await;
    }

    /// Restarts the server (stop `fast`, start), as `pg_ctlcluster restart`.
    pub async fn restart(&self) {
        self.stop().await;
        self.start_again().await;
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.current_dir(self.dir.path());
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn tool(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    /// Runs a tool on the blocking pool: `pg_ctl -w` waits for the server.
    async fn tool_async(&self, tool: &str, args: Vec<String>) {
        let mut cmd = self.command(tool);
        cmd.args(&args);
        let log = self.dir.path().join("server.log");
        let tool = tool.to_owned();
        tokio::task::spawn_blocking(move || {
            let out = cmd
                .output()
                .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
            assert!(
                out.status.success(),
                "{tool} {args:?} failed: {}{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        })
        .await
        .expect("the tool's thread");
    }
}

impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        // Immediate: a test that failed may leave clients connected, and the
        // directory is removed right after.
        let _ = self
            .command("pg_ctl")
            .args([
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
}

fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("FERRY_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .filter(|bin| bin.join("initdb").is_file())
                .collect()
        })
        .unwrap_or_default();
    // Version directories are numbers; the newest one sorts last by number.
    found.sort_by_key(|bin| {
        bin.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found
        .pop()
        .expect("PostgreSQL's server binaries (initdb, pg_ctl): install postgresql or set FERRY_TEST_PG_BIN")
}

/// The `postgres` user's ids when running as root; `None` otherwise.
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a postgres system user to run the scratch server as root")
    };
    Some((id("-u"), id("-g")))
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("a bound address").port()
}
