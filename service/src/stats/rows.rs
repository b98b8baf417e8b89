//! The statistics tables: interned names, sample rows in their tiers, and
//! the samplers' state, read by the API and written by the workers'
//! samplers.

use std::collections::HashMap;

use ferry_entity::{
    ClusterId,
    stat_name::{self, Entity as Names},
    stat_sample::{self, DetailFormat, Entity as Samples, SampleDetail, Tier},
    stat_sampler::{self, Entity as Samplers},
};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};

use crate::{error::ServiceError, store::Store};

/// Rows written per INSERT: under SQLite's and PostgreSQL's limits on bound
/// values (9 columns per row).
const ROWS_PER_INSERT: usize = 500;

fn unavailable(doing: &'static str) -> impl Fn(DbErr) -> ServiceError {
    move |e| ServiceError::unavailable(doing, e)
}

/// One topic's figures at one sample.
#[derive(Debug, Clone)]
pub struct TopicSample {
    pub topic_id: i64,
    pub messages: i64,
    pub produced: i64,
    pub record_bytes: Option<f64>,
    pub detail: SampleDetail,
}

/// How a cluster's sampling goes, for `/metrics`.
#[derive(Debug, Clone)]
pub struct SamplerState {
    pub cluster_id: ClusterId,
    pub owner: Option<String>,
    pub interval_seconds: i64,
    pub last_sample_ms: Option<i64>,
    pub last_duration_ms: Option<i64>,
    pub last_cpu_ms: Option<i64>,
    pub last_error: Option<String>,
}

/// The ids of names of a cluster, interning the ones not seen before.
pub async fn intern(
    store: &Store,
    cluster: ClusterId,
    names: &[String],
) -> Result<HashMap<String, i64>, ServiceError> {
    let mut ids = HashMap::with_capacity(names.len());
    for chunk in names.chunks(ROWS_PER_INSERT) {
        let rows = chunk.iter().map(|name| stat_name::ActiveModel {
            id: sea_orm::NotSet,
            cluster_id: sea_orm::Set(cluster.0),
            name: sea_orm::Set(name.clone()),
        });
        Names::insert_many(rows)
            .on_conflict_do_nothing_on([stat_name::Column::ClusterId, stat_name::Column::Name])
            .exec_without_returning(&store.db)
            .await
            .map_err(unavailable("interning statistics names"))?;
        let found = Names::find()
            .filter(stat_name::Column::ClusterId.eq(cluster.0))
            .filter(stat_name::Column::Name.is_in(chunk.iter().cloned()))
            .all(&store.db)
            .await
            .map_err(unavailable("reading statistics names"))?;
        ids.extend(found.into_iter().map(|n| (n.name, n.id)));
    }
    Ok(ids)
}

pub(super) async fn name_id(
    store: &Store,
    cluster: ClusterId,
    name: &str,
) -> Result<Option<i64>, ServiceError> {
    Ok(Names::find()
        .filter(stat_name::Column::ClusterId.eq(cluster.0))
        .filter(stat_name::Column::Name.eq(name))
        .one(&store.db)
        .await
        .map_err(unavailable("reading statistics names"))?
        .map(|n| n.id))
}

pub(super) async fn names_of(
    store: &Store,
    ids: &[i64],
) -> Result<HashMap<i64, String>, ServiceError> {
    let mut unique = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let mut names = HashMap::with_capacity(unique.len());
    for chunk in unique.chunks(ROWS_PER_INSERT) {
        let found = Names::find()
            .filter(stat_name::Column::Id.is_in(chunk.iter().copied()))
            .all(&store.db)
            .await
            .map_err(unavailable("reading statistics names"))?;
        names.extend(found.into_iter().map(|n| (n.id, n.name)));
    }
    Ok(names)
}

/// The samples of one topic and tier taken in `from..=to` (epoch seconds),
/// oldest first.
pub(super) async fn read(
    store: &Store,
    cluster: ClusterId,
    topic_id: i64,
    tier: Tier,
    from: i64,
    to: i64,
) -> Result<Vec<stat_sample::Model>, ServiceError> {
    Samples::find()
        .filter(stat_sample::Column::ClusterId.eq(cluster.0))
        .filter(stat_sample::Column::TopicId.eq(topic_id))
        .filter(stat_sample::Column::Tier.eq(tier))
        .filter(stat_sample::Column::Ts.between(from, to))
        .order_by_asc(stat_sample::Column::Ts)
        .all(&store.db)
        .await
        .map_err(unavailable("reading statistics"))
}

/// The step of a cluster's raw samples: its sampler's interval (60 s when
/// it was never sampled).
pub async fn step_of_raw(store: &Store, cluster: ClusterId) -> Result<i64, ServiceError> {
    Ok(Samplers::find_by_id(cluster.0)
        .one(&store.db)
        .await
        .map_err(unavailable("reading statistics"))?
        .map_or(60, |s| s.interval_seconds.max(1)))
}

/// The rows of one tier that a sample writes: the new sample's raw rows,
/// or the previous sample's copied into a coarser tier.
#[derive(Debug, Clone, Copy)]
pub struct TierRows<'a> {
    pub tier: Tier,
    /// When the sample was taken, epoch seconds.
    pub ts: i64,
    pub rows: &'a [TopicSample],
}

/// Stores what one sample of a cluster writes, every tier of it in one
/// transaction (one commit, one fsync on SQLite, however many tiers). A
/// row already there (the same topic, tier and second) is kept: writing a
/// sample twice changes nothing. `detail` is written in
/// `DetailFormat::CURRENT`.
pub async fn record_topic_samples(
    store: &Store,
    cluster: ClusterId,
    writes: &[TierRows<'_>],
) -> Result<(), ServiceError> {
    let txn = store
        .db
        .begin()
        .await
        .map_err(unavailable("storing statistics"))?;
    for write in writes {
        for chunk in write.rows.chunks(ROWS_PER_INSERT) {
            let rows = chunk.iter().map(|s| stat_sample::ActiveModel {
                cluster_id: sea_orm::Set(cluster.0),
                topic_id: sea_orm::Set(s.topic_id),
                tier: sea_orm::Set(write.tier),
                ts: sea_orm::Set(write.ts),
                messages: sea_orm::Set(s.messages),
                produced: sea_orm::Set(s.produced),
                record_bytes: sea_orm::Set(s.record_bytes),
                detail: sea_orm::Set(s.detail.encode()),
                detail_format: sea_orm::Set(DetailFormat::CURRENT),
            });
            Samples::insert_many(rows)
                .on_conflict_do_nothing_on([
                    stat_sample::Column::ClusterId,
                    stat_sample::Column::TopicId,
                    stat_sample::Column::Tier,
                    stat_sample::Column::Ts,
                ])
                .exec_without_returning(&txn)
                .await
                .map_err(unavailable("storing statistics"))?;
        }
    }
    txn.commit()
        .await
        .map_err(unavailable("storing statistics"))
}

/// Deletes the samples of a cluster's topics older than their tier keeps
/// them. The topics are named so that the deletes seek the primary key
/// (cluster, topic, tier, ts) rather than scan the cluster's rows.
pub async fn prune(
    store: &Store,
    cluster: ClusterId,
    topic_ids: &[i64],
    now: i64,
) -> Result<u64, ServiceError> {
    let txn = store
        .db
        .begin()
        .await
        .map_err(unavailable("pruning statistics"))?;
    let mut deleted = 0;
    for chunk in topic_ids.chunks(ROWS_PER_INSERT) {
        for tier in [Tier::Raw, Tier::TenMinutes, Tier::Hour] {
            deleted += Samples::delete_many()
                .filter(stat_sample::Column::ClusterId.eq(cluster.0))
                .filter(stat_sample::Column::TopicId.is_in(chunk.iter().copied()))
                .filter(stat_sample::Column::Tier.eq(tier))
                .filter(stat_sample::Column::Ts.lt(now - tier.retention_seconds()))
                .exec(&txn)
                .await
                .map_err(unavailable("pruning statistics"))?
                .rows_affected;
        }
    }
    txn.commit()
        .await
        .map_err(unavailable("pruning statistics"))?;
    Ok(deleted)
}

/// Every sampled cluster's sampler state.
pub async fn samplers(store: &Store) -> Result<Vec<SamplerState>, ServiceError> {
    Ok(Samplers::find()
        .order_by_asc(stat_sampler::Column::ClusterId)
        .all(&store.db)
        .await
        .map_err(unavailable("reading statistics samplers"))?
        .into_iter()
        .map(|s| SamplerState {
            cluster_id: ClusterId(s.cluster_id),
            owner: s.owner,
            interval_seconds: s.interval_seconds,
            last_sample_ms: s.last_sample_ms,
            last_duration_ms: s.last_duration_ms,
            last_cpu_ms: s.last_cpu_ms,
            last_error: s.last_error,
        })
        .collect())
}
