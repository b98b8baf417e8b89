//! A rows event's row images, decoded from the event's bytes.
//!
//! mysql_common's `RowsEventData::rows` yields a `BinlogRow` per image, and
//! building one re-reads the table map's optional metadata and copies the
//! schema, table and column names into a new column definition for every
//! column of every row: in a profile of a catch-up that was most of the
//! source's time, nearly all of it allocation. The table map is read once per
//! table instead (into [`TableInfo`]), and each value still goes through
//! mysql_common's own `BinlogValue` decoder, so the values are the ones a
//! `BinlogRow` held.

use std::sync::Arc;

use mysql_async::{
    binlog::{events::RowsEventData, value::BinlogValue},
    consts::ColumnType,
};
use mysql_common::io::ParseBuf;

use super::{Cell, RowChange, RowOp, TableInfo, convert::convert};

impl TableInfo {
    /// Decodes every row of `rows`, a rows event on this table, onto `out`.
    /// Every image must hold every column (`binlog_row_image=FULL`), and a
    /// partial JSON update is refused before this is called.
    pub fn decode_rows(
        self: &Arc<Self>,
        rows: &RowsEventData<'_>,
        out: &mut Vec<RowChange>,
    ) -> Result<(), String> {
        let before = rows.columns_before_image();
        let after = rows.columns_after_image();
        for image in [before, after].into_iter().flatten() {
            if image.len() != self.columns.len() || image.count_ones() != self.columns.len() {
                return Err(format!(
                    "a row image of `{}` lacks columns: the upstream's binlog_row_image must be FULL",
                    self.full_name()
                ));
            }
        }
        self.decode_images(rows.rows_data(), before.is_some(), after.is_some(), out)
    }

    /// Decodes `data`, a rows event's row images (a before image, an after
    /// image or both per row, as `before` and `after` say), onto `out`.
    pub(crate) fn decode_images(
        self: &Arc<Self>,
        data: &[u8],
        before: bool,
        after: bool,
        out: &mut Vec<RowChange>,
    ) -> Result<(), String> {
        // Every image but one of no columns takes bytes; a table map of no
        // columns with row data after it would loop here for ever (found by
        // the `row_images` fuzz target and property test).
        if self.columns.is_empty() && !data.is_empty() {
            return Err(format!(
                "a rows event on `{}`, whose table map has no columns",
                self.full_name()
            ));
        }
        let mut buf = ParseBuf(data);
        while !buf.is_empty() {
            let before = if before {
                Some(self.image(&mut buf)?)
            } else {
                None
            };
            let after = if after {
                Some(self.image(&mut buf)?)
            } else {
                None
            };
            let op = match (before, after) {
                (None, Some(after)) => RowOp::Insert(after),
                (Some(before), Some(after)) => RowOp::Update { before, after },
                (Some(before), None) => RowOp::Delete(before),
                (None, None) => break,
            };
            out.push(RowChange {
                table: self.clone(),
                op,
            });
        }
        Ok(())
    }

    /// One full row image: the NULL bitmap, then each non-NULL value. The
    /// decoder borrows the column's metadata for as long as the buffer.
    fn image<'a>(&'a self, buf: &mut ParseBuf<'a>) -> Result<Vec<Cell>, String> {
        let nulls = buf
            .checked_eat(self.columns.len().div_ceil(8))
            .ok_or_else(|| format!("a row of `{}` is cut short", self.full_name()))?;
        let mut cells = Vec::with_capacity(self.columns.len());
        for (i, column) in self.columns.iter().enumerate() {
            if nulls[i / 8] & (1 << (i % 8)) != 0 {
                cells.push(Cell::Null);
                continue;
            }
            // Values MySQL never writes and mysql_common 0.37 overflows on
            // (found by the `row_images` fuzz target) are refused before
            // they are decoded: metadata shorter than the type's (which it
            // indexes unchecked), a DATETIME2 below its offset (a negative
            // datetime, which it negates) and a DECIMAL whose table map
            // gives a scale above its precision or either past MySQL's
            // limits (65 digits, 30 after the point), which it multiplies
            // past u32, or a digit group that holds more digits than its
            // size allows (which it multiplies past i32), and a typed array.
            let invalid = column.binlog_meta.len() < metadata_length(column.binlog_type)
                || match column.binlog_type {
                    ColumnType::MYSQL_TYPE_DATETIME2 => {
                        buf.0.first().is_some_and(|b| b & 0x80 == 0)
                    }
                    ColumnType::MYSQL_TYPE_NEWDECIMAL => {
                        !matches!(*column.binlog_meta, [precision, scale, ..]
                            if scale <= precision && precision <= 65 && scale <= 30
                                && decimal_groups_fit(buf.0, precision, scale))
                    }
                    // A server-internal type no table column has;
                    // mysql_common decodes it as the type its metadata names,
                    // past every check above.
                    ColumnType::MYSQL_TYPE_TYPED_ARRAY => true,
                    _ => false,
                };
            if invalid {
                return Err(format!(
                    "a row of `{}` holds an invalid value in column `{}`",
                    self.full_name(),
                    column.name
                ));
            }
            let ctx = (
                column.binlog_type,
                &*column.binlog_meta,
                column.unsigned,
                false,
            );
            let cannot = |e: &dyn std::fmt::Display| {
                format!(
                    "cannot decode a row of `{}` at column `{}`: {e}",
                    self.full_name(),
                    column.name
                )
            };
            let value = if column.binlog_type == ColumnType::MYSQL_TYPE_TIME2
                && matches!(column.binlog_meta.first(), Some(1 | 2))
            {
                let bytes = buf
                    .checked_eat(4)
                    .ok_or_else(|| cannot(&"the value is cut short"))?;
                BinlogValue::Value(time_in_hundredths(bytes))
            } else {
                buf.parse::<BinlogValue<'_>>(ctx).map_err(|e| cannot(&e))?
            };
            let cell = convert(value, &column.kind).map_err(|e| {
                format!(
                    "cannot decode `{}`.`{}`: {e}",
                    self.full_name(),
                    column.name
                )
            })?;
            cells.push(cell);
        }
        Ok(cells)
    }
}

/// A TIME(1) or TIME(2) value as the server writes it
/// (`my_time_packed_to_binary`): a 3-byte integer part offset by 0x800000
/// and a byte of hundredths, which for a negative time with a fraction is
/// the two's complement of the fraction and borrows one from the integer
/// part. mysql_common 0.37 takes that byte as unsigned and subtracts 0x100
/// from it, which overflows (a wrong time in release builds, a panic in
/// debug ones; found by the row image property test), so ferry reads these
/// four bytes itself and hands mysql_common only the packed time.
fn time_in_hundredths(bytes: &[u8]) -> mysql_common::Value {
    let [a, b, c, d] = [bytes[0], bytes[1], bytes[2], bytes[3]].map(i64::from);
    let mut int = ((a << 16) | (b << 8) | c) - mysql_common::binlog::misc::TIMEF_INT_OFS;
    let mut hundredths = d;
    if int < 0 && hundredths > 0 {
        int += 1;
        hundredths -= 0x100;
    }
    mysql_common::binlog::misc::time_from_packed((int << 24) + hundredths * 10_000)
}

/// Whether every digit group of a binary DECIMAL(`precision`, `scale`) at
/// the start of `bytes` holds no more digits than it stands for, as the
/// server writes them: groups of 9 digits in 4 bytes, a shorter group at
/// each end (of the integer part first, of the fraction last), the first
/// byte's top bit the sign and a negative value's bytes inverted. Too few
/// bytes pass: the decoder refuses them itself.
fn decimal_groups_fit(bytes: &[u8], precision: u8, scale: u8) -> bool {
    const BYTES_OF_DIGITS: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
    let (int, frac) = (usize::from(precision - scale), usize::from(scale));
    let mut groups: Vec<usize> = Vec::new();
    if int % 9 > 0 {
        groups.push(int % 9);
    }
    groups.extend(std::iter::repeat_n(9, int / 9 + frac / 9));
    if frac % 9 > 0 {
        groups.push(frac % 9);
    }
    let size: usize = groups.iter().map(|d| BYTES_OF_DIGITS[*d]).sum();
    let Some(image) = bytes.get(..size) else {
        return true;
    };
    let mask = if image.first().is_some_and(|b| b & 0x80 == 0) {
        0xFF
    } else {
        0
    };
    let mut at = 0;
    groups.iter().all(|&digits| {
        let len = BYTES_OF_DIGITS[digits];
        let value = image[at..at + len]
            .iter()
            .enumerate()
            .fold(0u64, |acc, (i, b)| {
                let b = if at + i == 0 { b ^ 0x80 } else { *b };
                (acc << 8) | u64::from(b ^ mask)
            });
        at += len;
        value < 10u64.pow(digits as u32)
    })
}

/// How many bytes of table-map metadata decoding a value of type `ty`
/// reads (the server writes exactly these).
fn metadata_length(ty: ColumnType) -> usize {
    use ColumnType::*;
    match ty {
        MYSQL_TYPE_STRING
        | MYSQL_TYPE_BIT
        | MYSQL_TYPE_NEWDECIMAL
        | MYSQL_TYPE_ENUM
        | MYSQL_TYPE_SET
        | MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_VAR_STRING => 2,
        MYSQL_TYPE_TIMESTAMP2
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIME2
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
        | MYSQL_TYPE_BLOB
        | MYSQL_TYPE_GEOMETRY
        | MYSQL_TYPE_JSON
        | MYSQL_TYPE_VECTOR => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use mysql_async::consts::ColumnType::*;

    use super::*;

    #[test]
    fn negative_times_with_hundredths_keep_their_sign_and_fraction() {
        use mysql_common::Value::Time;
        // -00:00:01.50 as MySQL writes a TIME(2): integer part -2 (the
        // fraction borrows one), hundredths -50 as a byte.
        assert_eq!(
            time_in_hundredths(&[0x7F, 0xFF, 0xFE, 0xCE]),
            Time(true, 0, 0, 0, 1, 500_000)
        );
        // 838:59:59.99, TIME's largest.
        let int = (838_i64 << 12 | 59 << 6 | 59) + 0x80_0000;
        let bytes = [(int >> 16) as u8, (int >> 8) as u8, int as u8, 99];
        assert_eq!(
            time_in_hundredths(&bytes),
            Time(false, 34, 22, 59, 59, 990_000)
        );
        // -00:00:00.01; and any four bytes decode without a panic.
        assert_eq!(
            time_in_hundredths(&[0x7F, 0xFF, 0xFF, 0xFF]),
            Time(true, 0, 0, 0, 0, 10_000)
        );
        for bytes in [[0, 0, 0, 0xFF], [0xFF; 4], [0; 4], [0x80, 0, 0, 0x80]] {
            time_in_hundredths(&bytes);
        }
    }

    #[test]
    fn decimal_digit_groups_must_fit_their_digits() {
        // DECIMAL(5,2): 3 integer digits in 2 bytes, 2 fraction digits in 1.
        assert!(decimal_groups_fit(&[0x80, 0x7B, 0x2D], 5, 2), "123.45");
        assert!(decimal_groups_fit(&[0x7F, 0x84, 0xD2], 5, 2), "-123.45");
        assert!(
            !decimal_groups_fit(&[0x83, 0xE8, 0x00], 5, 2),
            "1000 in 3 digits"
        );
        assert!(
            !decimal_groups_fit(&[0x80, 0x7B, 0x64], 5, 2),
            "100 in 2 digits"
        );
        // DECIMAL(33,1): a 5-digit group in 3 bytes, three 9-digit groups in
        // 4 bytes each, 1 fraction digit in 1 byte.
        let mut nines = vec![0x80, 0, 0, 0x3B, 0x9A, 0xC9, 0xFF];
        nines.extend([0; 9]);
        assert!(decimal_groups_fit(&nines, 33, 1), "999999999 in 9 digits");
        nines[3..7].copy_from_slice(&1_000_000_000u32.to_be_bytes());
        assert!(!decimal_groups_fit(&nines, 33, 1), "10^9 in 9 digits");
        assert!(
            decimal_groups_fit(&[0x80], 5, 2),
            "too short: the decoder refuses"
        );
    }
    use crate::replication::source::row::ColumnInfo;

    /// `id BIGINT UNSIGNED, name VARCHAR(20) latin1, at DATETIME(3),
    /// note TEXT`, as the table map describes them.
    fn table() -> Arc<TableInfo> {
        Arc::new(TableInfo {
            schema: "db".into(),
            name: "t".into(),
            columns: vec![
                ColumnInfo::test_typed("id", MYSQL_TYPE_LONGLONG, "binary")
                    .unsigned()
                    .binlog(MYSQL_TYPE_LONGLONG, &[]),
                ColumnInfo::test_typed("name", MYSQL_TYPE_VARCHAR, "latin1")
                    .binlog(MYSQL_TYPE_VARCHAR, &[20, 0]),
                ColumnInfo::test_typed("at", MYSQL_TYPE_DATETIME, "binary")
                    .binlog(MYSQL_TYPE_DATETIME2, &[3]),
                ColumnInfo::test_typed("note", MYSQL_TYPE_BLOB, "latin1")
                    .binlog(MYSQL_TYPE_BLOB, &[2]),
            ],
            primary_key: vec![0],
        })
    }

    /// One image: the NULL bitmap, then the values that are not NULL.
    fn image(id: u64, name: &[u8], note: Option<&[u8]>) -> Vec<u8> {
        let mut out = vec![if note.is_none() { 0b1000 } else { 0 }];
        out.extend_from_slice(&id.to_le_bytes());
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        // 2024-02-29 13:05:09.123 in DATETIME2's form: five big-endian
        // bytes of sign bit, year * 13 + month, day, hour, minute and
        // second, then (for 3 digits) two of the fraction in units of 100 µs.
        let ym: u64 = 2024 * 13 + 2;
        let packed = (1u64 << 39) | (ym << 22) | (29 << 17) | (13 << 12) | (5 << 6) | 9;
        out.extend_from_slice(&packed.to_be_bytes()[3..]);
        out.extend_from_slice(&1230u16.to_be_bytes());
        if let Some(note) = note {
            out.extend_from_slice(&(note.len() as u16).to_le_bytes());
            out.extend_from_slice(note);
        }
        out
    }

    fn cells(id: Cell, name: &[u8], note: Option<&[u8]>) -> Vec<Cell> {
        let text = |bytes: &[u8]| Cell::Text {
            bytes: bytes.to_vec(),
            charset: "latin1".into(),
        };
        vec![
            id,
            text(name),
            Cell::Temporal("2024-02-29 13:05:09.123000".into()),
            note.map_or(Cell::Null, text),
        ]
    }

    #[test]
    fn images_decode_in_column_order() {
        let table = table();
        let mut data = image(u64::MAX, b"caf\xe9", None);
        data.extend(image(2, b"", Some(b"long")));
        let mut buf = ParseBuf(&data);
        // mysql_common reads an unsigned BIGINT as `Int` when it fits.
        for expected in [
            cells(Cell::UInt(u64::MAX), b"caf\xe9", None),
            cells(Cell::Int(2), b"", Some(b"long")),
        ] {
            assert_eq!(table.image(&mut buf).unwrap(), expected);
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn a_short_row_is_an_error() {
        let table = table();
        let data = image(1, b"abc", Some(b"x"));
        let error = table
            .image(&mut ParseBuf(&data[..data.len() - 1]))
            .unwrap_err();
        assert!(error.contains("db.t"), "{error}");
        assert!(table.image(&mut ParseBuf(&[])).is_err());
    }
}
