//! The Kafka sink: a changefeed's row changes and DDL as messages on one
//! topic, in TiCDC's protocols (`codec/`), spread by its dispatchers
//! (`dispatcher.rs`).
//!
//! Delivery is at least once and in order per partition: the producer is
//! idempotent with `acks=all`, messages are produced in upstream commit
//! order, and a round is reported done only when the broker has
//! acknowledged every one of its messages, so the checkpoint never passes a
//! message that could still be lost. After a crash the engine replays from
//! the checkpoint, which may send some messages twice but never skips one.
//!
//! One applier produces for the whole changefeed: librdkafka batches and
//! pipelines by itself, so more producers would only add connections.
//! Rounds are pipelined too: the applier hands round N+1 to librdkafka while
//! round N is still being acknowledged, and reports rounds in order.

pub(crate) mod codec;
pub(crate) mod dispatcher;
mod producer;

pub(crate) use producer::{KafkaSink, run_applier};

use self::codec::DdlEventKind;
use super::super::source::ddl::{Ddl, DdlPlan};

/// A DDL as the Kafka protocols describe it: the schema and table it acts
/// on and what kind of change it is.
pub(crate) fn describe_ddl<'a>(
    ddl: &'a Ddl,
    plan: &'a DdlPlan,
    current_schema: &'a str,
) -> (&'a str, Option<&'a str>, DdlEventKind) {
    let fallback = plan.fallback_schema.as_deref().unwrap_or(current_schema);
    match ddl {
        Ddl::CreateDatabase(db) => (db, None, DdlEventKind::CreateDatabase),
        Ddl::DropDatabase(db) => (db, None, DdlEventKind::DropDatabase),
        Ddl::AlterDatabase(db) => (
            db.as_deref().unwrap_or(current_schema),
            None,
            DdlEventKind::AlterDatabase,
        ),
        Ddl::Table { table, renamed_to } => {
            let kind = if renamed_to.is_some() {
                DdlEventKind::RenameTable
            } else {
                table_ddl_kind(&plan.sql)
            };
            (
                table.schema.as_deref().unwrap_or(fallback),
                Some(&table.name),
                kind,
            )
        }
        Ddl::DropTables(tables) => (
            fallback,
            tables.first().map(|t| t.name.as_str()),
            DdlEventKind::DropTable,
        ),
        Ddl::RenameTables(pairs) => (
            fallback,
            pairs.first().map(|(from, _)| from.name.as_str()),
            DdlEventKind::RenameTable,
        ),
    }
}

/// What a single-table DDL does, from its leading keywords (the DDL module
/// has already established that it is one).
fn table_ddl_kind(sql: &str) -> DdlEventKind {
    let words: Vec<String> = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == '`')
        .filter(|w| !w.is_empty())
        .take(6)
        .map(str::to_ascii_uppercase)
        .collect();
    let first = words.first().map(String::as_str);
    let has = |w: &str| words.iter().any(|x| x == w);
    match first {
        Some("TRUNCATE") => DdlEventKind::TruncateTable,
        Some("CREATE") if has("INDEX") && !has("TABLE") => DdlEventKind::CreateIndex,
        Some("CREATE") => DdlEventKind::CreateTable,
        Some("DROP") if has("INDEX") => DdlEventKind::DropIndex,
        _ => DdlEventKind::AlterTable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ddl_kinds() {
        assert_eq!(
            table_ddl_kind("create table t (id int)"),
            DdlEventKind::CreateTable
        );
        assert_eq!(
            table_ddl_kind("CREATE UNIQUE INDEX i ON t (a)"),
            DdlEventKind::CreateIndex
        );
        assert_eq!(table_ddl_kind("DROP INDEX i ON t"), DdlEventKind::DropIndex);
        assert_eq!(
            table_ddl_kind("truncate table t"),
            DdlEventKind::TruncateTable
        );
        assert_eq!(
            table_ddl_kind("ALTER TABLE t ADD c int"),
            DdlEventKind::AlterTable
        );
    }
}
