//! The `stat_samplers` rows: which worker samples which cluster. As with
//! changefeeds (`replication/lease.rs`), every write of the holder is
//! conditional on `owner = this worker`, so a worker that lost its lease
//! can never take it back from a newer owner.

use chrono::Utc;
use ferry_entity::{
    stat_name, stat_sample,
    stat_sampler::{self, Entity as Samplers},
};
use sea_orm::{ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, sea_query::Expr};

use ferry_service::store::Store;

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn unowned_or_expired(now: i64) -> Condition {
    Condition::any()
        .add(stat_sampler::Column::Owner.is_null())
        .add(stat_sampler::Column::LeaseUntilMs.lt(now))
}

/// Makes sure every registered Kafka cluster has a row, and removes the
/// row, the samples and the names of clusters no longer registered.
pub async fn sync(store: &Store, clusters: &[i64], interval_seconds: i64) -> Result<(), DbErr> {
    if !clusters.is_empty() {
        let rows = clusters.iter().map(|id| stat_sampler::ActiveModel {
            cluster_id: sea_orm::Set(*id),
            owner: sea_orm::Set(None),
            lease_until_ms: sea_orm::Set(None),
            interval_seconds: sea_orm::Set(interval_seconds),
            last_sample_ms: sea_orm::Set(None),
            last_duration_ms: sea_orm::Set(None),
            last_cpu_ms: sea_orm::Set(None),
            last_error: sea_orm::Set(None),
        });
        Samplers::insert_many(rows)
            .on_conflict_do_nothing_on([stat_sampler::Column::ClusterId])
            .exec_without_returning(&store.db)
            .await?;
    }
    let removed: Vec<i64> = Samplers::find()
        .filter(stat_sampler::Column::ClusterId.is_not_in(clusters.iter().copied()))
        .all(&store.db)
        .await?
        .into_iter()
        .map(|s| s.cluster_id)
        .collect();
    for cluster in removed {
        stat_sample::Entity::delete_many()
            .filter(stat_sample::Column::ClusterId.eq(cluster))
            .exec(&store.db)
            .await?;
        stat_name::Entity::delete_many()
            .filter(stat_name::Column::ClusterId.eq(cluster))
            .exec(&store.db)
            .await?;
        Samplers::delete_by_id(cluster).exec(&store.db).await?;
    }
    Ok(())
}

/// Clusters that nobody samples (no owner, or an expired lease).
pub async fn claimable(store: &Store) -> Result<Vec<i64>, DbErr> {
    Ok(Samplers::find()
        .filter(unowned_or_expired(now_ms()))
        .all(&store.db)
        .await?
        .into_iter()
        .map(|s| s.cluster_id)
        .collect())
}

/// Takes the lease if nobody holds it; true when this worker now owns it.
pub async fn acquire(
    store: &Store,
    cluster: i64,
    me: &str,
    lease_ms: i64,
    interval_seconds: i64,
) -> Result<bool, DbErr> {
    let now = now_ms();
    let res = Samplers::update_many()
        .col_expr(stat_sampler::Column::Owner, Expr::value(me))
        .col_expr(
            stat_sampler::Column::LeaseUntilMs,
            Expr::value(now + lease_ms),
        )
        .col_expr(
            stat_sampler::Column::IntervalSeconds,
            Expr::value(interval_seconds),
        )
        .filter(stat_sampler::Column::ClusterId.eq(cluster))
        .filter(unowned_or_expired(now))
        .exec(&store.db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Extends the lease; false when it was lost (or the cluster removed).
pub async fn renew(store: &Store, cluster: i64, me: &str, lease_ms: i64) -> Result<bool, DbErr> {
    let res = Samplers::update_many()
        .col_expr(
            stat_sampler::Column::LeaseUntilMs,
            Expr::value(now_ms() + lease_ms),
        )
        .filter(stat_sampler::Column::ClusterId.eq(cluster))
        .filter(stat_sampler::Column::Owner.eq(me))
        .exec(&store.db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Gives the lease up, so that another worker samples at once.
pub async fn release(store: &Store, cluster: i64, me: &str) -> Result<(), DbErr> {
    Samplers::update_many()
        .col_expr(
            stat_sampler::Column::Owner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            stat_sampler::Column::LeaseUntilMs,
            Expr::value(Option::<i64>::None),
        )
        .filter(stat_sampler::Column::ClusterId.eq(cluster))
        .filter(stat_sampler::Column::Owner.eq(me))
        .exec(&store.db)
        .await?;
    Ok(())
}

/// How a sample went.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When it was taken, epoch milliseconds.
    pub at_ms: i64,
    /// Its wall time.
    pub duration_ms: i64,
    /// The process CPU time it took.
    pub cpu_ms: i64,
    /// Why it failed.
    pub error: Option<String>,
}

/// Records how a sample went: when, how long it took, and why it failed.
pub async fn record(store: &Store, cluster: i64, me: &str, outcome: Outcome) -> Result<(), DbErr> {
    let mut update = Samplers::update_many()
        .col_expr(
            stat_sampler::Column::LastDurationMs,
            Expr::value(outcome.duration_ms),
        )
        .col_expr(stat_sampler::Column::LastCpuMs, Expr::value(outcome.cpu_ms))
        .col_expr(
            stat_sampler::Column::LastError,
            Expr::value(outcome.error.clone()),
        );
    if outcome.error.is_none() {
        update = update.col_expr(
            stat_sampler::Column::LastSampleMs,
            Expr::value(outcome.at_ms),
        );
    }
    update
        .filter(stat_sampler::Column::ClusterId.eq(cluster))
        .filter(stat_sampler::Column::Owner.eq(me))
        .exec(&store.db)
        .await?;
    Ok(())
}
