//! `ferry-bench tasks --peers`: the same queue measurements made with two
//! other durable task queues on PostgreSQL, graphile-worker (Node.js) and
//! pgqueuer (Python), with the same N on the same database server, printed
//! side by side with ferry's figures of the same run (issue #19).
//!
//! Ferry's ratios to raw SQL say how much of the database ferry leaves
//! unused; they do not say whether an existing queue would do better. The
//! peers answer that on the machine at hand, where figures measured
//! elsewhere mean little. So that anyone can repeat the comparison, each peer
//! is a small script in `bench/peers/<peer>/` with its dependencies pinned
//! (`package-lock.json`, `requirements.txt`), installed on first use into a
//! scratch folder ([`install`]).
//!
//! Every measurement gets a fresh database and fresh processes
//! ([`process`]). The scripts time themselves and print one JSON line, so
//! that no interpreter's start-up is part of a figure. A round makes every
//! measurement for every peer, one measurement after the other, and the
//! peers' order rotates from round to round, so that no peer always runs
//! first on a machine that warms up or gets busier.
//!
//! Ferry's column is filled by the caller ([`Column`]) from the ferry parts
//! of the same run; they run before the peers, not interleaved with them.

mod install;
mod process;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use crate::{db::Server, stats};
use install::Installed;
use process::Script;

/// What `--peers` adds to `ferry-bench tasks`.
#[derive(Debug, Clone, clap::Args)]
pub struct PeerArgs {
    /// Also measure graphile-worker and pgqueuer on the same server, after
    /// ferry, and print every figure side by side (`--part peers`: only the
    /// peers). Installs them into --peers-dir first (npm, a Python venv).
    #[arg(long)]
    pub peers: bool,
    /// Where the peers are installed (default: `target/bench-peers` of this
    /// checkout). An installation at the same versions is reused.
    #[arg(long)]
    pub peers_dir: Option<PathBuf>,
    /// Jobs per peer measurement (default: --n).
    #[arg(long)]
    pub peers_n: Option<usize>,
    /// Numbers of worker processes that drain a peer's queue.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub peers_processes: Vec<usize>,
}

/// What the peers share with ferry's measurements.
#[derive(Debug, Clone)]
pub struct Setup {
    pub server: Server,
    /// Jobs per measurement (--n), unless --peers-n says otherwise.
    pub n: usize,
    pub rounds: usize,
    /// Concurrent callers for single submissions (--clients).
    pub clients: usize,
    /// Jobs in flight per worker process, as ferry's worker has.
    pub concurrency: usize,
    /// Database connections per worker process, as ferry's worker has.
    pub connections: u32,
    /// Longest wait for one measurement.
    pub timeout: Duration,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Measurement {
    /// N single submissions, one job per call, from concurrent callers.
    SubmitSingle,
    /// One call that submits all N jobs.
    SubmitBulk,
    /// N queued jobs run by this many worker processes.
    Drain(usize),
}

impl Measurement {
    fn label(self, clients: usize, n: usize) -> String {
        match self {
            Measurement::SubmitSingle => {
                format!("submit, {clients} clients, one job per call")
            }
            Measurement::SubmitBulk => format!("submit, one bulk call of {n}"),
            Measurement::Drain(1) => "drain, 1 worker process".to_owned(),
            Measurement::Drain(p) => format!("drain, {p} worker processes"),
        }
    }
}

/// What one column holds for one measurement.
#[derive(Debug, Clone)]
enum Cell {
    /// One figure (jobs/s) per round.
    Rates(Vec<f64>),
    /// The same figures as the column named, which measured them once.
    AsIn(String),
    /// The measurement failed; the error was printed when it did.
    Failed,
}

/// One column of the table: a queue's figures for each measurement. The
/// ferry side fills its own with [`Column::set_rates`]; a measurement left
/// out shows as "not measured".
#[derive(Debug, Clone)]
pub struct Column {
    title: String,
    cells: BTreeMap<Measurement, Cell>,
}

impl Column {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            cells: BTreeMap::new(),
        }
    }

    /// The figures (jobs/s) of every round of `measurement`.
    pub fn set_rates(&mut self, measurement: Measurement, rates: Vec<f64>) {
        self.cells.insert(measurement, Cell::Rates(rates));
    }

    /// Adds one round's figure, unless the measurement already failed.
    fn push(&mut self, measurement: Measurement, rate: f64) {
        if let Cell::Rates(rates) = self
            .cells
            .entry(measurement)
            .or_insert(Cell::Rates(Vec::new()))
        {
            rates.push(rate);
        }
    }

    fn fail(&mut self, measurement: Measurement) {
        self.cells.insert(measurement, Cell::Failed);
    }

    fn render(&self, measurement: Measurement) -> String {
        match self.cells.get(&measurement) {
            Some(Cell::Rates(rates)) if rates.is_empty() => "no figure".to_owned(),
            Some(Cell::Rates(rates)) => stats::rate_with_range(rates),
            Some(Cell::AsIn(title)) => format!("as {title}"),
            Some(Cell::Failed) => "FAILED".to_owned(),
            None => "not measured".to_owned(),
        }
    }
}

/// The peer queues, each measured as its own column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// graphile-worker with its defaults: each of its concurrent workers
    /// fetches one job per query and completes it with one more.
    Graphile,
    /// graphile-worker with the batching its performance page documents: a
    /// local queue fetched in batches, and completions batched.
    GraphileBatched,
    /// pgqueuer's queue manager, dequeuing 64 jobs per query.
    Pgqueuer,
}

impl Peer {
    const ALL: [Peer; 3] = [Peer::Graphile, Peer::GraphileBatched, Peer::Pgqueuer];

    fn title(self, installed: &Installed) -> String {
        match self {
            Peer::Graphile => format!("graphile-worker {}", installed.graphile_version),
            Peer::GraphileBatched => {
                format!("graphile-worker {}, batched", installed.graphile_version)
            }
            Peer::Pgqueuer => format!(
                "pgqueuer {}, batch {}",
                installed.pgqueuer_version,
                process::PGQUEUER_BATCH
            ),
        }
    }

    /// Batching changes how graphile-worker runs jobs, not how they are
    /// added, so the batched column's submissions are the plain column's.
    fn measures(self, measurement: Measurement) -> bool {
        self != Peer::GraphileBatched || matches!(measurement, Measurement::Drain(_))
    }
}

/// Installs the peers, measures them in `setup.rounds` rounds and prints
/// the table with `ferry` as its first column.
pub async fn run(args: &PeerArgs, setup: &Setup, ferry: Column) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.peers_processes.iter().all(|p| *p > 0),
        "--peers-processes must list positive counts"
    );
    let n = args.peers_n.unwrap_or(setup.n);
    anyhow::ensure!(n > 0, "--peers-n must be positive");
    let dir = args.peers_dir.clone().unwrap_or_else(default_dir);
    let installed = install::install(&dir).await?;
    println!(
        "peers: {}, {}; n={n} per measurement, {} rounds, drains by {:?} processes of {} jobs in flight and {} connections each",
        installed.graphile_describe,
        installed.pgqueuer_describe,
        setup.rounds,
        args.peers_processes,
        setup.concurrency,
        setup.connections,
    );

    let mut measurements = vec![Measurement::SubmitSingle, Measurement::SubmitBulk];
    measurements.extend(args.peers_processes.iter().map(|p| Measurement::Drain(*p)));
    let mut columns: Vec<Column> = Peer::ALL
        .iter()
        .map(|peer| Column::new(peer.title(&installed)))
        .collect();
    for round in 0..setup.rounds {
        for &measurement in &measurements {
            for k in 0..Peer::ALL.len() {
                let i = (k + round) % Peer::ALL.len();
                let peer = Peer::ALL[i];
                if !peer.measures(measurement) {
                    continue;
                }
                let script = Script::new(peer, &installed, setup);
                let label = measurement.label(setup.clients, n);
                match measure(&script, measurement, setup, n).await {
                    Ok((rate, note)) => {
                        println!(
                            "  round {}, {}: {label}: {} jobs/s{note}",
                            round + 1,
                            columns[i].title,
                            stats::rate(rate)
                        );
                        columns[i].push(measurement, rate);
                    }
                    Err(err) => {
                        println!(
                            "  round {}, {}: {label}: FAILED: {}",
                            round + 1,
                            columns[i].title,
                            err.to_string().lines().next().unwrap_or_default()
                        );
                        eprintln!("{err:?}");
                        columns[i].fail(measurement);
                    }
                }
            }
        }
    }
    // Peer::ALL lists plain graphile-worker first and batched second.
    let plain = columns[0].title.clone();
    for measurement in [Measurement::SubmitSingle, Measurement::SubmitBulk] {
        columns[1]
            .cells
            .insert(measurement, Cell::AsIn(plain.clone()));
    }

    let mut all = vec![ferry];
    all.extend(columns);
    if n != setup.n {
        println!(
            "(ferry's figures are for n={}, the peers' for n={n})",
            setup.n
        );
    }
    println!(
        "jobs/s, median of {} rounds (lowest-highest); drains from the first job's start to the last job's finish:",
        setup.rounds
    );
    print!("{}", table(&all, &measurements, setup.clients, n));
    Ok(())
}

/// One measurement of one peer on a fresh database, which is dropped again
/// afterwards; returns jobs/s and a remark for the round's line.
async fn measure(
    script: &Script,
    measurement: Measurement,
    setup: &Setup,
    n: usize,
) -> anyhow::Result<(f64, String)> {
    let db = setup.server.create().await?;
    let url = db.url();
    let (mode, processes) = match measurement {
        Measurement::SubmitSingle => ("submit-single", 0),
        Measurement::SubmitBulk => ("submit-bulk", 0),
        Measurement::Drain(processes) => ("drain", processes),
    };
    if processes == 0 {
        let rate = script
            .submit(mode, url, n, setup.clients, setup.timeout)
            .await?;
        return Ok((rate, String::new()));
    }
    let drained = script.drain(url, n, processes, setup.timeout).await?;
    let note = format!(
        " (until the table was seen empty: {})",
        stats::rate(drained.rate_to_empty)
    );
    Ok((drained.rate, note))
}

/// A Markdown table, padded so that it also reads well as plain text.
fn table(columns: &[Column], measurements: &[Measurement], clients: usize, n: usize) -> String {
    let mut rows: Vec<Vec<String>> = vec![
        std::iter::once("jobs/s".to_owned())
            .chain(columns.iter().map(|c| c.title.clone()))
            .collect(),
    ];
    for &measurement in measurements {
        rows.push(
            std::iter::once(measurement.label(clients, n))
                .chain(columns.iter().map(|c| c.render(measurement)))
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut out = line(&rows[0]);
    out.push_str(&line(&rule));
    for row in &rows[1..] {
        out.push_str(&line(row));
    }
    out
}

/// `target/bench-peers` of the checkout this benchmark was built from.
fn default_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .unwrap_or(manifest)
        .join("target")
        .join("bench-peers")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_render_rates_and_gaps() {
        let mut column = Column::new("ferry");
        column.set_rates(Measurement::SubmitSingle, vec![1200.0, 1318.0, 1400.0]);
        column.push(Measurement::Drain(1), 10.0);
        column.fail(Measurement::Drain(2));
        column.push(Measurement::Drain(2), 10.0);
        assert_eq!(column.render(Measurement::SubmitSingle), "1318 (1200-1400)");
        assert_eq!(column.render(Measurement::SubmitBulk), "not measured");
        assert_eq!(column.render(Measurement::Drain(1)), "10.0");
        assert_eq!(column.render(Measurement::Drain(2)), "FAILED");
        assert_eq!(column.render(Measurement::Drain(4)), "not measured");
    }

    #[test]
    fn table_is_padded_markdown() {
        let mut column = Column::new("q");
        column.set_rates(Measurement::Drain(2), vec![5.0]);
        let text = table(&[column], &[Measurement::Drain(2)], 16, 10);
        let expected = [
            "| jobs/s                    | q   |",
            "| ------------------------- | --- |",
            "| drain, 2 worker processes | 5.0 |",
        ];
        assert_eq!(text, format!("{}\n", expected.join("\n")));
    }
}
