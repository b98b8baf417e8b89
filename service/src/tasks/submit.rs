//! Submitting tasks, the one way every caller does it: in a [`Submission`]
//! (a transaction on the metadata store), record the `tasks` rows and queue
//! one apalis job per task (or per batch of tasks, for kinds that run
//! together), next to whatever else the request checks or writes (a lock, an
//! in-progress check, a changefeed row, the audit row), and commit once. A
//! request is then accepted and queued at one commit, or leaves nothing.
//!
//! ferry writes the job rows itself, in the format of apalis 1.0's own
//! `push_tasks` (`queries/task/sink.sql` of apalis-sqlite and
//! apalis-postgres): the job is the JSON of a [`TaskJob`] (task ids only),
//! status `Pending`, due now, priority 0, and its first task's id as
//! idempotency key, which every task of the job records as its `job_key`, so
//! that queueing a job twice (the stale-task sweep) queues it once. The
//! row's id is the first task's UUID v7 read as a ULID: both are 128 bits with the
//! millisecond timestamp first, so ids stay unique and time-ordered.
//! A job's row leaves the queue when the job is done ([`remove_jobs`]):
//! the task rows keep the record.
//! `api::queue::submit_is_one_statement_that_apalis_runs` (tests/) checks
//! that apalis fetches and runs such rows. Writing them through sea-orm lets
//! them share the transaction of everything else the request writes, which
//! apalis's storages (taking a sqlx executor) cannot.

use chrono::Utc;
use ferry_entity::{
    TaskJob, audit_log,
    task::{self, Model},
};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryTrait,
    TransactionTrait,
    sea_query::{
        Alias, CommonTableExpression, Expr, InsertStatement, IntoTableRef, OnConflict, Query,
        TableRef, WithClause,
    },
};

use super::NewTask;
use crate::{error::ServiceError, store::Store};

/// The apalis queue that every task kind shares.
pub const QUEUE_NAME: &str = "ferry-tasks";

/// Task rows per INSERT statement (18 columns: 3,600 bound values, well
/// under SQLite's and PostgreSQL's limits).
const INSERT_ROWS: usize = 200;

/// One transaction that records tasks and queues their jobs, with whatever
/// else the caller checks and writes in it ([`Submission::txn`]).
pub struct Submission<'a> {
    store: &'a Store,
    txn: DatabaseTransaction,
}

impl<'a> Submission<'a> {
    pub async fn begin(store: &'a Store) -> Result<Submission<'a>, ServiceError> {
        Ok(Self {
            store,
            txn: store.db.begin().await?,
        })
    }

    /// The transaction, for the caller's own checks and writes.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Takes a named lock until the transaction ends (see `Store::lock`), so
    /// that check-then-insert sequences cannot interleave across processes.
    pub async fn lock(&self, name: &str) -> Result<(), ServiceError> {
        self.store.lock(&self.txn, name).await?;
        Ok(())
    }

    /// Records `tasks` and queues one job per `batch_size` of them (kinds
    /// that batch, topic creation, run a request's tasks with one claim, one
    /// broker call and one transaction of outcomes). Returns the rows in
    /// order.
    pub async fn record(
        &self,
        tasks: Vec<NewTask>,
        batch_size: usize,
    ) -> Result<Vec<Model>, ServiceError> {
        let models = keyed(
            tasks.into_iter().map(NewTask::into_model).collect(),
            batch_size,
        );
        for chunk in models.chunks(INSERT_ROWS) {
            let rows = chunk.iter().cloned().map(task::ActiveModel::from);
            task::Entity::insert_many(rows)
                .exec_without_returning(&self.txn)
                .await?;
        }
        queue_jobs(&self.txn, &models).await?;
        Ok(models)
    }

    /// Writes the request's audit row in the same transaction.
    pub async fn audit(&self, entry: audit_log::ActiveModel) -> Result<(), ServiceError> {
        audit_log::Entity::insert(entry).exec(&self.txn).await?;
        Ok(())
    }

    /// Commits, and wakes the workers of every process for the queued jobs.
    pub async fn commit(self) -> Result<(), ServiceError> {
        self.txn.commit().await?;
        self.store.wakeups.jobs_queued();
        Ok(())
    }
}

/// Records and queues one task (with the request's audit row, when given).
/// On PostgreSQL that is one statement: the job and the audit row ride along
/// as data-modifying CTEs of the task's INSERT, one round trip and one
/// commit where a transaction took four round trips.
pub async fn submit(
    store: &Store,
    new: NewTask,
    audit: Option<audit_log::ActiveModel>,
) -> Result<Model, ServiceError> {
    if store.db.get_database_backend() != DbBackend::Postgres {
        let mut models = submit_many(store, vec![new], audit, 1).await?;
        return Ok(models.remove(0));
    }
    let model = keyed(vec![new.into_model()], 1).remove(0);
    let mut with = WithClause::new();
    with.cte(
        CommonTableExpression::new()
            .query(jobs_insert(
                DbBackend::Postgres,
                &jobs_of(std::slice::from_ref(&model)),
            ))
            .table_name("queued_job")
            .to_owned(),
    );
    if let Some(audit) = audit {
        with.cte(
            CommonTableExpression::new()
                .query(audit_log::Entity::insert(audit).into_query())
                .table_name("audit_entry")
                .to_owned(),
        );
    }
    let insert = task::Entity::insert(task::ActiveModel::from(model.clone()))
        .into_query()
        .with(with);
    store.db.execute(&insert).await?;
    store.wakeups.jobs_queued();
    Ok(model)
}

/// Tasks of a bulk list per job: a list of 1,000 is 10 jobs, each claimed
/// in one statement, run together and settled in one transaction
/// (`runner/batch.rs`), so that both the submission and the drain write
/// one queue row and commit once per 100 tasks instead of per task.
pub const BULK_JOB_TASKS: usize = 100;

/// Records and queues many tasks with the request's one audit row, in one
/// transaction: a bulk submission is accepted whole or not at all. Tasks go
/// `batch_size` to a job (1: each its own). On PostgreSQL that is one
/// statement (`submit_many_postgres`).
pub async fn submit_many(
    store: &Store,
    news: Vec<NewTask>,
    audit: Option<audit_log::ActiveModel>,
    batch_size: usize,
) -> Result<Vec<Model>, ServiceError> {
    if store.db.get_database_backend() == DbBackend::Postgres {
        let models = keyed(
            news.into_iter().map(NewTask::into_model).collect(),
            batch_size,
        );
        submit_many_postgres(store, &models, audit).await?;
        store.wakeups.jobs_queued();
        return Ok(models);
    }
    let submission = Submission::begin(store).await?;
    let models = submission.record(news, batch_size).await?;
    if let Some(audit) = audit {
        submission.audit(audit).await?;
    }
    submission.commit().await?;
    Ok(models)
}

/// A bulk submission on PostgreSQL as one statement, so one round trip and
/// one commit: the task rows and the job rows each travel as one JSON
/// document of rows, which `json_populate_recordset` (the `tasks` row
/// type) and `json_to_recordset` turn into rows, and the audit row and the
/// jobs ride along as data-modifying CTEs of the tasks' INSERT. A list of
/// 1,000 took ten INSERTs of 200 rows (3,600 bound values each) and a
/// transaction before.
async fn submit_many_postgres(
    store: &Store,
    models: &[Model],
    audit: Option<audit_log::ActiveModel>,
) -> Result<(), ServiceError> {
    use sea_orm::{ActiveEnum, Statement, sea_query::PostgresQueryBuilder};

    let tasks: Vec<serde_json::Value> = models
        .iter()
        .map(|m| {
            serde_json::json!({
                "id": m.id,
                "kind": m.kind.to_value(),
                "cluster_id": m.cluster_id.map(|c| c.0),
                "subject": m.subject,
                "status": m.status.to_value(),
                "attempts": m.attempts,
                "max_attempts": m.max_attempts,
                "payload": m.payload,
                "created_by": m.created_by,
                "project_id": m.project_id,
                "request_id": m.request_id,
                "job_key": m.job_key,
                "created_at": m.created_at,
                "updated_at": m.updated_at,
            })
        })
        .collect();
    let jobs = jobs_of(models);
    let (mut sql, mut values) = match audit {
        Some(audit) => {
            let (insert, values) = audit_log::Entity::insert(audit)
                .into_query()
                .build(PostgresQueryBuilder);
            (format!("WITH audit_entry AS ({insert}), "), values.0)
        }
        None => ("WITH ".to_owned(), Vec::new()),
    };
    let n = values.len();
    sql.push_str(&format!(
        "queued_job AS (INSERT INTO apalis.jobs (id, job_type, job, status, attempts, \
         max_attempts, run_at, priority, idempotency_key) SELECT j.id, ${queue}, \
         convert_to(j.job, 'UTF8'), 'Pending', 0, j.max_attempts, now(), 0, \
         j.idempotency_key FROM json_to_recordset(${jobs}::json) AS j(id text, job text, \
         max_attempts int, idempotency_key text) ON CONFLICT (job_type, idempotency_key) DO NOTHING) \
         INSERT INTO tasks SELECT * FROM json_populate_recordset(NULL::tasks, ${tasks}::json)",
        queue = n + 1,
        jobs = n + 2,
        tasks = n + 3,
    ));
    values.push(QUEUE_NAME.into());
    values.push(
        serde_json::to_string(&jobs)
            .expect("job rows serialise")
            .into(),
    );
    values.push(serde_json::Value::from(tasks).to_string().into());
    store
        .db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    Ok(())
}

/// What ferry computes of an apalis job row for the tasks it runs (the
/// first and those batched with it); the rest of the row is constant
/// (status `Pending`, no attempts, priority 0, due now).
#[derive(serde::Serialize)]
struct QueuedJob {
    /// The first task's UUID v7 read as a ULID (module doc).
    id: String,
    /// The JSON of the [`TaskJob`].
    job: String,
    max_attempts: i32,
    /// The first task's id.
    idempotency_key: String,
}

impl QueuedJob {
    /// The job keyed `key` (its lead task's id), running the lead and
    /// `batch`.
    fn keyed(key: &str, batch: Vec<String>, max_attempts: i32) -> Self {
        let id = uuid::Uuid::parse_str(key)
            .map(|u| ulid::Ulid::from(u.as_u128()))
            .unwrap_or_else(|_| ulid::Ulid::generate());
        Self {
            id: id.to_string(),
            job: serde_json::to_string(&TaskJob {
                task_id: key.to_owned(),
                batch,
            })
            .expect("a job of task ids serialises"),
            max_attempts: apalis_max_attempts(max_attempts),
            idempotency_key: key.to_owned(),
        }
    }
}

/// The key of the queue job that runs `task`: its recorded `job_key`, or,
/// for a task from before job keys, its own id.
pub fn job_key(task: &Model) -> &str {
    task.job_key.as_deref().unwrap_or(&task.id)
}

/// The jobs that run `tasks`, one per job key, in the order the keys first
/// appear: what submission queues (its tasks [`keyed`] just before) and
/// what the stale-task sweep queues again, so that a job comes back as it
/// was queued.
fn jobs_of(tasks: &[Model]) -> Vec<QueuedJob> {
    let mut groups: Vec<(&str, i32, Vec<String>)> = Vec::new();
    let mut group_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for task in tasks {
        let key = job_key(task);
        let at = *group_of.entry(key).or_insert_with(|| {
            groups.push((key, task.max_attempts, Vec::new()));
            groups.len() - 1
        });
        if task.id != key {
            groups[at].2.push(task.id.clone());
        }
    }
    groups
        .into_iter()
        .map(|(key, max_attempts, batch)| QueuedJob::keyed(key, batch, max_attempts))
        .collect()
}

/// Gives each task the key of the job that will run it: tasks go
/// `batch_size` to a job, led by the first of each chunk.
fn keyed(mut models: Vec<Model>, batch_size: usize) -> Vec<Model> {
    for chunk in models.chunks_mut(batch_size.max(1)) {
        let key = chunk[0].id.clone();
        for model in chunk {
            model.job_key = Some(key.clone());
        }
    }
    models
}

/// Queues again the jobs of tasks already recorded (the stale-task sweep),
/// each as it was queued: the tasks sharing a job key go back into one job
/// under that key (a task from before job keys has its own id), so a job
/// that is still queued is left alone by its idempotency key, and a lost
/// batch comes back as one batch, not as a job per task.
/// Returns how many jobs were queued again: the lost ones.
pub async fn requeue(store: &Store, tasks: &[Model]) -> Result<u64, ServiceError> {
    let queued = queue_jobs(&store.db, tasks).await?;
    if queued > 0 {
        store.wakeups.jobs_queued();
    }
    Ok(queued)
}

/// Queues the jobs of `tasks`; returns how many rows were new (a job
/// already queued under its key is left as it is).
async fn queue_jobs(db: &impl ConnectionTrait, tasks: &[Model]) -> Result<u64, ServiceError> {
    let backend = db.get_database_backend();
    let mut queued = 0;
    for rows in jobs_of(tasks).chunks(INSERT_ROWS) {
        queued += db
            .execute(&jobs_insert(backend, rows))
            .await?
            .rows_affected();
    }
    Ok(queued)
}

/// apalis's job table on `backend`.
fn jobs_table(backend: DbBackend) -> TableRef {
    match backend {
        DbBackend::Postgres => (Alias::new("apalis"), Alias::new("jobs")).into_table_ref(),
        _ => Alias::new("Jobs").into_table_ref(),
    }
}

/// Removes the queue rows of finished jobs, named by their keys (a job's
/// key is its lead task's id, [`TaskJob::task_id`]). The task rows are the
/// record (I3), so a job's row has nothing left to say once its tasks are
/// finished, and ferry removes it instead of letting apalis mark it done
/// (`persist_results` is off, [`sqlite_config`]). The delete costs the
/// database about what apalis's acknowledgement did; what it saves is the
/// acknowledgement's place in apalis's fetch cycle, and the table then
/// holds only live jobs, so that fetching stays cheap whatever has run
/// before.
pub async fn remove_jobs(db: &impl ConnectionTrait, keys: Vec<String>) -> Result<(), DbErr> {
    use sea_orm::sea_query::ExprTrait;
    let delete = Query::delete()
        .from_table(jobs_table(db.get_database_backend()))
        .and_where(Expr::col(Alias::new("job_type")).eq(QUEUE_NAME))
        .and_where(Expr::col(Alias::new("idempotency_key")).is_in(keys))
        .to_owned();
    db.execute(&delete).await?;
    Ok(())
}

/// apalis counts an attempt when a dead worker's job is re-enqueued, so its
/// own limit sits above ours; the runner enforces the task's limit.
fn apalis_max_attempts(task_max_attempts: i32) -> i32 {
    task_max_attempts.max(1) * 2 + 2
}

/// The job rows apalis's `push_tasks` would write, on `backend`.
fn jobs_insert(backend: DbBackend, jobs: &[QueuedJob]) -> InsertStatement {
    let run_at = match backend {
        DbBackend::Postgres => Expr::current_timestamp(),
        // apalis-sqlite keeps times as Unix seconds.
        _ => Expr::value(Utc::now().timestamp()),
    };
    let mut insert = Query::insert().into_table(jobs_table(backend)).to_owned();
    insert.columns([
        "id",
        "job_type",
        "job",
        "status",
        "attempts",
        "max_attempts",
        "run_at",
        "priority",
        "idempotency_key",
    ]);
    for job in jobs {
        insert.values_panic([
            job.id.clone().into(),
            QUEUE_NAME.into(),
            job.job.clone().into_bytes().into(),
            "Pending".into(),
            0i32.into(),
            job.max_attempts.into(),
            run_at.clone(),
            0i32.into(),
            job.idempotency_key.clone().into(),
        ]);
    }
    insert.on_conflict(
        OnConflict::columns([Alias::new("job_type"), Alias::new("idempotency_key")])
            .do_nothing()
            .to_owned(),
    );
    insert
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
///
/// Its acknowledgement (`persist_results`) is off too: the runner removes a
/// finished job's row itself ([`remove_jobs`]), after the task's outcome
/// is committed, outside apalis's fetch cycle (apalis writes one fetch or
/// one batch of acknowledgements at a time, and the acknowledgements were
/// the costliest statement of a drain of single tasks: 43 µs a job).
pub fn sqlite_config() -> apalis_sqlite::Config {
    apalis_sqlite::Config::default()
        .queue(QUEUE_NAME)
        .lock_tasks(false)
        .persist_results(false)
}

/// See [`sqlite_config`].
pub fn postgres_config() -> apalis_postgres::Config {
    apalis_postgres::Config::default()
        .queue(QUEUE_NAME)
        .lock_tasks(false)
        .persist_results(false)
}
