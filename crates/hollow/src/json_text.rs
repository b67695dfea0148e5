//! JSON text written straight into a byte buffer, for the answers sent
//! per container (inspect, events): no `serde_json::Value` tree built and
//! dropped per answer.
//!
//! Every value written is followed by a comma; closing an object or array
//! drops the comma before it, and [`JsonText::finish`] the last one. A raw
//! fragment given to [`JsonText::raw`] follows the same rule: members or
//! elements, each with its comma, e.g. `"Driver":"overlay2","Dead":false,`.

use std::io::Write;

/// A JSON text being written.
#[derive(Debug, Default)]
pub struct JsonText {
    buf: Vec<u8>,
}

impl JsonText {
    pub fn with_capacity(bytes: usize) -> Self {
        JsonText {
            buf: Vec::with_capacity(bytes),
        }
    }

    /// The text, without the trailing comma.
    pub fn finish(mut self) -> Vec<u8> {
        if self.buf.last() == Some(&b',') {
            self.buf.pop();
        }
        self.buf
    }

    /// A member's key (`"key":`), escaped.
    pub fn key(&mut self, key: &str) -> &mut Self {
        self.quoted(key);
        self.buf.push(b':');
        self
    }

    /// A string value.
    pub fn str(&mut self, value: &str) -> &mut Self {
        self.quoted(value);
        self.buf.push(b',');
        self
    }

    /// A string value written by `f` (which must write no quote, backslash
    /// or control character: numbers, hex digits, fixed words).
    pub fn str_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        self.buf.push(b'"');
        f(&mut self.buf);
        self.buf.extend_from_slice(b"\",");
        self
    }

    pub fn int(&mut self, value: i64) -> &mut Self {
        let _ = write!(self.buf, "{value},");
        self
    }

    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.buf
            .extend_from_slice(if value { b"true," } else { b"false," });
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.buf.extend_from_slice(b"null,");
        self
    }

    /// Members or elements already in JSON, each followed by a comma.
    pub fn raw(&mut self, fragment: &str) -> &mut Self {
        self.buf.extend_from_slice(fragment.as_bytes());
        self
    }

    /// A value of any JSON type.
    pub fn value(&mut self, value: &serde_json::Value) -> &mut Self {
        let _ = serde_json::to_writer(&mut self.buf, value);
        self.buf.push(b',');
        self
    }

    pub fn open_object(&mut self) -> &mut Self {
        self.buf.push(b'{');
        self
    }

    pub fn close_object(&mut self) -> &mut Self {
        self.close(b'}')
    }

    pub fn open_array(&mut self) -> &mut Self {
        self.buf.push(b'[');
        self
    }

    pub fn close_array(&mut self) -> &mut Self {
        self.close(b']')
    }

    /// An array of strings.
    pub fn strs<'a>(&mut self, items: impl IntoIterator<Item = &'a str>) -> &mut Self {
        self.open_array();
        for s in items {
            self.str(s);
        }
        self.close_array()
    }

    fn close(&mut self, bracket: u8) -> &mut Self {
        if self.buf.last() == Some(&b',') {
            self.buf.pop();
        }
        self.buf.push(bracket);
        self.buf.push(b',');
        self
    }

    /// `"s"` with JSON escapes (`\"`, `\\`, `\n`, `\r`, `\t`, `\u00XX`).
    fn quoted(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.buf.push(b'"');
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..=0x1f => &[],
                _ => continue,
            };
            self.buf.extend_from_slice(&bytes[start..i]);
            if escape.is_empty() {
                self.buf.extend_from_slice(b"\\u00");
                self.buf.push(HEX[usize::from(b >> 4)]);
                self.buf.push(HEX[usize::from(b & 0xf)]);
            } else {
                self.buf.extend_from_slice(escape);
            }
            start = i + 1;
        }
        self.buf.extend_from_slice(&bytes[start..]);
        self.buf.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parsed(w: JsonText) -> Value {
        let text = w.finish();
        serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&text)))
    }

    #[test]
    fn nested_values_and_commas() {
        let mut w = JsonText::default();
        w.open_object();
        w.key("a").int(-3).key("b").bool(true).key("c").null();
        w.key("d").open_array().close_array();
        w.key("e").open_object().close_object();
        w.key("f").strs(["x", "y"]);
        w.raw(r#""g":{"h":[1,2]},"#);
        w.key("i").str_with(|b| b.extend_from_slice(b"00ff"));
        w.key("j").value(&json!({"k": [1, "l"]}));
        w.close_object();
        assert_eq!(
            parsed(w),
            json!({"a": -3, "b": true, "c": null, "d": [], "e": {}, "f": ["x", "y"],
                   "g": {"h": [1, 2]}, "i": "00ff", "j": {"k": [1, "l"]}})
        );
    }

    #[test]
    fn strings_escaped_as_serde_json_reads_them() {
        let nasty = "q\"b\\n\nr\rt\t\u{1}\u{1f} é ✓ \u{7f}";
        let mut w = JsonText::default();
        w.open_object().key(nasty).str(nasty).close_object();
        let v = parsed(w);
        assert_eq!(v[nasty], nasty);
        let mut w = JsonText::default();
        w.str("");
        assert_eq!(w.finish(), b"\"\"");
    }
}
