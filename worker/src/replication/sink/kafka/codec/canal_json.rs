//! TiCDC's `canal-json`: canal's flat JSON message, one row per message,
//! every value as a string, no key.

use std::sync::Arc;

use mysql_async::consts::ColumnType;

use super::{
    DdlEvent, DdlEventKind, Message, RowEvent,
    json::{self, Object},
    values::{self, Scalar},
};
use crate::replication::source::row::{Cell, ColumnInfo, RowOp, TableInfo};

/// The parts of a row message that depend only on the table, written once
/// per table instead of once per row: with a few columns they are most of
/// the message, and each column name appears in it three or four times.
pub(super) struct TableParts {
    table: Arc<TableInfo>,
    /// `{"id":0,"database":…,"table":…,"pkNames":…,"isDdl":false,"type":`
    head: String,
    /// `"sqlType":{…}` when no value can change it (no unsigned integer
    /// column); otherwise it is written per row.
    sql_type: Option<String>,
    /// `"mysqlType":{…}`
    mysql_type: String,
    /// Each column's name as an object key: `"name":`.
    keys: Vec<String>,
}

impl TableParts {
    fn of(table: &Arc<TableInfo>) -> TableParts {
        let mut head = String::new();
        let mut o = Object::begin(&mut head);
        header(&mut o, &table.schema, &table.name);
        primary_key_names(o.key("pkNames"), table);
        json::raw(o.key("isDdl"), "false");
        o.key("type");
        let keys: Vec<String> = table
            .columns
            .iter()
            .map(|column| {
                let mut key = String::new();
                json::string(&mut key, &column.name);
                key.push(':');
                key
            })
            .collect();
        let sql_type = (!table.columns.iter().any(could_widen)).then(|| {
            let mut out = String::new();
            sql_types(&mut out, table, &keys, None);
            out
        });
        let mut mysql_type = String::from("\"mysqlType\":");
        if table.columns.is_empty() {
            json::raw(&mut mysql_type, "{}");
        } else {
            for (n, (column, key)) in table.columns.iter().zip(&keys).enumerate() {
                mysql_type.push(if n == 0 { '{' } else { ',' });
                mysql_type.push_str(key);
                json::string(&mut mysql_type, &column.mysql_type_name());
            }
            mysql_type.push('}');
        }
        TableParts {
            table: table.clone(),
            head,
            sql_type,
            mysql_type,
            keys,
        }
    }
}

/// Encodes one row, reusing `cache` when the row is of the same table as
/// the one before (consecutive rows nearly always are).
pub(super) fn encode_row(event: &RowEvent<'_>, cache: &mut Option<TableParts>) -> Message {
    let table = &event.change.table;
    let parts = match cache {
        Some(parts) if Arc::ptr_eq(&parts.table, table) => parts,
        _ => cache.insert(TableParts::of(table)),
    };
    let (kind, data, old) = match &event.change.op {
        RowOp::Insert(after) => ("INSERT", after, None),
        RowOp::Update { before, after } => ("UPDATE", after, Some(before)),
        RowOp::Delete(before) => ("DELETE", before, None),
    };
    let mut out = String::with_capacity(parts.head.len() + parts.mysql_type.len() + 256);
    out.push_str(&parts.head);
    json::string(&mut out, kind);
    out.push_str(",\"es\":");
    json::number(&mut out, event.commit_ts >> 18);
    out.push_str(",\"ts\":");
    json::number(&mut out, chrono::Utc::now().timestamp_millis());
    out.push_str(",\"sql\":\"\",");
    // The types describe the row image the message carries as `data`; the
    // JDBC type of an unsigned integer depends on that image's value.
    match &parts.sql_type {
        Some(fixed) => out.push_str(fixed),
        None => sql_types(&mut out, table, &parts.keys, Some(data)),
    }
    out.push(',');
    out.push_str(&parts.mysql_type);
    // TiCDC writes `old` before `data` for rows (and the other way round
    // for DDL); consumers do not care, but keeping its order keeps byte-
    // level comparisons with TiCDC's output simple.
    out.push_str(",\"old\":");
    match old {
        Some(before) => row_image(&mut out, table, &parts.keys, before),
        None => json::raw(&mut out, "null"),
    }
    out.push_str(",\"data\":");
    row_image(&mut out, table, &parts.keys, data);
    out.push('}');
    Message {
        key: None,
        value: out.into_bytes(),
    }
}

/// `"sqlType":{…}`, or `"sqlType":null` for a table without columns. With
/// no row image, each column's base type.
fn sql_types(out: &mut String, table: &TableInfo, keys: &[String], cells: Option<&[Cell]>) {
    out.push_str("\"sqlType\":");
    if table.columns.is_empty() {
        json::raw(out, "null");
        return;
    }
    for (n, (column, key)) in table.columns.iter().zip(keys).enumerate() {
        out.push(if n == 0 { '{' } else { ',' });
        out.push_str(key);
        let ty = match cells {
            Some(cells) => sql_type(column, &cells[n]),
            None => column.jdbc_type(),
        };
        json::number(out, ty);
    }
    out.push('}');
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
fn row_image(out: &mut String, table: &TableInfo, keys: &[String], cells: &[Cell]) {
    if table.columns.is_empty() {
        json::raw(out, "null");
        return;
    }
    for (n, ((column, key), cell)) in table.columns.iter().zip(keys).zip(cells).enumerate() {
        out.push_str(if n == 0 { "[{" } else { "," });
        out.push_str(key);
        write_text(out, column, cell);
    }
    out.push_str("}]");
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

/// Whether [`sql_type`] can announce a wider type than the column's own,
/// depending on the value.
fn could_widen(column: &ColumnInfo) -> bool {
    column.is_unsigned()
        && matches!(
            column.column_type(),
            ColumnType::MYSQL_TYPE_TINY
                | ColumnType::MYSQL_TYPE_SHORT
                | ColumnType::MYSQL_TYPE_LONG
                | ColumnType::MYSQL_TYPE_LONGLONG
        )
}

/// The column's JDBC type for this value: like canal, an unsigned integer
/// too large for the signed type of its width is announced as the next
/// wider type (MEDIUMINT UNSIGNED always fits INTEGER).
fn sql_type(column: &ColumnInfo, cell: &Cell) -> i32 {
    use crate::replication::source::row::jdbc::{BIGINT, DECIMAL, INTEGER, SMALLINT};
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
    use crate::replication::source::row::RowChange;

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
        let message = encode_row(
            &RowEvent {
                change: &change,
                commit_ts: COMMIT_TS,
            },
            &mut None,
        );
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
        let message = encode_row(
            &RowEvent {
                change: &change,
                commit_ts: COMMIT_TS,
            },
            &mut None,
        );
        let text = String::from_utf8(message.value).unwrap();
        assert!(
            text.contains(r#""old":null,"data":[{"id":"2","name":"x","bin":"\u0000éÿ","price":null,"small":null}]}"#),
            "{text}"
        );
        assert!(text.starts_with(r#"{"id":0,"database":"db","table":"t","pkNames":["id"],"isDdl":false,"type":"DELETE","es":1704067200000,"ts":"#));
    }

    #[test]
    fn cached_table_parts_follow_the_table() {
        let signed = Arc::new(TableInfo {
            schema: "db".into(),
            name: "plain \"quoted\"".into(),
            columns: vec![
                ColumnInfo::test_typed("k", MYSQL_TYPE_LONG, "binary").not_null(),
                ColumnInfo::test_typed("v", MYSQL_TYPE_VARCHAR, "latin1"),
            ],
            primary_key: vec![0],
        });
        let plain = |id: i64| RowChange {
            table: signed.clone(),
            op: RowOp::Insert(vec![
                Cell::Int(id),
                Cell::Text {
                    bytes: b"x".to_vec(),
                    charset: "latin1".into(),
                },
            ]),
        };
        let unsigned = |small: u64| RowChange {
            table: table(),
            op: RowOp::Insert(row(1, b"a", Cell::UInt(small))),
        };
        let without_ts = |m: Message| {
            let mut v: Value = serde_json::from_slice(&m.value).unwrap();
            v["ts"] = json!(0);
            v
        };
        let mut cache = None;
        for change in [plain(1), unsigned(1), unsigned(200), plain(2), plain(3)] {
            let event = RowEvent {
                change: &change,
                commit_ts: COMMIT_TS,
            };
            let cached = without_ts(encode_row(&event, &mut cache));
            let fresh = without_ts(encode_row(&event, &mut None));
            assert_eq!(cached, fresh);
        }
        let first = without_ts(encode_row(
            &RowEvent {
                change: &plain(1),
                commit_ts: COMMIT_TS,
            },
            &mut cache,
        ));
        assert_eq!(first["table"], "plain \"quoted\"");
        assert_eq!(first["sqlType"], json!({"k": 4, "v": 12}));
        assert_eq!(first["mysqlType"], json!({"k": "int", "v": "varchar"}));
        assert_eq!(first["data"], json!([{"k": "1", "v": "x"}]));
        let widened = without_ts(encode_row(
            &RowEvent {
                change: &unsigned(200),
                commit_ts: COMMIT_TS,
            },
            &mut cache,
        ));
        assert_eq!(widened["sqlType"]["small"], 5);
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
