//! ferry's task queue: which tasks wait for an attempt (`task_queue`, a row
//! per batch key with the time it may start) and which worker processes are
//! alive to run them (`task_workers`, a heartbeat each). Migration 19.
//!
//! A task's batch key (`tasks.job_key`) is its own id, or, for kinds that
//! run together (topic creation, a bulk list), the first id of its
//! request's batch: the tasks of one key are claimed and run as one job. A
//! key enters the queue with its tasks' submission (in the same statement
//! or transaction), and again when an attempt of one of them fails and will
//! be retried (with the outcome, due after the backoff) or when the worker
//! running them is lost. A [`claim`] takes a page of due keys out of the
//! queue and starts the attempts of their pending tasks in the same
//! statement, so that no two workers ever start one attempt. The `tasks`
//! rows stay the record of everything else.

use chrono::{DateTime, Utc};
use ferry_entity::{
    TaskStatus,
    task::{Column, Entity, Model},
    task_queue, task_worker,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    Statement, TransactionTrait,
    sea_query::{Expr, ExprTrait, Func, InsertStatement, OnConflict, Query},
};

/// The batch key of `task`: its recorded `job_key`, or, for a task from
/// before batch keys, its own id.
pub fn job_key(task: &Model) -> &str {
    task.job_key.as_deref().unwrap_or(&task.id)
}

/// The queue rows of newly recorded tasks (already keyed, `submit`): one
/// per batch key, due at its first task's creation. An INSERT to run
/// beside the tasks' own; `None` when there are no tasks.
pub fn enqueue(tasks: &[Model]) -> Option<InsertStatement> {
    queue_rows(keys_of(tasks))
}

/// The batch keys of newly recorded tasks (keyed in runs, `submit`), each
/// with its first task's creation as its due time.
pub fn keys_of(tasks: &[Model]) -> Vec<(String, DateTime<Utc>)> {
    let mut keys: Vec<(String, DateTime<Utc>)> = Vec::new();
    for task in tasks {
        let key = job_key(task);
        if keys.last().is_none_or(|(last, _)| last != key) {
            keys.push((key.to_owned(), task.created_at));
        }
    }
    keys
}

fn queue_rows(rows: impl IntoIterator<Item = (String, DateTime<Utc>)>) -> Option<InsertStatement> {
    let mut insert = Query::insert()
        .into_table(task_queue::Entity)
        .columns([task_queue::Column::JobKey, task_queue::Column::RunAt])
        .to_owned();
    let mut any = false;
    for (key, run_at) in rows {
        insert.values_panic([key.into(), run_at.into()]);
        any = true;
    }
    // A key already queued keeps the earlier due time: a retry's backoff
    // never delays tasks of its batch that were due sooner.
    insert.on_conflict(
        OnConflict::column(task_queue::Column::JobKey)
            .do_nothing()
            .to_owned(),
    );
    any.then_some(insert)
}

/// Queues the keys of `tasks` again, due at `run_at` (a retry after its
/// backoff, a lost worker's tasks at once).
async fn requeue(
    db: &impl ConnectionTrait,
    tasks: &[Model],
    run_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut keys: Vec<String> = tasks.iter().map(|t| job_key(t).to_owned()).collect();
    keys.sort_unstable();
    keys.dedup();
    for chunk in keys.chunks(500) {
        if let Some(insert) = queue_rows(chunk.iter().map(|k| (k.clone(), run_at))) {
            db.execute(&insert).await?;
        }
    }
    Ok(())
}

/// Takes up to `limit` due batch keys out of the queue, oldest due first,
/// and starts the next attempt of their pending tasks on `worker`:
/// running, one more attempt, this worker's. Returns the tasks so started,
/// in submission order. A key whose tasks are no longer pending (cancelled
/// while they waited) leaves the queue and starts nothing.
///
/// On PostgreSQL this is one statement: the page is read with `FOR UPDATE
/// SKIP LOCKED`, so that workers claiming together take different rows,
/// deleted by row address, and the tasks of the keys the delete returned
/// updated (heap-only updates: no index of `tasks` names what a claim
/// writes, I23). On SQLite a transaction does the same in two statements
/// under the database's one write lock.
pub async fn claim(db: &DatabaseConnection, worker: &str, limit: u64) -> Result<Vec<Model>, DbErr> {
    let now = Utc::now();
    let backend = db.get_database_backend();
    let mut claimed = if backend == DbBackend::Postgres {
        // `= ANY(ARRAY(...))` makes each side a lookup of the keys the page
        // holds. Written as a join or `IN (SELECT ...)`, PostgreSQL hashed
        // the whole queue and scanned `tasks` for pending rows whenever its
        // statistics still showed few of them (no autovacuum between a
        // burst and the drain): 5-17 ms a claim. The page's queue rows are
        // deleted by their row address (`ctid`), which they keep while this
        // statement holds them locked: no second lookup through the queue's
        // key (0.43 ms a page of 64 through the key, 0.12 by address). The
        // limit is written into the text, so that PostgreSQL keeps one
        // generic plan per page size: given as a parameter, it planned the
        // statement again at every call, the plan being cheaper with the
        // limit known (0.17 ms a claim). A worker claims at most its
        // concurrency, so the texts are that many at most.
        let sql = format!(
            "WITH due AS (DELETE FROM task_queue WHERE ctid = ANY(ARRAY(\
               SELECT ctid FROM task_queue WHERE run_at <= $1 \
               ORDER BY run_at LIMIT {limit} FOR UPDATE SKIP LOCKED)) RETURNING job_key) \
             UPDATE tasks SET status = 'running', attempts = tasks.attempts + 1, \
               started_at = COALESCE(tasks.started_at, $1), worker = $2, updated_at = $1 \
             WHERE tasks.job_key = ANY(ARRAY(SELECT job_key FROM due)) \
               AND tasks.status = 'pending' \
             RETURNING tasks.*"
        );
        let statement = Statement::from_sql_and_values(backend, sql, [now.into(), worker.into()]);
        Entity::find().from_raw_sql(statement).all(db).await?
    } else {
        let txn = db.begin().await?;
        let due = Statement::from_sql_and_values(
            backend,
            "DELETE FROM task_queue WHERE job_key IN (SELECT job_key FROM task_queue \
             WHERE run_at <= ? ORDER BY run_at LIMIT ?) RETURNING job_key",
            [now.into(), (limit as i64).into()],
        );
        let keys: Vec<String> = txn
            .query_all_raw(due)
            .await?
            .iter()
            .map(|row| row.try_get::<String>("", "job_key"))
            .collect::<Result<_, _>>()?;
        let rows = if keys.is_empty() {
            Vec::new()
        } else {
            start_attempts(worker, now)
                .filter(Column::JobKey.is_in(keys))
                .filter(Column::Status.eq(TaskStatus::Pending))
                .exec_with_returning(&txn)
                .await?
        };
        txn.commit().await?;
        rows
    };
    claimed.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(claimed)
}

/// The update that starts the next attempt: running, one more attempt,
/// `worker`'s.
fn start_attempts(worker: &str, now: DateTime<Utc>) -> sea_orm::UpdateMany<Entity> {
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(TaskStatus::Running))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .col_expr(
            Column::StartedAt,
            Func::coalesce([Expr::col(Column::StartedAt), Expr::value(now)]).into(),
        )
        .col_expr(Column::Worker, Expr::value(worker))
        .col_expr(Column::UpdatedAt, Expr::value(now))
}

/// Records a retryable failure: the task goes back to pending, with the
/// error, and its key into the queue, due at `run_at`. Only a running task
/// is sent back (a cancelled one stays cancelled).
pub async fn retry_later(
    db: &impl ConnectionTrait,
    task: &Model,
    error: &str,
    run_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let sent_back = Entity::update_many()
        .col_expr(Column::Status, Expr::value(TaskStatus::Pending))
        .col_expr(Column::LastError, Expr::value(error))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(task.id.as_str()))
        .filter(Column::Status.eq(TaskStatus::Running))
        .exec(db)
        .await?
        .rows_affected;
    if sent_back > 0 {
        requeue(db, std::slice::from_ref(task), run_at).await?;
    }
    Ok(())
}

/// Records that `worker` is alive, registering it on its first beat.
pub async fn heartbeat(db: &impl ConnectionTrait, worker: &str) -> Result<(), DbErr> {
    let now = Utc::now();
    let row = task_worker::ActiveModel {
        name: sea_orm::Set(worker.to_owned()),
        started_at: sea_orm::Set(now),
        heartbeat_at: sea_orm::Set(now),
    };
    task_worker::Entity::insert(row)
        .on_conflict(
            OnConflict::column(task_worker::Column::Name)
                .update_column(task_worker::Column::HeartbeatAt)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Puts the running tasks of `workers` back into the queue, due now, except
/// those in `held` (what a live worker still runs). Returns their ids.
///
/// No index serves this read (a claim writes both `status` and `worker`,
/// I23): it runs when a worker is lost or leaves, not per task.
async fn release(
    db: &impl ConnectionTrait,
    workers: &[String],
    held: &[String],
) -> Result<Vec<String>, DbErr> {
    let mut update = Entity::update_many()
        .col_expr(Column::Status, Expr::value(TaskStatus::Pending))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Status.eq(TaskStatus::Running))
        .filter(Column::Worker.is_in(workers.to_vec()));
    if !held.is_empty() {
        update = update.filter(Column::Id.is_not_in(held.to_vec()));
    }
    let released: Vec<Model> = update.exec_with_returning(db).await?;
    requeue(db, &released, Utc::now()).await?;
    Ok(released.into_iter().map(|t| t.id).collect())
}

/// A worker that stops: its running tasks go back into the queue (those a
/// drain could not finish) and its registration is removed, so that
/// another worker runs them at once rather than after a heartbeat
/// allowance.
pub async fn leave(db: &DatabaseConnection, worker: &str) -> Result<Vec<String>, DbErr> {
    let txn = db.begin().await?;
    let released = release(&txn, &[worker.to_owned()], &[]).await?;
    task_worker::Entity::delete_by_id(worker.to_owned())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(released)
}

/// A worker that lost the store for a while may have started attempts
/// whose claim committed but never answered; it runs only `held`, and puts
/// every other task it shows as running back into the queue.
pub async fn release_unheld(
    db: &DatabaseConnection,
    worker: &str,
    held: &[String],
) -> Result<Vec<String>, DbErr> {
    let txn = db.begin().await?;
    let released = release(&txn, &[worker.to_owned()], held).await?;
    txn.commit().await?;
    Ok(released)
}

/// Workers whose last heartbeat is older than `lost_after` are lost: their
/// running tasks go back into the queue, due now, and their registrations
/// are removed. Any worker may do this, and two doing it together release
/// each task once. Returns the lost workers' names and the tasks released.
pub async fn release_lost(
    db: &DatabaseConnection,
    lost_after: chrono::Duration,
) -> Result<(Vec<String>, Vec<String>), DbErr> {
    let cutoff = Utc::now() - lost_after;
    let lost: Vec<String> = task_worker::Entity::find()
        .filter(task_worker::Column::HeartbeatAt.lt(cutoff))
        .all(db)
        .await?
        .into_iter()
        .map(|w| w.name)
        .collect();
    if lost.is_empty() {
        return Ok((lost, Vec::new()));
    }
    let txn = db.begin().await?;
    let released = release(&txn, &lost, &[]).await?;
    task_worker::Entity::delete_many()
        .filter(task_worker::Column::Name.is_in(lost.clone()))
        .filter(task_worker::Column::HeartbeatAt.lt(cutoff))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok((lost, released))
}
