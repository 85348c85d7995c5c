//! The JSON line: the library's keys first, then the event's fields and its spans'.

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::time::SystemTime;

use super::class::DataClass;
use super::fields::Value;
use super::line::Line;
use super::redact::REDACTED;

/// The keys every line starts with; they belong to the library. An event or span
/// field of the same name is written as `field.<name>`.
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
];

/// `,"name":` for a field: as it is when it is a plain name (as field names almost
/// always are), escaped otherwise, and `field.name` for a reserved one.
fn json_key(out: &mut Vec<u8>, name: &str) {
    let plain = name.bytes().all(|b| PLAIN[usize::from(b)]);
    if plain && !is_reserved(name) {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        return;
    }
    out.push(b',');
    if is_reserved(name) {
        json_str(out, &format!("field.{name}"));
    } else {
        json_str(out, name);
    }
    out.push(b':');
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
    )
}

impl Line<'_> {
    pub(super) fn json(&self, out: &mut Vec<u8>) {
        let shared = self.shared;
        out.reserve(512);
        out.extend_from_slice(b"{\"timestamp\":\"");
        timestamp(out);
        out.extend_from_slice(b"\",\"level\":\"");
        out.extend_from_slice(self.level.as_bytes());
        out.extend_from_slice(b"\",\"message\":");
        json_str(out, &self.text(self.message));
        out.extend_from_slice(b",\"target\":");
        json_str(out, self.target);
        out.extend_from_slice(&shared.identity_json);
        out.extend_from_slice(b",\"category\":\"");
        out.extend_from_slice(self.category.as_str().as_bytes());
        out.extend_from_slice(b"\",\"classification\":\"");
        out.extend_from_slice(self.class.as_str().as_bytes());
        out.push(b'"');
        if let Some(id) = self.request_id {
            out.extend_from_slice(b",\"request_id\":");
            json_str(out, &self.text(id));
        }
        if let Some((trace_id, span_id)) = &self.trace {
            out.extend_from_slice(b",\"trace_id\":\"");
            out.extend_from_slice(trace_id);
            out.extend_from_slice(b"\",\"span_id\":\"");
            out.extend_from_slice(span_id);
            out.push(b'"');
        }
        // Room kept for the truncation flag and the closing brace.
        let limit = shared.max_line.saturating_sub(24);
        let mut truncated = false;
        self.each_field(|name, value| {
            let mark = out.len();
            json_key(out, name);
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
            if out.len() > limit {
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

/// Writes `value` as a JSON string: serde_json escapes quotes, backslashes and every
/// control character, so no value can end the line or forge a key.
fn json_str(out: &mut Vec<u8>, value: &str) {
    // Most values (methods, routes, ids, messages) need no escape: copied at once.
    if !needs_escape(value.as_bytes()) {
        out.reserve(value.len() + 2);
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Whether `bytes` hold a control character, a quote or a backslash. Eight bytes a
/// step (a word-at-a-time test, exact for "any byte below 0x20" and "any byte equal
/// to"): every value of every line goes through it, and a byte-by-byte scan was a
/// tenth of the access line's cost. Written by hand: `memchr` finds given bytes, not
/// a range below a bound.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let control = x.wrapping_sub(ONES * 0x20) & !x;
        let quote =
            (x ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES) & !(x ^ (ONES * u64::from(b'"')));
        let backslash =
            (x ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES) & !(x ^ (ONES * u64::from(b'\\')));
        if (control | quote | backslash) & HIGHS != 0 {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

#[cfg(test)]
mod tests {
    use super::{is_reserved, json_key, json_str, needs_escape, RESERVED_KEYS};
    use proptest::prelude::*;

    #[test]
    fn keys_are_plain_escaped_or_renamed() {
        for (name, written) in [
            ("status", r#","status":"#),
            ("http.route", r#","http.route":"#),
            ("level", r#","field.level":"#),
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

    proptest! {
        /// The word-at-a-time test says what a byte-by-byte scan says, and a value
        /// is written as serde_json writes it, whatever it holds.
        #[test]
        fn values_are_written_as_serde_json_writes_them(value in "(?s).{0,40}", bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(
                needs_escape(&bytes),
                bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\')
            );
            let mut out = Vec::new();
            json_str(&mut out, &value);
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&value).unwrap());
        }
    }

    #[test]
    fn each_byte_that_needs_escaping_is_found_in_every_position() {
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            for len in 1..20 {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = special;
                    assert!(needs_escape(&bytes), "{special:#x} at {at} of {len}");
                }
            }
        }
        for plain in (0x20u8..=0xff).filter(|b| *b != b'"' && *b != b'\\') {
            assert!(!needs_escape(&[plain; 17]), "{plain:#x}");
        }
    }
}
