//! Where the CPU went during a drain: the worker processes' and PostgreSQL's
//! CPU time over the same wall time, read from Linux's `/proc`. On a machine
//! whose CPUs are all busy, more worker processes cannot drain faster, and
//! these figures show whether that, or the database, is the limit.

use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`, 100 on
/// every Linux this runs on).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time used so far by the given processes and by every `postgres`
/// process, at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    at: Instant,
    workers: f64,
    postgres: f64,
}

impl Snapshot {
    pub fn take(worker_pids: &[i32]) -> Snapshot {
        let workers = worker_pids.iter().map(|pid| cpu_seconds(*pid)).sum();
        let postgres = postgres_pids().into_iter().map(cpu_seconds).sum();
        Snapshot {
            at: Instant::now(),
            workers,
            postgres,
        }
    }

    /// What was used between `self` and `later`.
    pub fn until(&self, later: &Snapshot) -> CpuUse {
        CpuUse {
            wall: later.at.duration_since(self.at),
            workers: (later.workers - self.workers).max(0.0),
            postgres: (later.postgres - self.postgres).max(0.0),
        }
    }
}

/// CPU seconds used over a wall time.
#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    pub wall: Duration,
    pub workers: f64,
    pub postgres: f64,
}

impl CpuUse {
    /// `workers 1.2 s, postgres 2.1 s of 2.0 s wall x 2 CPUs (83% busy)`
    pub fn describe(&self) -> String {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let wall = self.wall.as_secs_f64().max(1e-9);
        format!(
            "workers {:.1} s, postgres {:.1} s of {:.1} s wall x {cpus} CPUs ({:.0}% of the machine)",
            self.workers,
            self.postgres,
            wall,
            100.0 * (self.workers + self.postgres) / (wall * cpus)
        )
    }
}

/// User plus system CPU seconds of one process, 0 when it is gone.
fn cpu_seconds(pid: i32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name (field 2) is in parentheses and may hold spaces;
    // fields 14 and 15 (utime, stime) count from after it.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // `rest` starts at field 3, so field n is at index n - 3.
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / TICKS_PER_SECOND,
        _ => 0.0,
    }
}

/// Every process whose command is `postgres`: the server and its backends.
fn postgres_pids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .collect()
}
