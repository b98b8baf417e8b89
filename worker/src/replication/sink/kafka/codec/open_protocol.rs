//! TiCDC's open protocol (`default`): a batch format whose key is an 8-byte
//! version followed by length-prefixed JSON event keys and whose value is
//! the length-prefixed JSON event values. ferry puts one event in each
//! message, which every consumer of the batch format reads.

use mysql_async::consts::ColumnType;

use super::{
    DdlEvent, DdlEventKind, Message, RowEvent,
    json::{self, Object},
    values::{self, Scalar},
};
use crate::replication::source::row::{Cell, ColumnInfo, RowOp, TableInfo};

/// The batch format version, the first eight bytes of every key.
const BATCH_VERSION: u64 = 1;

/// Event types in the key's `t`.
const ROW_EVENT: u8 = 1;
const DDL_EVENT: u8 = 2;

/// Column flag bits (`f`), TiCDC's `ColumnFlagType`. Generated-column and
/// unique/multiple-key information is not in the binlog, so those bits are
/// only set for the primary key.
const BINARY_FLAG: u32 = 1 << 0;
const HANDLE_KEY_FLAG: u32 = 1 << 1;
const PRIMARY_KEY_FLAG: u32 = 1 << 3;
const MULTIPLE_KEY_FLAG: u32 = 1 << 5;
const NULLABLE_FLAG: u32 = 1 << 6;
const UNSIGNED_FLAG: u32 = 1 << 7;

pub(super) fn encode_row(event: &RowEvent<'_>) -> Message {
    let table = &event.change.table;
    let key = event_key(event.commit_ts, &table.schema, &table.name, ROW_EVENT);
    let mut value = String::new();
    let mut o = Object::begin(&mut value);
    match &event.change.op {
        RowOp::Insert(after) => columns(o.key("u"), table, after),
        // The previous image (`p`) is what TiCDC sends by default
        // (`open-output-old-value`).
        RowOp::Update { before, after } => {
            columns(o.key("u"), table, after);
            columns(o.key("p"), table, before);
        }
        RowOp::Delete(before) => columns(o.key("d"), table, before),
    }
    o.end();
    frame(&key, &value)
}

pub(super) fn encode_ddl(event: &DdlEvent<'_>) -> Message {
    let key = event_key(
        event.commit_ts,
        event.schema,
        event.table.unwrap_or(""),
        DDL_EVENT,
    );
    let mut value = String::new();
    let mut o = Object::begin(&mut value);
    json::string(o.key("q"), event.sql);
    json::number(o.key("t"), ddl_action(event.kind));
    o.end();
    frame(&key, &value)
}

/// `{"ts":…,"scm":…,"tbl":…,"t":…}`; TiCDC leaves empty names out.
fn event_key(commit_ts: u64, schema: &str, table: &str, kind: u8) -> String {
    let mut out = String::new();
    let mut o = Object::begin(&mut out);
    json::number(o.key("ts"), commit_ts);
    if !schema.is_empty() {
        json::string(o.key("scm"), schema);
    }
    if !table.is_empty() {
        json::string(o.key("tbl"), table);
    }
    json::number(o.key("t"), kind);
    o.end();
    out
}

/// Key: version, key length, key; value: value length, value. Lengths and
/// the version are big-endian 64-bit integers.
fn frame(key: &str, value: &str) -> Message {
    let mut framed_key = Vec::with_capacity(16 + key.len());
    framed_key.extend_from_slice(&BATCH_VERSION.to_be_bytes());
    framed_key.extend_from_slice(&(key.len() as u64).to_be_bytes());
    framed_key.extend_from_slice(key.as_bytes());
    let mut framed_value = Vec::with_capacity(8 + value.len());
    framed_value.extend_from_slice(&(value.len() as u64).to_be_bytes());
    framed_value.extend_from_slice(value.as_bytes());
    Message {
        key: Some(framed_key),
        value: framed_value,
    }
}

/// `{column: {"t":type,"h":true,"f":flags,"v":value}, ...}` in column
/// order; `h` (the column is part of the handle key) only when true.
fn columns(out: &mut String, table: &TableInfo, cells: &[Cell]) {
    let mut o = Object::begin(out);
    for (i, (column, cell)) in table.columns.iter().zip(cells).enumerate() {
        let mut c = Object::begin(o.key(&column.name));
        json::number(c.key("t"), column.column_type() as u8);
        let flags = flags(table, i, column);
        if flags & HANDLE_KEY_FLAG != 0 {
            json::raw(c.key("h"), "true");
        }
        json::number(c.key("f"), flags);
        value(c.key("v"), column, cell);
        c.end();
    }
    o.end();
}

/// The column's flags. The primary key is the handle key, as in TiCDC;
/// without one there is no handle (unique keys are not in the binlog).
fn flags(table: &TableInfo, index: usize, column: &ColumnInfo) -> u32 {
    let mut flags = 0;
    if column.is_binary() {
        flags |= BINARY_FLAG;
    }
    if table.primary_key.contains(&index) {
        flags |= HANDLE_KEY_FLAG | PRIMARY_KEY_FLAG;
        if table.primary_key.len() > 1 {
            flags |= MULTIPLE_KEY_FLAG;
        }
    }
    if column.is_nullable() {
        flags |= NULLABLE_FLAG;
    }
    if column.is_unsigned() {
        flags |= UNSIGNED_FLAG;
    }
    flags
}

/// A value as TiCDC's open protocol writes it: numbers as JSON numbers
/// (ENUM as its index, SET and BIT as integers); DECIMAL, temporal values
/// and JSON as strings; CHAR/VARCHAR as text, their binary forms escaped
/// like Go's `strconv.Quote`; and every TEXT/BLOB (and other byte) value as
/// base64 of its bytes, text in UTF-8.
fn value(out: &mut String, column: &ColumnInfo, cell: &Cell) {
    let blob = is_blob(column.column_type());
    match values::scalar(column, cell) {
        Scalar::Null => json::raw(out, "null"),
        Scalar::Int(v) => json::number(out, v),
        Scalar::UInt(v) => json::number(out, v),
        Scalar::Float(v) => json::raw(out, &values::float_json(v)),
        Scalar::Double(v) => json::raw(out, &values::double_json(v)),
        Scalar::Text(s) if blob => json::string(out, &values::base64(s.as_bytes())),
        Scalar::Text(s) => json::string(out, &s),
        Scalar::Bytes(b) if is_char(column.column_type()) => {
            json::string(out, &values::go_quoted(b))
        }
        Scalar::Bytes(b) => json::string(out, &values::base64(b)),
    }
}

fn is_blob(ty: ColumnType) -> bool {
    use ColumnType::*;
    matches!(
        ty,
        MYSQL_TYPE_TINY_BLOB | MYSQL_TYPE_BLOB | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB
    )
}

fn is_char(ty: ColumnType) -> bool {
    use ColumnType::*;
    matches!(
        ty,
        MYSQL_TYPE_STRING | MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_VARCHAR
    )
}

/// TiDB's DDL action type (`t` of a DDL value). A plain ALTER TABLE may do
/// anything, so it is reported as TiDB reports an ALTER TABLE with several
/// changes (multi-schema change, 61), which TiCDC's canal mapping also
/// treats as ALTER.
fn ddl_action(kind: DdlEventKind) -> u8 {
    match kind {
        DdlEventKind::CreateDatabase => 1,
        DdlEventKind::DropDatabase => 2,
        DdlEventKind::CreateTable => 3,
        DdlEventKind::DropTable => 4,
        DdlEventKind::CreateIndex => 7,
        DdlEventKind::DropIndex => 8,
        DdlEventKind::TruncateTable => 11,
        DdlEventKind::RenameTable => 14,
        DdlEventKind::AlterDatabase => 26,
        DdlEventKind::AlterTable => 61,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mysql_async::consts::ColumnType::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::replication::source::row::RowChange;

    const COMMIT_TS: u64 = 449_000_000_000_000_001;

    /// Splits a message back into its key and value JSON, checking the
    /// framing on the way.
    fn unframe(message: &Message) -> (Value, Value) {
        let key = message.key.as_deref().unwrap();
        assert_eq!(u64::from_be_bytes(key[..8].try_into().unwrap()), 1);
        let key_len = u64::from_be_bytes(key[8..16].try_into().unwrap()) as usize;
        assert_eq!(key.len(), 16 + key_len);
        let value = &message.value;
        let value_len = u64::from_be_bytes(value[..8].try_into().unwrap()) as usize;
        assert_eq!(value.len(), 8 + value_len);
        (
            serde_json::from_slice(&key[16..]).unwrap(),
            serde_json::from_slice(&value[8..]).unwrap(),
        )
    }

    fn table() -> Arc<TableInfo> {
        Arc::new(TableInfo {
            schema: "db".into(),
            name: "t".into(),
            columns: vec![
                ColumnInfo::test_typed("id", MYSQL_TYPE_LONGLONG, "binary")
                    .unsigned()
                    .not_null(),
                ColumnInfo::test_typed("name", MYSQL_TYPE_VARCHAR, "latin1"),
                ColumnInfo::test_typed("note", MYSQL_TYPE_BLOB, "latin1"),
                ColumnInfo::test_typed("bin", MYSQL_TYPE_STRING, "binary"),
                ColumnInfo::test_typed("at", MYSQL_TYPE_DATETIME, "binary"),
                ColumnInfo::test_typed("score", MYSQL_TYPE_FLOAT, "binary"),
            ],
            primary_key: vec![0],
        })
    }

    fn latin1(bytes: &[u8]) -> Cell {
        Cell::Text {
            bytes: bytes.to_vec(),
            charset: "latin1".into(),
        }
    }

    fn row(name: &[u8]) -> Vec<Cell> {
        vec![
            Cell::UInt(u64::MAX),
            latin1(name),
            latin1(b"caf\xe9"),
            Cell::Bytes(b"\x89PNG\x00".to_vec()),
            Cell::Temporal("2024-01-01 00:00:00".into()),
            Cell::Null,
        ]
    }

    fn encode(op: RowOp) -> (Value, Value) {
        let change = RowChange { table: table(), op };
        unframe(&encode_row(&RowEvent {
            change: &change,
            commit_ts: COMMIT_TS,
        }))
    }

    #[test]
    fn insert() {
        let (key, value) = encode(RowOp::Insert(row(b"\xe9t\xe9")));
        assert_eq!(
            key,
            json!({"ts": COMMIT_TS, "scm": "db", "tbl": "t", "t": 1})
        );
        assert_eq!(
            value,
            json!({"u": {
                "id": {"t": 8, "h": true, "f": 139, "v": u64::MAX},
                "name": {"t": 15, "f": 64, "v": "été"},
                "note": {"t": 252, "f": 64, "v": "Y2Fmw6k="},
                "bin": {"t": 254, "f": 65, "v": "\\x89PNG\\x00"},
                "at": {"t": 12, "f": 65, "v": "2024-01-01 00:00:00"},
                "score": {"t": 4, "f": 65, "v": null}
            }})
        );
    }

    #[test]
    fn update_and_delete() {
        let (_, value) = encode(RowOp::Update {
            before: row(b"a"),
            after: row(b"b"),
        });
        assert_eq!(value["u"]["name"]["v"], "b");
        assert_eq!(value["p"]["name"]["v"], "a");
        assert_eq!(value.get("d"), None);

        let (key, value) = encode(RowOp::Delete(row(b"x")));
        assert_eq!(key["t"], 1);
        assert_eq!(value["d"]["name"]["v"], "x");
        assert_eq!(value["d"]["id"]["h"], true);
        assert_eq!(value.get("u"), None);
    }

    #[test]
    fn columns_keep_table_order() {
        let change = RowChange {
            table: table(),
            op: RowOp::Insert(row(b"n")),
        };
        let message = encode_row(&RowEvent {
            change: &change,
            commit_ts: COMMIT_TS,
        });
        let text = String::from_utf8(message.value[8..].to_vec()).unwrap();
        let positions: Vec<usize> = ["\"id\"", "\"name\"", "\"note\"", "\"bin\"", "\"at\""]
            .iter()
            .map(|name| text.find(name).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn ddl() {
        let (key, value) = unframe(&encode_ddl(&DdlEvent {
            schema: "db",
            table: Some("t"),
            sql: "CREATE TABLE t (id INT PRIMARY KEY)",
            kind: DdlEventKind::CreateTable,
            commit_ts: COMMIT_TS,
        }));
        assert_eq!(
            key,
            json!({"ts": COMMIT_TS, "scm": "db", "tbl": "t", "t": 2})
        );
        assert_eq!(
            value,
            json!({"q": "CREATE TABLE t (id INT PRIMARY KEY)", "t": 3})
        );

        let (key, value) = unframe(&encode_ddl(&DdlEvent {
            schema: "db",
            table: None,
            sql: "CREATE DATABASE db",
            kind: DdlEventKind::CreateDatabase,
            commit_ts: COMMIT_TS,
        }));
        assert_eq!(key, json!({"ts": COMMIT_TS, "scm": "db", "t": 2}));
        assert_eq!(value["t"], 1);
        assert_eq!(ddl_action(DdlEventKind::AlterTable), 61);
    }
}
