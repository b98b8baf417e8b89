//! What ferry keeps about a topic beside Kafka (`topic_notes`): a
//! description and when ferry created and last changed the topic. Kafka stays
//! the truth of which topics exist: a note without its topic is ignored by
//! readers and removed when the topic is deleted through ferry.

use std::collections::HashMap;

use chrono::Utc;
use ferry_entity::{
    ClusterId,
    topic_note::{self, ActiveModel, Entity as Notes, Model},
};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::OnConflict};

use crate::{
    error::{ErrorKind, ServiceError},
    store::Store,
};

/// The longest description kept (EasyQueue allows 255 characters).
pub const MAX_DESCRIPTION: usize = 255;

/// Records or replaces the topic's description; `created_at` is kept when
/// the note exists.
pub async fn upsert(
    store: &Store,
    cluster_id: ClusterId,
    name: &str,
    description: &str,
) -> Result<Model, ServiceError> {
    let now = Utc::now();
    Notes::insert(ActiveModel {
        cluster_id: Set(cluster_id),
        name: Set(name.to_owned()),
        description: Set(description.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([topic_note::Column::ClusterId, topic_note::Column::Name])
            .update_columns([
                topic_note::Column::Description,
                topic_note::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec(&store.db)
    .await?;
    get(store, cluster_id, name).await?.ok_or_else(|| {
        ServiceError::new(
            ErrorKind::Unavailable,
            "the topic note vanished after it was written",
        )
    })
}

pub async fn get(
    store: &Store,
    cluster_id: ClusterId,
    name: &str,
) -> Result<Option<Model>, ServiceError> {
    Ok(Notes::find_by_id((cluster_id, name.to_owned()))
        .one(&store.db)
        .await?)
}

/// Every note of the cluster, by topic name.
pub async fn of_cluster(
    store: &Store,
    cluster_id: ClusterId,
) -> Result<HashMap<String, Model>, ServiceError> {
    Ok(Notes::find()
        .filter(topic_note::Column::ClusterId.eq(cluster_id))
        .all(&store.db)
        .await?
        .into_iter()
        .map(|n| (n.name.clone(), n))
        .collect())
}

pub async fn remove(store: &Store, cluster_id: ClusterId, name: &str) -> Result<(), ServiceError> {
    Notes::delete_by_id((cluster_id, name.to_owned()))
        .exec(&store.db)
        .await?;
    Ok(())
}
