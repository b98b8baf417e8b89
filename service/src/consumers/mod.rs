//! REST Proxy v2 consumer instances that any `ferry-api` process can serve.
//!
//! An instance is a row in `consumer_instances` (its group, name, format,
//! settings and subscription) and, in exactly one process at a time, a live
//! Kafka consumer (`instance.rs`). The process holding it owns the row's
//! lease (`owner`, `owner_url`, `lease_until_ms`) and renews it every
//! `LEASE / 3`. A call reaching another process is forwarded to the owner
//! (the API's `middleware::consumer_owner`); when the owner cannot be
//! reached or its lease ran out, the process that got the call takes the
//! instance over: it claims the row (a write conditional on the owner it
//! saw, so two processes never both win) and starts a consumer with the
//! row's settings and subscription, which resumes from the group's
//! committed offsets. Records an owner returned but nobody committed are
//! read again: delivery is at least once, as with any Kafka consumer that
//! fails over.
//!
//! At a clean shutdown a process closes its consumers and clears their
//! owner, so that the next call's process takes them at once. An instance
//! idle for `confluent.consumer_instance_timeout_ms` is closed and removed
//! by its owner; one whose owner is gone is removed by any process.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use ferry_entity::{
    ClusterId,
    consumer_instance::{self, ConsumerFormat, ConsumerSettings, Subscription, TopicPartition},
};

use crate::{
    kafka::KafkaCluster, kafka::admin::AdminError, settings::ConfluentSettings, store::Store,
};

pub mod instance;
mod rows;

pub use instance::{Committed, ConsumedRecord, Instance, SeekTo};

use instance::now_ms;

/// How long an owner's claim on an instance lasts without renewal: a
/// process that stopped answering loses its instances this long after its
/// last renewal.
pub const LEASE: Duration = Duration::from_secs(30);

/// The request header a forwarded call carries: the owner id the
/// forwarding process expected to reach. A process that is not that owner
/// (the owner restarted under the same address) takes the instance over
/// instead of forwarding again, so a call is forwarded at most once.
pub const FORWARDED_TO: &str = "ferry-forwarded-to";

/// An instance's name: unique within its group on its cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub cluster: ClusterId,
    pub group: String,
    pub name: String,
}

/// Why a consumer call failed; the API renders each with the REST Proxy's
/// code.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// `40403`.
    #[error("consumer instance not found")]
    NotFound,
    /// `40902`.
    #[error("a consumer instance with the specified name already exists")]
    Exists,
    /// `42204`.
    #[error("invalid consumer configuration: {0}")]
    InvalidConfig(String),
    /// `40903`.
    #[error(
        "subscription to topics, partitions and pattern are mutually exclusive: unsubscribe first"
    )]
    Exclusive,
    /// `40402`: a seek names a partition the instance does not read.
    #[error("partition {} of topic {} is not assigned to this consumer instance", .0.partition, .0.topic)]
    NotAssigned(TopicPartition),
    /// Another process took the instance over while this one was claiming
    /// it; the call may be retried.
    #[error("the consumer instance moved to another ferry process; retry the call")]
    Moved,
    #[error("{0}")]
    Kafka(#[from] AdminError),
    #[error("the metadata store failed: {0}")]
    Store(#[from] sea_orm::DbErr),
}

/// Where an instance is served.
pub enum Location {
    /// By this process.
    Local(Arc<Instance>),
    /// By another live process, at `url`.
    Remote {
        owner: String,
        url: String,
    },
    /// By nobody, or by a process whose lease ran out: whoever gets the
    /// call takes it over.
    Unowned,
    Absent,
}

/// A new instance, as a create call describes it.
pub struct NewInstance {
    pub key: Key,
    pub format: ConsumerFormat,
    pub settings: ConsumerSettings,
}

/// This process's instances and its identity as their owner.
pub struct Consumers {
    /// This process's owner id, new at every start.
    me: String,
    /// Where other processes reach this one: set once the API listens.
    url: OnceLock<String>,
    local: Mutex<HashMap<Key, Arc<Instance>>>,
    settings: ConfluentSettings,
}

impl Consumers {
    pub fn new(settings: &ConfluentSettings) -> Self {
        Self {
            me: uuid::Uuid::new_v4().to_string(),
            url: OnceLock::new(),
            local: Mutex::default(),
            settings: settings.clone(),
        }
    }

    /// Records where other processes reach this one (`api.advertised_url`,
    /// else the bound address).
    pub fn set_url(&self, url: String) {
        let _ = self.url.set(url.trim_end_matches('/').to_owned());
    }

    pub fn owner_id(&self) -> &str {
        &self.me
    }

    pub fn settings(&self) -> &ConfluentSettings {
        &self.settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Instance>>> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long an instance's consumer may go without a read before it
    /// leaves its group: as long as the instance lives, and never less than
    /// Kafka's default (librdkafka refuses less than the session timeout).
    fn max_poll_interval(&self) -> Duration {
        (Duration::from_millis(self.settings.consumer_instance_timeout_ms) + LEASE)
            .max(Duration::from_secs(300))
    }

    /// Creates an instance held by this process.
    pub async fn create(
        &self,
        store: &Store,
        cluster: &KafkaCluster,
        new: NewInstance,
    ) -> Result<Arc<Instance>, ConsumerError> {
        let url = self.url.get().cloned().unwrap_or_default();
        let row_id = rows::insert(store, &new, &self.me, &url).await?;
        let started = Instance::start(
            new.key.clone(),
            row_id,
            new.format,
            new.settings,
            cluster.client_settings(),
            None,
            self.max_poll_interval(),
        )
        .await;
        match started {
            Ok(instance) => {
                self.lock().insert(new.key, instance.clone());
                Ok(instance)
            }
            Err(err) => {
                rows::delete(store, row_id).await?;
                Err(err)
            }
        }
    }

    /// Where `key` is served.
    pub async fn locate(&self, store: &Store, key: &Key) -> Result<Location, ConsumerError> {
        if let Some(instance) = self.lock().get(key) {
            return Ok(Location::Local(instance.clone()));
        }
        Ok(match rows::find(store, key).await? {
            None => Location::Absent,
            Some(row) => match (&row.owner, &row.owner_url, row.lease_until_ms) {
                (Some(owner), Some(url), Some(until))
                    if owner != &self.me && until > now_ms() && !url.is_empty() =>
                {
                    Location::Remote {
                        owner: owner.clone(),
                        url: url.clone(),
                    }
                }
                _ => Location::Unowned,
            },
        })
    }

    /// The instance, served here: this process's, or taken over from the
    /// process that held it (the caller decided it cannot be reached, or
    /// the call was forwarded here).
    pub async fn instance(
        &self,
        store: &Store,
        cluster: &KafkaCluster,
        key: &Key,
    ) -> Result<Arc<Instance>, ConsumerError> {
        if let Some(instance) = self.lock().get(key) {
            instance.touch();
            return Ok(instance.clone());
        }
        let row = rows::find(store, key)
            .await?
            .ok_or(ConsumerError::NotFound)?;
        let url = self.url.get().cloned().unwrap_or_default();
        if !rows::claim(store, &row, &self.me, &url).await? {
            // A concurrent call of this process may have won the claim.
            return self.lock().get(key).cloned().ok_or(ConsumerError::Moved);
        }
        tracing::info!(
            group = %key.group,
            instance = %key.name,
            from = row.owner.as_deref().unwrap_or("nobody"),
            "took a consumer instance over"
        );
        let instance = Instance::start(
            key.clone(),
            row.id,
            row.format,
            row.settings.clone(),
            cluster.client_settings(),
            row.subscription.clone(),
            self.max_poll_interval(),
        )
        .await?;
        // A concurrent call may have taken it over first in this process;
        // the consumer started here is then closed, off the async threads.
        let kept = self
            .lock()
            .entry(key.clone())
            .or_insert_with(|| instance.clone())
            .clone();
        if !Arc::ptr_eq(&kept, &instance) {
            instance.close().await;
        }
        Ok(kept)
    }

    /// Makes `instance` read `subscription` (nothing: unsubscribe) and
    /// records it, so that a process that takes the instance over reads
    /// the same.
    pub async fn follow(
        &self,
        store: &Store,
        instance: &Instance,
        subscription: Option<Subscription>,
    ) -> Result<(), ConsumerError> {
        match &subscription {
            Some(wanted) => instance.read(wanted.clone()).await?,
            None => instance.unsubscribe().await?,
        }
        rows::save_subscription(store, instance.row_id, &self.me, subscription).await?;
        Ok(())
    }

    /// Removes an instance: closes its consumer when this process holds it,
    /// and deletes its row.
    pub async fn delete(&self, store: &Store, key: &Key) -> Result<(), ConsumerError> {
        let local = self.lock().remove(key);
        if let Some(instance) = local {
            instance.close().await;
            rows::delete(store, instance.row_id).await?;
            return Ok(());
        }
        let row = rows::find(store, key)
            .await?
            .ok_or(ConsumerError::NotFound)?;
        rows::delete(store, row.id).await?;
        Ok(())
    }

    /// Renews the leases of this process's instances, closes those that
    /// lost their lease or sat idle past the timeout, and removes rows no
    /// live process holds that sat idle as long. Runs until `stop`.
    pub async fn upkeep(&self, store: &Store, mut stop: tokio::sync::watch::Receiver<bool>) {
        let period = Duration::from_millis(
            (self.settings.consumer_instance_timeout_ms / 4)
                .clamp(200, LEASE.as_millis() as u64 / 3),
        );
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            if let Err(err) = self.upkeep_once(store).await {
                tracing::warn!(%err, "consumer instance upkeep failed; retrying");
            }
        }
    }

    async fn upkeep_once(&self, store: &Store) -> Result<(), ConsumerError> {
        let timeout = self.settings.consumer_instance_timeout_ms as i64;
        let now = now_ms();
        let instances: Vec<Arc<Instance>> = self.lock().values().cloned().collect();
        for instance in instances {
            let idle = now - instance.last_used_ms() >= timeout;
            let kept = !idle
                && rows::renew(
                    store,
                    instance.row_id,
                    &self.me,
                    now + LEASE.as_millis() as i64,
                    instance.last_used_ms(),
                )
                .await?;
            if kept {
                continue;
            }
            self.lock().remove(&instance.key);
            instance.close().await;
            if idle {
                tracing::info!(group = %instance.key.group, instance = %instance.key.name, "consumer instance expired");
                rows::delete_owned(store, instance.row_id, &self.me).await?;
            } else {
                tracing::info!(group = %instance.key.group, instance = %instance.key.name, "consumer instance taken over by another process");
            }
        }
        rows::delete_abandoned(store, now, timeout).await?;
        Ok(())
    }

    /// Closes every instance this process holds and clears their owner, so
    /// that the next call's process takes them over at once.
    pub async fn release_all(&self, store: &Store) {
        let instances: Vec<Arc<Instance>> = self.lock().drain().map(|(_, i)| i).collect();
        for instance in instances {
            instance.close().await;
            if let Err(err) = rows::release(store, instance.row_id, &self.me).await {
                tracing::warn!(%err, "could not release a consumer instance");
            }
        }
    }

    /// How many instances this process holds.
    pub fn held(&self) -> usize {
        self.lock().len()
    }
}

pub use consumer_instance::Model as InstanceRow;
