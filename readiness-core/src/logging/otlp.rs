//! A line as an OTLP `LogRecord` (opentelemetry-proto's `logs.proto`, fields as
//! numbered there), for the OTLP log export: the same redacted, capped values as
//! the line, the library's keys as attributes, the trace and span ids as bytes.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ops::ControlFlow;
use std::time::SystemTime;

use super::class::{Category, DataClass};
use super::fields::Value;
use super::line::Line;
use super::redact::REDACTED;
use super::RESERVED_KEYS;
use crate::telemetry::otlp_http::{self as pb, Scalar};
use crate::telemetry::LogExport;

thread_local! {
    /// The frame, reused from line to line.
    static RECORD: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Hands `line`'s record to `export`, unless the line is the export's own.
pub(super) fn export(export: &LogExport, line: &Line<'_>) {
    if !LogExport::wants(line.target) {
        return;
    }
    let kind = match line.category {
        Category::Audit => 1,
        Category::Security => 2,
        _ => 0,
    };
    let encode = |frame: &mut Vec<u8>| {
        // The record is written after room for its frame's head, which then goes
        // right before it: the record is not copied to be framed.
        frame.clear();
        frame.resize(pb::FRAME_HEAD, 0);
        line.otlp(frame);
        let start = pb::frame(frame, 0, kind);
        export.offer(&frame[start..], kind);
        if frame.capacity() > 64 * 1024 {
            *frame = Vec::new();
        }
    };
    RECORD.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffers) => encode(&mut buffers),
        // Logging from inside the encoding: buffers of its own.
        Err(_) => encode(&mut Vec::new()),
    });
}

/// `SeverityNumber` of a `tracing` level.
fn severity(level: &str) -> u64 {
    match level {
        "TRACE" => 1,
        "DEBUG" => 5,
        "INFO" => 9,
        "WARN" => 13,
        _ => 17,
    }
}

/// The bytes of `N` ids' hex digits.
fn unhex<const N: usize>(hex: &[u8]) -> [u8; N] {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    };
    let mut out = [0; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = (nibble(hex[2 * i]) << 4) | nibble(hex[2 * i + 1]);
    }
    out
}

impl Line<'_> {
    /// The `LogRecord` message. Attributes: `category`, `classification`,
    /// `request_id`, `target`, then the fields as the JSON line has them (a
    /// reserved name as `field.<name>`); those past the line's cap are left out and
    /// counted in `dropped_attributes_count`.
    pub(super) fn otlp(&self, out: &mut Vec<u8>) {
        // The record may follow other bytes (its frame's head room).
        let base = out.len();
        let now = pb::nanos(SystemTime::now());
        pb::fixed64(out, 1, now);
        pb::uint(out, 2, severity(self.level));
        pb::bytes(out, 3, self.level.as_bytes());
        let message = self.text(self.message);
        let body = Scalar::Text(message.as_bytes());
        pb::tag(out, 5, pb::LEN);
        pb::varint(out, body.len() as u64);
        body.write(out);
        let text = |out: &mut Vec<u8>, key: &str, value: &str| {
            pb::key_value(out, 6, key.as_bytes(), &Scalar::Text(value.as_bytes()));
        };
        text(out, "category", self.category.as_str());
        text(out, "classification", self.class.as_str());
        if let Some(id) = self.request_id {
            text(out, "request_id", &self.text(id));
        }
        text(out, "target", self.target);
        let limit = self.shared.max_line;
        let mut dropped = 0u64;
        self.each_field_named(|name, value, own| {
            if out.len() - base > limit {
                dropped += 1;
                return ControlFlow::Continue(());
            }
            let key: Cow<'_, str> =
                if !own && (RESERVED_KEYS.contains(&name) || name.starts_with("field.")) {
                    format!("field.{name}").into()
                } else {
                    name.into()
                };
            let written: Cow<'_, str>;
            let scalar = match value {
                _ if self.class == DataClass::Restricted => Scalar::Text(REDACTED.as_bytes()),
                Value::I64(v) => Scalar::Varint(3, v as u64),
                Value::U64(v) => match i64::try_from(v) {
                    Ok(v) => Scalar::Varint(3, v as u64),
                    Err(_) => {
                        written = v.to_string().into();
                        Scalar::Text(written.as_bytes())
                    }
                },
                Value::F64(v) => Scalar::Fixed64(4, v.to_bits()),
                Value::Bool(v) => Scalar::Varint(2, u64::from(v)),
                Value::Str(s) => {
                    written = self.text(s);
                    Scalar::Text(written.as_bytes())
                }
            };
            pb::key_value(out, 6, key.as_bytes(), &scalar);
            ControlFlow::Continue(())
        });
        pb::uint(out, 7, dropped);
        if let Some((trace_id, span_id)) = &self.trace {
            pb::bytes(out, 9, &unhex::<16>(trace_id));
            pb::bytes(out, 10, &unhex::<8>(span_id));
        }
        pb::fixed64(out, 11, now);
    }
}
