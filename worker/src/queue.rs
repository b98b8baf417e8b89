//! Submitting tasks: a `tasks` row and one apalis job that carries the task's
//! id, written in one transaction (on PostgreSQL, in one statement);
//! [`QueueTx`] is that transaction for callers that record many tasks. The
//! job's idempotency key is the task id, so pushing the same task twice (the
//! stale-task sweep, a retried submission) enqueues it once.

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use ferry_entity::{TaskJob, audit_log, task::Model};
use sea_orm::{
    DbErr, EntityTrait, QueryTrait, TryIntoModel, Values,
    sea_query::{
        Alias, CommonTableExpression, Expr, InsertStatement, PostgresQueryBuilder, Query,
        SelectStatement, SqliteQueryBuilder, WithClause,
    },
};
use sea_query_sqlx::SqlxValues;

use crate::{
    jobs,
    store::{QueuePool, Store},
    tasks::{self, NewTask},
};

/// The apalis queue that every task kind shares.
pub const QUEUE_NAME: &str = "ferry-tasks";

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("cannot record the task: {0}")]
    Record(#[from] DbErr),
    #[error("cannot record the task: {0}")]
    Write(#[from] sqlx::Error),
    #[error("cannot enqueue the task: {0}")]
    Enqueue(String),
}

/// Records and enqueues a task in one transaction, so a task is either
/// accepted and queued or refused with nothing written.
pub async fn submit(store: &Store, new: NewTask) -> Result<Model, SubmitError> {
    submit_audited(store, new, None).await
}

/// Like [`submit`], and also writes `audit` (the caller's audit row for the
/// accepted request) in the same transaction. One commit instead of three is
/// what makes a submission cheap: each commit waits for the disk.
pub async fn submit_audited(
    store: &Store,
    new: NewTask,
    audit: Option<audit_log::ActiveModel>,
) -> Result<Model, SubmitError> {
    let policy = jobs::policy(new.kind);
    let row = tasks::new_model(&new, policy.max_attempts);
    let model = row.clone().try_into_model()?;
    let audit_insert = audit.map(audit_log::Entity::insert);
    match &store.queue {
        QueuePool::Postgres(pool) => {
            let job = job_for(&model, &[])
                .try_map_args(|args| serde_json::to_vec(&args))
                .map_err(|e| SubmitError::Enqueue(e.to_string()))?;
            // On PostgreSQL the job and the audit row ride along as
            // data-modifying CTEs of the task's INSERT: one statement, one
            // round trip and one commit, where a transaction around three
            // statements took four round trips.
            let mut with = WithClause::new();
            with.cte(
                CommonTableExpression::new()
                    .query(postgres_job_insert(&model, job.args))
                    .table_name("queued_job")
                    .to_owned(),
            );
            if let Some(audit) = audit_insert {
                with.cte(
                    CommonTableExpression::new()
                        .query(audit.into_query())
                        .table_name("audit_entry")
                        .to_owned(),
                );
            }
            let (sql, values) = ferry_entity::task::Entity::insert(row)
                .into_query()
                .with(with)
                .build(PostgresQueryBuilder);
            bind(sql, values).execute(pool).await?;
            crate::runner::jobs_queued();
        }
        QueuePool::Sqlite(_) => {
            let mut tx = QueueTx::begin(store).await?;
            tx.insert(&ferry_entity::task::Entity::insert(row).into_query())
                .await?;
            tx.push_batches(std::slice::from_ref(&model), 1).await?;
            if let Some(insert) = audit_insert {
                tx.insert(&insert.into_query()).await?;
            }
            tx.commit().await?;
        }
    }
    Ok(model)
}

/// A statement sea-query built, as a sqlx query with its values bound the
/// way sea-orm binds them itself.
fn bind<DB>(sql: String, values: Values) -> sqlx::query::Query<'static, DB, SqlxValues>
where
    DB: sqlx::Database,
    SqlxValues: sqlx::IntoArguments<DB>,
{
    sqlx::query_with(sqlx::AssertSqlSafe(sql), SqlxValues(values))
}

/// Pushes the job for an already recorded task.
pub async fn push(store: &Store, task: &Model) -> Result<(), SubmitError> {
    push_many(store, std::slice::from_ref(task)).await
}

/// Pushes the jobs of several recorded tasks, one job each, in one round trip.
pub async fn push_many(store: &Store, tasks: &[Model]) -> Result<(), SubmitError> {
    push_jobs(store, tasks.iter().map(|t| job_for(t, &[])).collect()).await
}

async fn push_jobs(
    store: &Store,
    jobs: Vec<apalis::prelude::Task<TaskJob>>,
) -> Result<(), SubmitError> {
    let mut stream = futures::stream::iter(jobs);
    let pushed = match &store.queue {
        QueuePool::Sqlite(pool) => {
            let mut storage = SqliteStorage::<TaskJob>::new(pool).with_config(sqlite_config());
            storage
                .push_all(&mut stream)
                .await
                .map_err(|e| SubmitError::Enqueue(e.to_string()))
        }
        QueuePool::Postgres(pool) => {
            let mut storage = PostgresStorage::<TaskJob>::new(pool).with_config(postgres_config());
            storage
                .push_all(&mut stream)
                .await
                .map_err(|e| SubmitError::Enqueue(e.to_string()))
        }
    };
    if pushed.is_ok() {
        crate::runner::jobs_queued();
    }
    pushed
}

/// One transaction on the queue's pool, for callers that check, record tasks
/// and queue their jobs together (addTopicTask): a request is then accepted
/// and queued at one commit, or leaves nothing behind. Statements come from
/// sea-query, bound the way sea-orm binds them.
pub enum QueueTx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl QueueTx {
    pub async fn begin(store: &Store) -> Result<QueueTx, SubmitError> {
        Ok(match &store.queue {
            QueuePool::Sqlite(pool) => QueueTx::Sqlite(pool.begin().await?),
            QueuePool::Postgres(pool) => QueueTx::Postgres(pool.begin().await?),
        })
    }

    /// Takes the named lock until the transaction ends (see `Store::lock`).
    pub async fn lock(&mut self, name: &str) -> Result<(), SubmitError> {
        match self {
            QueueTx::Sqlite(tx) => {
                sqlx::query(crate::store::SQLITE_LOCK)
                    .bind(name)
                    .execute(&mut **tx)
                    .await?;
            }
            QueueTx::Postgres(tx) => {
                sqlx::query(crate::store::POSTGRES_LOCK)
                    .bind(name)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }

    /// The first column of each row `select` returns, as text.
    pub async fn strings(&mut self, select: &SelectStatement) -> Result<Vec<String>, SubmitError> {
        Ok(match self {
            QueueTx::Sqlite(tx) => {
                let (sql, values) = select.build(SqliteQueryBuilder);
                sqlx::query_scalar_with(sqlx::AssertSqlSafe(sql), SqlxValues(values))
                    .fetch_all(&mut **tx)
                    .await?
            }
            QueueTx::Postgres(tx) => {
                let (sql, values) = select.build(PostgresQueryBuilder);
                sqlx::query_scalar_with(sqlx::AssertSqlSafe(sql), SqlxValues(values))
                    .fetch_all(&mut **tx)
                    .await?
            }
        })
    }

    /// Runs an INSERT built by sea-query or sea-orm.
    pub async fn insert(&mut self, insert: &InsertStatement) -> Result<(), SubmitError> {
        match self {
            QueueTx::Sqlite(tx) => {
                let (sql, values) = insert.build(SqliteQueryBuilder);
                bind(sql, values).execute(&mut **tx).await?;
            }
            QueueTx::Postgres(tx) => {
                let (sql, values) = insert.build(PostgresQueryBuilder);
                bind(sql, values).execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    /// Queues one job per `batch_size` of the (recorded) tasks, so that a
    /// kind that batches (topic creation) runs a whole request's tasks with
    /// one claim, one broker call and one transaction of outcomes.
    pub async fn push_batches(
        &mut self,
        tasks: &[Model],
        batch_size: usize,
    ) -> Result<(), SubmitError> {
        for chunk in tasks.chunks(batch_size.max(1)) {
            let job = job_for(&chunk[0], &chunk[1..])
                .try_map_args(|args| serde_json::to_vec(&args))
                .map_err(|e| SubmitError::Enqueue(e.to_string()))?;
            match self {
                QueueTx::Sqlite(tx) => {
                    apalis_sqlite::queries::push_tasks(&mut **tx, QUEUE_NAME, &[job])
                        .await
                        .map_err(|e| SubmitError::Enqueue(e.to_string()))?;
                }
                QueueTx::Postgres(_) => {
                    self.insert(&postgres_job_insert(&chunk[0], job.args))
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Commits, and wakes this process's workers for the queued jobs.
    pub async fn commit(self) -> Result<(), SubmitError> {
        match self {
            QueueTx::Sqlite(tx) => tx.commit().await?,
            QueueTx::Postgres(tx) => tx.commit().await?,
        }
        crate::runner::jobs_queued();
        Ok(())
    }
}

/// apalis counts an attempt when a dead worker's job is re-enqueued, so its
/// own limit sits above ours; the runner enforces the task's limit.
fn apalis_max_attempts(task_max_attempts: i32) -> usize {
    (task_max_attempts.max(1) as usize) * 2 + 2
}

/// The row apalis-postgres 1.0's `push_tasks` would write for a task's job
/// (`queries/task/sink.sql`): the JSON-encoded job, status `Pending`, due
/// now, priority 0, no metadata, the task id as idempotency key. Its id is
/// the task's UUID v7 read as a ULID: both are 128 bits with the
/// millisecond timestamp first, so ids stay unique and time-ordered.
/// `submit_is_one_statement_that_apalis_runs` (tests/api) checks that
/// apalis fetches and runs such a row.
fn postgres_job_insert(task: &Model, job: Vec<u8>) -> InsertStatement {
    let id = uuid::Uuid::parse_str(&task.id)
        .map(|u| ulid::Ulid::from(u.as_u128()))
        .unwrap_or_else(|_| ulid::Ulid::generate());
    Query::insert()
        .into_table((Alias::new("apalis"), Alias::new("jobs")))
        .columns([
            "id",
            "job_type",
            "job",
            "status",
            "attempts",
            "max_attempts",
            "run_at",
            "priority",
            "idempotency_key",
        ])
        .values_panic([
            id.to_string().into(),
            QUEUE_NAME.into(),
            job.into(),
            "Pending".into(),
            0i32.into(),
            (apalis_max_attempts(task.max_attempts) as i32).into(),
            Expr::current_timestamp(),
            0i32.into(),
            task.id.clone().into(),
        ])
        .to_owned()
}

fn job_for(task: &Model, others: &[Model]) -> apalis::prelude::Task<TaskJob> {
    let max_attempts = apalis_max_attempts(task.max_attempts);
    TaskBuilder::new(TaskJob {
        task_id: task.id.clone(),
        batch: others.iter().map(|t| t.id.clone()).collect(),
    })
    .max_attempts(max_attempts)
    .idempotency_key(&task.id)
    .build()
}

/// apalis's "lock" event (`lock_tasks`) is off on both stores. Fetching
/// already marks a job `Queued` with this worker as `lock_by`, which is all
/// that re-enqueueing a dead worker's jobs looks at, and ferry's conditional
/// claim of the task row keeps two attempts from starting together. The
/// event cost a write per fetched batch, and on SQLite it could hang a
/// drain: apalis writes events in a transaction that only its backend's
/// `poll_ready` drives, which it stops calling on shutdown, so a transaction
/// caught mid-way kept SQLite's write lock while the running attempts waited
/// for it to record their outcomes (`sigterm_lets_running_tasks_finish`
/// failed about one run in forty that way).
pub fn sqlite_config() -> apalis_sqlite::Config {
    apalis_sqlite::Config::default()
        .queue(QUEUE_NAME)
        .lock_tasks(false)
}

/// See [`sqlite_config`].
pub fn postgres_config() -> apalis_postgres::Config {
    apalis_postgres::Config::default()
        .queue(QUEUE_NAME)
        .lock_tasks(false)
}
