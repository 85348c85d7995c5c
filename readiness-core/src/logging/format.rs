//! The layer: one JSON object per event (or a pretty line), written in one call.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::class::{Category, DataClass};
use super::redact::{is_secret_debug, Redactor, Rule, REDACTED};
use super::writer::Sink;
use super::Format;

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

const TRUNCATED: &str = "…[truncated]";

pub(crate) struct Shared {
    pub(crate) format: Format,
    pub(crate) service: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) redactor: Redactor,
    /// Target prefixes and their categories, longest first.
    pub(crate) targets: Vec<(String, Category)>,
    pub(crate) max_field: usize,
    pub(crate) max_line: usize,
    pub(crate) security_events: Option<prometheus::IntCounterVec>,
}

/// A `tracing_subscriber::Layer` writing every event as one JSON line (or one pretty
/// line), with categories, data classes and redaction. Built by
/// [`LogSettings::build`](super::LogSettings::build), which wraps it in its level
/// filter ([`FilteredLogLayer`](super::FilteredLogLayer)); see the
/// [module docs](super).
pub struct LogLayer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) sink: Box<dyn Sink>,
    /// The subscriber this layer is part of, to ask the OpenTelemetry layer for the
    /// ids of the span an event is in (never the thread's default: inside an event,
    /// that is no subscriber at all).
    #[cfg(feature = "otel")]
    pub(crate) dispatch: std::sync::OnceLock<tracing::dispatcher::WeakDispatch>,
}

impl fmt::Debug for LogLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogLayer")
            .field("format", &self.shared.format)
            .field("service", &self.shared.service)
            .finish_non_exhaustive()
    }
}

/// A value as recorded, its name's rule already applied.
#[derive(Debug, Clone)]
enum Value {
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    /// Shared: a span's values are handed to each of its events without a copy.
    Str(Arc<str>),
}

/// What a span carries for the events inside it.
#[derive(Debug, Default)]
struct SpanFields {
    fields: Vec<(&'static str, Value)>,
    category: Option<Category>,
    class: Option<DataClass>,
    request_id: Option<String>,
}

/// Collects fields, applying each name's rule as the value arrives, so a deny-listed
/// value is never even held.
struct Collect<'a> {
    redactor: &'a Redactor,
    fields: Vec<(&'static str, Value)>,
    message: Option<String>,
    category: Option<Category>,
    class: Option<DataClass>,
    request_id: Option<String>,
    security_kind: Option<String>,
    security_severity: Option<String>,
}

impl<'a> Collect<'a> {
    fn new(redactor: &'a Redactor) -> Self {
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

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl<S> Layer<S> for LogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    #[cfg(feature = "otel")]
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut collect = Collect::new(&self.shared.redactor);
        attrs.record(&mut collect);
        let fields = SpanFields {
            fields: collect.fields,
            category: collect.category,
            class: collect.class,
            request_id: collect.request_id,
        };
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        let Some(stored) = extensions.get_mut::<SpanFields>() else {
            return;
        };
        let mut collect = Collect::new(&self.shared.redactor);
        collect.fields = std::mem::take(&mut stored.fields);
        values.record(&mut collect);
        stored.fields = collect.fields;
        stored.category = collect.category.or(stored.category);
        stored.class = collect.class.or(stored.class);
        if collect.request_id.is_some() {
            stored.request_id = collect.request_id;
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let shared = &*self.shared;
        let mut collect = Collect::new(&shared.redactor);
        event.record(&mut collect);

        // Marks and fields of the spans the event is in, innermost first.
        let mut category = collect.category;
        let mut class = collect.class;
        let mut request_id = collect.request_id.take();
        let mut span_fields: Vec<(&'static str, Value)> = Vec::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                let extensions = span.extensions();
                let Some(stored) = extensions.get::<SpanFields>() else {
                    continue;
                };
                category = category.or(stored.category);
                class = class.or(stored.class);
                if request_id.is_none() {
                    request_id.clone_from(&stored.request_id);
                }
                for (name, value) in &stored.fields {
                    if !span_fields.iter().any(|(n, _)| n == name) {
                        span_fields.push((name, value.clone()));
                    }
                }
            }
        }
        #[cfg(feature = "otel")]
        let trace = self.trace_ids(event, &ctx);
        #[cfg(not(feature = "otel"))]
        let trace = None;
        let metadata = event.metadata();
        let category = category.unwrap_or_else(|| shared.category_of(metadata.target()));
        let class = class.unwrap_or(DataClass::Internal);

        if category == Category::Security {
            if let Some(counter) = &shared.security_events {
                let kind = collect.security_kind.as_deref().unwrap_or("unspecified");
                let kind = super::audit::SecurityKind::label(kind);
                let severity = collect
                    .security_severity
                    .as_deref()
                    .unwrap_or("unspecified");
                let severity = super::audit::Severity::label(severity);
                counter.with_label_values(&[kind, severity]).inc();
            }
        }

        let line = Line {
            shared,
            level: metadata.level().as_str(),
            target: metadata.target(),
            message: collect.message.as_deref().unwrap_or(""),
            category,
            class,
            request_id: request_id.as_deref(),
            trace,
            fields: &collect.fields,
            span_fields: &span_fields,
        };
        let write = |buffer: &mut Vec<u8>| {
            buffer.clear();
            match shared.format {
                Format::Json => line.json(buffer),
                Format::Pretty => line.pretty(buffer),
            }
            buffer.push(b'\n');
            self.sink.write_line(buffer, category.is_critical());
        };
        BUFFER.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buffer) => {
                write(&mut buffer);
                if buffer.capacity() > 64 * 1024 {
                    *buffer = Vec::new(); // one huge line does not keep its memory
                }
            }
            // Logging from inside the writer: a buffer of its own.
            Err(_) => write(&mut Vec::new()),
        });
    }
}

#[cfg(feature = "otel")]
impl LogLayer {
    /// The OpenTelemetry ids of the span `event` is in, if it is traced.
    fn trace_ids<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>) -> Option<([u8; 32], [u8; 16])>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        use opentelemetry::trace::TraceContextExt as _;
        let id = ctx.event_span(event)?.id(); // no extension held past this line
        let dispatch = self.dispatch.get()?.upgrade()?;
        let cx = tracing_opentelemetry::get_otel_context(&id, &dispatch)?;
        let span = cx.span();
        let context = span.span_context();
        if !context.is_valid() {
            return None;
        }
        let mut trace_id = [0u8; 32];
        let mut span_id = [0u8; 16];
        hex(&context.trace_id().to_bytes(), &mut trace_id);
        hex(&context.span_id().to_bytes(), &mut span_id);
        Some((trace_id, span_id))
    }
}

#[cfg(feature = "otel")]
fn hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(byte >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(byte & 0xf)];
    }
}

impl Shared {
    fn category_of(&self, target: &str) -> Category {
        self.targets
            .iter()
            .find(|(prefix, _)| {
                target.starts_with(prefix.as_str())
                    && (target.len() == prefix.len() || target[prefix.len()..].starts_with("::"))
            })
            .map_or(Category::Application, |(_, category)| *category)
    }
}

struct Line<'a> {
    shared: &'a Shared,
    level: &'static str,
    target: &'a str,
    message: &'a str,
    category: Category,
    class: DataClass,
    request_id: Option<&'a str>,
    /// Trace and span id, 32 and 16 hex digits, when the event is in a traced span.
    trace: Option<([u8; 32], [u8; 16])>,
    fields: &'a [(&'static str, Value)],
    span_fields: &'a [(&'static str, Value)],
}

impl Line<'_> {
    /// A text value as it may be written: restricted events write none, known
    /// secrets are scrubbed, long values cut.
    fn text<'v>(&self, value: &'v str) -> std::borrow::Cow<'v, str> {
        if self.class == DataClass::Restricted {
            return REDACTED.into();
        }
        let value = self.shared.redactor.scrub(value);
        truncate(value, self.shared.max_field)
    }

    fn json(&self, out: &mut Vec<u8>) {
        let shared = self.shared;
        out.extend_from_slice(b"{\"timestamp\":\"");
        timestamp(out);
        out.extend_from_slice(b"\",\"level\":\"");
        out.extend_from_slice(self.level.as_bytes());
        out.extend_from_slice(b"\",\"message\":");
        json_str(out, &self.text(self.message));
        out.extend_from_slice(b",\"target\":");
        json_str(out, self.target);
        if let Some(service) = &shared.service {
            out.extend_from_slice(b",\"service\":");
            json_str(out, service);
        }
        if let Some(version) = &shared.version {
            out.extend_from_slice(b",\"version\":");
            json_str(out, version);
        }
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
        let mut written: Vec<&str> = Vec::with_capacity(self.fields.len() + self.span_fields.len());
        for (name, value) in self.fields.iter().chain(self.span_fields) {
            if written.contains(name) {
                continue; // an event field hides a span field of the same name
            }
            written.push(name);
            let mark = out.len();
            out.extend_from_slice(b",");
            if RESERVED_KEYS.contains(name) {
                json_str(out, &format!("field.{name}"));
            } else {
                json_str(out, name);
            }
            out.push(b':');
            match value {
                _ if self.class == DataClass::Restricted => json_str(out, REDACTED),
                // serde_json writes numbers with itoa and ryu.
                Value::I64(v) => {
                    let _ = serde_json::to_writer(&mut *out, v);
                }
                Value::U64(v) => {
                    let _ = serde_json::to_writer(&mut *out, v);
                }
                Value::F64(v) if v.is_finite() => {
                    let _ = serde_json::to_writer(&mut *out, v);
                }
                Value::F64(v) => json_str(out, &v.to_string()),
                Value::Bool(v) => out.extend_from_slice(if *v { b"true" } else { b"false" }),
                Value::Str(s) => json_str(out, &self.text(s)),
            }
            if out.len() > limit {
                out.truncate(mark);
                truncated = true;
                break;
            }
        }
        if truncated {
            out.extend_from_slice(b",\"truncated\":true");
        }
        out.push(b'}');
    }

    /// `2026-11-23T10:00:00.123456Z  INFO target: message key=value ...`, for a
    /// terminal: control characters escaped, so input cannot forge a line either.
    fn pretty(&self, out: &mut Vec<u8>) {
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
        if let Some((trace_id, _)) = &self.trace {
            line.push_str(" trace_id=");
            line.push_str(std::str::from_utf8(trace_id).unwrap_or_default());
        }
        let mut written: Vec<&str> = Vec::new();
        for (name, value) in self.fields.iter().chain(self.span_fields) {
            if written.contains(name) {
                continue;
            }
            written.push(name);
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
                break;
            }
        }
        out.extend_from_slice(line.as_bytes());
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
    if !value.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.reserve(value.len() + 2);
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Control characters as `\n`, `\u{1b}`, ...; everything else as it is.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
}

fn floor_char_boundary(value: &str, max: usize) -> usize {
    let mut cut = max.min(value.len());
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

/// `value` cut to at most `max` bytes (at a character boundary), with a visible
/// marker when cut.
fn truncate(value: std::borrow::Cow<'_, str>, max: usize) -> std::borrow::Cow<'_, str> {
    if value.len() <= max {
        return value;
    }
    let cut = floor_char_boundary(&value, max);
    let mut out = String::with_capacity(cut + TRUNCATED.len());
    out.push_str(&value[..cut]);
    out.push_str(TRUNCATED);
    out.into()
}
