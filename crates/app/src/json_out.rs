//! JSON written straight into a buffer, for the answers on the hot path (a page of tasks is
//! ~1,100 fields): a field's name is copied as it is (names are literals that need no
//! escaping), text is scanned eight bytes at a time and escaped exactly as `serde_json`
//! escapes it, and nothing goes through `io::Write`. The output is the same bytes
//! `serde_json::to_writer` writes for the same shape (tests below).

use serde::Serialize;

/// An object being written; [`JsonObject::close`] ends it.
pub struct JsonObject<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> JsonObject<'o> {
    pub fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    pub fn close(self) {
        self.out.push(b'}');
    }

    fn key(&mut self, key: &'static str) {
        debug_assert!(key.bytes().all(|b| !needs_escape(b)), "{key}");
        self.out.reserve(key.len() + 4);
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    pub fn str(&mut self, key: &'static str, value: &str) {
        self.key(key);
        write_str(self.out, value);
    }

    pub fn opt_str(&mut self, key: &'static str, value: Option<&str>) {
        match value {
            Some(value) => self.str(key, value),
            None => self.null(key),
        }
    }

    pub fn int(&mut self, key: &'static str, value: i64) {
        self.key(key);
        self.out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    pub fn opt_bool(&mut self, key: &'static str, value: Option<bool>) {
        self.key(key);
        self.out.extend_from_slice(match value {
            Some(true) => b"true",
            Some(false) => b"false",
            None => b"null",
        });
    }

    pub fn null(&mut self, key: &'static str) {
        self.key(key);
        self.out.extend_from_slice(b"null");
    }

    /// `["a","b"]`
    pub fn strs(&mut self, key: &'static str, values: &[String]) {
        self.key(key);
        self.out.push(b'[');
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(self.out, value);
        }
        self.out.push(b']');
    }

    /// A nested object, written by `fields`.
    pub fn object(&mut self, key: &'static str, fields: impl FnOnce(&mut JsonObject<'_>)) {
        self.key(key);
        let mut inner = JsonObject::open(self.out);
        fields(&mut inner);
        inner.close();
    }

    /// An array of objects, each written by `fields`.
    pub fn objects<T>(&mut self, key: &'static str, items: &[T], fields: impl Fn(&mut JsonObject<'_>, &T)) {
        self.key(key);
        self.out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            let mut inner = JsonObject::open(self.out);
            fields(&mut inner, item);
            inner.close();
        }
        self.out.push(b']');
    }

    /// Any other value, through `serde_json`.
    pub fn serde(&mut self, key: &'static str, value: &impl Serialize) -> serde_json::Result<()> {
        self.key(key);
        serde_json::to_writer(&mut *self.out, value)
    }
}

/// `value` as a JSON string, quoted and escaped as `serde_json` does: `"` and `\` with a
/// backslash, the short forms `\b \t \n \f \r`, other control characters as `\u00xx`
/// (lower-case hex); everything else, `/` and non-ASCII included, as it is.
pub fn write_str(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut done = 0;
    let mut at = first_to_escape(bytes, 0);
    while let Some(&byte) = bytes.get(at) {
        out.extend_from_slice(&bytes[done..at]);
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0xf)]);
            }
        }
        done = at + 1;
        at = first_to_escape(bytes, done);
    }
    out.extend_from_slice(&bytes[done..]);
    out.push(b'"');
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// The index of the first byte at or after `from` that must be escaped, or `bytes.len()`.
/// Eight bytes at a time: a word holds such a byte when one of its bytes is below 0x20 or,
/// XORed with `"` or `\` repeated, is zero; tested with the borrow trick of "Bit Twiddling
/// Hacks" (`hasless(x, n)`, n <= 128), which is exact for whether a word holds one (the
/// byte itself is then found one by one).
fn first_to_escape(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    let mut at = from;
    for word in bytes[from..].chunks_exact(8) {
        let mut eight = [0_u8; 8];
        eight.copy_from_slice(word);
        let x = u64::from_ne_bytes(eight);
        if below(x, 0x20) | below(x ^ (ONES * u64::from(b'"')), 1) | below(x ^ (ONES * u64::from(b'\\')), 1) != 0 {
            break;
        }
        at += 8;
    }
    bytes[at..].iter().position(|&b| needs_escape(b)).map_or(bytes.len(), |i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_json(value: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_is_escaped_exactly_as_serde_json_escapes_it() {
        let mut samples: Vec<String> = [
            "",
            "plain",
            "a\"quote",
            "back\\slash",
            "line\nbreak\r\n\ttab",
            "\u{8}\u{c}\u{0}\u{1f}\u{7f}",
            "/slash/ and é, ß, 漢字, 🙂",
            "exactly8",
            "sixteen bytes!!!",
            "\"\"\"\"\"\"\"\"\"",
            "0123456789abcdef0123456789\"x",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // Every ASCII byte at every position of two words and around their edges.
        for byte in 0_u8..0x80 {
            for position in 0..18 {
                let mut text = "x".repeat(18);
                text.replace_range(position..=position, &char::from(byte).to_string());
                samples.push(text);
            }
        }
        // Random mixes of plain, escaped and multi-byte characters.
        let alphabet = ['a', 'Z', ' ', '"', '\\', '\n', '\u{1}', '\u{1f}', '/', 'é', '€', '🙂', '\u{7f}'];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let length = next() % 40;
            let text: String = (0..length).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            samples.push(text);
        }
        for sample in &samples {
            assert_eq!(as_json(sample), serde_json::to_string(sample).unwrap(), "{sample:?}");
        }
    }

    #[test]
    fn an_object_is_what_serde_json_writes_for_the_same_shape() {
        let mut out = Vec::new();
        let mut o = JsonObject::open(&mut out);
        o.str("Name", "a \"b\"");
        o.opt_str("Missing", None);
        o.int("Version", -42);
        o.opt_bool("Flag", Some(false));
        o.strs("List", &["x".to_owned(), "y\n".to_owned()]);
        o.object("Inner", |o| o.str("K", "v"));
        o.objects("Many", &[1, 2], |o, n| o.int("N", *n));
        o.serde("Other", &vec![Some(1), None]).unwrap();
        o.close();
        let expected = r#"{"Name":"a \"b\"","Missing":null,"Version":-42,"Flag":false,"List":["x","y\n"],"Inner":{"K":"v"},"Many":[{"N":1},{"N":2}],"Other":[1,null]}"#;
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
