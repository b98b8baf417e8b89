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

/// Writes `s` as a JSON string literal.
pub(super) fn string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            // JSON forbids raw control characters; U+2028 and U+2029 are
            // escaped as well because JavaScript consumers choke on them
            // (Go's encoding/json, which TiCDC uses, does the same).
            c if c < ' ' || c == '\u{2028}' || c == '\u{2029}' => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes a value that is already valid JSON (a number, `null`, `true`).
pub(super) fn raw(out: &mut String, json: &str) {
    out.push_str(json);
}

/// Writes `n` as a JSON number.
pub(super) fn number(out: &mut String, n: impl std::fmt::Display) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{n}");
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
