//! What changefeed create and update verify before accepting, and where a
//! changefeed starts. Every error is a sentence meant for the person who
//! configured the changefeed.

use std::collections::{BTreeMap, BTreeSet};

use mysql_async::{Conn, prelude::Queryable};

use ferry_service::changefeeds::{
    filter::{SYSTEM_SCHEMAS, TableFilter},
    tso,
};

use super::{
    engine::{Checkpoint, MysqlEndpoint, ReplicationError},
    source::{conn, scan},
};

async fn connect(ep: &MysqlEndpoint, role: &str) -> Result<Conn, String> {
    conn::connect(ep, role, vec![])
        .await
        .map_err(|e| e.to_string())
}

/// The upstream is reachable with the credentials and writes a binlog ferry
/// can read: `log_bin=ON`, `binlog_format=ROW`, `binlog_row_image=FULL`,
/// `binlog_row_metadata=FULL`.
pub async fn check_upstream(ep: &MysqlEndpoint) -> Result<(), String> {
    let mut conn = connect(ep, "upstream").await?;
    let rows: Vec<(String, String)> = conn
        .query(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN \
             ('log_bin', 'binlog_format', 'binlog_row_image', 'binlog_row_metadata')",
        )
        .await
        .map_err(|e| format!("cannot read the upstream's binlog settings: {e}"))?;
    let _ = conn.disconnect().await;
    let vars: BTreeMap<String, String> = rows
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    for (name, needed) in [
        ("log_bin", "ON"),
        ("binlog_format", "ROW"),
        ("binlog_row_image", "FULL"),
        ("binlog_row_metadata", "FULL"),
    ] {
        match vars.get(name) {
            None => {
                return Err(format!(
                    "the upstream has no {name} variable; ferry needs {name}={needed} \
                     (MariaDB 10.5+ or MySQL 8.0+)"
                ));
            }
            Some(value) if !value.eq_ignore_ascii_case(needed) => {
                return Err(format!(
                    "the upstream's {name} is {value}; ferry needs {name}={needed}"
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The downstream is reachable with the credentials and accepts writes: it
/// is not read-only and the user holds INSERT (or ALL PRIVILEGES) somewhere.
pub async fn check_downstream(ep: &MysqlEndpoint) -> Result<(), String> {
    let mut conn = connect(ep, "downstream").await?;
    let read_only: Option<String> = conn
        .query_first("SELECT @@global.read_only")
        .await
        .map_err(|e| format!("cannot read the downstream's read_only setting: {e}"))?;
    if read_only.is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("ON")) {
        return Err(
            "the downstream is read-only (read_only=ON); ferry needs to write to it".into(),
        );
    }
    // SHOW GRANTS may be restricted; only a readable answer without any
    // write privilege is a refusal.
    if let Ok(grants) = conn.query::<String, _>("SHOW GRANTS").await {
        let upper: Vec<String> = grants.iter().map(|g| g.to_ascii_uppercase()).collect();
        let writes = upper
            .iter()
            .any(|g| g.contains("ALL PRIVILEGES") || g.contains("INSERT"));
        if !writes {
            return Err(format!(
                "the downstream user {} cannot write: its grants give no INSERT privilege",
                ep.user
            ));
        }
    }
    let _ = conn.disconnect().await;
    Ok(())
}

/// The tables the rules match that have neither a primary key nor a unique
/// key over NOT NULL columns, as `db.tbl`, sorted. Such tables cannot be
/// replicated idempotently.
pub async fn tables_without_key(
    ep: &MysqlEndpoint,
    filter: &TableFilter,
) -> Result<Vec<String>, String> {
    let mut conn = connect(ep, "upstream").await?;
    // The system schemas are never replicated. Naming them in the condition
    // lets the server skip opening their tables, which is most of the work
    // on a small server (MariaDB checks conditions on the schema and table
    // names before it opens a table for information_schema).
    let not_system = format!(
        "TABLE_SCHEMA NOT IN ({})",
        SYSTEM_SCHEMAS
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let tables: Vec<(String, String)> = conn
        .query(format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES \
             WHERE TABLE_TYPE = 'BASE TABLE' AND {not_system}"
        ))
        .await
        .map_err(|e| format!("cannot list the upstream's tables: {e}"))?;
    let columns: Vec<(String, String, String, String)> = conn
        .query(format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NULLABLE FROM information_schema.STATISTICS \
             WHERE NON_UNIQUE = 0 AND {not_system}"
        ))
        .await
        .map_err(|e| format!("cannot list the upstream's keys: {e}"))?;
    let _ = conn.disconnect().await;
    // (schema, table, index) -> every column NOT NULL
    let mut indexes: BTreeMap<(String, String, String), bool> = BTreeMap::new();
    for (schema, table, index, nullable) in columns {
        let not_null = indexes.entry((schema, table, index)).or_insert(true);
        *not_null &= !nullable.eq_ignore_ascii_case("YES");
    }
    let keyed: BTreeSet<(String, String)> = indexes
        .into_iter()
        .filter(|(_, not_null)| *not_null)
        .map(|((schema, table, _), _)| (schema, table))
        .collect();
    let mut missing: Vec<String> = tables
        .into_iter()
        .filter(|(schema, table)| filter.matches(schema, table))
        .filter(|t| !keyed.contains(t))
        .map(|(schema, table)| format!("{schema}.{table}"))
        .collect();
    missing.sort();
    Ok(missing)
}

/// The upstream's current end of binlog, with its GTID position and the
/// current time as TSO.
pub async fn current_position(ep: &MysqlEndpoint) -> Result<Checkpoint, String> {
    current_checkpoint(ep).await.map_err(|e| e.to_string())
}

pub(crate) async fn current_checkpoint(ep: &MysqlEndpoint) -> Result<Checkpoint, ReplicationError> {
    let mut conn = conn::connect(ep, "upstream", vec![]).await?;
    // The GTID position first: read before the file position, it can only
    // be behind it, never ahead.
    let gtid: Option<Option<String>> = conn
        .query_first("SELECT @@global.gtid_binlog_pos")
        .await
        .ok();
    let status = match conn
        .query_first::<mysql_async::Row, _>("SHOW MASTER STATUS")
        .await
    {
        Ok(row) => row,
        // MySQL 8.4 renamed it.
        Err(e) if conn::server_code(&e) == Some(1064) => conn
            .query_first::<mysql_async::Row, _>("SHOW BINARY LOG STATUS")
            .await
            .map_err(|e| conn::classify(&e, "cannot read the upstream's binlog position"))?,
        Err(e) => {
            return Err(conn::classify(
                &e,
                "cannot read the upstream's binlog position (SHOW MASTER STATUS)",
            ));
        }
    };
    let _ = conn.disconnect().await;
    let row = status.ok_or_else(|| {
        ReplicationError::Fatal("the upstream has no binlog position: log_bin must be ON".into())
    })?;
    let file: String = row.get_opt(0).and_then(Result::ok).unwrap_or_default();
    let position: u64 = row.get_opt(1).and_then(Result::ok).unwrap_or_default();
    if file.is_empty() {
        return Err(ReplicationError::Fatal(
            "the upstream has no binlog position: log_bin must be ON".into(),
        ));
    }
    // Binlog events carry whole seconds, so the start is expressed at that
    // resolution: the last millisecond of the previous second. Every event
    // after this position then has a larger TSO, and the checkpoint visibly
    // moves as soon as the first of them is applied.
    let now_s = chrono::Utc::now().timestamp().max(1) as u64;
    Ok(Checkpoint {
        file,
        position,
        gtid: gtid.flatten().filter(|g| !g.is_empty()),
        tso: tso::from_unix_ms(now_s * 1000 - 1),
    })
}

/// The checkpoint to start from for `startTS` `tso`: the first transaction
/// that committed at or after it. A TSO older than the oldest binlog the
/// upstream still has is refused, naming the oldest available time.
pub async fn resolve_start(ep: &MysqlEndpoint, tso: u64) -> Result<Checkpoint, String> {
    scan::find_start(ep, tso).await.map_err(|e| e.to_string())
}
