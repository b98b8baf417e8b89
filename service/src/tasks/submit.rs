//! Submitting tasks, the one way every caller does it: in a [`Submission`]
//! (a transaction on the metadata store), record the `tasks` rows and queue
//! them (`queue::enqueue`, a `task_queue` row per batch key), next to whatever else
//! the request checks or writes (a lock, an in-progress check, a changefeed
//! row, the audit row), and commit once. A request is then accepted and
//! queued at one commit, or leaves nothing.
//!
//! Every task records its batch key as its `job_key`: its own id, or, for
//! kinds that run together (topic creation, a bulk list's no-op tasks), the
//! id of the first task of its batch. A worker claims a key's pending tasks
//! together and runs them as one job (`runner/batch.rs`).

use ferry_entity::{
    audit_log,
    task::{self, Model},
};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryTrait, TransactionTrait,
    sea_query::{CommonTableExpression, WithClause},
};

use super::{NewTask, queue};
use crate::{error::ServiceError, store::Store};

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

    /// Records and queues `tasks`, keyed `batch_size` to a batch (kinds
    /// that batch, topic creation, run a request's tasks claimed together
    /// with one broker call and one transaction of outcomes). Returns the
    /// rows in order.
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
        for chunk in models.chunks(INSERT_ROWS) {
            if let Some(insert) = queue::enqueue(chunk) {
                self.txn.execute(&insert).await?;
            }
        }
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
/// On PostgreSQL that is one statement: the queue row and the audit row
/// ride along as data-modifying CTEs of the task's INSERT, one round trip
/// and one commit where a transaction took four round trips.
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
            .query(queue::enqueue(std::slice::from_ref(&model)).expect("one task"))
            .table_name("queued")
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

/// Tasks of a bulk list per batch key: a worker runs the tasks of one key
/// that it claims together as one attempt, settled in one transaction
/// (`runner/batch.rs`).
pub const BULK_JOB_TASKS: usize = 100;

/// Records and queues many tasks with the request's one audit row, in one
/// transaction: a bulk submission is accepted whole or not at all. Tasks go
/// `batch_size` to a batch key (1: each its own). On PostgreSQL that is one
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
/// one commit: the task rows travel as one JSON document of rows, which
/// `json_populate_recordset` (the `tasks` row type) turns into rows, and
/// the audit row and the queue rows (a second, small document: a row per
/// batch key) ride along as data-modifying CTEs of the tasks' INSERT. A list of 1,000 took
/// ten INSERTs of 200 rows (3,600 bound values each) and a transaction
/// before.
async fn submit_many_postgres(
    store: &Store,
    models: &[Model],
    audit: Option<audit_log::ActiveModel>,
) -> Result<(), ServiceError> {
    use sea_orm::{ActiveEnum, Statement, sea_query::PostgresQueryBuilder};

    /// One row of the tasks' document, serialised straight from its model
    /// (no JSON tree built first), named as `tasks`' columns.
    #[derive(serde::Serialize)]
    struct Row<'a> {
        id: &'a str,
        kind: String,
        cluster_id: Option<i64>,
        subject: &'a Option<String>,
        status: String,
        attempts: i32,
        max_attempts: i32,
        payload: &'a serde_json::Value,
        created_by: &'a str,
        project_id: &'a Option<String>,
        request_id: &'a Option<String>,
        job_key: &'a Option<String>,
        created_at: chrono::DateTime<chrono::Utc>,
        updated_at: chrono::DateTime<chrono::Utc>,
        /// Not the entity's (migration 21), and a column the document
        /// leaves out is null, not its default.
        awaited: bool,
    }
    let tasks: Vec<Row<'_>> = models
        .iter()
        .map(|m| Row {
            id: &m.id,
            kind: m.kind.to_value(),
            cluster_id: m.cluster_id.map(|c| c.0),
            subject: &m.subject,
            status: m.status.to_value(),
            attempts: m.attempts,
            max_attempts: m.max_attempts,
            payload: &m.payload,
            created_by: &m.created_by,
            project_id: &m.project_id,
            request_id: &m.request_id,
            job_key: &m.job_key,
            created_at: m.created_at,
            updated_at: m.updated_at,
            awaited: false,
        })
        .collect();
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
        "queued AS (INSERT INTO task_queue (job_key, run_at) SELECT q.job_key, q.run_at \
         FROM json_to_recordset(${keys}::json) AS q(job_key text, run_at timestamptz)) \
         INSERT INTO tasks SELECT * FROM json_populate_recordset(NULL::tasks, ${tasks}::json)",
        keys = n + 1,
        tasks = n + 2,
    ));
    let keys: Vec<serde_json::Value> = queue::keys_of(models)
        .into_iter()
        .map(|(job_key, run_at)| serde_json::json!({ "job_key": job_key, "run_at": run_at }))
        .collect();
    values.push(serde_json::Value::from(keys).to_string().into());
    let tasks = serde_json::to_string(&tasks).map_err(|err| {
        ServiceError::from(sea_orm::DbErr::Custom(format!("encoding the tasks: {err}")))
    })?;
    values.push(tasks.into());
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

/// Gives each task its batch key: tasks go `batch_size` to a batch, led by
/// the first of each chunk.
fn keyed(mut models: Vec<Model>, batch_size: usize) -> Vec<Model> {
    for chunk in models.chunks_mut(batch_size.max(1)) {
        let key = chunk[0].id.clone();
        for model in chunk {
            model.job_key = Some(key.clone());
        }
    }
    models
}
