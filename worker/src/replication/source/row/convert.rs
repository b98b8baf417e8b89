//! Binlog values as [`Cell`]s: numbers stay numbers, DECIMAL and temporal
//! values become the text MySQL writes for them, strings keep their bytes
//! and character set.

use std::{fmt::Write, sync::Arc};

use mysql_async::{Value, binlog::value::BinlogValue};

use super::{Cell, Kind};

pub(super) fn convert(value: BinlogValue<'_>, kind: &Kind) -> Result<Cell, String> {
    let value = match value {
        BinlogValue::Value(v) => v,
        BinlogValue::Jsonb(j) => {
            let json = serde_json::Value::try_from(j).map_err(|e| format!("bad JSON: {e}"))?;
            return Ok(Cell::Text {
                bytes: json.to_string().into_bytes(),
                charset: Arc::from("utf8mb4"),
            });
        }
        BinlogValue::JsonDiff(_) => {
            return Err(
                "partial JSON updates are not supported: set the upstream's \
                        binlog_row_value_options to ''"
                    .into(),
            );
        }
    };
    if value == Value::NULL {
        return Ok(Cell::Null);
    }
    let cell = match (kind, value) {
        (Kind::Number, Value::Int(i)) => Cell::Int(i),
        (Kind::Number, Value::UInt(u)) => Cell::UInt(u),
        (Kind::Number, Value::Float(f)) => Cell::Float(f),
        (Kind::Number, Value::Double(d)) => Cell::Double(d),
        (Kind::Decimal, Value::Bytes(b)) => {
            let s = String::from_utf8(b).map_err(|_| "DECIMAL is not text")?;
            if s.is_empty()
                || !s
                    .bytes()
                    .all(|c| c.is_ascii_digit() || c == b'.' || c == b'-')
            {
                return Err(format!("`{s}` is not a DECIMAL"));
            }
            Cell::Decimal(s)
        }
        (Kind::Date, Value::Date(y, m, d, ..)) => Cell::Temporal(format!("{y:04}-{m:02}-{d:02}")),
        (Kind::DateTime, Value::Date(y, mo, d, h, mi, s, us)) => {
            let mut text = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
            fraction(&mut text, us);
            Cell::Temporal(text)
        }
        (Kind::Time, Value::Time(neg, days, h, m, s, us)) => {
            let mut text = format!(
                "{}{:02}:{m:02}:{s:02}",
                if neg { "-" } else { "" },
                days * 24 + u32::from(h),
            );
            fraction(&mut text, us);
            Cell::Temporal(text)
        }
        (Kind::Timestamp, Value::Int(secs)) => Cell::Temporal(utc(secs, 0)?),
        (Kind::Timestamp, Value::Bytes(b)) => {
            let text = String::from_utf8(b).map_err(|_| "TIMESTAMP is not text")?;
            let (secs, micros) = text.split_once('.').unwrap_or((&text, "0"));
            let secs: i64 = secs
                .parse()
                .map_err(|_| format!("bad TIMESTAMP `{text}`"))?;
            let micros: u32 = micros
                .parse()
                .map_err(|_| format!("bad TIMESTAMP `{text}`"))?;
            // The decoder reads the 32-bit unsigned seconds as signed.
            let secs = if secs < 0 { secs + (1 << 32) } else { secs };
            Cell::Temporal(utc(secs, micros)?)
        }
        (Kind::Year, Value::Bytes(b)) => {
            // The decoder adds 1900 to the stored byte, also to 0, which is
            // the zero year 0000.
            let year: i64 = std::str::from_utf8(&b)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or("bad YEAR")?;
            Cell::Int(if year == 1900 { 0 } else { year })
        }
        (Kind::Bit, Value::Bytes(b)) => Cell::UInt(big_endian(&b)?),
        // ENUM and SET are written as their index and bit mask, which the
        // server maps to the same members; index 0 is the invalid value ''.
        (Kind::Enum, Value::Int(0)) => Cell::Text {
            bytes: Vec::new(),
            charset: Arc::from("utf8mb4"),
        },
        (Kind::Enum, Value::Int(i)) => Cell::Int(i),
        (Kind::Set, Value::Bytes(b)) => {
            let mut be = b.clone();
            be.reverse();
            Cell::UInt(big_endian(&be)?)
        }
        (Kind::Text(Some(charset)), Value::Bytes(b)) => Cell::Text {
            bytes: b,
            charset: charset.clone(),
        },
        (Kind::Text(None), Value::Bytes(b)) => Cell::Bytes(b),
        (Kind::Json, Value::Bytes(b)) => Cell::Text {
            bytes: b,
            charset: Arc::from("utf8mb4"),
        },
        (Kind::Binary { pad_to }, Value::Bytes(mut b)) => {
            if let Some(n) = pad_to
                && b.len() < *n
            {
                b.resize(*n, 0);
            }
            Cell::Bytes(b)
        }
        (kind, value) => return Err(format!("unexpected value {value:?} for a {kind:?} column")),
    };
    Ok(cell)
}

/// Appends `.ffffff` when there are microseconds. Temporal values are
/// written for every row, so the fraction goes into the value's own buffer.
fn fraction(text: &mut String, micros: u32) {
    if micros != 0 {
        // Writing to a String cannot fail.
        let _ = write!(text, ".{micros:06}");
    }
}

/// A TIMESTAMP's seconds since the epoch as a UTC datetime; 0 is the zero
/// timestamp.
fn utc(secs: i64, micros: u32) -> Result<String, String> {
    if secs == 0 && micros == 0 {
        return Ok("0000-00-00 00:00:00".into());
    }
    // A malformed event can carry any fraction; only 0-999999 is one.
    if micros >= 1_000_000 {
        return Err(format!("TIMESTAMP fraction {micros} is out of range"));
    }
    let t = chrono::DateTime::from_timestamp(secs, micros * 1000)
        .ok_or_else(|| format!("TIMESTAMP {secs} is out of range"))?;
    let mut text = t.format("%Y-%m-%d %H:%M:%S").to_string();
    fraction(&mut text, micros);
    Ok(text)
}

fn big_endian(bytes: &[u8]) -> Result<u64, String> {
    if bytes.len() > 8 {
        return Err(format!("{} bytes do not fit a 64-bit value", bytes.len()));
    }
    Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(value: Value, kind: Kind) -> Cell {
        convert(BinlogValue::Value(value), &kind).unwrap()
    }

    #[test]
    fn temporal_values_keep_their_fraction() {
        assert_eq!(
            conv(Value::Date(2024, 2, 29, 13, 5, 9, 123_000), Kind::DateTime),
            Cell::Temporal("2024-02-29 13:05:09.123000".into())
        );
        assert_eq!(
            conv(Value::Date(0, 0, 0, 0, 0, 0, 0), Kind::DateTime),
            Cell::Temporal("0000-00-00 00:00:00".into())
        );
        assert_eq!(
            conv(Value::Time(true, 1, 2, 3, 4, 5), Kind::Time),
            Cell::Temporal("-26:03:04.000005".into())
        );
        assert_eq!(
            conv(Value::Bytes(b"1700000000.250000".to_vec()), Kind::Timestamp),
            Cell::Temporal("2023-11-14 22:13:20.250000".into())
        );
        assert_eq!(
            conv(Value::Bytes(b"0".to_vec()), Kind::Timestamp),
            Cell::Temporal("0000-00-00 00:00:00".into())
        );
    }

    #[test]
    fn a_timestamp_fraction_past_a_second_is_refused() {
        // Found by `parser_properties`: the fraction's nanoseconds overflowed.
        assert!(utc(1, 5_000_000).is_err());
        assert_eq!(utc(1, 999_999).as_deref(), Ok("1970-01-01 00:00:01.999999"));
    }

    #[test]
    fn bits_sets_enums_and_years() {
        assert_eq!(conv(Value::Bytes(vec![1, 2]), Kind::Bit), Cell::UInt(258));
        assert_eq!(conv(Value::Bytes(vec![5, 0]), Kind::Set), Cell::UInt(5));
        assert_eq!(conv(Value::Int(2), Kind::Enum), Cell::Int(2));
        assert_eq!(
            conv(Value::Bytes(b"1900".to_vec()), Kind::Year),
            Cell::Int(0)
        );
        assert_eq!(
            conv(Value::Bytes(b"2024".to_vec()), Kind::Year),
            Cell::Int(2024)
        );
    }

    #[test]
    fn binary_is_padded_back() {
        assert_eq!(
            conv(Value::Bytes(vec![1]), Kind::Binary { pad_to: Some(4) }),
            Cell::Bytes(vec![1, 0, 0, 0])
        );
    }

    #[test]
    fn nulls_and_decimals() {
        assert_eq!(conv(Value::NULL, Kind::Decimal), Cell::Null);
        assert_eq!(
            conv(Value::Bytes(b"-12.50".to_vec()), Kind::Decimal),
            Cell::Decimal("-12.50".into())
        );
        assert!(
            convert(
                BinlogValue::Value(Value::Bytes(b"1;".to_vec())),
                &Kind::Decimal
            )
            .is_err()
        );
    }
}
