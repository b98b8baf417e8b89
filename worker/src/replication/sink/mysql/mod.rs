//! The MySQL/TiDB sink: applies batches of row changes in one downstream
//! transaction each, idempotently by key, and runs DDL statements.
//!
//! Inserts and updates become `REPLACE` (an upsert by every unique key),
//! deletes become `DELETE ... WHERE key IN (...)`, and an update that
//! changes the key deletes the old row first, so replaying changes that are
//! already applied converges to the same rows. The key is the downstream
//! table's primary key, else its first unique key over NOT NULL columns;
//! without either, rows are matched on all their columns.

use std::{collections::HashMap, sync::Arc, time::Duration};

use mysql_async::{Conn, prelude::Queryable};

mod ddl;
mod errors;
mod sql;
mod statements;

use self::errors::WriteError;
use self::statements::{Op, Plan, op_size, same_kind, split, statement};
use super::abbreviate;
use crate::replication::{
    engine::{MysqlEndpoint, ReplicationError},
    source::{
        conn,
        row::{RowChange, TableInfo},
    },
};

/// Session settings of every downstream connection: values are written in
/// UTC and as the upstream stored them (0 in an AUTO_INCREMENT column stays
/// 0, zero dates are accepted), and foreign keys are not checked, because
/// parallel appliers write parent and child rows in any order.
const SESSION_INIT: [&str; 4] = [
    "SET NAMES utf8mb4",
    "SET SESSION time_zone = '+00:00'",
    "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
    "SET SESSION foreign_key_checks = 0",
];

/// Statements are sent several at a time, up to this many bytes per round
/// trip (less if the downstream's max_allowed_packet is smaller).
const MAX_QUERY_BYTES: usize = 4 << 20;

/// A retryable failure (deadlock, lost connection) is retried this many
/// times inside the sink before the engine gives up.
const ATTEMPTS: u32 = 4;

/// What the downstream table looks like, as far as writing rows goes.
#[derive(Debug)]
struct Downstream {
    /// Lower-cased column name -> whether the column is generated.
    columns: HashMap<String, bool>,
    /// Lower-cased names of the key columns; `None` when there is no key.
    key: Option<Vec<String>>,
    /// Whether the key is the primary key and no other unique index exists:
    /// then changes of different keys never conflict.
    only_primary: bool,
}

pub(crate) struct MysqlSink {
    endpoint: MysqlEndpoint,
    conn: Option<Conn>,
    /// The connection DDL statements run on (`ddl.rs`): each DDL changes its
    /// session's SQL mode and character sets, which the row writes on `conn`
    /// must not inherit.
    ddl_conn: Option<Conn>,
    /// The downstream's max_allowed_packet, read when connecting.
    max_packet: usize,
    tables: HashMap<(String, String), Arc<Downstream>>,
    plans: HashMap<(String, String), (Arc<TableInfo>, Arc<Plan>)>,
}

impl MysqlSink {
    pub fn new(endpoint: MysqlEndpoint) -> MysqlSink {
        MysqlSink {
            endpoint,
            conn: None,
            ddl_conn: None,
            max_packet: MAX_QUERY_BYTES,
            tables: HashMap::new(),
            plans: HashMap::new(),
        }
    }

    /// Forgets what downstream tables look like, after a DDL.
    pub fn invalidate(&mut self) {
        self.tables.clear();
        self.plans.clear();
    }

    async fn conn(&mut self) -> Result<&mut Conn, ReplicationError> {
        if self.conn.is_none() {
            let init = SESSION_INIT.iter().map(|s| (*s).to_owned()).collect();
            let mut conn = conn::connect(&self.endpoint, "downstream", init).await?;
            let packet: Option<u64> = conn
                .query_first("SELECT @@max_allowed_packet")
                .await
                .map_err(|e| {
                    conn::classify(&e, "cannot read the downstream's max_allowed_packet")
                })?;
            self.max_packet = packet.map_or(MAX_QUERY_BYTES, |p| p as usize);
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// The largest query to send: below max_allowed_packet, with room for
    /// START TRANSACTION and COMMIT.
    fn query_limit(&self) -> usize {
        MAX_QUERY_BYTES.min(self.max_packet.saturating_sub(64))
    }

    /// Applies `rows` in one downstream transaction, retrying deadlocks and
    /// lost connections a few times. Returns how many rows were applied.
    pub async fn apply(&mut self, rows: &[RowChange]) -> Result<usize, ReplicationError> {
        let queries = self.render(rows).await?;
        let mut attempt = 1;
        loop {
            match self.run_transaction(&queries, rows).await {
                Ok(()) => return Ok(rows.len()),
                Err(ReplicationError::Retryable(reason)) if attempt < ATTEMPTS => {
                    tracing::warn!(attempt, error = %reason, "downstream transaction failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs `queries`, the statements for `rows`, in one transaction.
    async fn run_transaction(
        &mut self,
        queries: &[Vec<u8>],
        rows: &[RowChange],
    ) -> Result<(), ReplicationError> {
        let conn = self.conn().await?;
        // BEGIN and COMMIT travel with the first and last statements: one
        // round trip for a batch that fits in one query. A failing statement
        // stops the rest of its query, COMMIT included.
        let last = queries.len().saturating_sub(1);
        let mut result = Ok(());
        for (i, query) in queries.iter().enumerate() {
            let mut text = Vec::with_capacity(query.len() + 32);
            if i == 0 {
                text.extend_from_slice(b"START TRANSACTION;\n");
            }
            text.extend_from_slice(query);
            if i == last {
                text.extend_from_slice(b";\nCOMMIT");
            }
            tracing::trace!(query = %abbreviate(&String::from_utf8_lossy(&text)), "downstream query");
            result = conn.query_drop(text).await;
            if result.is_err() {
                break;
            }
        }
        let Err(e) = result else { return Ok(()) };
        // Roll back what the failed transaction did; if even that fails the
        // connection is unusable and a new one is made next time.
        if conn.query_drop("ROLLBACK").await.is_err() || conn::is_retryable(&e) {
            self.conn = None;
        }
        // The server's message may quote row values: the error names the
        // tables instead.
        Err(WriteError::of(&e, rows))
    }

    /// The statements for `rows`, grouped into queries of several statements.
    async fn render(&mut self, rows: &[RowChange]) -> Result<Vec<Vec<u8>>, ReplicationError> {
        // Connected first: the limits depend on the downstream's settings.
        self.conn().await?;
        let group_limit = self.query_limit() / 4;
        let mut statements: Vec<(Vec<u8>, &TableInfo)> = Vec::new();
        // Consecutive rows of the same table and operation share a statement.
        let mut group: Vec<Op<'_>> = Vec::new();
        let mut group_table: Option<(&Arc<TableInfo>, Arc<Plan>)> = None;
        let mut group_bytes = 0usize;
        for change in rows {
            let plan = self.plan(&change.table).await?;
            let ops = split(&change.op, &plan);
            for op in ops {
                let same = group_table
                    .as_ref()
                    .is_some_and(|(t, _)| Arc::ptr_eq(t, &change.table))
                    && group.last().is_some_and(|last| same_kind(last, &op))
                    && !matches!(op, Op::DeleteExact(_))
                    && group_bytes + op_size(&op) < group_limit;
                if !same && let Some((table, plan)) = group_table.take() {
                    statements.push((statement(table, &plan, &group), table));
                    group.clear();
                    group_bytes = 0;
                }
                group_bytes += op_size(&op);
                group.push(op);
                group_table = Some((&change.table, plan.clone()));
            }
        }
        if let Some((table, plan)) = group_table {
            statements.push((statement(table, &plan, &group), table));
        }
        // Join statements into multi-statement queries to save round trips,
        // each below the downstream's max_allowed_packet.
        let limit = self.query_limit();
        let mut queries = Vec::new();
        let mut current: Vec<u8> = Vec::new();
        for (s, table) in statements {
            if s.len() > self.max_packet.saturating_sub(64) {
                return Err(ReplicationError::Fatal(format!(
                    "a change to `{}`.`{}` needs a {} byte statement, more than the \
                     downstream's max_allowed_packet ({} bytes) allows: raise it",
                    table.schema,
                    table.name,
                    s.len(),
                    self.max_packet
                )));
            }
            if !current.is_empty() && current.len() + s.len() + 2 > limit {
                queries.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.extend_from_slice(b";\n");
            }
            current.extend_from_slice(&s);
        }
        if !current.is_empty() {
            queries.push(current);
        }
        Ok(queries)
    }

    /// Whether changes to rows of `table` with different primary keys may
    /// be applied in parallel, in any order. Only when the downstream's only
    /// unique index is a primary key over the same columns as the upstream's:
    /// with another unique index, applying one row's intermediate state can
    /// displace (REPLACE deletes) another row whose final state was already
    /// applied, so such tables are applied in upstream order.
    pub async fn parallel_safe(&mut self, table: &TableInfo) -> Result<bool, ReplicationError> {
        if table.primary_key.is_empty() {
            return Ok(false);
        }
        let downstream = self.downstream(&table.schema, &table.name).await?;
        let same_key = downstream.key.as_ref().is_some_and(|key| {
            key.len() == table.primary_key.len()
                && key
                    .iter()
                    .zip(&table.primary_key)
                    .all(|(k, &i)| table.columns[i].name.eq_ignore_ascii_case(k))
        });
        Ok(downstream.only_primary && same_key)
    }

    async fn plan(&mut self, table: &Arc<TableInfo>) -> Result<Arc<Plan>, ReplicationError> {
        let name = (table.schema.clone(), table.name.clone());
        if let Some((cached, plan)) = self.plans.get(&name)
            && Arc::ptr_eq(cached, table)
        {
            return Ok(plan.clone());
        }
        let downstream = self.downstream(&table.schema, &table.name).await?;
        let position = |column: &str| {
            table
                .columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(column))
        };
        let mut columns = Vec::with_capacity(table.columns.len());
        for (i, column) in table.columns.iter().enumerate() {
            match downstream.columns.get(&column.name.to_lowercase()) {
                Some(false) => columns.push(i),
                Some(true) => {}
                None => {
                    return Err(ReplicationError::Fatal(format!(
                        "schema mismatch: column `{}` of `{}`.`{}` does not exist downstream",
                        column.name, table.schema, table.name
                    )));
                }
            }
        }
        let key = match &downstream.key {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| {
                        position(n).ok_or_else(|| {
                            ReplicationError::Fatal(format!(
                                "schema mismatch: key column `{n}` of `{}`.`{}` downstream is not \
                                 in the upstream table",
                                table.schema, table.name
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let plan = Arc::new(Plan { columns, key });
        self.plans.insert(name, (table.clone(), plan.clone()));
        Ok(plan)
    }

    async fn downstream(
        &mut self,
        schema: &str,
        table: &str,
    ) -> Result<Arc<Downstream>, ReplicationError> {
        let name = (schema.to_owned(), table.to_owned());
        if let Some(d) = self.tables.get(&name) {
            return Ok(d.clone());
        }
        let context = format!("cannot read the downstream table `{schema}`.`{table}`");
        let conn = self.conn().await?;
        let columns: Vec<(String, String)> = conn
            .exec(
                "SELECT COLUMN_NAME, EXTRA FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (schema, table),
            )
            .await
            .map_err(|e| conn::classify(&e, &context))?;
        if columns.is_empty() {
            return Err(ReplicationError::Fatal(format!(
                "schema mismatch: table `{schema}`.`{table}` does not exist downstream"
            )));
        }
        let indexes: Vec<(String, String, String)> = conn
            .exec(
                "SELECT INDEX_NAME, COLUMN_NAME, NULLABLE FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 \
                 ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
                (schema, table),
            )
            .await
            .map_err(|e| conn::classify(&e, &context))?;
        let mut keys: Vec<(String, Vec<String>, bool)> = Vec::new();
        for (index, column, nullable) in indexes {
            match keys.last_mut() {
                Some((name, cols, not_null)) if *name == index => {
                    cols.push(column.to_lowercase());
                    *not_null &= !nullable.eq_ignore_ascii_case("YES");
                }
                _ => keys.push((
                    index,
                    vec![column.to_lowercase()],
                    !nullable.eq_ignore_ascii_case("YES"),
                )),
            }
        }
        let only_primary = keys.len() == 1 && keys[0].0 == "PRIMARY";
        let key = keys
            .into_iter()
            .find(|(_, _, not_null)| *not_null)
            .map(|(_, cols, _)| cols);
        let columns = columns
            .into_iter()
            .map(|(name, extra)| {
                let extra = extra.to_ascii_uppercase();
                let generated = extra.contains("VIRTUAL")
                    || extra.contains("STORED GENERATED")
                    || extra.contains("PERSISTENT");
                (name.to_lowercase(), generated)
            })
            .collect();
        let d = Arc::new(Downstream {
            columns,
            key,
            only_primary,
        });
        self.tables.insert(name, d.clone());
        Ok(d)
    }
}
