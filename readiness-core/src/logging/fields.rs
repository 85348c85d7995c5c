//! An event's or a span's fields as they are recorded: each value under its name's
//! redaction rule, the library's marks (category, data class, request id) taken out.
//!
//! The texts of one event or span live in one buffer, and the fields point into it:
//! a span costs one allocation for its texts (its fields sit inline up to eight), an
//! event none (each thread reuses one buffer), and a line reads its spans' fields
//! where they are stored instead of copying them.

use std::fmt::{self, Write as _};

use smallvec::SmallVec;
use tracing::field::{Field, Visit};

use super::class::{Category, DataClass};
use super::redact::{is_secret_debug, Redactor, Rule, REDACTED};

/// A field's value as a line reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Value<'a> {
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    Str(&'a str),
}

/// A value as stored: a text is a range of the owner's buffer.
#[derive(Debug, Clone, Copy)]
enum Stored {
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    Str(Text),
}

/// A range of [`Fields::text`].
#[derive(Debug, Clone, Copy)]
struct Text {
    start: u32,
    end: u32,
}

/// The fields of one event or span, their name's rule applied, and its marks.
#[derive(Debug, Default)]
pub(super) struct Fields {
    text: String,
    entries: SmallVec<[(&'static str, Stored); 8]>,
    pub(super) category: Option<Category>,
    pub(super) class: Option<DataClass>,
    request_id: Option<Text>,
    message: Option<Text>,
    security_kind: Option<Text>,
    security_severity: Option<Text>,
    /// Whether a field came through [`Collect`] (a name of the caller's); else every
    /// name is the library's own (the typed `push_*`), plain and not reserved.
    visited: bool,
}

impl Fields {
    /// Empty, with room for a request span's texts.
    pub(super) fn for_span() -> Self {
        Self {
            text: String::with_capacity(128),
            ..Self::default()
        }
    }

    /// Empties it, keeping its memory unless a huge value grew it.
    pub(super) fn clear(&mut self) {
        if self.text.capacity() > 64 * 1024 {
            self.text = String::new();
        }
        self.text.clear();
        self.entries.clear();
        self.category = None;
        self.class = None;
        self.request_id = None;
        self.message = None;
        self.security_kind = None;
        self.security_severity = None;
        self.visited = false;
    }

    /// Whether every field name is one the library pushed typed (see
    /// `super::request`): plain and not reserved, so written as it is.
    pub(super) fn own_names(&self) -> bool {
        !self.visited
    }

    /// `value` under `name`, as it is: for fields whose names the caller knows to be
    /// kept by the redaction rules (a request's, see `super::request`).
    pub(super) fn push_str(&mut self, name: &'static str, value: &str) {
        let text = self.append(value);
        self.entries.push((name, Stored::Str(text)));
    }

    /// [`push_str`](Self::push_str), in the place of a field of that name if there
    /// is one (a name recorded again keeps its place and its last value).
    pub(super) fn set_str(&mut self, name: &'static str, value: &str) {
        let text = self.append(value);
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = Stored::Str(text),
            None => self.entries.push((name, Stored::Str(text))),
        }
    }

    /// A number under `name` (see [`push_str`](Self::push_str)).
    pub(super) fn push_u64(&mut self, name: &'static str, value: u64) {
        self.entries.push((name, Stored::U64(value)));
    }

    /// A number under `name` (see [`push_str`](Self::push_str)).
    pub(super) fn push_f64(&mut self, name: &'static str, value: f64) {
        self.entries.push((name, Stored::F64(value)));
    }

    pub(super) fn set_request_id(&mut self, id: &str) {
        self.request_id = Some(self.append(id));
    }

    pub(super) fn set_message(&mut self, message: &str) {
        self.message = Some(self.append(message));
    }

    /// The fields in the order first recorded (a name recorded again keeps its
    /// place and its last value).
    pub(super) fn iter(&self) -> impl Iterator<Item = (&'static str, Value<'_>)> {
        self.entries
            .iter()
            .map(|(name, stored)| (*name, self.value(*stored)))
    }

    /// Whether a field of this name is recorded.
    pub(super) fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _)| *n == name)
    }

    pub(super) fn request_id(&self) -> Option<&str> {
        self.request_id.map(|text| self.str(text))
    }

    pub(super) fn message(&self) -> Option<&str> {
        self.message.map(|text| self.str(text))
    }

    pub(super) fn security_kind(&self) -> Option<&str> {
        self.security_kind.map(|text| self.str(text))
    }

    pub(super) fn security_severity(&self) -> Option<&str> {
        self.security_severity.map(|text| self.str(text))
    }

    fn value(&self, stored: Stored) -> Value<'_> {
        match stored {
            Stored::I64(v) => Value::I64(v),
            Stored::U64(v) => Value::U64(v),
            Stored::F64(v) => Value::F64(v),
            Stored::Bool(v) => Value::Bool(v),
            Stored::Str(text) => Value::Str(self.str(text)),
        }
    }

    fn str(&self, text: Text) -> &str {
        self.text
            .get(text.start as usize..text.end as usize)
            .unwrap_or_default()
    }

    /// Appends `value` to the buffer.
    fn append(&mut self, value: &str) -> Text {
        let start = self.text.len();
        self.text.push_str(value);
        self.since(start)
    }

    /// What was appended since `start`. A buffer past 4 GiB (no line holds that)
    /// gives empty ranges rather than wrong ones.
    fn since(&self, start: usize) -> Text {
        match (u32::try_from(start), u32::try_from(self.text.len())) {
            (Ok(start), Ok(end)) => Text { start, end },
            _ => Text { start: 0, end: 0 },
        }
    }

    /// Forgets the newest text (from `start`), when it is not kept.
    fn drop_from(&mut self, start: usize) {
        self.text.truncate(start);
    }
}

/// Collects fields into `fields`, applying each name's rule as the value arrives, so
/// a deny-listed value is never even held.
pub(super) struct Collect<'a> {
    redactor: &'a Redactor,
    fields: &'a mut Fields,
    /// The name a field is written under, `None` to leave it out (the request
    /// span's fields are named by OpenTelemetry's conventions and logged by shorter
    /// names).
    rename: fn(&'static str) -> Option<&'static str>,
}

impl<'a> Collect<'a> {
    pub(super) fn new(redactor: &'a Redactor, fields: &'a mut Fields) -> Self {
        Self {
            redactor,
            fields,
            rename: Some,
        }
    }

    /// Collects under the names `rename` gives.
    pub(super) fn renaming(
        redactor: &'a Redactor,
        fields: &'a mut Fields,
        rename: fn(&'static str) -> Option<&'static str>,
    ) -> Self {
        Self {
            redactor,
            fields,
            rename,
        }
    }

    /// Stores `value` under `name`; a text value is the buffer's newest text, from
    /// `start`.
    fn push(&mut self, name: &'static str, value: Stored, start: usize) {
        // `otel.name`, `otel.kind`, ...: instructions to tracing-opentelemetry, not data.
        if name.starts_with("otel.") {
            self.forget(value, start);
            return;
        }
        let value = match self.redactor.rule_static(name) {
            Rule::Keep => value,
            Rule::Redact => {
                self.forget(value, start);
                Stored::Str(self.fields.append(REDACTED))
            }
            Rule::Confidential(how) => {
                let text = match value {
                    Stored::Str(text) => self.fields.str(text).to_owned(),
                    Stored::I64(v) => v.to_string(),
                    Stored::U64(v) => v.to_string(),
                    Stored::F64(v) => v.to_string(),
                    Stored::Bool(v) => v.to_string(),
                };
                self.forget(value, start);
                let shown = self.redactor.confidential(&text, how);
                Stored::Str(self.fields.append(&shown))
            }
        };
        // A name recorded twice keeps its last value: no line has a duplicate key.
        self.fields.visited = true;
        let entries = &mut self.fields.entries;
        if let Some(slot) = entries.iter_mut().find(|(n, _)| *n == name) {
            slot.1 = value;
        } else {
            entries.push((name, value));
        }
    }

    fn forget(&mut self, value: Stored, start: usize) {
        if let Stored::Str(_) = value {
            self.fields.drop_from(start);
        }
    }

    /// The library's marks in the newest text (from `start`): says whether it was
    /// consumed (and then not written as a field).
    fn mark(&mut self, field: &Field, start: usize) -> bool {
        let text = self.fields.since(start);
        let value = self.fields.str(text);
        match field.name() {
            "category" => {
                if let Some(category) = Category::parse(value) {
                    self.fields.category = Some(category);
                    self.fields.drop_from(start);
                    return true;
                }
            }
            "classification" => {
                if let Some(class) = DataClass::parse(value) {
                    self.fields.class = Some(class);
                    self.fields.drop_from(start);
                    return true;
                }
            }
            "request_id" => {
                self.fields.request_id = Some(text);
                return true;
            }
            "kind" => self.fields.security_kind = Some(text),
            "severity" => self.fields.security_severity = Some(text),
            _ => {}
        }
        false
    }
}

impl Visit for Collect<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Some(name) = (self.rename)(field.name()) {
            self.push(name, Stored::I64(value), 0);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if let Some(name) = (self.rename)(field.name()) {
            self.push(name, Stored::U64(value), 0);
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if let Some(name) = (self.rename)(field.name()) {
            self.push(name, Stored::F64(value), 0);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if let Some(name) = (self.rename)(field.name()) {
            self.push(name, Stored::Bool(value), 0);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let Some(name) = (self.rename)(field.name()) else {
            return;
        };
        let start = self.fields.text.len();
        let text = self.fields.append(value);
        // `message = "..."` is the message, as it is when formatted.
        if field.name() == "message" {
            self.fields.message = Some(text);
            return;
        }
        if self.mark(field, start) {
            return;
        }
        self.push(name, Stored::Str(text), start);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Left out, or an instruction to tracing-opentelemetry: not even formatted.
        let Some(name) = (self.rename)(field.name()) else {
            return;
        };
        if name.starts_with("otel.") {
            return;
        }
        let start = self.fields.text.len();
        let _ = write!(self.fields.text, "{value:?}");
        let text = self.fields.since(start);
        if field.name() == "message" {
            self.fields.message = Some(text);
            return;
        }
        if is_secret_debug(self.fields.str(text)) {
            self.fields.drop_from(start);
            let redacted = self.fields.append(REDACTED);
            let start = redacted.start as usize;
            self.push(name, Stored::Str(redacted), start);
            return;
        }
        if self.mark(field, start) {
            return;
        }
        self.push(name, Stored::Str(text), start);
    }
}
