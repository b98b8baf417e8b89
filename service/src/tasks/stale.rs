//! The stale-task sweep's reads: pending tasks that no attempt has
//! started, walked by creation time from a cursor (the worker's
//! `sweep_stale_pending` keeps it).

use chrono::{DateTime, Utc};
use ferry_entity::{
    TaskStatus,
    task::{Column, Entity, Model},
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

/// Where the stale-task sweep has read up to: every task created before
/// this point, in (creation time, id) order, has been looked at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepCursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

impl SweepCursor {
    /// Every task created before `at`.
    pub fn before(at: DateTime<Utc>) -> SweepCursor {
        SweepCursor {
            created_at: at,
            id: String::new(),
        }
    }

    /// Every task up to `task`, inclusive.
    pub fn at(task: &Model) -> SweepCursor {
        SweepCursor {
            created_at: task.created_at,
            id: task.id.clone(),
        }
    }
}

/// Pending tasks that no attempt has started, created after `after` and
/// before `before`, oldest first: candidates for re-enqueueing in case their
/// job was lost. The walk goes by `idx_tasks_created`, and the cursor keeps
/// each sweep to the tasks created since the last one: no index names the
/// status (migration 18), so without it every sweep would read the whole
/// history.
pub async fn stale_pending(
    db: &impl ConnectionTrait,
    after: Option<&SweepCursor>,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::Status.eq(TaskStatus::Pending))
        .filter(Column::Attempts.eq(0))
        .filter(Column::CreatedAt.lt(before));
    if let Some(after) = after {
        query = query.filter(
            Condition::any()
                .add(Column::CreatedAt.gt(after.created_at))
                .add(
                    Condition::all()
                        .add(Column::CreatedAt.eq(after.created_at))
                        .add(Column::Id.gt(after.id.clone())),
                ),
        );
    }
    query
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(db)
        .await
}
