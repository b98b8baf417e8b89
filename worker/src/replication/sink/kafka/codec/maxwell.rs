//! TiCDC's `maxwell`: Maxwell's JSON row message with TiCDC's quirks, which
//! its consumers expect: a deleted row is in `old` (not `data`), a row
//! message's key is only the 8-byte batch version header, and a DDL
//! message's key is TiCDC's JSON event key.

use super::{
    DdlEvent, DdlEventKind, Message, RowEvent,
    json::{self, Object},
    values::{self, Scalar},
};
use crate::replication::source::row::{Cell, ColumnInfo, RowOp, TableInfo};

/// TiCDC's batch protocol version, the whole key of a row message.
const BATCH_VERSION: u64 = 1;

pub(super) fn encode_row(event: &RowEvent<'_>) -> Message {
    let table = &event.change.table;
    let mut out = String::new();
    let mut o = Object::begin(&mut out);
    json::string(o.key("database"), &table.schema);
    json::string(o.key("table"), &table.name);
    let kind = match event.change.op {
        RowOp::Insert(_) => "insert",
        RowOp::Update { .. } => "update",
        RowOp::Delete(_) => "delete",
    };
    json::string(o.key("type"), kind);
    // Seconds of the commit time: the TSO's physical part is milliseconds.
    json::number(o.key("ts"), (event.commit_ts >> 18) / 1000);
    // Maxwell's transaction id; the commit TSO identifies the transaction
    // just as well and is the same for all its rows.
    json::number(o.key("xid"), event.commit_ts);
    match &event.change.op {
        RowOp::Insert(after) => columns(o.key("data"), table, after, |_, _| true),
        RowOp::Update { before, after } => {
            columns(o.key("data"), table, after, |_, _| true);
            // Only the columns the update changed, with their old values;
            // `old` is left out when nothing changed.
            let changed = |i: usize, cell: &Cell| after.get(i) != Some(cell);
            if before.iter().enumerate().any(|(i, cell)| changed(i, cell)) {
                columns(o.key("old"), table, before, changed);
            }
        }
        RowOp::Delete(before) => columns(o.key("old"), table, before, |_, _| true),
    }
    o.end();
    Message {
        key: Some(BATCH_VERSION.to_be_bytes().to_vec()),
        value: out.into_bytes(),
    }
}

pub(super) fn encode_ddl(event: &DdlEvent<'_>) -> Message {
    let table = event.table.unwrap_or("");
    let mut out = String::new();
    let mut o = Object::begin(&mut out);
    json::string(o.key("type"), ddl_type(event.kind));
    json::string(o.key("database"), event.schema);
    json::string(o.key("table"), table);
    // The table definitions before and after the statement; ferry's DDL
    // events carry no schema, so only the names are filled in (TiCDC also
    // leaves `old` empty when it has no previous definition).
    table_struct(o.key("old"), "", "");
    table_struct(o.key("def"), event.schema, table);
    // The full TSO here, unlike the seconds of a row message: TiCDC's choice.
    json::number(o.key("ts"), event.commit_ts);
    json::string(o.key("sql"), event.sql);
    o.end();
    Message {
        key: Some(ddl_key(event).into_bytes()),
        value: out.into_bytes(),
    }
}

/// TiCDC's event key, `{"ts":…,"scm":…,"tbl":…,"t":2}`, without empty names.
fn ddl_key(event: &DdlEvent<'_>) -> String {
    let mut out = String::new();
    let mut key = Object::begin(&mut out);
    json::number(key.key("ts"), event.commit_ts);
    if !event.schema.is_empty() {
        json::string(key.key("scm"), event.schema);
    }
    if let Some(table) = event.table.filter(|t| !t.is_empty()) {
        json::string(key.key("tbl"), table);
    }
    json::number(key.key("t"), 2);
    key.end();
    out
}

fn table_struct(out: &mut String, schema: &str, table: &str) {
    let mut o = Object::begin(out);
    json::string(o.key("database"), schema);
    json::string(o.key("table"), table);
    json::raw(o.key("columns"), "null");
    json::raw(o.key("primary-key"), "null");
    o.end();
}

/// `{column: value, ...}` for the cells `keep` selects, in column order.
fn columns(
    out: &mut String,
    table: &TableInfo,
    cells: &[Cell],
    keep: impl Fn(usize, &Cell) -> bool,
) {
    let mut o = Object::begin(out);
    for (i, (column, cell)) in table.columns.iter().zip(cells).enumerate() {
        if keep(i, cell) {
            value(o.key(&column.name), column, cell);
        }
    }
    o.end();
}

/// A value as TiCDC's maxwell writes it: numbers as JSON numbers (ENUM as
/// its index, SET and BIT as integers), DECIMAL, temporal values, JSON and
/// text as strings, binary data as base64.
fn value(out: &mut String, column: &ColumnInfo, cell: &Cell) {
    match values::scalar(column, cell) {
        Scalar::Null => json::raw(out, "null"),
        Scalar::Int(v) => json::number(out, v),
        Scalar::UInt(v) => json::number(out, v),
        Scalar::Float(v) => json::raw(out, &values::float_json(v)),
        Scalar::Double(v) => json::raw(out, &values::double_json(v)),
        Scalar::Text(s) => json::string(out, &s),
        Scalar::Bytes(b) => json::string(out, &values::base64(b)),
    }
}

/// Maxwell's DDL type, as TiCDC maps TiDB's DDL actions: every change to
/// an existing table (rename, truncate and index changes included) is
/// `table-alter`.
fn ddl_type(kind: DdlEventKind) -> &'static str {
    match kind {
        DdlEventKind::CreateDatabase => "database-create",
        DdlEventKind::DropDatabase => "database-drop",
        DdlEventKind::AlterDatabase => "database-alter",
        DdlEventKind::CreateTable => "table-create",
        DdlEventKind::DropTable => "table-drop",
        DdlEventKind::AlterTable
        | DdlEventKind::RenameTable
        | DdlEventKind::TruncateTable
        | DdlEventKind::CreateIndex
        | DdlEventKind::DropIndex => "table-alter",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mysql_async::consts::ColumnType::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::replication::source::row::RowChange;

    /// 2024-01-01T00:00:00.500Z in milliseconds, shifted into a TSO.
    const COMMIT_TS: u64 = 1_704_067_200_500 << 18 | 3;

    fn table() -> Arc<TableInfo> {
        Arc::new(TableInfo {
            schema: "db".into(),
            name: "t".into(),
            columns: vec![
                ColumnInfo::test_typed("id", MYSQL_TYPE_LONGLONG, "binary")
                    .unsigned()
                    .not_null(),
                ColumnInfo::test_typed("name", MYSQL_TYPE_STRING, "latin1"),
                ColumnInfo::test_typed("bin", MYSQL_TYPE_VARCHAR, "binary"),
                ColumnInfo::test_typed("price", MYSQL_TYPE_NEWDECIMAL, "binary"),
                ColumnInfo::test_typed("score", MYSQL_TYPE_DOUBLE, "binary"),
                ColumnInfo::test_typed("kind", MYSQL_TYPE_ENUM, "utf8mb4"),
            ],
            primary_key: vec![0],
        })
    }

    fn row(name: &[u8], price: Cell) -> Vec<Cell> {
        vec![
            Cell::UInt(u64::MAX),
            Cell::Text {
                bytes: name.to_vec(),
                charset: "latin1".into(),
            },
            Cell::Bytes(vec![0x00, 0xff]),
            price,
            Cell::Double(1.5),
            Cell::Int(2),
        ]
    }

    fn encode(op: RowOp) -> (Message, Value) {
        let change = RowChange { table: table(), op };
        let message = encode_row(&RowEvent {
            change: &change,
            commit_ts: COMMIT_TS,
        });
        let value = serde_json::from_slice(&message.value).unwrap();
        (message, value)
    }

    #[test]
    fn insert() {
        let (message, value) = encode(RowOp::Insert(row(b"caf\xe9", Cell::Decimal("9.90".into()))));
        assert_eq!(message.key, Some(vec![0, 0, 0, 0, 0, 0, 0, 1]));
        assert_eq!(
            value,
            json!({
                "database": "db", "table": "t", "type": "insert", "ts": 1_704_067_200u64,
                "xid": COMMIT_TS,
                "data": {
                    "id": u64::MAX, "name": "café", "bin": "AP8=", "price": "9.90",
                    "score": 1.5, "kind": 2
                }
            })
        );
        let text = String::from_utf8(message.value).unwrap();
        assert!(
            text.contains(r#""data":{"id":18446744073709551615,"name":"café","#),
            "{text}"
        );
    }

    #[test]
    fn update_keeps_only_changed_old_values() {
        let (_, value) = encode(RowOp::Update {
            before: row(b"a", Cell::Null),
            after: row(b"b", Cell::Decimal("1.00".into())),
        });
        assert_eq!(value["type"], "update");
        assert_eq!(value["data"]["name"], "b");
        assert_eq!(value["old"], json!({"name": "a", "price": null}));

        let (_, unchanged) = encode(RowOp::Update {
            before: row(b"a", Cell::Null),
            after: row(b"a", Cell::Null),
        });
        assert_eq!(unchanged.get("old"), None);
    }

    #[test]
    fn delete_puts_the_row_in_old() {
        let (_, value) = encode(RowOp::Delete(row(b"x", Cell::Null)));
        assert_eq!(value["type"], "delete");
        assert_eq!(value.get("data"), None);
        assert_eq!(value["old"]["name"], "x");
        assert_eq!(value["old"]["price"], Value::Null);
    }

    #[test]
    fn ddl() {
        let message = encode_ddl(&DdlEvent {
            schema: "db",
            table: Some("t"),
            sql: "TRUNCATE TABLE t",
            kind: DdlEventKind::TruncateTable,
            commit_ts: COMMIT_TS,
        });
        let key = String::from_utf8(message.key.unwrap()).unwrap();
        assert_eq!(
            key,
            format!(r#"{{"ts":{COMMIT_TS},"scm":"db","tbl":"t","t":2}}"#)
        );
        let value: Value = serde_json::from_slice(&message.value).unwrap();
        assert_eq!(
            value,
            json!({
                "type": "table-alter", "database": "db", "table": "t",
                "old": {"database": "", "table": "", "columns": null, "primary-key": null},
                "def": {"database": "db", "table": "t", "columns": null, "primary-key": null},
                "ts": COMMIT_TS, "sql": "TRUNCATE TABLE t"
            })
        );
        let database = encode_ddl(&DdlEvent {
            schema: "db",
            table: None,
            sql: "DROP DATABASE db",
            kind: DdlEventKind::DropDatabase,
            commit_ts: COMMIT_TS,
        });
        let key = String::from_utf8(database.key.unwrap()).unwrap();
        assert_eq!(key, format!(r#"{{"ts":{COMMIT_TS},"scm":"db","t":2}}"#));
        let value: Value = serde_json::from_slice(&database.value).unwrap();
        assert_eq!(value["type"], "database-drop");
        assert_eq!(ddl_type(DdlEventKind::CreateTable), "table-create");
    }
}
