//! Starting ferry's processes on one metadata store: which binaries, the
//! settings every process of the store shares, and where their output goes.
//!
//! [`TestApp`](crate::TestApp) starts its processes through a [`Launcher`];
//! a caller that wants more than one app's worth of processes on one store,
//! one after another (a benchmark that restarts the API between batches), or
//! that must report a failure to start instead of panicking, uses one
//! directly. Every `spawn_*` returns why it failed rather than panicking.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
};

use crate::{binaries, db::TestDb, process::FerryProcess};

/// How long a process may take to migrate the store and start listening.
/// Generous because two test threads may be starting processes on a busy
/// two-core machine.
pub const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// `ferry: listening on http://127.0.0.1:PORT (Swagger UI at ...)` ->
/// `http://127.0.0.1:PORT`.
pub fn parse_listen_line(line: &str) -> Option<&str> {
    let start = line.find("http://")?;
    let rest = &line[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let address = rest[..end].trim_end_matches('/');
    address.rsplit_once(':')?.1.parse::<u16>().ok()?;
    Some(address)
}

/// How a [`Launcher`] starts processes. The default is what the tests use.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    /// Where `ferry-api` and `ferry-worker` are (default:
    /// [`binaries::bin_dir`]); e.g. [`binaries::profile_dir`] for the ones
    /// built with the running binary's profile (release, for a benchmark).
    pub bin_dir: Option<PathBuf>,
    /// Whether processes get the harness's short polling and back-off
    /// intervals, few concurrent jobs and small pools (default). Without,
    /// ferry's own defaults apply, as in a deployment.
    pub tuned_for_tests: bool,
    /// Settings for every process (API and workers), `RUST_LOG` included;
    /// they override the harness's.
    pub env: Vec<(String, String)>,
    /// When set, every process's whole output is also written to
    /// `<dir>/<binary>-<n>.log` (the directory is created if missing), `n`
    /// counting the processes this launcher started.
    pub log_dir: Option<PathBuf>,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        Self {
            bin_dir: None,
            tuned_for_tests: true,
            env: Vec::new(),
            log_dir: None,
        }
    }
}

/// Starts ferry's processes on one store. The store must outlive every
/// process started: they run in its directory.
#[derive(Debug)]
pub struct Launcher {
    bin_dir: Option<PathBuf>,
    env: Vec<(String, String)>,
    cwd: PathBuf,
    admin_token: String,
    log_dir: Option<PathBuf>,
    logged: AtomicUsize,
}

impl Launcher {
    /// The settings every process on `db` shares: the store, a new bootstrap
    /// admin token, a free port and `options`. Fails only if `options`'s log
    /// directory cannot be created.
    pub fn new(db: &TestDb, options: &LaunchOptions) -> Result<Self, String> {
        let admin_token = format!("fy_test_admin_{}", uuid::Uuid::new_v4().simple());
        let mut env = vec![
            ("FERRY_DATABASE_URL".to_owned(), db.url().to_owned()),
            ("FERRY_ADMIN_TOKEN".to_owned(), admin_token.clone()),
            ("FERRY_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ];
        if options.tuned_for_tests {
            env.extend(
                [
                    // Short intervals keep retries and polling quick; the
                    // defaults are tuned for production and would make tests
                    // slow.
                    ("FERRY_WORKER__POLL_MS", "50"),
                    ("FERRY_WORKER__BACKOFF_INITIAL_MS", "100"),
                    ("FERRY_WORKER__BACKOFF_MAX_MS", "500"),
                    // Few concurrent jobs per process keep each process's
                    // database connections well under PostgreSQL's limit
                    // while tests run in parallel.
                    ("FERRY_WORKER__CONCURRENCY", "4"),
                    // Tests run in parallel against one PostgreSQL server
                    // (100 connections); a few per process are plenty for
                    // them.
                    ("FERRY_DATABASE_MAX_CONNECTIONS", "4"),
                ]
                .map(|(key, value)| (key.to_owned(), value.to_owned())),
            );
        }
        env.push(("NO_COLOR".to_owned(), "1".to_owned()));
        if let Some(key) = db.secret_key() {
            env.push(("FERRY_SECRET_KEY".to_owned(), key.to_owned()));
        }
        env.extend(options.env.iter().cloned());
        if let Some(dir) = &options.log_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        Ok(Self {
            bin_dir: options.bin_dir.clone(),
            env,
            cwd: db.dir().to_owned(),
            admin_token,
            log_dir: options.log_dir.clone(),
            logged: AtomicUsize::new(0),
        })
    }

    /// The bootstrap admin token (`FERRY_ADMIN_TOKEN`), whose actor name is
    /// `admin`.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The settings every process gets.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The path of one ferry binary, or why it cannot be used.
    pub fn binary(&self, name: &str) -> Result<PathBuf, String> {
        match &self.bin_dir {
            Some(dir) => binaries::find_in(dir, name),
            None => binaries::try_binary(name),
        }
    }

    /// Starts `ferry-api` (with `--with-worker`, also a worker) with extra
    /// settings `env`, and waits until it listens; returns it and its
    /// `http://127.0.0.1:PORT`.
    pub async fn spawn_api(
        &self,
        with_worker: bool,
        env: &[(String, String)],
    ) -> Result<(FerryProcess, String), String> {
        let (label, args): (&str, &[&str]) = if with_worker {
            ("ferry-api+worker", &["--with-worker"])
        } else {
            ("ferry-api", &[])
        };
        let mut api = self.spawn(binaries::API, label, args, env)?;
        let line = api
            .try_wait_for_stdout_line("ferry: listening on http://", START_TIMEOUT)
            .await?;
        let address = parse_listen_line(&line)
            .ok_or_else(|| format!("cannot read the address from `{line}`"))?
            .to_owned();
        Ok((api, address))
    }

    /// Starts a `ferry-worker` process, called `label` in its output, with
    /// extra settings `env`.
    pub fn spawn_worker(
        &self,
        label: &str,
        env: &[(String, String)],
    ) -> Result<FerryProcess, String> {
        self.spawn(binaries::WORKER, label, &[], env)
    }

    fn spawn(
        &self,
        binary: &str,
        label: &str,
        args: &[&str],
        env: &[(String, String)],
    ) -> Result<FerryProcess, String> {
        let program = self.binary(binary)?;
        let mut all = self.env.clone();
        all.extend(env.iter().cloned());
        let log_file = self.log_dir.as_ref().map(|dir| {
            let n = self.logged.fetch_add(1, Ordering::Relaxed);
            dir.join(format!("{binary}-{n}.log"))
        });
        FerryProcess::try_spawn(label, &program, args, &all, &self.cwd, log_file.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::{LaunchOptions, Launcher};
    use crate::db::{Backend, TestDb};

    #[tokio::test]
    async fn settings_and_missing_binaries() {
        let db = TestDb::create(Backend::Sqlite).await;
        let empty = tempfile::tempdir().expect("a directory");
        let options = LaunchOptions {
            bin_dir: Some(empty.path().to_owned()),
            tuned_for_tests: false,
            env: vec![("RUST_LOG".to_owned(), "warn".to_owned())],
            log_dir: Some(empty.path().join("logs")),
        };
        let launcher = Launcher::new(&db, &options).expect("a launcher");
        assert!(empty.path().join("logs").is_dir());
        let keys: Vec<&str> = launcher.env().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "FERRY_DATABASE_URL",
                "FERRY_ADMIN_TOKEN",
                "FERRY_LISTEN",
                "NO_COLOR",
                "RUST_LOG"
            ]
        );
        let err = launcher
            .spawn_worker("w", &[])
            .err()
            .expect("no ferry-worker in an empty directory");
        assert!(err.starts_with("ferry-worker not found at "), "{err}");
        let tuned = Launcher::new(&db, &LaunchOptions::default()).expect("a launcher");
        assert!(
            tuned
                .env()
                .iter()
                .any(|(k, v)| k == "FERRY_WORKER__POLL_MS" && v == "50")
        );
    }
}
