//! SQL text for the MySQL sink, built as bytes. Values are written as
//! literals that the server reads back exactly: integers and DECIMALs as
//! digits, floats in the shortest notation that round-trips, UTF-8 text as
//! escaped string literals, text in other character sets as
//! `_charset'...'` and binary data as `_binary'...'`, both with their raw
//! bytes escaped as `mysqldump` does (no byte of a quote or backslash can be
//! part of a UTF-8 sequence, so the UTF-8 connection reads them back as
//! written). Raw bytes keep large BLOBs at their size, where hex would
//! double it against the downstream's `max_allowed_packet`.

use std::io::Write;

use crate::replication::source::{ddl::quote_ident, row::Cell};

/// Character sets whose bytes can travel as a plain literal on the sink's
/// utf8mb4 connections.
const UTF8_COMPATIBLE: [&str; 4] = ["utf8mb4", "utf8mb3", "utf8", "ascii"];

/// Appends `` `schema`.`table` ``.
pub(crate) fn push_table(out: &mut Vec<u8>, schema: &str, table: &str) {
    out.extend_from_slice(quote_ident(schema).as_bytes());
    out.push(b'.');
    out.extend_from_slice(quote_ident(table).as_bytes());
}

/// Appends `cell` as a SQL literal.
pub(crate) fn push_literal(out: &mut Vec<u8>, cell: &Cell) {
    match cell {
        Cell::Null => out.extend_from_slice(b"NULL"),
        Cell::Int(v) => {
            let _ = write!(out, "{v}");
        }
        Cell::UInt(v) => {
            let _ = write!(out, "{v}");
        }
        // MySQL converts a FLOAT column's value through a double; writing the
        // f32's exact double value makes that conversion give the same f32.
        Cell::Float(v) => push_double(out, f64::from(*v)),
        Cell::Double(v) => push_double(out, *v),
        Cell::Decimal(s) => out.extend_from_slice(s.as_bytes()),
        Cell::Temporal(s) => push_quoted(out, s.as_bytes()),
        Cell::Text { bytes, charset } => {
            let utf8 = UTF8_COMPATIBLE.contains(&charset.as_ref());
            if utf8 && std::str::from_utf8(bytes).is_ok() {
                push_quoted(out, bytes);
            } else if !utf8
                && charset
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_')
            {
                // The server converts from the upstream's character set to
                // the downstream column's.
                out.push(b'_');
                out.extend_from_slice(charset.as_bytes());
                push_quoted(out, bytes);
            } else {
                out.extend_from_slice(b"_binary");
                push_quoted(out, bytes);
            }
        }
        Cell::Bytes(bytes) => {
            out.extend_from_slice(b"_binary");
            push_quoted(out, bytes);
        }
    }
}

/// The shortest decimal notation that parses back to `v` (Rust's `{:e}`),
/// which MySQL reads as a DOUBLE literal. NaN and infinities cannot be stored
/// in MySQL, so they never come from the binlog; NULL keeps the SQL valid.
fn push_double(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        let _ = write!(out, "{v:e}");
    } else {
        out.extend_from_slice(b"NULL");
    }
}

/// A quoted string literal with backslash escapes (the sink's sessions do
/// not enable NO_BACKSLASH_ESCAPES).
pub(crate) fn push_quoted(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'\'');
    for &b in bytes {
        match b {
            0 => out.extend_from_slice(b"\\0"),
            b'\'' => out.extend_from_slice(b"\\'"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x1a => out.extend_from_slice(b"\\Z"),
            b => out.push(b),
        }
    }
    out.push(b'\'');
}

/// Appends `(v1,v2,...)` for the cells at `columns`.
pub(crate) fn push_tuple(out: &mut Vec<u8>, cells: &[Cell], columns: &[usize]) {
    out.push(b'(');
    for (i, &c) in columns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_literal(out, &cells[c]);
    }
    out.push(b')');
}

/// Appends `` (`a`,`b`) `` for the column names.
pub(crate) fn push_column_list<'a>(out: &mut Vec<u8>, names: impl Iterator<Item = &'a str>) {
    out.push(b'(');
    for (i, name) in names.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(quote_ident(name).as_bytes());
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn lit(cell: Cell) -> Vec<u8> {
        let mut s = Vec::new();
        push_literal(&mut s, &cell);
        s
    }

    fn text(cell: Cell) -> String {
        String::from_utf8(lit(cell)).unwrap()
    }

    #[test]
    fn literals_are_exact() {
        assert_eq!(text(Cell::Null), "NULL");
        assert_eq!(text(Cell::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(text(Cell::Int(i64::MIN)), "-9223372036854775808");
        assert_eq!(text(Cell::Double(0.1)), "1e-1");
        assert_eq!(
            text(Cell::Double(1.7976931348623157e308)),
            "1.7976931348623157e308"
        );
        assert_eq!(text(Cell::Float(1.1)), "1.100000023841858e0");
        assert_eq!(text(Cell::Decimal("-12.50".into())), "-12.50");
        assert_eq!(text(Cell::Temporal("2024-01-02".into())), "'2024-01-02'");
        assert_eq!(text(Cell::Bytes(vec![])), "_binary''");
        assert_eq!(
            lit(Cell::Bytes(vec![0, b'\'', b'\\', 0xff, b'\n', 0x1a])),
            b"_binary'\\0\\'\\\\\xff\\n\\Z'".to_vec()
        );
    }

    #[test]
    fn text_literals() {
        let utf8 = |s: &str| Cell::Text {
            bytes: s.as_bytes().to_vec(),
            charset: Arc::from("utf8mb4"),
        };
        assert_eq!(text(utf8("it's \\ 🦀\n\0")), r"'it\'s \\ 🦀\n\0'");
        let latin1 = Cell::Text {
            bytes: vec![b'c', 0xe9],
            charset: Arc::from("latin1"),
        };
        assert_eq!(lit(latin1), b"_latin1'c\xe9'".to_vec());
        let broken = Cell::Text {
            bytes: vec![0xff],
            charset: Arc::from("utf8mb4"),
        };
        assert_eq!(lit(broken), b"_binary'\xff'".to_vec());
    }
}
