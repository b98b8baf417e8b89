//! A small JSON writer. The protocols need their fields and columns in a
//! fixed order (TiCDC's field order, the table's column order) and the
//! workspace's `serde_json` does not keep map insertion order, so messages
//! are written directly; this also makes encoding infallible.

use std::fmt::Write;

/// An object being written into `out`; [`Object::key`] adds a member and
/// returns the buffer to write its value into.
pub(super) struct Object<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> Object<'a> {
    pub fn begin(out: &'a mut String) -> Object<'a> {
        out.push('{');
        Object { out, empty: true }
    }

    /// Starts the member `name`; the caller writes exactly one value.
    pub fn key(&mut self, name: &str) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        string(self.out, name);
        self.out.push(':');
        self.out
    }

    pub fn end(self) {
        self.out.push('}');
    }
}

/// The bytes [`string`] must look at: control characters, the quote, the
/// backslash, and 0xE2, which starts U+2028 and U+2029.
static SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[0xE2] = true;
    table
};

/// Writes `s` as a JSON string literal. Runs of characters that need no
/// escape (nearly all text) are found with one table lookup per byte and
/// copied whole.
pub(super) fn string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !SPECIAL[usize::from(b)] {
            i += 1;
            continue;
        }
        // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8.
        let line_separator = b == 0xE2
            && bytes.get(i + 1) == Some(&0x80)
            && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9));
        if b == 0xE2 && !line_separator {
            i += 1;
            continue;
        }
        out.push_str(&s[copied..i]);
        let width = if line_separator { 3 } else { 1 };
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            // JSON forbids raw control characters; U+2028 and U+2029 are
            // escaped as well because JavaScript consumers choke on them
            // (Go's encoding/json, which TiCDC uses, does the same).
            _ => {
                let c = s[i..].chars().next().map_or(0, u32::from);
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{c:04x}");
            }
        }
        i += width;
        copied = i;
    }
    out.push_str(&s[copied..]);
    out.push('"');
}

/// Writes a value that is already valid JSON (a number, `null`, `true`).
pub(super) fn raw(out: &mut String, json: &str) {
    out.push_str(json);
}

/// Writes the integer `n` as a JSON number; `itoa` because every message
/// has several and `fmt`'s machinery showed in profiles.
pub(super) fn number(out: &mut String, n: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Writes the integer `n` as a JSON string (`"42"`).
pub(super) fn quoted_number(out: &mut String, n: impl itoa::Integer) {
    out.push('"');
    number(out, n);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_member_order_and_escape() {
        let mut out = String::new();
        let mut o = Object::begin(&mut out);
        string(o.key("b"), "a\"b\\c\n\u{1}\u{2028}é");
        number(o.key("a"), 18446744073709551615u64);
        let mut inner = Object::begin(o.key("o"));
        raw(inner.key("x"), "null");
        inner.end();
        Object::begin(o.key("e")).end();
        o.end();
        assert_eq!(
            out,
            r#"{"b":"a\"b\\c\n\u0001\u2028é","a":18446744073709551615,"o":{"x":null},"e":{}}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["b"], "a\"b\\c\n\u{1}\u{2028}é");
    }
}
