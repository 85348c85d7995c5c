//! The pretty line, for a terminal.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::time::SystemTime;

use super::class::{Category, DataClass};
use super::fields::Value;
use super::line::{floor_char_boundary, Line, TRUNCATED};
use super::redact::REDACTED;

impl Line<'_> {
    /// `2026-11-23T10:00:00.123456Z  INFO target: message key=value ...`, for a
    /// terminal: control characters escaped, so input cannot forge a line either.
    pub(super) fn pretty(&self, out: &mut Vec<u8>) {
        let timestamp = humantime::format_rfc3339_micros(SystemTime::now());
        let mut line = String::new();
        let _ = write!(line, "{timestamp} {:>5} {}: ", self.level, self.target);
        escape_into(&mut line, &self.text(self.message));
        if self.category != Category::Application {
            let _ = write!(line, " category={}", self.category);
        }
        if self.class != DataClass::Internal {
            let _ = write!(line, " classification={}", self.class);
        }
        if let Some(id) = self.request_id {
            line.push_str(" request_id=");
            escape_into(&mut line, &self.text(id));
        }
        if let Some(own) = self.own_request_id {
            line.push_str(" field.request_id=");
            escape_into(&mut line, &self.text(own));
        }
        if let Some((trace_id, _)) = &self.trace {
            line.push_str(" trace_id=");
            line.push_str(std::str::from_utf8(trace_id).unwrap_or_default());
        }
        self.each_field(|name, value| {
            let _ = write!(line, " {name}=");
            match value {
                _ if self.class == DataClass::Restricted => line.push_str(REDACTED),
                Value::I64(v) => {
                    let _ = write!(line, "{v}");
                }
                Value::U64(v) => {
                    let _ = write!(line, "{v}");
                }
                Value::F64(v) => {
                    let _ = write!(line, "{v}");
                }
                Value::Bool(v) => {
                    let _ = write!(line, "{v}");
                }
                Value::Str(s) => escape_into(&mut line, &self.text(s)),
            }
            if line.len() > self.shared.max_line {
                let cut = floor_char_boundary(&line, self.shared.max_line);
                line.truncate(cut);
                line.push_str(TRUNCATED);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        out.extend_from_slice(line.as_bytes());
    }
}

/// Control characters (and U+2028, U+2029) as `\n`, `\u{1b}`, ...; everything else
/// as it is.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
}
