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
//!
//! On PostgreSQL, a single submission and a bulk list skip the transaction:
//! each is one statement ([`insert_rows`]), and single submissions made at
//! about the same moment share one ([`submit`]).

use ferry_entity::{
    audit_log,
    task::{self, Model},
};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    TransactionTrait,
};

use super::{NewTask, queue};
use crate::{
    error::ServiceError,
    group_commit::GroupCommit,
    store::{Store, Submissions},
};

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
/// On PostgreSQL the submissions of concurrent callers are written by group
/// commit (`group_commit`): those that arrive while one group is written
/// share the next one statement and one commit ([`insert_rows`]), where
/// each took a statement, a commit and sqlx's round trip on returning its
/// connection to the pool. The caller's answer waits for that commit.
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
    let submissions = store
        .submissions
        .get_or_init(|| start_submissions(store.db.clone()));
    submissions.call((model.clone(), audit)).await??;
    store.wakeups.jobs_queued();
    Ok(model)
}

/// Single submissions written per statement, at most.
const MAX_SUBMISSION_GROUP: usize = 128;

fn start_submissions(db: DatabaseConnection) -> Submissions {
    GroupCommit::start("task submissions", MAX_SUBMISSION_GROUP, move |group| {
        let db = db.clone();
        async move { Ok(write_submissions(&db, group).await) }
    })
}

/// Writes a group of single submissions in one statement. When that fails
/// for a group of more than one, each is written again on its own, so that
/// a request the store refuses (a cluster deleted meanwhile) fails alone
/// and the others are accepted.
async fn write_submissions(
    db: &DatabaseConnection,
    group: Vec<(Model, Option<audit_log::ActiveModel>)>,
) -> Vec<Result<(), DbErr>> {
    let count = group.len();
    let (models, audits): (Vec<Model>, Vec<Option<audit_log::ActiveModel>>) =
        group.into_iter().unzip();
    let together = insert_rows(db, &models, audits.iter().flatten().cloned().collect()).await;
    match together {
        Ok(()) => (0..count).map(|_| Ok(())).collect(),
        Err(err) if count == 1 => vec![Err(err)],
        Err(err) => {
            tracing::debug!(error = %err, submissions = count, "a group of submissions failed; writing each alone");
            let mut each = Vec::with_capacity(count);
            for (model, audit) in models.iter().zip(audits) {
                each.push(
                    insert_rows(db, std::slice::from_ref(model), audit.into_iter().collect()).await,
                );
            }
            each
        }
    }
}

/// Tasks of a bulk list per batch key: a worker runs the tasks of one key
/// that it claims together as one attempt, settled in one transaction
/// (`runner/batch.rs`).
pub const BULK_JOB_TASKS: usize = 100;

/// Records and queues many tasks with the request's one audit row, in one
/// transaction: a bulk submission is accepted whole or not at all. Tasks go
/// `batch_size` to a batch key (1: each its own). On PostgreSQL that is one
/// statement ([`insert_rows`]).
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
        insert_rows(&store.db, &models, audit.into_iter().collect()).await?;
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

/// Tasks, their queue rows and audit rows on PostgreSQL as one statement,
/// so one round trip and one commit, whatever the count: the task rows
/// travel as one JSON document of rows, which `json_populate_recordset`
/// (the `tasks` row type) turns into rows, and the audit rows and the
/// queue rows (a row per batch key) as two more documents, inserted by
/// data-modifying CTEs of the tasks' INSERT. The text never changes, so
/// every connection prepares it once. A list of 1,000 took ten INSERTs of
/// 200 rows (3,600 bound values each) and a transaction before.
async fn insert_rows(
    db: &DatabaseConnection,
    models: &[Model],
    audits: Vec<audit_log::ActiveModel>,
) -> Result<(), DbErr> {
    use sea_orm::{ActiveEnum, Statement};

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
    let audits = audits
        .into_iter()
        .map(AuditRow::of)
        .collect::<Result<Vec<_>, _>>()?;
    let keys: Vec<serde_json::Value> = queue::keys_of(models)
        .into_iter()
        .map(|(job_key, run_at)| serde_json::json!({ "job_key": job_key, "run_at": run_at }))
        .collect();
    let encode = |what: &str, document: Result<String, serde_json::Error>| {
        document.map_err(|err| DbErr::Custom(format!("encoding the {what}: {err}")))
    };
    let values = [
        encode("audit rows", serde_json::to_string(&audits))?,
        serde_json::Value::from(keys).to_string(),
        encode("tasks", serde_json::to_string(&tasks))?,
    ];
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        INSERT_ROWS_SQL,
        values.map(Into::into),
    ))
    .await?;
    Ok(())
}

/// [`insert_rows`]' statement: `$1` the audit rows, `$2` the queue rows,
/// `$3` the task rows. An audit row's id is the column's own sequence.
const INSERT_ROWS_SQL: &str = "WITH audit_entries AS (INSERT INTO audit_log \
       (at, actor, role, token_id, project_id, client_addr, method, path, request_id, status, \
        outcome, detail) \
     SELECT at, actor, role, token_id, project_id, client_addr, method, path, request_id, status, \
       outcome, detail FROM json_populate_recordset(NULL::audit_log, $1::json)), \
   queued AS (INSERT INTO task_queue (job_key, run_at) SELECT q.job_key, q.run_at \
     FROM json_to_recordset($2::json) AS q(job_key text, run_at timestamptz)) \
   INSERT INTO tasks SELECT * FROM json_populate_recordset(NULL::tasks, $3::json)";

/// One row of [`insert_rows`]' audit document, named as `audit_log`'s
/// columns.
#[derive(serde::Serialize)]
struct AuditRow {
    at: chrono::DateTime<chrono::Utc>,
    actor: String,
    role: Option<String>,
    token_id: Option<String>,
    project_id: Option<String>,
    client_addr: Option<String>,
    method: String,
    path: String,
    request_id: String,
    status: i32,
    outcome: String,
    detail: Option<serde_json::Value>,
}

impl AuditRow {
    /// The row of an entry whose every column but its id is set, as the
    /// audit middleware builds them; an entry missing one is refused
    /// rather than written with a null.
    fn of(mut entry: audit_log::ActiveModel) -> Result<AuditRow, DbErr> {
        use sea_orm::{ActiveEnum, ActiveValue::Set, TryIntoModel};
        entry.id = Set(0);
        let entry = entry.try_into_model()?;
        Ok(AuditRow {
            at: entry.at,
            actor: entry.actor,
            role: entry.role.map(|role| role.to_value()),
            token_id: entry.token_id,
            project_id: entry.project_id,
            client_addr: entry.client_addr,
            method: entry.method,
            path: entry.path,
            request_id: entry.request_id,
            status: entry.status,
            outcome: entry.outcome.to_value(),
            detail: entry.detail,
        })
    }
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
