//! Statistics over time: every worker runs a [`Samplers`], which samples the
//! registered Kafka clusters whose lease it holds (one worker per cluster,
//! `lease.rs`), stores each sample (`ferry_service::stats`), rolls it up
//! into the coarser tiers and prunes what aged out.
//!
//! Each tick (a third of `stats.lease_seconds`) the supervisor renews its
//! leases, stops the samplers of clusters it lost or that were removed, and
//! claims the clusters nobody samples. A sampler samples at every multiple
//! of `stats.interval_seconds`; one that overruns its interval counts the
//! samples it missed in `ferry_stats_samples_missed_total`, and `/metrics`
//! shows every cluster's sample age and duration from the database.
//!
//! Errors, the metadata store's included, are logged and the next tick or
//! interval tries again: a store outage pauses sampling and stops nothing.
//! Should another worker take a cluster over meanwhile, this one's renewal
//! fails once the store is back and its sampler stops.

mod collect;
mod lease;
mod record_size;
mod sampler;

use std::{collections::HashMap, sync::Arc, time::Duration};

use ferry_entity::ClusterKind;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use ferry_service::{
    clusters, error::ServiceError, kafka::KafkaClients, settings::StatsSettings, store::Store,
};

struct Running {
    stop: CancellationToken,
    handle: JoinHandle<()>,
}

pub struct Samplers {
    store: Store,
    me: String,
    settings: StatsSettings,
    kafka: KafkaClients,
    running: std::sync::Mutex<HashMap<i64, Running>>,
}

impl Samplers {
    pub fn new(
        store: Store,
        me: String,
        settings: StatsSettings,
        kafka: KafkaClients,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            me,
            settings,
            kafka,
            running: Default::default(),
        })
    }

    fn lease_ms(&self) -> i64 {
        (self.settings.lease_seconds.max(3) * 1000) as i64
    }

    fn interval_seconds(&self) -> i64 {
        self.settings.interval().as_secs() as i64
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ticks until `shutdown`, then stops every sampler and releases leases.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let tick = Duration::from_millis(self.lease_ms() as u64 / 3);
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = interval.tick() => {}
            }
            if let Err(err) = self.tick().await {
                tracing::warn!(error = %err.detail(), "statistics supervisor tick failed; retrying at the next");
            }
        }
        let all: Vec<(i64, Running)> = self.running().drain().collect();
        for (_, r) in &all {
            r.stop.cancel();
        }
        for (cluster, r) in all {
            let _ = tokio::time::timeout(Duration::from_secs(10), r.handle).await;
            let _ = lease::release(&self.store, cluster, &self.me).await;
        }
    }

    async fn tick(self: &Arc<Self>) -> Result<(), ServiceError> {
        let store_err = |e: sea_orm::DbErr| ServiceError::unavailable("statistics leases", e);
        let registered: Vec<i64> = clusters::list(&self.store, Some(ClusterKind::Kafka))
            .await?
            .into_iter()
            .map(|c| c.id.0)
            .collect();
        lease::sync(&self.store, &registered, self.interval_seconds())
            .await
            .map_err(store_err)?;
        self.running().retain(|_, r| !r.handle.is_finished());
        let owned: Vec<i64> = self.running().keys().copied().collect();
        for cluster in owned {
            match lease::renew(&self.store, cluster, &self.me, self.lease_ms()).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(cluster, "statistics lease lost; sampler stops");
                    if let Some(r) = self.running().remove(&cluster) {
                        r.stop.cancel();
                    }
                }
                // The sampler goes on: its writes fail while the store is
                // down, and the renewal after the outage decides.
                Err(err) => {
                    tracing::warn!(cluster, error = %err, "renewing the statistics lease failed")
                }
            }
        }
        for cluster in lease::claimable(&self.store).await.map_err(store_err)? {
            if self.running().contains_key(&cluster) {
                continue;
            }
            let acquired = lease::acquire(
                &self.store,
                cluster,
                &self.me,
                self.lease_ms(),
                self.interval_seconds(),
            )
            .await
            .map_err(store_err)?;
            if acquired {
                tracing::info!(cluster, "statistics lease acquired; sampling the cluster");
                let stop = CancellationToken::new();
                let sampler = sampler::Sampler::new(
                    self.store.clone(),
                    self.me.clone(),
                    self.kafka.clone(),
                    cluster,
                    self.settings.interval(),
                );
                let handle = tokio::spawn(sampler.run(stop.clone()));
                self.running().insert(cluster, Running { stop, handle });
            }
        }
        Ok(())
    }
}
