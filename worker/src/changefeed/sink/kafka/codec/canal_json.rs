//! TiCDC's `canal-json`: canal's flat JSON message, one row per message,
//! every value as a string, no key.

use mysql_async::consts::ColumnType;

use super::{
    DdlEvent, DdlEventKind, Message, RowEvent,
    json::{self, Object},
    values::{self, Scalar},
};
use crate::changefeed::source::row::{Cell, ColumnInfo, RowOp, TableInfo};

pub(super) fn encode_row(event: &RowEvent<'_>) -> Message {
    let table = &event.change.table;
    let (kind, data, old) = match &event.change.op {
        RowOp::Insert(after) => ("INSERT", after, None),
        RowOp::Update { before, after } => ("UPDATE", after, Some(before)),
        RowOp::Delete(before) => ("DELETE", before, None),
    };
    let mut out = String::with_capacity(256 + 64 * table.columns.len());
    let mut o = Object::begin(&mut out);
    header(&mut o, &table.schema, &table.name);
    primary_key_names(o.key("pkNames"), table);
    json::raw(o.key("isDdl"), "false");
    json::string(o.key("type"), kind);
    times(&mut o, event.commit_ts);
    json::string(o.key("sql"), "");
    // The types describe the row image the message carries as `data`; the
    // JDBC type of an unsigned integer depends on that image's value.
    if table.columns.is_empty() {
        json::raw(o.key("sqlType"), "null");
    } else {
        let mut types = Object::begin(o.key("sqlType"));
        for (column, cell) in table.columns.iter().zip(data) {
            json::number(types.key(&column.name), sql_type(column, cell));
        }
        types.end();
    }
    let mut types = Object::begin(o.key("mysqlType"));
    for column in &table.columns {
        json::string(types.key(&column.name), &column.mysql_type_name());
    }
    types.end();
    // TiCDC writes `old` before `data` for rows (and the other way round
    // for DDL); consumers do not care, but keeping its order keeps byte-
    // level comparisons with TiCDC's output simple.
    match old {
        Some(before) => row_image(o.key("old"), table, before),
        None => json::raw(o.key("old"), "null"),
    }
    row_image(o.key("data"), table, data);
    o.end();
    Message {
        key: None,
        value: out.into_bytes(),
    }
}

pub(super) fn encode_ddl(event: &DdlEvent<'_>) -> Message {
    let mut out = String::new();
    let mut o = Object::begin(&mut out);
    header(&mut o, event.schema, event.table.unwrap_or(""));
    json::raw(o.key("pkNames"), "null");
    json::raw(o.key("isDdl"), "true");
    json::string(o.key("type"), ddl_type(event.kind));
    times(&mut o, event.commit_ts);
    json::string(o.key("sql"), event.sql);
    for field in ["sqlType", "mysqlType", "data", "old"] {
        json::raw(o.key(field), "null");
    }
    o.end();
    Message {
        key: None,
        value: out.into_bytes(),
    }
}

/// `id` (always 0: canal's batch id, which consumers ignore), `database`
/// and `table`.
fn header(o: &mut Object<'_>, schema: &str, table: &str) {
    json::number(o.key("id"), 0);
    json::string(o.key("database"), schema);
    json::string(o.key("table"), table);
}

/// `es`, the commit time in milliseconds (the physical part of the TSO),
/// and `ts`, when the message was built.
fn times(o: &mut Object<'_>, commit_ts: u64) {
    json::number(o.key("es"), commit_ts >> 18);
    json::number(o.key("ts"), chrono::Utc::now().timestamp_millis());
}

/// The primary key's column names in column order, or `null`.
fn primary_key_names(out: &mut String, table: &TableInfo) {
    if table.primary_key.is_empty() {
        json::raw(out, "null");
        return;
    }
    out.push('[');
    let names = table
        .columns
        .iter()
        .enumerate()
        .filter(|(i, _)| table.primary_key.contains(i));
    for (n, (_, column)) in names.enumerate() {
        if n > 0 {
            out.push(',');
        }
        json::string(out, &column.name);
    }
    out.push(']');
}

/// `[{column: value, ...}]` with every value as a string or `null`.
fn row_image(out: &mut String, table: &TableInfo, cells: &[Cell]) {
    if table.columns.is_empty() {
        json::raw(out, "null");
        return;
    }
    out.push('[');
    let mut row = Object::begin(out);
    for (column, cell) in table.columns.iter().zip(cells) {
        write_text(row.key(&column.name), column, cell);
    }
    row.end();
    out.push(']');
}

/// Writes a value as canal does: a string holding numbers in decimal, ENUM
/// as its index, SET and BIT as their integer value, binary data as
/// ISO-8859-1 text; or `null`. Numbers and text are written straight into
/// the message: this runs for every column of every row.
fn write_text(out: &mut String, column: &ColumnInfo, cell: &Cell) {
    match values::scalar(column, cell) {
        Scalar::Null => json::raw(out, "null"),
        Scalar::Int(v) => json::quoted_number(out, v),
        Scalar::UInt(v) => json::quoted_number(out, v),
        Scalar::Float(v) => json::string(out, &values::float_text(v)),
        Scalar::Double(v) => json::string(out, &values::double_text(v)),
        Scalar::Text(s) => json::string(out, &s),
        Scalar::Bytes(b) => json::string(out, &values::latin1(b)),
    }
}

/// The column's JDBC type for this value: like canal, an unsigned integer
/// too large for the signed type of its width is announced as the next
/// wider type (MEDIUMINT UNSIGNED always fits INTEGER).
fn sql_type(column: &ColumnInfo, cell: &Cell) -> i32 {
    const SMALLINT: i32 = 5;
    const INTEGER: i32 = 4;
    const BIGINT: i32 = -5;
    const DECIMAL: i32 = 3;
    let base = column.jdbc_type();
    let Scalar::UInt(v) = values::scalar(column, cell) else {
        return base;
    };
    if !column.is_unsigned() {
        return base;
    }
    match column.column_type() {
        ColumnType::MYSQL_TYPE_TINY if v > i8::MAX as u64 => SMALLINT,
        ColumnType::MYSQL_TYPE_SHORT if v > i16::MAX as u64 => INTEGER,
        ColumnType::MYSQL_TYPE_LONG if v > i32::MAX as u64 => BIGINT,
        ColumnType::MYSQL_TYPE_LONGLONG if v > i64::MAX as u64 => DECIMAL,
        _ => base,
    }
}

/// canal's event type for a DDL, as TiCDC maps TiDB's DDL actions.
fn ddl_type(kind: DdlEventKind) -> &'static str {
    match kind {
        DdlEventKind::CreateDatabase | DdlEventKind::DropDatabase | DdlEventKind::AlterDatabase => {
            "QUERY"
        }
        DdlEventKind::CreateTable => "CREATE",
        DdlEventKind::AlterTable => "ALTER",
        DdlEventKind::DropTable => "ERASE",
        DdlEventKind::RenameTable => "RENAME",
        DdlEventKind::TruncateTable => "TRUNCATE",
        DdlEventKind::CreateIndex => "CINDEX",
        DdlEventKind::DropIndex => "DINDEX",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mysql_async::consts::ColumnType::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::changefeed::source::row::RowChange;

    /// 2024-01-01T00:00:00Z in milliseconds, shifted into a TSO.
    const COMMIT_TS: u64 = 1_704_067_200_000 << 18 | 7;

    fn table() -> Arc<TableInfo> {
        Arc::new(TableInfo {
            schema: "db".into(),
            name: "t".into(),
            columns: vec![
                ColumnInfo::test_typed("id", MYSQL_TYPE_LONGLONG, "binary")
                    .unsigned()
                    .not_null(),
                ColumnInfo::test_typed("name", MYSQL_TYPE_VARCHAR, "latin1"),
                ColumnInfo::test_typed("bin", MYSQL_TYPE_BLOB, "binary"),
                ColumnInfo::test_typed("price", MYSQL_TYPE_NEWDECIMAL, "binary"),
                ColumnInfo::test_typed("small", MYSQL_TYPE_TINY, "binary").unsigned(),
            ],
            primary_key: vec![0],
        })
    }

    fn row(id: u64, name: &[u8], small: Cell) -> Vec<Cell> {
        vec![
            Cell::UInt(id),
            Cell::Text {
                bytes: name.to_vec(),
                charset: "latin1".into(),
            },
            Cell::Bytes(vec![0x00, 0xe9, 0xff]),
            Cell::Null,
            small,
        ]
    }

    fn encode(op: RowOp) -> Value {
        let change = RowChange { table: table(), op };
        let message = encode_row(&RowEvent {
            change: &change,
            commit_ts: COMMIT_TS,
        });
        assert_eq!(message.key, None);
        let mut value: Value = serde_json::from_slice(&message.value).unwrap();
        let built = value["ts"].as_i64().unwrap();
        assert!(built > 1_704_067_200_000, "build time {built}");
        value["ts"] = json!(0);
        value
    }

    #[test]
    fn insert() {
        let value = encode(RowOp::Insert(row(u64::MAX, b"caf\xe9", Cell::UInt(200))));
        assert_eq!(
            value,
            json!({
                "id": 0, "database": "db", "table": "t", "pkNames": ["id"],
                "isDdl": false, "type": "INSERT", "es": 1_704_067_200_000u64, "ts": 0,
                "sql": "",
                "sqlType": {"id": 3, "name": 12, "bin": 2004, "price": 3, "small": 5},
                "mysqlType": {
                    "id": "bigint unsigned", "name": "varchar", "bin": "blob",
                    "price": "decimal", "small": "tinyint unsigned"
                },
                "old": null,
                "data": [{
                    "id": "18446744073709551615", "name": "café", "bin": "\u{0}éÿ",
                    "price": null, "small": "200"
                }]
            })
        );
    }

    #[test]
    fn update_carries_the_whole_before_image() {
        let value = encode(RowOp::Update {
            before: row(1, b"a", Cell::UInt(1)),
            after: row(1, b"b", Cell::UInt(1)),
        });
        assert_eq!(value["type"], "UPDATE");
        assert_eq!(value["sqlType"]["id"], -5);
        assert_eq!(value["sqlType"]["small"], -6);
        assert_eq!(value["old"][0]["name"], "a");
        assert_eq!(value["old"][0]["id"], "1");
        assert_eq!(value["old"][0]["bin"], "\u{0}éÿ");
        assert_eq!(value["data"][0]["name"], "b");
    }

    #[test]
    fn delete_and_column_order() {
        let change = RowChange {
            table: table(),
            op: RowOp::Delete(row(2, b"x", Cell::Null)),
        };
        let message = encode_row(&RowEvent {
            change: &change,
            commit_ts: COMMIT_TS,
        });
        let text = String::from_utf8(message.value).unwrap();
        assert!(
            text.contains(r#""old":null,"data":[{"id":"2","name":"x","bin":"\u0000éÿ","price":null,"small":null}]}"#),
            "{text}"
        );
        assert!(text.starts_with(r#"{"id":0,"database":"db","table":"t","pkNames":["id"],"isDdl":false,"type":"DELETE","es":1704067200000,"ts":"#));
    }

    #[test]
    fn ddl() {
        let message = encode_ddl(&DdlEvent {
            schema: "db",
            table: Some("t"),
            sql: "ALTER TABLE t ADD COLUMN c INT",
            kind: DdlEventKind::AlterTable,
            commit_ts: COMMIT_TS,
        });
        assert_eq!(message.key, None);
        let mut value: Value = serde_json::from_slice(&message.value).unwrap();
        value["ts"] = json!(0);
        assert_eq!(
            value,
            json!({
                "id": 0, "database": "db", "table": "t", "pkNames": null, "isDdl": true,
                "type": "ALTER", "es": 1_704_067_200_000u64, "ts": 0,
                "sql": "ALTER TABLE t ADD COLUMN c INT",
                "sqlType": null, "mysqlType": null, "data": null, "old": null
            })
        );
        let database = encode_ddl(&DdlEvent {
            schema: "db",
            table: None,
            sql: "CREATE DATABASE db",
            kind: DdlEventKind::CreateDatabase,
            commit_ts: COMMIT_TS,
        });
        let value: Value = serde_json::from_slice(&database.value).unwrap();
        assert_eq!(value["type"], "QUERY");
        assert_eq!(value["table"], "");
        assert_eq!(ddl_type(DdlEventKind::DropTable), "ERASE");
        assert_eq!(ddl_type(DdlEventKind::CreateIndex), "CINDEX");
    }
}
