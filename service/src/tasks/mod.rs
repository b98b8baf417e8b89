//! The `tasks` table: the user-visible record of every durable task, and the
//! state transitions the runner and the API make on it.

pub mod policy;
pub mod queue;
pub mod submit;

mod wait;

use chrono::{DateTime, SubsecRound, Utc};
use ferry_entity::{
    ClusterId, FailureKind, TaskKind, TaskStatus,
    payload::{ConfigChange, Payload},
    task::{Column, Entity, Model},
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
    sea_query::{Expr, SimpleExpr},
};
use serde_json::Value;

pub use wait::{Waited, wait};

/// Who asked for a task: the token's name and the request's id, kept on the
/// task row and its audit entry.
#[derive(Debug, Clone)]
pub struct Requester {
    pub created_by: String,
    pub request_id: Option<String>,
    /// The caller's project, which then owns what the request records.
    pub project_id: Option<String>,
}

/// What a caller asks for when submitting a task.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub kind: TaskKind,
    pub cluster_id: Option<ClusterId>,
    pub subject: Option<String>,
    pub payload: Value,
    /// The kind's own limit ([`policy::of`]) when `None`.
    pub max_attempts: Option<i32>,
    pub created_by: String,
    pub request_id: Option<String>,
    pub project_id: Option<String>,
}

impl NewTask {
    /// A task of `kind` with a typed payload.
    pub fn new<P: Payload>(kind: TaskKind, payload: &P, who: &Requester) -> NewTask {
        debug_assert!(
            P::KINDS.contains(&kind),
            "{} does not carry this payload",
            kind.as_str()
        );
        NewTask {
            kind,
            cluster_id: None,
            subject: None,
            payload: payload.to_json(),
            max_attempts: None,
            created_by: who.created_by.clone(),
            request_id: who.request_id.clone(),
            project_id: who.project_id.clone(),
        }
    }

    pub fn on_cluster(mut self, cluster_id: ClusterId) -> NewTask {
        self.cluster_id = Some(cluster_id);
        self
    }

    pub fn about(mut self, subject: impl Into<String>) -> NewTask {
        self.subject = Some(subject.into());
        self
    }

    /// The row as it is recorded: pending, no attempt yet.
    pub fn into_model(self) -> Model {
        // PostgreSQL keeps microseconds; truncating here makes the task a
        // caller gets back on submission equal to the one it reads later.
        let now = Utc::now().trunc_subsecs(6);
        Model {
            id: uuid::Uuid::now_v7().to_string(),
            kind: self.kind,
            cluster_id: self.cluster_id,
            subject: self.subject,
            status: TaskStatus::Pending,
            attempts: 0,
            max_attempts: self
                .max_attempts
                .unwrap_or(policy::of(self.kind).max_attempts),
            last_error: None,
            failure: None,
            payload: self.payload,
            result: None,
            created_by: self.created_by,
            request_id: self.request_id,
            project_id: self.project_id,
            job_key: None,
            worker: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
        }
    }
}

/// A task's payload as callers may see it: sealed config values masked.
pub fn shown_payload(task: &Model) -> Value {
    match task.payload::<ConfigChange>() {
        Ok(change) => serde_json::to_value(change.shown()).unwrap_or_default(),
        Err(_) => task.payload.clone(),
    }
}

/// Filters of `GET /api/v1/tasks`.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub cluster_id: Option<ClusterId>,
    pub kind: Option<TaskKind>,
    pub status: Option<TaskStatus>,
    pub subject: Option<String>,
    /// Only this project's tasks (a project token's view).
    pub project_id: Option<String>,
    /// Only tasks created at or after this instant (the console's "last
    /// hour").
    pub created_since: Option<DateTime<Utc>>,
    /// Only the tasks one call created (its `X-Request-Id`).
    pub request_id: Option<String>,
}

/// Tasks still to finish: pending or running. Callers refuse a second task
/// on the same subject while one is in progress.
pub fn in_progress() -> SimpleExpr {
    Column::Status.is_in([TaskStatus::Pending, TaskStatus::Running])
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id.to_owned()).one(db).await
}

/// The tasks of `ids` that exist, in no particular order, read in
/// statements of 1,000 ids (a bound value each).
pub async fn get_many(db: &impl ConnectionTrait, ids: &[String]) -> Result<Vec<Model>, DbErr> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        found.extend(
            Entity::find()
                .filter(Column::Id.is_in(chunk.to_vec()))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// One page of tasks, newest first, and the total matching the filter.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &TaskFilter,
    page: u64,
    page_size: u64,
) -> Result<(Vec<Model>, u64), DbErr> {
    let mut query = Entity::find();
    if let Some(v) = filter.cluster_id {
        query = query.filter(Column::ClusterId.eq(v));
    }
    if let Some(v) = filter.kind {
        query = query.filter(Column::Kind.eq(v));
    }
    if let Some(v) = filter.status {
        query = query.filter(Column::Status.eq(v));
    }
    if let Some(v) = &filter.subject {
        query = query.filter(Column::Subject.eq(v.clone()));
    }
    if let Some(v) = &filter.project_id {
        query = query.filter(Column::ProjectId.eq(v.clone()));
    }
    if let Some(v) = filter.created_since {
        query = query.filter(Column::CreatedAt.gte(v));
    }
    if let Some(v) = &filter.request_id {
        query = query.filter(Column::RequestId.eq(v.clone()));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .offset(page.saturating_sub(1).saturating_mul(page_size))
        .limit(page_size)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Marks a task awaited (migration 21), so that the worker that finishes it
/// announces its success to every process (`wakeups`), and returns the row
/// as it is now; `None` when there is no such task. The column is not the
/// entity's, so this is raw SQL; no index names it, so the update is
/// heap-only.
pub async fn mark_awaited(db: &impl ConnectionTrait, id: &str) -> Result<Option<Model>, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "UPDATE tasks SET awaited = true WHERE id = $1 RETURNING *",
        _ => "UPDATE tasks SET awaited = true WHERE id = ? RETURNING *",
    };
    Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, [id.into()]))
        .one(db)
        .await
}

/// Marks many tasks succeeded, each with its own result, in one statement
/// per [`SUCCEED_ROWS`] tasks: a batch's outcome write then holds SQLite's
/// write lock for one statement instead of a hundred. Returns the ids of
/// those marked awaited ([`mark_awaited`]), whose success the other
/// processes must hear of; on SQLite, where one process both waits and
/// runs, none.
pub async fn succeed_many(
    db: &impl ConnectionTrait,
    mut results: Vec<(String, Value)>,
) -> Result<Vec<String>, DbErr> {
    let now = Utc::now();
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    let mut awaited = Vec::new();
    while !results.is_empty() {
        let chunk: Vec<(String, Value)> =
            results.drain(..SUCCEED_ROWS.min(results.len())).collect();
        if postgres {
            awaited.extend(succeed_from_document(db, &chunk, now).await?);
            continue;
        }
        let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
        let mut rows = chunk.into_iter();
        let Some((first_id, first_result)) = rows.next() else {
            break;
        };
        let mut result = Expr::case(Column::Id.eq(first_id), Expr::value(first_result));
        for (id, value) in rows {
            result = result.case(Column::Id.eq(id), Expr::value(value));
        }
        Entity::update_many()
            .col_expr(Column::Status, Expr::value(TaskStatus::Succeeded))
            .col_expr(Column::FinishedAt, Expr::value(now))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .col_expr(Column::Result, result.into())
            .filter(Column::Id.is_in(ids))
            .filter(unfinished())
            .exec(db)
            .await?;
    }
    Ok(awaited)
}

/// [`succeed_many`] on PostgreSQL: the ids and results travel as one JSON
/// document, so that every group is the same statement, prepared once,
/// and each row finds its result by a join rather than by a `CASE` of
/// every id in the group (docs/BENCHMARKS.md, session 20). The ids are
/// also named as `= ANY(ARRAY(...))`, which keeps the plan to lookups by
/// primary key: joined to the document alone, a young `tasks` table of a
/// few thousand rows was read whole for each group (a hash join). Returns
/// the ids of the rows marked awaited.
async fn succeed_from_document(
    db: &impl ConnectionTrait,
    chunk: &[(String, Value)],
    now: DateTime<Utc>,
) -> Result<Vec<String>, DbErr> {
    /// One element of the document, serialised straight from the
    /// outcomes rather than built as a JSON tree first.
    #[derive(serde::Serialize)]
    struct Done<'a> {
        id: &'a str,
        result: &'a Value,
    }
    let document: Vec<Done<'_>> = chunk
        .iter()
        .map(|(id, result)| Done { id, result })
        .collect();
    let document = serde_json::to_string(&document)
        .map_err(|err| DbErr::Custom(format!("encoding the outcomes: {err}")))?;
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "WITH finished AS (UPDATE tasks SET status = 'succeeded', finished_at = $1, \
           updated_at = $1, result = done.result \
         FROM json_to_recordset($2::json) AS done(id text, result json) \
         WHERE tasks.id = done.id \
           AND tasks.id = ANY(ARRAY(SELECT k.id FROM json_to_recordset($2::json) AS k(id text))) \
           AND tasks.status NOT IN ('succeeded', 'failed', 'cancelled') \
         RETURNING tasks.id, tasks.awaited) \
         SELECT id FROM finished WHERE awaited",
        [now.into(), document.into()],
    );
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "id"))
        .collect()
}

/// Tasks per statement of [`succeed_many`]: on SQLite three bound values
/// each, well under its limit; on PostgreSQL a document of bounded size.
const SUCCEED_ROWS: usize = 200;

/// Marks a task failed, with why (`failure`) and what happened (`error`).
pub async fn fail(
    db: &impl ConnectionTrait,
    id: &str,
    failure: FailureKind,
    error: &str,
) -> Result<(), DbErr> {
    let now = Utc::now();
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(TaskStatus::Failed))
        .col_expr(Column::FinishedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .col_expr(Column::Failure, Expr::value(failure))
        .col_expr(Column::LastError, Expr::value(error))
        .filter(Column::Id.eq(id))
        .filter(unfinished())
        .exec(db)
        .await?;
    Ok(())
}

/// Rows not yet in a final state: an outcome never overwrites another (a
/// cancelled task stays cancelled).
fn unfinished() -> SimpleExpr {
    Column::Status.is_not_in([
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ])
}

/// Records a running task's progress in its result, which the task's
/// outcome later replaces: a long job (a reassignment) shows how far it got.
pub async fn report_progress(
    db: &impl ConnectionTrait,
    id: &str,
    progress: &serde_json::Value,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::Result, Expr::value(progress.clone()))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(TaskStatus::Running))
        .exec(db)
        .await?;
    Ok(())
}

/// Cancels a task that has not started. Returns the row as it is afterwards,
/// or `None` when there is no such task.
pub async fn cancel(
    db: &impl ConnectionTrait,
    id: &str,
    which: Cancellable,
) -> Result<Option<(bool, Model)>, DbErr> {
    let now = Utc::now();
    let update = Entity::update_many()
        .col_expr(Column::Status, Expr::value(TaskStatus::Cancelled))
        .col_expr(Column::Failure, Expr::value(FailureKind::Cancelled))
        .col_expr(Column::FinishedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id));
    let update = match which {
        Cancellable::NotStarted => update
            .filter(Column::Status.eq(TaskStatus::Pending))
            .filter(Column::Attempts.eq(0)),
        // Changefeed operations leave a changefeed half-changed when cut
        // short; they end by themselves (or fail) instead.
        Cancellable::Unfinished => update.filter(in_progress()).filter(Column::Kind.is_not_in(
            <TaskKind as sea_orm::Iterable>::iter().filter(|k| k.is_changefeed_operation()),
        )),
    };
    let res = update.exec(db).await?;
    Ok(get(db, id).await?.map(|m| (res.rows_affected == 1, m)))
}

/// Which tasks a caller may cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancellable {
    /// Only tasks no attempt has started.
    NotStarted,
    /// Started ones too (global admins): a running attempt stops at its
    /// job's next step, when the runner sees the task cancelled. Changefeed
    /// operations never.
    Unfinished,
}

/// Whether the task has been cancelled (while it ran).
pub async fn is_cancelled(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    Ok(Entity::find_by_id(id.to_owned())
        .select_only()
        .column(Column::Status)
        .into_tuple::<TaskStatus>()
        .one(db)
        .await?
        .is_some_and(|s| s == TaskStatus::Cancelled))
}

#[derive(Debug, FromQueryResult)]
pub struct KindStatusCount {
    pub kind: TaskKind,
    pub status: TaskStatus,
    pub count: i64,
}

/// Tasks by kind and status, for `/metrics`.
pub async fn counts(db: &impl ConnectionTrait) -> Result<Vec<KindStatusCount>, DbErr> {
    Entity::find()
        .select_only()
        .column(Column::Kind)
        .column(Column::Status)
        .column_as(Column::Id.count(), "count")
        .group_by(Column::Kind)
        .group_by(Column::Status)
        .into_model::<KindStatusCount>()
        .all(db)
        .await
}

pub use ferry_entity::task::Model as Task;
