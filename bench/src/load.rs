//! A closed-loop load generator: `concurrency` clients, each sending its next
//! operation as soon as the previous one answered, until `n` operations have
//! been made. The ferry path and its raw baseline are driven by the same
//! generator so that they see the same offered load.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use crate::stats::{Latencies, per_second};

/// What one closed-loop run measured.
#[derive(Debug, Clone)]
pub struct Sample {
    pub count: usize,
    pub elapsed: Duration,
    pub latencies: Latencies,
}

impl Sample {
    pub fn per_second(&self) -> f64 {
        per_second(self.count, self.elapsed)
    }
}

/// Runs `op(i)` for every `i` in `0..n` from `concurrency` clients and times
/// each call. The first error stops the run and is returned.
pub async fn closed_loop<F, Fut>(n: usize, concurrency: usize, op: F) -> anyhow::Result<Sample>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    // Each client is its own tokio task so that clients run on every runtime
    // thread, as independent callers would.
    let clients: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let op = op.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(n / concurrency.max(1) + 1);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok::<_, anyhow::Error>(latencies);
                    }
                    let t = Instant::now();
                    op(i).await?;
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    let mut first_error = None;
    for client in clients {
        match client.await? {
            Ok(latencies) => all.extend(latencies),
            Err(err) => {
                // Make the other clients stop taking new operations.
                next.store(n, Ordering::Relaxed);
                first_error.get_or_insert(err);
            }
        }
    }
    if let Some(err) = first_error {
        return Err(err);
    }
    Ok(Sample {
        count: all.len(),
        elapsed: started.elapsed(),
        latencies: Latencies::new(all),
    })
}
