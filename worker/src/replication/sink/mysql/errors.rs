//! A failed downstream write as ferry reports it: the tables (and for a
//! duplicate key, the key) by name, never a value of the rows written. The
//! server's own message for many errors quotes the offending value, and
//! these errors are stored on the changefeed and logged.

use mysql_async::Error as MyError;

use crate::replication::{
    engine::ReplicationError,
    source::{
        conn::{self, DUPLICATE_KEY_CODES},
        row::RowChange,
    },
};

#[derive(Debug, thiserror::Error)]
pub(super) enum WriteError {
    #[error("duplicate key on table {tables}, key {key}")]
    DuplicateKey { tables: String, key: String },
    #[error("schema mismatch: the downstream refused a write to {tables}: {reason}")]
    SchemaMismatch { tables: String, reason: String },
    #[error("downstream write to {tables} failed: {reason}")]
    Failed { tables: String, reason: String },
}

impl WriteError {
    /// What `e`, met writing `rows` in one transaction, means. Unknown
    /// tables and columns are a schema mismatch; deadlocks and lost
    /// connections are retryable.
    pub(super) fn of(e: &MyError, rows: &[RowChange]) -> ReplicationError {
        let tables = table_names(rows);
        let reason = conn::describe_error(e);
        let error = match conn::server_code(e) {
            Some(code) if DUPLICATE_KEY_CODES.contains(&code) => WriteError::DuplicateKey {
                tables,
                key: conn::duplicate_key(e).unwrap_or_else(|| "(unnamed)".to_owned()),
            },
            Some(1146 | 1054 | 1049) => WriteError::SchemaMismatch { tables, reason },
            _ => WriteError::Failed { tables, reason },
        };
        if conn::is_retryable(e) {
            ReplicationError::Retryable(error.to_string())
        } else {
            ReplicationError::Fatal(error.to_string())
        }
    }
}

/// The tables of `rows`, each once, in order: `db`.`t`, `db`.`u`.
fn table_names(rows: &[RowChange]) -> String {
    let mut names: Vec<String> = Vec::new();
    for change in rows {
        let name = format!("`{}`.`{}`", change.table.schema, change.table.name);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::source::row::{Cell, ColumnInfo, RowOp, TableInfo};
    use mysql_async::ServerError;
    use std::sync::Arc;

    #[test]
    fn a_duplicate_key_names_the_table_and_key_but_not_the_value() {
        let table = Arc::new(TableInfo {
            schema: "shop".into(),
            name: "t".into(),
            columns: vec![ColumnInfo::test("id")],
            primary_key: vec![0],
        });
        let rows = [RowChange {
            table,
            op: RowOp::Insert(vec![Cell::Int(1)]),
        }];
        let e = MyError::Server(ServerError {
            code: 1062,
            message: "Duplicate entry 'secret' for key 'x' for key 'PRIMARY'".into(),
            state: "23000".into(),
        });
        let shown = WriteError::of(&e, &rows).to_string();
        assert_eq!(shown, "duplicate key on table `shop`.`t`, key PRIMARY");
    }
}
