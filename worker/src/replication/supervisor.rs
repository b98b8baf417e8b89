//! Runs changefeeds on this worker. Every tick it renews the leases it holds,
//! stops the changefeeds that should no longer run here, and claims
//! changefeeds that should run and that no live worker holds. Each claimed
//! changefeed gets a task that runs the engine from the last checkpoint,
//! persists its progress, and on errors retries with backoff (state Error)
//! until it gives up (state Failed).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::Utc;
use ferry_entity::{
    Desired,
    changefeed::{Model, StoredColumnError},
};
use tokio::{
    sync::{Notify, mpsc},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use super::{
    engine::{self, Fence, Progress, ReplicationError, ReplicationSpec, StartFrom},
    lease,
};
use ferry_service::{changefeeds, error::ErrorKind, settings::ChangefeedSettings, store::Store};

struct Running {
    stop: CancellationToken,
    handle: JoinHandle<()>,
    /// Moved forward at each renewal; the engine stops writing once it
    /// passes (see `fence`).
    fence: Fence,
}

/// Wakes this process's supervisor before its next tick. A changefeed job
/// that changed what a changefeed should do calls [`wake`], so that the
/// change takes effect here at once instead of up to a tick (a second)
/// later; supervisors in other processes still see it on their own tick.
/// `notify_one` keeps a permit when the supervisor is in the middle of a
/// tick, so a change made during a tick is seen by the next one.
static WAKE: Notify = Notify::const_new();

/// See [`WAKE`].
pub fn wake() {
    WAKE.notify_one();
}

pub struct Supervisor {
    store: Store,
    me: String,
    settings: ChangefeedSettings,
    running: Mutex<HashMap<String, Running>>,
}

impl Supervisor {
    pub fn new(store: Store, me: String, settings: ChangefeedSettings) -> Arc<Self> {
        Arc::new(Self {
            store,
            me,
            settings,
            running: Mutex::default(),
        })
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.settings.lease_seconds as i64)
    }

    fn lease_time(&self) -> Duration {
        Duration::from_secs(self.settings.lease_seconds)
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ticks until `shutdown`, then stops every engine and releases leases.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        // A third of the lease leaves two renewals of slack before another
        // worker may take over.
        let tick = Duration::from_millis((self.settings.lease_seconds * 1000 / 3).clamp(200, 1000));
        let mut interval = tokio::time::interval(tick);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = interval.tick() => {}
                () = WAKE.notified() => {}
            }
            if let Err(err) = self.tick().await {
                tracing::warn!(error = %err, "changefeed supervisor tick failed");
            }
        }
        let all: Vec<Running> = self.running().drain().map(|(_, r)| r).collect();
        for r in &all {
            r.stop.cancel();
        }
        for r in all {
            let _ = tokio::time::timeout(Duration::from_secs(10), r.handle).await;
        }
    }

    async fn tick(self: &Arc<Self>) -> Result<(), sea_orm::DbErr> {
        self.running().retain(|_, r| !r.handle.is_finished());
        let owned: Vec<String> = self.running().keys().cloned().collect();
        for id in owned {
            // Read before the renewal is sent, so that the fence it moves
            // ends no later than the `lease_until` the renewal writes.
            let at = tokio::time::Instant::now();
            // A failed renewal does not stop the tick: the other leases are
            // renewed still, and this engine's fence stops it in time if the
            // renewals keep failing.
            let keep = match self.renew(&id).await {
                Ok(keep) => keep,
                Err(err) => {
                    tracing::warn!(changefeed = %id, error = %err, "renewing the changefeed lease failed; its engine stops writing at the fence unless a renewal succeeds");
                    continue;
                }
            };
            if let Some(r) = self.running().get(&id) {
                if keep {
                    r.fence.renewed(at);
                } else {
                    r.stop.cancel();
                }
            }
        }
        let room = self
            .settings
            .max_per_worker
            .saturating_sub(self.running().len());
        if room == 0 {
            return Ok(());
        }
        for id in lease::claimable(&self.store, room as u64).await? {
            if self.running().contains_key(&id) {
                continue;
            }
            let at = tokio::time::Instant::now();
            if lease::acquire(&self.store, &id, &self.me, self.lease()).await? {
                tracing::info!(changefeed = %id, "changefeed lease acquired");
                let stop = CancellationToken::new();
                let fence = Fence::new(at, self.lease_time());
                let handle =
                    tokio::spawn(self.clone().own(id.clone(), stop.clone(), fence.clone()));
                self.running().insert(
                    id,
                    Running {
                        stop,
                        handle,
                        fence,
                    },
                );
            }
        }
        Ok(())
    }

    /// Renews the lease of `id`; true while this worker holds it and the
    /// changefeed should run.
    async fn renew(&self, id: &str) -> Result<bool, sea_orm::DbErr> {
        Ok(lease::renew(&self.store, id, &self.me, self.lease()).await?
            && lease::current(&self.store, id)
                .await?
                .is_some_and(|m| m.desired == Desired::Running))
    }

    /// Runs one changefeed while this worker owns it.
    async fn own(self: Arc<Self>, id: String, stop: CancellationToken, fence: Fence) {
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_secs(1))
            .with_max_delay(Duration::from_secs(60))
            .without_max_times()
            .with_jitter()
            .build();
        while !stop.is_cancelled() {
            if !fence.holds() {
                tracing::warn!(changefeed = %id, "changefeed lease not renewed in time; giving it up");
                break;
            }
            let outcome = self.run_engine(&id, &stop, &fence).await;
            match outcome {
                Ok(()) => break,
                Err(ReplicationError::Fenced) => {
                    // Another worker may hold the lease by now; the release
                    // below changes nothing then, since it is conditional on
                    // this worker being the owner.
                    tracing::warn!(changefeed = %id, "changefeed lease not renewed in time; engine stopped writing, giving the lease up");
                    break;
                }
                Err(ReplicationError::Fatal(reason)) => {
                    tracing::error!(changefeed = %id, error = %reason, "changefeed failed");
                    let _ = lease::mark_failed(&self.store, &id, &self.me, &reason).await;
                    break;
                }
                Err(ReplicationError::Retryable(reason)) => {
                    tracing::warn!(changefeed = %id, error = %reason, "changefeed error; retrying");
                    match lease::mark_error(&self.store, &id, &self.me, &reason).await {
                        Ok(since)
                            if Utc::now() - since
                                > chrono::Duration::seconds(
                                    self.settings.failed_after_seconds as i64,
                                ) =>
                        {
                            let reason = format!(
                                "failing for more than {} s; last error: {reason}",
                                self.settings.failed_after_seconds
                            );
                            let _ = lease::mark_failed(&self.store, &id, &self.me, &reason).await;
                            break;
                        }
                        _ => {}
                    }
                    let pause = backoff.next().unwrap_or(Duration::from_secs(60));
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
        if let Err(err) = lease::release(&self.store, &id, &self.me).await {
            tracing::warn!(changefeed = %id, error = %err, "releasing the changefeed lease failed; it expires by itself");
        }
        tracing::info!(changefeed = %id, "changefeed released");
    }

    async fn run_engine(
        &self,
        id: &str,
        stop: &CancellationToken,
        fence: &Fence,
    ) -> Result<(), ReplicationError> {
        let store_err =
            |e: sea_orm::DbErr| ReplicationError::Retryable(format!("metadata store error: {e}"));
        let Some(model) = lease::current(&self.store, id).await.map_err(store_err)? else {
            return Ok(());
        };
        if model.desired != Desired::Running {
            return Ok(());
        }
        let spec = spec_of(&self.store, &model).await?;
        let start = match model.checkpoint().map_err(fatal)? {
            Some(cp) => StartFrom::Checkpoint(cp),
            None if model.start_ts > 0 => StartFrom::Tso(model.start_ts as u64),
            None => StartFrom::Now,
        };
        let (tx, mut rx) = mpsc::channel::<Progress>(64);
        let engine_stop = stop.child_token();
        let mut engine = tokio::spawn(engine::run(
            spec,
            start,
            tx,
            engine_stop.clone(),
            fence.clone(),
        ));
        // Running this long without an error counts as healthy again.
        let healthy_after = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(healthy_after);
        let mut marked_healthy = false;
        let mut rows_seen = 0;
        loop {
            tokio::select! {
                result = &mut engine => {
                    // Persist whatever progress arrived before the engine ended.
                    while let Ok(p) = rx.try_recv() {
                        self.persist(id, &p, &mut rows_seen, &engine_stop).await;
                    }
                    return result.unwrap_or_else(|e| Err(ReplicationError::Retryable(format!("engine task ended abnormally: {e}"))));
                }
                Some(p) = rx.recv() => {
                    self.persist(id, &p, &mut rows_seen, &engine_stop).await;
                    if !marked_healthy {
                        marked_healthy = true;
                        let _ = lease::mark_healthy(&self.store, id, &self.me).await;
                    }
                }
                _ = &mut healthy_after, if !marked_healthy => {
                    marked_healthy = true;
                    let _ = lease::mark_healthy(&self.store, id, &self.me).await;
                }
            }
        }
    }

    async fn persist(
        &self,
        id: &str,
        p: &Progress,
        rows_seen: &mut u64,
        engine_stop: &CancellationToken,
    ) {
        match lease::record_progress(&self.store, id, &self.me, p).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(changefeed = %id, "changefeed lease lost; stopping its engine");
                engine_stop.cancel();
            }
            Err(err) => {
                tracing::warn!(changefeed = %id, error = %err, "persisting changefeed progress failed")
            }
        }
        // The lag gauge is the API's, computed from the stored progress at
        // each scrape (`ops.rs`), so that it holds whichever worker runs it.
        metrics::counter!("ferry_changefeed_rows_total", "changefeed" => id.to_owned())
            .increment(p.rows_applied.saturating_sub(*rows_seen));
        *rows_seen = p.rows_applied;
    }
}

/// A stored column that does not parse fails the changefeed with the reason:
/// running it on a default (no rules read as "every table") would fail open.
fn fatal(err: StoredColumnError) -> ReplicationError {
    ReplicationError::Fatal(err.to_string())
}

async fn spec_of(store: &Store, model: &Model) -> Result<ReplicationSpec, ReplicationError> {
    let (upstream, downstream) = changefeeds::endpoints(store, model)
        .await
        .map_err(|e| match e.kind() {
            // The store or a secret may come back; a removed cluster or an
            // invalid stored downstream will not.
            ErrorKind::Unavailable | ErrorKind::Busy => ReplicationError::Retryable(e.detail()),
            _ => ReplicationError::Fatal(e.message().to_owned()),
        })?;
    let rules = model.rules().map_err(fatal)?;
    let options = model.options().map_err(fatal)?;
    Ok(ReplicationSpec {
        changefeed_id: model.id.clone(),
        upstream,
        downstream,
        rules,
        worker_count: options.worker_count.max(1),
        max_txn_rows: options.max_txn_row.max(1),
        server_id: model.server_id as u32,
    })
}
