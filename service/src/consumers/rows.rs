//! The `consumer_instances` rows. Every write of an owner is conditional on
//! `owner = this process`, and a claim on the owner the claimer saw, so a
//! process that lost an instance can never take it back from a newer owner.

use ferry_entity::consumer_instance::{self, Column, Entity as Instances, Subscription};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, SqlErr,
    sea_query::Expr,
};

use super::{ConsumerError, Key, NewInstance, instance::now_ms};
use crate::store::Store;

pub async fn insert(
    store: &Store,
    new: &NewInstance,
    me: &str,
    url: &str,
) -> Result<i64, ConsumerError> {
    let now = now_ms();
    let row = consumer_instance::ActiveModel {
        cluster_id: Set(new.key.cluster),
        group_name: Set(new.key.group.clone()),
        name: Set(new.key.name.clone()),
        format: Set(new.format),
        settings: Set(new.settings.clone()),
        subscription: Set(None),
        owner: Set(Some(me.to_owned())),
        owner_url: Set(Some(url.to_owned())),
        lease_until_ms: Set(Some(now + super::LEASE.as_millis() as i64)),
        last_used_ms: Set(now),
        created_ms: Set(now),
        ..Default::default()
    };
    match Instances::insert(row).exec(&store.db).await {
        Ok(done) => Ok(done.last_insert_id),
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(ConsumerError::Exists)
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn find(store: &Store, key: &Key) -> Result<Option<consumer_instance::Model>, DbErr> {
    Instances::find()
        .filter(Column::ClusterId.eq(key.cluster))
        .filter(Column::GroupName.eq(key.group.as_str()))
        .filter(Column::Name.eq(key.name.as_str()))
        .one(&store.db)
        .await
}

/// Takes the row over from the owner it had when read; false when another
/// process changed the owner first.
pub async fn claim(
    store: &Store,
    seen: &consumer_instance::Model,
    me: &str,
    url: &str,
) -> Result<bool, DbErr> {
    let now = now_ms();
    let same_owner = match &seen.owner {
        Some(owner) => Column::Owner.eq(owner.as_str()),
        None => Column::Owner.is_null(),
    };
    let res = Instances::update_many()
        .col_expr(Column::Owner, Expr::value(me))
        .col_expr(Column::OwnerUrl, Expr::value(url))
        .col_expr(
            Column::LeaseUntilMs,
            Expr::value(now + super::LEASE.as_millis() as i64),
        )
        .col_expr(Column::LastUsedMs, Expr::value(now))
        .filter(Column::Id.eq(seen.id))
        .filter(same_owner)
        .exec(&store.db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Extends this process's lease; false when it was lost or the row removed.
pub async fn renew(
    store: &Store,
    id: i64,
    me: &str,
    until_ms: i64,
    last_used_ms: i64,
) -> Result<bool, DbErr> {
    let res = Instances::update_many()
        .col_expr(Column::LeaseUntilMs, Expr::value(until_ms))
        .col_expr(Column::LastUsedMs, Expr::value(last_used_ms))
        .filter(Column::Id.eq(id))
        .filter(Column::Owner.eq(me))
        .exec(&store.db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn save_subscription(
    store: &Store,
    id: i64,
    me: &str,
    subscription: Option<Subscription>,
) -> Result<(), DbErr> {
    Instances::update_many()
        .col_expr(
            Column::Subscription,
            Expr::value(
                subscription.map(|s| serde_json::to_value(s).expect("a subscription serialises")),
            ),
        )
        .filter(Column::Id.eq(id))
        .filter(Column::Owner.eq(me))
        .exec(&store.db)
        .await?;
    Ok(())
}

/// Gives the row up at shutdown, keeping the instance for the next owner.
pub async fn release(store: &Store, id: i64, me: &str) -> Result<(), DbErr> {
    Instances::update_many()
        .col_expr(Column::Owner, Expr::value(Option::<String>::None))
        .col_expr(Column::OwnerUrl, Expr::value(Option::<String>::None))
        .col_expr(Column::LeaseUntilMs, Expr::value(Option::<i64>::None))
        .filter(Column::Id.eq(id))
        .filter(Column::Owner.eq(me))
        .exec(&store.db)
        .await?;
    Ok(())
}

pub async fn delete(store: &Store, id: i64) -> Result<(), DbErr> {
    Instances::delete_by_id(id).exec(&store.db).await?;
    Ok(())
}

pub async fn delete_owned(store: &Store, id: i64, me: &str) -> Result<(), DbErr> {
    Instances::delete_many()
        .filter(Column::Id.eq(id))
        .filter(Column::Owner.eq(me))
        .exec(&store.db)
        .await?;
    Ok(())
}

/// Removes instances no live process holds that sat idle past `timeout_ms`.
pub async fn delete_abandoned(store: &Store, now: i64, timeout_ms: i64) -> Result<(), DbErr> {
    Instances::delete_many()
        .filter(
            Condition::any()
                .add(Column::Owner.is_null())
                .add(Column::LeaseUntilMs.lt(now)),
        )
        .filter(Column::LastUsedMs.lt(now - timeout_ms))
        .exec(&store.db)
        .await?;
    Ok(())
}
