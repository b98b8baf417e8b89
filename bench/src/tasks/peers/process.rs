//! Running a peer's script (`bench/peers/<peer>/`, installed by
//! [`super::install`]) and reading its figures.
//!
//! Submissions are one process each: it installs the peer's schema, then
//! times the submissions alone and prints them. A drain first queues the
//! jobs with an untimed `prepare`, then starts its worker processes, which
//! connect, say they are ready and wait; all are told to go at once, so that
//! none drains the queue alone while another is still starting. This side
//! watches the peer's own job table and, once no job is left in it (every
//! completion committed), closes the processes' stdin. Each then stops its
//! runner and prints the first start and the last finish of the jobs it ran,
//! in wall-clock milliseconds; the figure is the batch divided by the span
//! from the earliest start to the latest finish over all processes, the
//! window ferry's own run figure measures too (first claim to last finish).
//! A second figure ends instead when this side saw the table empty, which
//! includes the peer's deferred completions (and up to one poll interval).

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

use super::{Peer, Setup, install::Installed};

/// Jobs pgqueuer's queue manager dequeues per query (`batch_size`), as in
/// the measurement.
pub const PGQUEUER_BATCH: usize = 64;

/// How often the peer's job table is asked whether the batch is done. This
/// only decides when the processes are stopped, not the figure.
const POLL: Duration = Duration::from_millis(20);

/// How long a stopped drain process may take to report and exit.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// How to run one peer's script.
#[derive(Debug, Clone)]
pub struct Script {
    program: PathBuf,
    script: PathBuf,
    /// Flags for `drain` alone: the runner's settings.
    drain_flags: Vec<String>,
    /// Counts the jobs that are queued or running in the peer's own tables;
    /// both peers delete a job once it has succeeded.
    remaining_sql: &'static str,
}

impl Script {
    /// graphile-worker's runner gets ferry's worker settings: as many jobs
    /// in flight (`concurrency`) and as many connections (`maxPoolSize`) per
    /// process. pgqueuer's queue manager works on one connection and has no
    /// such settings; it gets the batch size the issue used.
    pub fn new(peer: Peer, installed: &Installed, setup: &Setup) -> Self {
        let graphile_flags = vec![
            "--concurrency".to_owned(),
            setup.concurrency.to_string(),
            "--pool".to_owned(),
            setup.connections.to_string(),
        ];
        match peer {
            Peer::Graphile | Peer::GraphileBatched => Self {
                program: installed.node.clone(),
                script: installed.graphile_script.clone(),
                drain_flags: if peer == Peer::GraphileBatched {
                    [graphile_flags, vec!["--batched".to_owned()]].concat()
                } else {
                    graphile_flags
                },
                remaining_sql: "SELECT count(*) FROM graphile_worker._private_jobs",
            },
            Peer::Pgqueuer => Self {
                program: installed.python.clone(),
                script: installed.pgqueuer_script.clone(),
                drain_flags: vec!["--batch-size".to_owned(), PGQUEUER_BATCH.to_string()],
                remaining_sql: "SELECT count(*) FROM pgqueuer",
            },
        }
    }

    fn command(&self, mode: &str, url: &str, n: usize) -> Command {
        let mut command = Command::new(&self.program);
        command
            .arg(&self.script)
            .arg(mode)
            .args(["--url", url, "--n", &n.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // The scripts print only errors there; they belong on screen.
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        command
    }

    /// Runs a mode that prints one JSON line and exits, and returns that line.
    async fn one_shot(
        &self,
        mode: &str,
        url: &str,
        n: usize,
        extra: &[String],
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let mut command = self.command(mode, url, n);
        command.args(extra);
        let output = tokio::time::timeout(timeout, command.output())
            .await
            .with_context(|| format!("`{mode}` took longer than {timeout:?}"))?
            .with_context(|| format!("cannot start {}", self.program.display()))?;
        ensure!(
            output.status.success(),
            "`{} {mode}` exited with {}",
            self.script.display(),
            output.status
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line).with_context(|| format!("`{mode}` printed {line:?}"))
    }

    /// Times `n` submissions (`submit-single` or `submit-bulk`) on a database
    /// where the peer is not installed yet; returns jobs/s.
    pub async fn submit(
        &self,
        mode: &str,
        url: &str,
        n: usize,
        clients: usize,
        timeout: Duration,
    ) -> anyhow::Result<f64> {
        let extra = ["--clients".to_owned(), clients.to_string()];
        let report = self.one_shot(mode, url, n, &extra, timeout).await?;
        let count = report["count"].as_u64().context("no count")?;
        let seconds = report["seconds"].as_f64().context("no seconds")?;
        ensure!(
            count == n as u64,
            "`{mode}` submitted {count}, expected {n}"
        );
        Ok(crate::stats::per_second(
            n,
            Duration::from_secs_f64(seconds.max(0.0)),
        ))
    }

    /// Queues `n` jobs and runs them with `processes` worker processes.
    pub async fn drain(
        &self,
        url: &str,
        n: usize,
        processes: usize,
        timeout: Duration,
    ) -> anyhow::Result<Drained> {
        let report = self.one_shot("prepare", url, n, &[], timeout).await?;
        ensure!(
            report["count"].as_u64() == Some(n as u64),
            "`prepare` printed {report}"
        );
        let mut watcher = PgConnection::connect(url)
            .await
            .context("cannot connect to the peer's database")?;
        let result = self
            .drain_with(&mut watcher, url, n, processes, timeout)
            .await;
        let _ = watcher.close().await;
        result
    }

    async fn drain_with(
        &self,
        watcher: &mut PgConnection,
        url: &str,
        n: usize,
        processes: usize,
        timeout: Duration,
    ) -> anyhow::Result<Drained> {
        let deadline = Instant::now() + timeout;
        let mut workers = Vec::with_capacity(processes);
        for _ in 0..processes {
            let mut command = self.command("drain", url, n);
            command.args(&self.drain_flags).stdin(Stdio::piped());
            workers.push(DrainProcess::spawn(command, &self.program)?);
        }
        for worker in &mut workers {
            let ready = worker.report(deadline).await?;
            ensure!(ready["ready"] == true, "a drain process printed {ready}");
        }
        for worker in &mut workers {
            worker.go().await?;
        }
        let emptied = loop {
            tokio::time::sleep(POLL).await;
            for worker in &mut workers {
                if let Some(status) = worker.child.try_wait()? {
                    bail!("a drain process exited with {status} before the queue was empty");
                }
            }
            let remaining: i64 = sqlx::query_scalar(self.remaining_sql)
                .fetch_one(&mut *watcher)
                .await?;
            if remaining == 0 {
                break wall_clock_ms();
            }
            if Instant::now() >= deadline {
                bail!("{remaining} of {n} jobs were left at the deadline (raise --timeout-secs?)");
            }
        };

        let (mut count, mut first, mut last) = (0, f64::INFINITY, f64::NEG_INFINITY);
        for worker in &mut workers {
            worker.stdin.take();
            let report = worker.report(Instant::now() + STOP_GRACE).await?;
            let status = worker.child.wait().await?;
            ensure!(status.success(), "a drain process exited with {status}");
            count += report["count"].as_u64().context("no count")?;
            if let (Some(start), Some(finish)) = (
                report["first_start_ms"].as_f64(),
                report["last_finish_ms"].as_f64(),
            ) {
                first = first.min(start);
                last = last.max(finish);
            }
        }
        // More than `n` would mean a job ran twice; fewer, that one ran
        // outside the scripts' handlers.
        ensure!(
            count == n as u64,
            "the processes ran {count} jobs, expected {n}"
        );
        let rate_until = |end: f64| {
            let window = Duration::from_secs_f64(((end - first) / 1000.0).max(0.0));
            crate::stats::per_second(n, window)
        };
        Ok(Drained {
            rate: rate_until(last),
            rate_to_empty: rate_until(emptied),
        })
    }
}

/// What a drain measured, in jobs/s.
#[derive(Debug, Clone, Copy)]
pub struct Drained {
    /// From the first job's start to the last job's finish in the handlers.
    pub rate: f64,
    /// From the first job's start until this side saw no job left.
    pub rate_to_empty: f64,
}

/// Milliseconds since the Unix epoch, as the scripts report them.
fn wall_clock_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

/// A running `drain` process: its stdin (closing it stops the process) and
/// the lines it prints.
struct DrainProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl DrainProcess {
    fn spawn(mut command: Command, program: &std::path::Path) -> anyhow::Result<Self> {
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        Ok(Self {
            child,
            stdin: Some(stdin),
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// The next JSON line the process prints, by `deadline`.
    async fn report(&mut self, deadline: Instant) -> anyhow::Result<Value> {
        let line = tokio::time::timeout_at(deadline.into(), self.lines.next_line())
            .await
            .context("a drain process said nothing before the deadline")??
            .context("a drain process ended without a report")?;
        serde_json::from_str(&line).with_context(|| format!("a drain process printed {line:?}"))
    }

    async fn go(&mut self) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("stdin already closed")?;
        stdin.write_all(b"go\n").await?;
        stdin.flush().await?;
        Ok(())
    }
}
