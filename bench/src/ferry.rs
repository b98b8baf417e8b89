//! Runs ferry's own binaries (`ferry-api`, `ferry-worker`) as child processes,
//! configured only through the environment, the way they are deployed.
//!
//! Every child is killed when its handle is dropped, so an error or Ctrl-C
//! anywhere in a run leaves no ferry process behind.

use std::{
    collections::VecDeque,
    io::Write,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use rand::RngCore;
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    sync::mpsc,
};

/// How many of a child's last output lines are kept to explain its failure.
const TAIL_LINES: usize = 40;

/// Worker settings the benchmark may override; `None` keeps ferry's default,
/// which is what the recorded figures use.
#[derive(Debug, Clone, Default)]
pub struct WorkerKnobs {
    pub concurrency: Option<usize>,
    pub poll_ms: Option<u64>,
    pub db_connections: Option<u32>,
}

/// A fresh directory for one bench run's SQLite metadata store, and the
/// store's URL. The caller removes the directory when done.
pub fn scratch_sqlite(tag: &str) -> anyhow::Result<(PathBuf, String)> {
    let dir = std::env::temp_dir().join(format!(
        "ferry-bench-{tag}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}/ferry.db?mode=rwc", dir.display());
    Ok((dir, url))
}

/// How much ferry's processes log, and where their output is kept.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// `RUST_LOG` for the children; `warn` keeps logging out of the figures.
    pub filter: String,
    /// When set, every child's full output goes to `<dir>/<bin>-<n>.log`, for
    /// finding out where the time goes (e.g. with `sqlx::query=debug`).
    pub dir: Option<PathBuf>,
}

/// Where ferry's binaries are: `--bin-dir`, or beside this benchmark binary.
pub fn bin_dir(given: Option<&std::path::Path>) -> anyhow::Result<PathBuf> {
    match given {
        Some(dir) => Ok(dir.to_owned()),
        None => Ok(std::env::current_exe()?
            .parent()
            .ok_or_else(|| anyhow::anyhow!("the benchmark binary has no parent directory"))?
            .to_owned()),
    }
}

/// The environment shared by every ferry process of one database.
#[derive(Debug)]
pub struct FerryEnv {
    bin_dir: PathBuf,
    vars: Vec<(&'static str, String)>,
    token: String,
    log_dir: Option<PathBuf>,
    spawned: AtomicUsize,
}

impl FerryEnv {
    pub fn new(
        bin_dir: &Path,
        database_url: &str,
        knobs: &WorkerKnobs,
        logs: &LogOptions,
    ) -> anyhow::Result<Self> {
        for bin in ["ferry-api", "ferry-worker"] {
            let path = bin_dir.join(bin);
            if !path.is_file() {
                bail!(
                    "{} not found; build ferry first with `cargo build --release --bins` (or pass --bin-dir)",
                    path.display()
                );
            }
        }
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let token = format!("bench-{}", uuid::Uuid::new_v4().simple());
        let mut vars = vec![
            ("FERRY_DATABASE_URL", database_url.to_owned()),
            ("FERRY_SECRET_KEY", STANDARD.encode(key)),
            ("FERRY_ADMIN_TOKEN", token.clone()),
            ("FERRY_LISTEN", "127.0.0.1:0".to_owned()),
            ("FERRY_LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", logs.filter.clone()),
        ];
        if let Some(concurrency) = knobs.concurrency {
            vars.push(("FERRY_WORKER__CONCURRENCY", concurrency.to_string()));
        }
        if let Some(poll_ms) = knobs.poll_ms {
            vars.push(("FERRY_WORKER__POLL_MS", poll_ms.to_string()));
        }
        if let Some(connections) = knobs.db_connections {
            vars.push(("FERRY_DATABASE_MAX_CONNECTIONS", connections.to_string()));
        }
        if let Some(dir) = &logs.dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok(Self {
            bin_dir: bin_dir.to_owned(),
            vars,
            token,
            log_dir: logs.dir.clone(),
            spawned: AtomicUsize::new(0),
        })
    }

    /// The admin bearer token the API registers at start-up.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Starts `ferry-api` without an in-process worker, so that submitted
    /// tasks only accumulate, and waits until it prints its address.
    pub async fn start_api(&self) -> anyhow::Result<FerryApi> {
        self.start_api_with(&[]).await
    }

    /// Starts `ferry-api --with-worker`, ferry's embedded default: one
    /// process serves the API and runs tasks.
    pub async fn start_api_with_worker(&self) -> anyhow::Result<FerryApi> {
        self.start_api_with(&["--with-worker"]).await
    }

    async fn start_api_with(&self, args: &[&str]) -> anyhow::Result<FerryApi> {
        let mut process = self.spawn("ferry-api", args)?;
        // Start-up includes migrating a fresh database, which can take a few
        // seconds on a busy machine.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let line = tokio::time::timeout_at(deadline, process.lines.recv()).await;
            match line {
                Ok(Some(line)) => {
                    if let Some(base_url) = listening_url(&line) {
                        return Ok(FerryApi { process, base_url });
                    }
                }
                Ok(None) => {
                    let status = process.child.wait().await?;
                    bail!(
                        "ferry-api exited ({status}) before listening:\n{}",
                        process.tail()
                    );
                }
                Err(_) => bail!(
                    "ferry-api did not start listening within 60 s:\n{}",
                    process.tail()
                ),
            }
        }
    }

    /// Starts one `ferry-worker` process.
    pub fn start_worker(&self) -> anyhow::Result<FerryProcess> {
        self.spawn("ferry-worker", &[])
    }

    fn spawn(&self, bin: &str, args: &[&str]) -> anyhow::Result<FerryProcess> {
        let mut command = Command::new(self.bin_dir.join(bin));
        command.args(args);
        // Settings the caller's shell may hold must not change what is measured.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("FERRY_") {
                command.env_remove(name);
            }
        }
        command
            .envs(self.vars.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {bin}"))?;
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let file = match &self.log_dir {
            Some(dir) => {
                let n = self.spawned.fetch_add(1, Ordering::Relaxed);
                let path = dir.join(format!("{bin}-{n}.log"));
                let file = std::fs::File::create(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                Some(Arc::new(Mutex::new(std::io::LineWriter::new(file))))
            }
            None => None,
        };
        let (tx, lines) = mpsc::unbounded_channel();
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(pump(stdout, tail.clone(), file.clone(), Some(tx)));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(pump(stderr, tail.clone(), file, None));
        }
        Ok(FerryProcess {
            name: bin.to_owned(),
            child,
            tail,
            lines,
        })
    }
}

/// A running ferry process and the last lines it printed.
#[derive(Debug)]
pub struct FerryProcess {
    name: String,
    child: Child,
    tail: Arc<Mutex<VecDeque<String>>>,
    lines: mpsc::UnboundedReceiver<String>,
}

impl FerryProcess {
    /// Fails, with the process's last output, if it has exited: a benchmark
    /// waiting on a dead worker would otherwise wait until its deadline.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited ({status}):\n{}", self.name, self.tail());
        }
        Ok(())
    }

    /// Kills the process and waits for it. A benchmark has no use for a
    /// graceful drain: every task it cares about has finished by now.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    fn tail(&self) -> String {
        let tail = self
            .tail
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<_>>());
        tail.unwrap_or_default().join("\n")
    }
}

/// `ferry-api` and the base URL it listens on.
#[derive(Debug)]
pub struct FerryApi {
    pub process: FerryProcess,
    pub base_url: String,
}

/// Keeps the last lines of a child's output, forwarding stdout lines to
/// whoever waits for the "listening" line. Reading continuously also keeps
/// the child from blocking on a full pipe.
async fn pump(
    stream: impl AsyncRead + Unpin,
    tail: Arc<Mutex<VecDeque<String>>>,
    file: Option<Arc<Mutex<LogFile>>>,
    tx: Option<mpsc::UnboundedSender<String>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(file) = &file
            && let Ok(mut file) = file.lock()
        {
            let _ = writeln!(file, "{line}");
        }
        if let Ok(mut tail) = tail.lock() {
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.clone());
        }
        if let Some(tx) = &tx {
            let _ = tx.send(line);
        }
    }
}

type LogFile = std::io::LineWriter<std::fs::File>;

/// The base URL in `ferry: listening on http://127.0.0.1:PORT (Swagger UI ...)`.
fn listening_url(line: &str) -> Option<String> {
    let rest = line.split_once("listening on ")?.1;
    let url = rest.split_whitespace().next()?;
    url.starts_with("http").then(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::listening_url;

    #[test]
    fn reads_the_listening_line() {
        assert_eq!(
            listening_url("ferry: listening on http://127.0.0.1:4242 (Swagger UI at http://127.0.0.1:4242/docs)")
                .as_deref(),
            Some("http://127.0.0.1:4242")
        );
        assert_eq!(listening_url(r#"{"level":"WARN","message":"x"}"#), None);
    }
}
