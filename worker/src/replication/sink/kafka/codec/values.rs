//! Column values as the JSON protocols need them: character data decoded
//! to UTF-8 from the column's character set, integers read with the
//! column's signedness, and the number and byte formats TiCDC produces.

use std::{borrow::Cow, fmt::Write};

use base64::Engine;
use encoding_rs::Encoding;
use mysql_async::consts::ColumnType;

use crate::replication::source::row::{Cell, ColumnInfo};

/// One cell, decoded; each protocol decides how to write it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scalar<'a> {
    Null,
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    /// Text JSON carries as a string: DECIMAL, temporal values, JSON and
    /// character data, already in UTF-8.
    Text(Cow<'a, str>),
    /// The bytes of a binary column; each protocol has its own text form.
    Bytes(&'a [u8]),
}

/// Decodes `cell`, a value of `column`.
pub(super) fn scalar<'a>(column: &ColumnInfo, cell: &'a Cell) -> Scalar<'a> {
    match cell {
        Cell::Null => Scalar::Null,
        Cell::Int(v) => match integer_bits(column.column_type()) {
            // The decoder takes signedness from the table map as well; a
            // disagreement can only come from the bit being read for another
            // column, so the column's declared width and sign win.
            Some(bits) if column.is_unsigned() && *v < 0 => {
                Scalar::UInt((*v as u64) & (u64::MAX >> (64 - bits)))
            }
            _ => Scalar::Int(*v),
        },
        Cell::UInt(v) => match integer_bits(column.column_type()) {
            Some(bits) if !column.is_unsigned() && *v > (u64::MAX >> (65 - bits)) => {
                let shift = 64 - bits;
                Scalar::Int(((*v << shift) as i64) >> shift)
            }
            _ => Scalar::UInt(*v),
        },
        Cell::Float(v) => Scalar::Float(*v),
        Cell::Double(v) => Scalar::Double(*v),
        Cell::Decimal(s) | Cell::Temporal(s) => Scalar::Text(Cow::Borrowed(s)),
        // The decoder turns ENUM index 0 (the invalid-value member '') into
        // empty text; TiCDC publishes ENUMs as their index.
        Cell::Text { bytes, .. }
            if bytes.is_empty() && column.column_type() == ColumnType::MYSQL_TYPE_ENUM =>
        {
            Scalar::UInt(0)
        }
        Cell::Text { bytes, charset } => Scalar::Text(decode(bytes, charset)),
        Cell::Bytes(bytes) if column.is_binary() => Scalar::Bytes(bytes),
        // Character data whose collation the upstream did not name: UTF-8
        // is by far the most likely, and invalid bytes must not make
        // invalid JSON.
        Cell::Bytes(bytes) => Scalar::Text(String::from_utf8_lossy(bytes)),
    }
}

/// The width of an integer type, for re-reading a value with the other
/// signedness.
fn integer_bits(ty: ColumnType) -> Option<u32> {
    use ColumnType::*;
    match ty {
        MYSQL_TYPE_TINY => Some(8),
        MYSQL_TYPE_SHORT => Some(16),
        MYSQL_TYPE_INT24 => Some(24),
        MYSQL_TYPE_LONG => Some(32),
        MYSQL_TYPE_LONGLONG => Some(64),
        _ => None,
    }
}

/// Decodes text in the MySQL character set `charset` to UTF-8. Character
/// sets without a decoder here (cp850, swe7, dec8 and other rare ones) are
/// read as UTF-8, replacing invalid bytes, so the JSON stays valid.
pub(super) fn decode<'a>(bytes: &'a [u8], charset: &str) -> Cow<'a, str> {
    // The server names character sets in lower case; folding is only for
    // names from elsewhere, and is skipped because this runs for every
    // text value.
    let charset = if charset.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(charset.to_ascii_lowercase())
    } else {
        Cow::Borrowed(charset)
    };
    if charset == "utf32" {
        return Cow::Owned(utf32(bytes));
    }
    match encoding_of(&charset) {
        // Without BOM handling: a leading U+FEFF is data, not a marker.
        Some(encoding) => encoding.decode_without_bom_handling(bytes).0,
        None => String::from_utf8_lossy(bytes),
    }
}

/// The decoder for a MySQL character set. MySQL's `latin1` is Windows-1252
/// (as the WHATWG decoder implements it, including the five undefined
/// bytes), its `latin5` is ISO-8859-9, which WHATWG folds into
/// Windows-1254, and `ucs2` is the BMP subset of UTF-16BE.
fn encoding_of(charset: &str) -> Option<&'static Encoding> {
    use encoding_rs::*;
    Some(match charset {
        "utf8" | "utf8mb3" | "utf8mb4" => UTF_8,
        "latin1" | "ascii" => WINDOWS_1252,
        "latin2" => ISO_8859_2,
        "latin5" => WINDOWS_1254,
        "latin7" => ISO_8859_13,
        "greek" => ISO_8859_7,
        "hebrew" => ISO_8859_8,
        "cp1250" => WINDOWS_1250,
        "cp1251" => WINDOWS_1251,
        "cp1256" => WINDOWS_1256,
        "cp1257" => WINDOWS_1257,
        "cp866" => IBM866,
        "koi8r" => KOI8_R,
        "koi8u" => KOI8_U,
        "macroman" => MACINTOSH,
        "tis620" => WINDOWS_874,
        "gbk" | "gb2312" => GBK,
        "gb18030" => GB18030,
        "big5" => BIG5,
        "sjis" | "cp932" => SHIFT_JIS,
        "ujis" | "eucjpms" => EUC_JP,
        "euckr" => EUC_KR,
        "utf16" | "ucs2" => UTF_16BE,
        "utf16le" => UTF_16LE,
        _ => return None,
    })
}

/// UTF-32 (big-endian, as MySQL stores it), which `encoding_rs` does not
/// decode; invalid code points and a trailing partial unit become U+FFFD.
fn utf32(bytes: &[u8]) -> String {
    let units = bytes.chunks(4);
    units
        .map(|unit| match <[u8; 4]>::try_from(unit) {
            Ok(unit) => char::from_u32(u32::from_be_bytes(unit)).unwrap_or('\u{fffd}'),
            Err(_) => '\u{fffd}',
        })
        .collect()
}

/// Binary data as canal does it: each byte becomes the character with that
/// code point (ISO-8859-1), which a Java consumer turns back into the bytes
/// with `getBytes(ISO_8859_1)`.
pub(super) fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Standard, padded base64, as Go's encoding/json writes `[]byte`.
pub(super) fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Binary data as Go's `strconv.Quote` escapes it (without the quotes),
/// which TiCDC's open protocol uses for BINARY and VARBINARY: printable
/// UTF-8 stays, everything else becomes `\xNN`, `\uNNNN` or a C escape.
/// Go's notion of printable comes from Unicode tables; this keeps every
/// non-control, non-space, non-format character, and any difference still
/// unquotes to the same bytes with `strconv.Unquote`.
pub(super) fn go_quoted(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        let (valid, invalid) = match std::str::from_utf8(rest) {
            Ok(s) => (s, 0),
            Err(e) => {
                let valid = std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap_or_default();
                let bad = e.error_len().unwrap_or(rest.len() - e.valid_up_to());
                (valid, bad)
            }
        };
        for c in valid.chars() {
            quote_char(&mut out, c);
        }
        let after_valid = &rest[valid.len()..];
        for b in &after_valid[..invalid] {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\x{b:02x}");
        }
        rest = &after_valid[invalid..];
    }
    out
}

fn quote_char(out: &mut String, c: char) {
    // Writing to a String cannot fail, hence the ignored results.
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        ' '..='~' => out.push(c),
        c if c.is_ascii() => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c if c.is_control() || c.is_whitespace() || is_format(c) => {
            if u32::from(c) <= 0xffff {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            } else {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
        c => out.push(c),
    }
}

/// Common invisible format characters (Unicode category Cf), which Go does
/// not count as printable.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

/// A FLOAT as text, the way canal-json writes it (Go's shortest `'f'`
/// format, never an exponent). MySQL stores no NaN or infinity; TiCDC
/// writes such values as 0, and so does this.
pub(super) fn float_text(v: f32) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "0".to_owned()
    }
}

/// A DOUBLE as text, see [`float_text`].
pub(super) fn double_text(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "0".to_owned()
    }
}

/// A FLOAT as a JSON number the way Go's encoding/json writes a float32:
/// shortest digits, positional unless the magnitude is below 1e-6 or at
/// least 1e21, where it uses an exponent (`1e+21`, `1e-7`).
pub(super) fn float_json(v: f32) -> String {
    let magnitude = v.abs();
    if v.is_finite() && magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        go_exponent(format!("{v:e}"))
    } else {
        float_text(v)
    }
}

/// A DOUBLE as a JSON number, see [`float_json`].
pub(super) fn double_json(v: f64) -> String {
    let magnitude = v.abs();
    if v.is_finite() && magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        go_exponent(format!("{v:e}"))
    } else {
        double_text(v)
    }
}

/// Rust writes `1e21`; Go writes a sign on positive exponents (`1e+21`).
fn go_exponent(mut s: String) -> String {
    if let Some(e) = s.find('e')
        && !s[e + 1..].starts_with('-')
    {
        s.insert(e + 1, '+');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn character_sets_decode_to_utf8() {
        assert_eq!(decode(b"caf\xe9 \x80", "latin1"), "café €");
        assert_eq!(decode(b"\xc4\xe3\xba\xc3", "gbk"), "你好");
        assert_eq!(decode("ü".as_bytes(), "utf8mb4"), "ü");
        assert_eq!(decode(b"\x00\x00\x00A\x00\x01\xf6\x00", "utf32"), "A😀");
        assert_eq!(decode(b"\x00A\x00\xe9", "ucs2"), "Aé");
        assert_eq!(decode(b"a\xffb", "swe7"), "a\u{fffd}b");
        assert_eq!(decode(b"caf\xe9", "Latin1"), "café");
    }

    #[test]
    fn binary_forms() {
        assert_eq!(latin1(&[0x41, 0x00, 0xe9, 0xff]), "A\u{0}éÿ");
        assert_eq!(base64(b"aa"), "YWE=");
        assert_eq!(
            go_quoted(b"\x89PNG\r\n\x1a\n\"\\\x7f\xe2\x82A \xc3\xa9\xc2\xa0"),
            "\\x89PNG\\r\\n\\x1a\\n\\\"\\\\\\x7f\\xe2\\x82A é\\u00a0"
        );
    }

    #[test]
    fn floats_follow_go() {
        assert_eq!(double_text(1.0), "1");
        assert_eq!(double_text(1e21), "1000000000000000000000");
        assert_eq!(float_text(0.1), "0.1");
        assert_eq!(double_json(1e21), "1e+21");
        assert_eq!(double_json(-1.5e-7), "-1.5e-7");
        assert_eq!(double_json(0.000001), "0.000001");
        assert_eq!(float_json(3.4e38), "3.4e+38");
        assert_eq!(double_json(f64::NAN), "0");
        assert_eq!(double_json(0.0), "0");
    }

    #[test]
    fn integers_take_the_column_signedness() {
        use ColumnType::*;
        let unsigned = ColumnInfo::test_typed("c", MYSQL_TYPE_LONG, "binary").unsigned();
        assert_eq!(
            scalar(&unsigned, &Cell::Int(-1)),
            Scalar::UInt(4_294_967_295)
        );
        assert_eq!(scalar(&unsigned, &Cell::UInt(7)), Scalar::UInt(7));
        let signed = ColumnInfo::test_typed("c", MYSQL_TYPE_TINY, "binary");
        assert_eq!(scalar(&signed, &Cell::UInt(255)), Scalar::Int(-1));
        assert_eq!(scalar(&signed, &Cell::UInt(127)), Scalar::UInt(127));
        let big = ColumnInfo::test_typed("c", MYSQL_TYPE_LONGLONG, "binary").unsigned();
        assert_eq!(scalar(&big, &Cell::Int(-1)), Scalar::UInt(u64::MAX));
    }

    #[test]
    fn cells_decode_by_column() {
        use ColumnType::*;
        let enum_column = ColumnInfo::test_typed("e", MYSQL_TYPE_ENUM, "utf8mb4");
        let empty = Cell::Text {
            bytes: Vec::new(),
            charset: "utf8mb4".into(),
        };
        assert_eq!(scalar(&enum_column, &empty), Scalar::UInt(0));
        let varbinary = ColumnInfo::test_typed("b", MYSQL_TYPE_VARCHAR, "binary");
        let bytes = Cell::Bytes(vec![0xff]);
        assert_eq!(scalar(&varbinary, &bytes), Scalar::Bytes(&[0xff]));
        // A character column of unknown collation arrives as bytes.
        let varchar = ColumnInfo::test_typed("s", MYSQL_TYPE_VARCHAR, "utf8mb4");
        assert_eq!(scalar(&varchar, &bytes), Scalar::Text("\u{fffd}".into()));
    }
}
