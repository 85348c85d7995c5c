//! An event's or a span's fields as they are recorded: each value under its name's
//! redaction rule, the library's marks (category, data class, request id) taken out.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use tracing::field::{Field, Visit};

use super::class::{Category, DataClass};
use super::redact::{is_secret_debug, Redactor, Rule, REDACTED};

/// A value as recorded, its name's rule already applied.
#[derive(Debug, Clone)]
pub(super) enum Value {
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    /// Shared: a span's values are handed to each of its events without a copy.
    Str(Arc<str>),
}

/// What a span carries for the events inside it.
#[derive(Debug, Default)]
pub(super) struct SpanFields {
    pub(super) fields: Vec<(&'static str, Value)>,
    pub(super) category: Option<Category>,
    pub(super) class: Option<DataClass>,
    pub(super) request_id: Option<String>,
}

/// Collects fields, applying each name's rule as the value arrives, so a deny-listed
/// value is never even held.
pub(super) struct Collect<'a> {
    redactor: &'a Redactor,
    pub(super) fields: Vec<(&'static str, Value)>,
    pub(super) message: Option<String>,
    pub(super) category: Option<Category>,
    pub(super) class: Option<DataClass>,
    pub(super) request_id: Option<String>,
    pub(super) security_kind: Option<String>,
    pub(super) security_severity: Option<String>,
}

impl<'a> Collect<'a> {
    pub(super) fn new(redactor: &'a Redactor) -> Self {
        Self {
            redactor,
            fields: Vec::new(),
            message: None,
            category: None,
            class: None,
            request_id: None,
            security_kind: None,
            security_severity: None,
        }
    }

    fn push(&mut self, field: &Field, value: Value) {
        let name = field.name();
        // `otel.name`, `otel.kind`, ...: instructions to tracing-opentelemetry, not data.
        if name.starts_with("otel.") {
            return;
        }
        let value = match self.redactor.rule_static(name) {
            Rule::Keep => value,
            Rule::Redact => Value::Str(REDACTED.into()),
            Rule::Confidential(how) => {
                let text = match value {
                    Value::Str(s) => s.to_string(),
                    Value::I64(v) => v.to_string(),
                    Value::U64(v) => v.to_string(),
                    Value::F64(v) => v.to_string(),
                    Value::Bool(v) => v.to_string(),
                };
                Value::Str(self.redactor.confidential(&text, how).into())
            }
        };
        // A name recorded twice keeps its last value: no line has a duplicate key.
        if let Some(slot) = self.fields.iter_mut().find(|(n, _)| *n == name) {
            slot.1 = value;
        } else {
            self.fields.push((name, value));
        }
    }

    /// The library's marks: consumed, not written as fields.
    fn mark(&mut self, field: &Field, value: &str) -> bool {
        match field.name() {
            "category" => {
                if let Some(category) = Category::parse(value) {
                    self.category = Some(category);
                    return true;
                }
            }
            "classification" => {
                if let Some(class) = DataClass::parse(value) {
                    self.class = Some(class);
                    return true;
                }
            }
            "request_id" => {
                self.request_id = Some(value.to_owned());
                return true;
            }
            "kind" => self.security_kind = Some(value.to_owned()),
            "severity" => self.security_severity = Some(value.to_owned()),
            _ => {}
        }
        false
    }
}

impl Visit for Collect<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::U64(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.mark(field, value) {
            return;
        }
        self.push(field, Value::Str(value.into()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
            return;
        }
        if is_secret_debug(&text) {
            self.push(field, Value::Str(REDACTED.into()));
            return;
        }
        if self.mark(field, &text) {
            return;
        }
        self.push(field, Value::Str(text.into()));
    }
}
