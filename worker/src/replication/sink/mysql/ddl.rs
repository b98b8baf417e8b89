//! DDL statements replayed downstream, each exactly as the upstream read it.
//!
//! A DDL comes from the upstream binlog, written by whoever may create a
//! table there; the downstream runs it with the sink's credentials. Two
//! things keep it from running more than the upstream ran:
//!
//! - It runs under the SQL mode and character sets recorded in its QUERY
//!   event (`SessionVars`), so that the downstream ends its strings and names
//!   where the upstream did. Under another mode, `'x\'` ends a string upstream
//!   (NO_BACKSLASH_ESCAPES) and opens one downstream.
//! - It runs as one server-side prepared statement, which is exactly one
//!   statement whatever the text holds: mysql_async always announces
//!   CLIENT_MULTI_STATEMENTS and has no option to leave it out, so a DDL
//!   sent as a query could carry a second statement after a `;`. It is not
//!   prepared with the binary protocol either, because mysql_async rewrites
//!   `:name` outside what its own lexer takes for strings before preparing,
//!   and that lexer always honours backslash escapes. The text reaches the
//!   server as a hex literal, which nothing in it can end early, and
//!   `PREPARE` reads those bytes under the session's character set, as the
//!   upstream read them.
//!
//! The DDL connection is not the one rows are written on, so that a DDL's
//! SQL mode never applies to row writes.

use std::time::Duration;

use mysql_async::{Conn, prelude::Queryable};

use super::{ATTEMPTS, MysqlSink, SESSION_INIT};
use crate::replication::{
    engine::ReplicationError,
    sink::abbreviate,
    source::{
        conn,
        ddl::{DdlKind, DdlPlan, quote_ident},
        session::SessionVars,
    },
};

/// Errors that mean a replayed DDL was already applied.
fn already_applied(kind: DdlKind, code: u16) -> bool {
    match kind {
        // 1007 database exists, 1008 database does not exist.
        DdlKind::Database => matches!(code, 1007 | 1008),
        // 1050 table exists, 1060 duplicate column, 1061 duplicate key,
        // 1091 cannot drop a missing column or key, 1054 unknown column
        // (a CHANGE or DROP that already happened), 1826 duplicate foreign key.
        DdlKind::Table => matches!(code, 1050 | 1060 | 1061 | 1091 | 1054 | 1826),
        // 1051 unknown table.
        DdlKind::Drop => code == 1051,
        // 1146 the old name no longer exists, 1050 the new one does.
        DdlKind::Rename => matches!(code, 1146 | 1050),
    }
}

/// 1115 unknown character set, 1273 unknown collation: the upstream's ids
/// are not the downstream's (MySQL 8's utf8mb4_0900 collations on MariaDB).
const UNKNOWN_CHARSET: [u16; 2] = [1115, 1273];

/// The statements that give the DDL connection the upstream's SQL mode and
/// character sets. Every value is ferry's own text (mode names from a fixed
/// list, numeric ids), never the upstream's.
fn session_statements(session: &SessionVars) -> [String; 2] {
    let mode = match session.sql_mode_names() {
        Some(names) => format!("SET SESSION sql_mode = '{names}'"),
        // No mode recorded: the server's default applied upstream.
        None => "SET SESSION sql_mode = DEFAULT".to_owned(),
    };
    let charsets = match session.charsets {
        Some(c) => format!(
            "SET SESSION character_set_client = {}, collation_connection = {}, \
             collation_server = {}",
            c.client, c.connection, c.server
        ),
        None => "SET NAMES utf8mb4".to_owned(),
    };
    [mode, charsets]
}

/// `sql` as one prepared statement, prepared from a hex literal and run.
fn prepared(sql: &str) -> String {
    format!(
        "SET @ferry_ddl = X'{}';\nPREPARE ferry_ddl FROM @ferry_ddl;\nEXECUTE ferry_ddl;\n\
         DEALLOCATE PREPARE ferry_ddl",
        hex::encode(sql.as_bytes())
    )
}

impl MysqlSink {
    /// Runs a DDL statement, treating "already done" errors of a replay as
    /// success.
    pub async fn apply_ddl(&mut self, plan: &DdlPlan) -> Result<(), ReplicationError> {
        let mut attempt = 1;
        loop {
            match self.try_ddl(plan).await {
                Ok(()) => {
                    self.invalidate();
                    return Ok(());
                }
                Err(ReplicationError::Retryable(reason)) if attempt < ATTEMPTS => {
                    tracing::warn!(attempt, error = %reason, "downstream DDL failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn ddl_conn(&mut self) -> Result<&mut Conn, ReplicationError> {
        if self.ddl_conn.is_none() {
            let init = SESSION_INIT.iter().map(|s| (*s).to_owned()).collect();
            self.ddl_conn = Some(conn::connect(&self.endpoint, "downstream", init).await?);
        }
        Ok(self.ddl_conn.as_mut().expect("connected above"))
    }

    async fn try_ddl(&mut self, plan: &DdlPlan) -> Result<(), ReplicationError> {
        let context = || format!("cannot apply `{}` downstream", abbreviate(&plan.sql));
        let result = run_ddl(self.ddl_conn().await?, plan).await;
        match result {
            Ok(()) => {
                tracing::info!(sql = %abbreviate(&plan.sql), "applied DDL downstream");
                Ok(())
            }
            Err(e) if conn::server_code(&e).is_some_and(|c| already_applied(plan.kind, c)) => {
                tracing::warn!(
                    sql = %abbreviate(&plan.sql),
                    error = %conn::describe_error(&e),
                    "DDL already applied downstream; skipped"
                );
                Ok(())
            }
            Err(e) => {
                if conn::is_retryable(&e) {
                    self.ddl_conn = None;
                }
                Err(conn::classify(&e, &context()))
            }
        }
    }
}

/// `USE`, the upstream's session, then the statement.
async fn run_ddl(db: &mut Conn, plan: &DdlPlan) -> Result<(), mysql_async::Error> {
    if let Some(schema) = &plan.use_schema {
        let used = db.query_drop(format!("USE {}", quote_ident(schema))).await;
        match (used, &plan.fallback_schema) {
            (Err(e), Some(fallback))
                if conn::server_code(&e) == Some(1049) && fallback != schema =>
            {
                db.query_drop(format!("USE {}", quote_ident(fallback)))
                    .await?;
            }
            (used, _) => used?,
        }
    }
    let [mode, charsets] = session_statements(&plan.session);
    db.query_drop(mode).await?;
    match db.query_drop(charsets).await {
        // Ids the downstream does not know: for a statement in ASCII
        // every character set ferry lexes reads the same bytes, so
        // utf8mb4 reads it as the upstream did.
        Err(e)
            if conn::server_code(&e).is_some_and(|c| UNKNOWN_CHARSET.contains(&c))
                && plan.sql.is_ascii() =>
        {
            db.query_drop("SET NAMES utf8mb4").await?;
        }
        other => other?,
    }
    db.query_drop(prepared(&plan.sql)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_travels_as_a_hex_literal() {
        let sql = prepared("CREATE TABLE t (a INT) COMMENT 'x\\' ; DROP DATABASE v; -- '");
        assert!(sql.starts_with("SET @ferry_ddl = X'435245415445"));
        assert!(!sql.contains("DROP"));
        let [mode, _] = session_statements(&SessionVars {
            sql_mode: Some(1 << 20),
            charsets: None,
        });
        assert_eq!(mode, "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'");
    }
}
