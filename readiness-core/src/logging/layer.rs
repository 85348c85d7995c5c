//! The layer: one JSON object per event (or a pretty line), written in one call.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::class::{Category, DataClass};
use super::fields::{Collect, SpanFields, Value};
use super::line::Line;
use super::redact::Redactor;
use super::writer::Sink;
use super::Format;

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
