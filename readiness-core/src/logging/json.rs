//! The JSON line: the library's keys first, then the event's fields and its spans'.

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::time::SystemTime;

use super::class::DataClass;
use super::fields::Value;
use super::line::{Line, TRUNCATED};
use super::redact::REDACTED;

/// The keys every line starts with, and `truncated` (the flag of a line cut short);
/// they belong to the library. An event or span field of the same name is written as
/// `field.<name>`, and so is a field whose name starts with `field.`, so no renamed
/// field meets another: no line has a key twice.
pub const RESERVED_KEYS: &[&str] = &[
    "timestamp",
    "level",
    "message",
    "target",
    "service",
    "version",
    "category",
    "classification",
    "request_id",
    "trace_id",
    "span_id",
    "truncated",
];

/// `,"name":` for a field: as it is when it is a plain name (as field names almost
/// always are), escaped otherwise, and `field.name` for a reserved one or one
/// starting with `field.` (`field.level` becomes `field.field.level`: renaming is
/// one-to-one, so a field named `level` and one named `field.level` stay apart).
fn json_key(out: &mut Vec<u8>, name: &str) {
    if written_as_is(name) {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        return;
    }
    out.push(b',');
    if is_reserved(name) || name.starts_with("field.") {
        json_str(out, &format!("field.{name}"));
    } else {
        json_str(out, name);
    }
    out.push(b':');
}

/// Whether the key `name` is written as it is: plain, not reserved, not `field.*`.
pub(super) fn written_as_is(name: &str) -> bool {
    name.bytes().all(|b| PLAIN[usize::from(b)]) && !is_reserved(name) && !name.starts_with("field.")
}

/// The bytes a plain field name is made of: ASCII letters, digits, `_`, `.`, `-`
/// (a table: every key of every line is checked).
const PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-';
        b += 1;
    }
    table
};

/// The `,"service":..,"version":..` part of every line, written once.
pub(super) fn identity_json(service: Option<&str>, version: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(service) = service {
        out.extend_from_slice(b",\"service\":");
        json_str(&mut out, service);
    }
    if let Some(version) = version {
        out.extend_from_slice(b",\"version\":");
        json_str(&mut out, version);
    }
    out
}

/// Whether `name` is one of [`RESERVED_KEYS`] (a `match`: every field of every line
/// asks).
fn is_reserved(name: &str) -> bool {
    matches!(
        name,
        "timestamp"
            | "level"
            | "message"
            | "target"
            | "service"
            | "version"
            | "category"
            | "classification"
            | "request_id"
            | "trace_id"
            | "span_id"
            | "truncated"
    )
}

impl Line<'_> {
    pub(super) fn json(&self, out: &mut Vec<u8>) {
        let shared = self.shared;
        out.reserve(512);
        // Room kept for the truncation flag and the closing brace.
        let limit = shared.max_line.saturating_sub(24);
        let start = out.len();
        let message = self.text(self.message);
        let request_id = self.request_id.map(|id| self.text(id));
        let mut truncated = false;
        let texts = self.head(out, &message, request_id.as_deref(), usize::MAX);
        if out.len() - start > limit {
            // Hostile input only: a message and a request id of escaped control
            // characters (six bytes each) outgrow the line. Written again, the two
            // share the room the rest of the head leaves.
            let fixed = out.len() - start - texts;
            let room = (limit.saturating_sub(fixed) / 2).max(64);
            out.truncate(start);
            self.head(out, &message, request_id.as_deref(), room);
            truncated = true;
        }
        if let Some(own) = self.own_request_id {
            let mark = out.len();
            json_key(out, "request_id");
            json_str(out, &self.text(own));
            if out.len() - start > limit {
                out.truncate(mark);
                truncated = true;
            }
        }
        self.each_field_named(|name, value, own| {
            if truncated {
                return ControlFlow::Break(());
            }
            let mark = out.len();
            if own {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":");
            } else {
                json_key(out, name);
            }
            match value {
                _ if self.class == DataClass::Restricted => json_str(out, REDACTED),
                // serde_json writes numbers with itoa and ryu.
                Value::I64(v) => {
                    let _ = serde_json::to_writer(&mut *out, &v);
                }
                Value::U64(v) => {
                    let _ = serde_json::to_writer(&mut *out, &v);
                }
                Value::F64(v) if v.is_finite() => {
                    let _ = serde_json::to_writer(&mut *out, &v);
                }
                Value::F64(v) => json_str(out, &v.to_string()),
                Value::Bool(v) => out.extend_from_slice(if v { b"true" } else { b"false" }),
                Value::Str(s) => json_str(out, &self.text(s)),
            }
            if out.len() - start > limit {
                out.truncate(mark);
                truncated = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        if truncated {
            out.extend_from_slice(b",\"truncated\":true");
        }
        out.push(b'}');
    }

    /// The library's keys, `timestamp` to `span_id`, the message and the request id
    /// written in at most `room` bytes each (escaped). Gives the bytes those two took.
    fn head(
        &self,
        out: &mut Vec<u8>,
        message: &str,
        request_id: Option<&str>,
        room: usize,
    ) -> usize {
        let shared = self.shared;
        out.extend_from_slice(b"{\"timestamp\":\"");
        timestamp(out);
        out.extend_from_slice(b"\",\"level\":\"");
        out.extend_from_slice(self.level.as_bytes());
        out.extend_from_slice(b"\",\"message\":");
        let mut texts = json_str_within(out, message, room);
        out.extend_from_slice(b",\"target\":");
        json_str(out, self.target);
        out.extend_from_slice(&shared.identity_json);
        out.extend_from_slice(b",\"category\":\"");
        out.extend_from_slice(self.category.as_str().as_bytes());
        out.extend_from_slice(b"\",\"classification\":\"");
        out.extend_from_slice(self.class.as_str().as_bytes());
        out.push(b'"');
        if let Some(id) = request_id {
            out.extend_from_slice(b",\"request_id\":");
            texts += json_str_within(out, id, room);
        }
        if let Some((trace_id, span_id)) = &self.trace {
            out.extend_from_slice(b",\"trace_id\":\"");
            out.extend_from_slice(trace_id);
            out.extend_from_slice(b"\",\"span_id\":\"");
            out.extend_from_slice(span_id);
            out.push(b'"');
        }
        texts
    }
}

thread_local! {
    /// The last second formatted, and its text up to the seconds.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// The current time as RFC 3339 UTC with microseconds (`2026-11-23T10:00:00.123456Z`);
/// the date and time of day are formatted once per second and thread.
fn timestamp(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let since = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let (seconds, micros) = (since.as_secs(), since.subsec_micros());
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != seconds {
            let mut text = humantime::format_rfc3339_seconds(now).to_string();
            text.pop(); // the `Z`
            *cached = (seconds, text);
        }
        out.extend_from_slice(cached.1.as_bytes());
    });
    let mut digits = [b'.', b'0', b'0', b'0', b'0', b'0', b'0', b'Z'];
    let mut rest = micros;
    for digit in digits[1..7].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&digits);
}

/// Writes `value` as a JSON string. Quotes, backslashes and every control character
/// (C0, DEL and C1) are escaped, and so are U+2028 and U+2029 (line breaks to
/// JavaScript and to log shippers that split on Unicode line breaks): no value can
/// end the line, forge a key or reach a terminal as a control sequence.
fn json_str(out: &mut Vec<u8>, value: &str) {
    out.reserve(value.len() + 2);
    out.push(b'"');
    // Most values (methods, routes, ids, messages) need no escape: copied at once.
    if needs_escape(value.as_bytes()) {
        escape_into(out, value);
    } else {
        out.extend_from_slice(value.as_bytes());
    }
    out.push(b'"');
}

/// [`json_str`], cut (with the `…[truncated]` marker) so that what is between the
/// quotes takes at most `room` bytes. Gives the bytes it took, quotes included.
fn json_str_within(out: &mut Vec<u8>, value: &str, room: usize) -> usize {
    let mark = out.len();
    json_str(out, value);
    if out.len() - mark - 2 <= room {
        return out.len() - mark;
    }
    out.truncate(mark);
    let room = room.saturating_sub(TRUNCATED.len());
    let (mut used, mut cut) = (0, 0);
    for (at, c) in value.char_indices() {
        used += escaped_len(c);
        if used > room {
            break;
        }
        cut = at + c.len_utf8();
    }
    out.push(b'"');
    escape_into(out, &value[..cut]);
    out.extend_from_slice(TRUNCATED.as_bytes());
    out.push(b'"');
    out.len() - mark
}

/// Whether `c` is written as `\uXXXX`.
fn escaped_as_code(c: char) -> bool {
    matches!(c, '\0'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}')
}

/// The bytes `c` takes once escaped.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if escaped_as_code(c) => 6,
        c => c.len_utf8(),
    }
}

/// `value`'s characters, escaped as [`json_str`] says, runs that need no escape
/// copied at once.
fn escape_into(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    let mut run = 0;
    for (at, c) in value.char_indices() {
        let short: &[u8] = match c {
            '"' => b"\\\"",
            '\\' => b"\\\\",
            '\n' => b"\\n",
            '\r' => b"\\r",
            '\t' => b"\\t",
            '\u{8}' => b"\\b",
            '\u{c}' => b"\\f",
            c if escaped_as_code(c) => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..at]);
        if short.is_empty() {
            let code = u32::from(c);
            out.extend_from_slice(b"\\u");
            for shift in [12, 8, 4, 0] {
                out.push(HEX[((code >> shift) & 0xf) as usize]);
            }
        } else {
            out.extend_from_slice(short);
        }
        run = at + c.len_utf8();
    }
    out.extend_from_slice(&bytes[run..]);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether `bytes` may hold a character [`json_str`] escapes: a control character,
/// a quote, a backslash, DEL, or any non-ASCII byte (then [`escape_into`] looks
/// closer: most non-ASCII text needs no escape). Eight bytes a step (a
/// word-at-a-time test, exact for "any byte below 0x20", "any byte equal to" and
/// "any byte from 0x80"): every value of every line goes through it, and a
/// byte-by-byte scan was a tenth of the access line's cost. Written by hand:
/// `memchr` finds given bytes, not a range below a bound.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let equal = |x: u64, b: u8| {
        let y = x ^ (ONES * u64::from(b));
        y.wrapping_sub(ONES) & !y
    };
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let control = x.wrapping_sub(ONES * 0x20) & !x;
        if (control | equal(x, b'"') | equal(x, b'\\') | equal(x, 0x7f) | x) & HIGHS != 0 {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\' || b >= 0x7f)
}

#[cfg(test)]
mod tests {
    use super::{
        is_reserved, json_key, json_str, json_str_within, needs_escape, RESERVED_KEYS, TRUNCATED,
    };
    use proptest::prelude::*;

    #[test]
    fn keys_are_plain_escaped_or_renamed() {
        for (name, written) in [
            ("status", r#","status":"#),
            ("http.route", r#","http.route":"#),
            ("level", r#","field.level":"#),
            ("field.level", r#","field.field.level":"#),
            ("truncated", r#","field.truncated":"#),
            ("fields", r#","fields":"#),
            ("a\"b", r#","a\"b":"#),
            ("tab\there", r#","tab\there":"#),
            ("é", r#","é":"#),
        ] {
            let mut out = Vec::new();
            json_key(&mut out, name);
            assert_eq!(String::from_utf8(out).unwrap(), written, "{name}");
        }
    }

    #[test]
    fn the_reserved_test_knows_exactly_the_reserved_keys() {
        for key in RESERVED_KEYS {
            assert!(is_reserved(key), "{key}");
        }
        for other in ["", "status", "field.level", "levels", "Level", "trace"] {
            assert!(!is_reserved(other), "{other}");
        }
    }

    /// Whether a byte-by-byte scan finds a byte `needs_escape` must flag.
    fn flagged(bytes: &[u8]) -> bool {
        bytes
            .iter()
            .any(|&b| b < 0x20 || b == b'"' || b == b'\\' || b >= 0x7f)
    }

    proptest! {
        /// The word-at-a-time test says what a byte-by-byte scan says, and a value
        /// is written as JSON that reads back as the value, with no raw control
        /// character, DEL, C1 control, U+2028 or U+2029, and as serde_json writes it
        /// when it holds none of those.
        #[test]
        fn values_are_written_as_json_that_reads_back(value in "(?s).{0,40}", bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(needs_escape(&bytes), flagged(&bytes));
            let mut out = Vec::new();
            json_str(&mut out, &value);
            let text = String::from_utf8(out).unwrap();
            prop_assert_eq!(serde_json::from_str::<String>(&text).unwrap(), value.clone());
            prop_assert!(!text.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')), "{:?}", text);
            if !value.chars().any(|c| matches!(c, '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}')) {
                prop_assert_eq!(text, serde_json::to_string(&value).unwrap());
            }
        }

        /// A value cut to fit stays JSON, within its room, marked.
        #[test]
        fn a_value_cut_to_its_room_stays_json(value in "(?s).{0,200}", room in 16usize..300) {
            let mut out = Vec::new();
            let took = json_str_within(&mut out, &value, room);
            prop_assert_eq!(took, out.len());
            let text: String = serde_json::from_slice(&out).unwrap();
            if text != value {
                prop_assert!(out.len() - 2 <= room, "{} > {}", out.len() - 2, room);
                let head = text.strip_suffix(TRUNCATED).unwrap();
                prop_assert!(value.starts_with(head));
            }
        }
    }

    #[test]
    fn each_byte_that_needs_escaping_is_found_in_every_position() {
        for special in (0u8..0x20).chain([b'"', b'\\']).chain(0x7f..=0xff) {
            for len in 1..20 {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = special;
                    assert!(needs_escape(&bytes), "{special:#x} at {at} of {len}");
                }
            }
        }
        for plain in (0x20u8..0x7f).filter(|b| *b != b'"' && *b != b'\\') {
            assert!(!needs_escape(&[plain; 17]), "{plain:#x}");
        }
    }

    #[test]
    fn line_breaks_and_controls_beyond_ascii_are_escaped() {
        let mut out = Vec::new();
        json_str(&mut out, "a\u{7f}\u{85}\u{2028}\u{2029}\u{1b}é😀\n");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#""a\u007f\u0085\u2028\u2029\u001bé😀\n""#
        );
    }
}
