//! SQL text for the MySQL sink. Values are written as literals that the
//! server reads back exactly: integers and DECIMALs as digits, floats in the
//! shortest notation that round-trips, UTF-8 text as escaped string
//! literals, other character sets as `_charset X'..'` (the server converts
//! from the upstream's character set) and binary data as `X'..'`.

use std::fmt::Write;

use crate::changefeed::source::{ddl::quote_ident, row::Cell};

/// Character sets whose bytes can travel inside a UTF-8 (utf8mb4) statement.
const UTF8_COMPATIBLE: [&str; 4] = ["utf8mb4", "utf8mb3", "utf8", "ascii"];

/// Appends `` `schema`.`table` ``.
pub(crate) fn push_table(out: &mut String, schema: &str, table: &str) {
    out.push_str(&quote_ident(schema));
    out.push('.');
    out.push_str(&quote_ident(table));
}

/// Appends `cell` as a SQL literal.
pub(crate) fn push_literal(out: &mut String, cell: &Cell) {
    match cell {
        Cell::Null => out.push_str("NULL"),
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
        Cell::Decimal(s) => out.push_str(s),
        Cell::Temporal(s) => {
            out.push('\'');
            out.push_str(s);
            out.push('\'');
        }
        Cell::Text { bytes, charset } => match std::str::from_utf8(bytes) {
            Ok(text) if UTF8_COMPATIBLE.contains(&charset.as_ref()) => push_string(out, text),
            _ if charset
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_') =>
            {
                out.push('_');
                out.push_str(charset);
                out.push(' ');
                push_hex(out, bytes);
            }
            _ => push_hex(out, bytes),
        },
        Cell::Bytes(bytes) => push_hex(out, bytes),
    }
}

/// The shortest decimal notation that parses back to `v` (Rust's `{:e}`),
/// which MySQL reads as a DOUBLE literal. NaN and infinities cannot be stored
/// in MySQL, so they never come from the binlog; NULL keeps the SQL valid.
fn push_double(out: &mut String, v: f64) {
    if v.is_finite() {
        let _ = write!(out, "{v:e}");
    } else {
        out.push_str("NULL");
    }
}

/// A quoted string literal with backslash escapes (the sink's sessions do
/// not enable NO_BACKSLASH_ESCAPES).
pub(crate) fn push_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x1a' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// `X'0a1b...'`.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(bytes.len() * 2 + 3);
    out.push_str("X'");
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out.push('\'');
}

/// Appends `(v1, v2, ...)` for the cells at `columns`.
pub(crate) fn push_tuple(out: &mut String, cells: &[Cell], columns: &[usize]) {
    out.push('(');
    for (i, &c) in columns.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_literal(out, &cells[c]);
    }
    out.push(')');
}

/// Appends `` (`a`,`b`) `` for the column names.
pub(crate) fn push_column_list<'a>(out: &mut String, names: impl Iterator<Item = &'a str>) {
    out.push('(');
    for (i, name) in names.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&quote_ident(name));
    }
    out.push(')');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn lit(cell: Cell) -> String {
        let mut s = String::new();
        push_literal(&mut s, &cell);
        s
    }

    #[test]
    fn literals_are_exact() {
        assert_eq!(lit(Cell::Null), "NULL");
        assert_eq!(lit(Cell::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(lit(Cell::Int(i64::MIN)), "-9223372036854775808");
        assert_eq!(lit(Cell::Double(0.1)), "1e-1");
        assert_eq!(
            lit(Cell::Double(1.7976931348623157e308)),
            "1.7976931348623157e308"
        );
        assert_eq!(lit(Cell::Float(1.1)), "1.100000023841858e0");
        assert_eq!(lit(Cell::Decimal("-12.50".into())), "-12.50");
        assert_eq!(lit(Cell::Temporal("2024-01-02".into())), "'2024-01-02'");
        assert_eq!(lit(Cell::Bytes(vec![0, 0xff])), "X'00FF'");
        assert_eq!(lit(Cell::Bytes(vec![])), "X''");
    }

    #[test]
    fn text_literals() {
        let utf8 = |s: &str| Cell::Text {
            bytes: s.as_bytes().to_vec(),
            charset: Arc::from("utf8mb4"),
        };
        assert_eq!(lit(utf8("it's \\ 🦀\n\0")), r"'it\'s \\ 🦀\n\0'");
        let latin1 = Cell::Text {
            bytes: vec![0xe9],
            charset: Arc::from("latin1"),
        };
        assert_eq!(lit(latin1), "_latin1 X'E9'");
        let broken = Cell::Text {
            bytes: vec![0xff],
            charset: Arc::from("utf8mb4"),
        };
        assert_eq!(lit(broken), "_utf8mb4 X'FF'");
    }
}
