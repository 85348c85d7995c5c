//! The layer: one JSON object per event (or a pretty line), written in one call.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use smallvec::SmallVec;
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{Extensions, LookupSpan, SpanRef};
use tracing_subscriber::Layer;

use super::class::{Category, DataClass};
use super::fields::{Collect, Fields};
use super::line::Line;
use super::redact::Redactor;
use super::request;
use super::writer::Sink;
use super::Format;

pub(crate) struct Shared {
    pub(crate) format: Format,
    pub(crate) service: Option<String>,
    /// `,"service":..,"version":..`, the same in every JSON line.
    pub(crate) identity_json: Vec<u8>,
    pub(crate) redactor: Redactor,
    /// Target prefixes and their categories, longest first.
    pub(crate) targets: Vec<(String, Category)>,
    /// The redaction rules keep the request span's and the access line's field
    /// names: their values can be taken typed (see `super::request`).
    pub(crate) request_names_kept: bool,
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
    /// Where each line's OTLP log record goes, when logs are exported.
    #[cfg(feature = "otel")]
    pub(crate) otlp: Option<crate::telemetry::LogExport>,
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
        let parked = if self.shared.request_names_kept {
            request::take_span(attrs.metadata())
        } else {
            None
        };
        let fields = parked.unwrap_or_else(|| {
            let mut fields = Box::new(Fields::for_span());
            attrs.record(&mut self.collect(attrs.metadata(), &mut fields));
            fields
        });
        span.extensions_mut().insert(SpanFields(fields));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        if request::is_request_span(span.metadata()) {
            if let Some(SpanFields(fields)) = span.extensions_mut().remove::<SpanFields>() {
                request::spare(fields);
            }
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        let Some(stored) = extensions.get_mut::<SpanFields>() else {
            return;
        };
        if self.shared.request_names_kept && request::take_route(span.metadata(), &mut stored.0) {
            return;
        }
        values.record(&mut self.collect(span.metadata(), &mut stored.0));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        EVENT_FIELDS.with(|cell| match cell.try_borrow_mut() {
            Ok(mut fields) => {
                fields.clear();
                self.write_event(event, &ctx, &mut fields);
            }
            // An event logged while recording another (from a `Debug` impl): fields
            // of its own.
            Err(_) => self.write_event(event, &ctx, &mut Fields::default()),
        });
    }
}

/// What a span carries for the events inside it.
struct SpanFields(Box<Fields>);

thread_local! {
    /// The fields of the event being written, reused from event to event.
    static EVENT_FIELDS: RefCell<Fields> = RefCell::new(Fields::default());
}

impl LogLayer {
    /// Collects the fields of the span `metadata` describes (the request span's
    /// under their log names).
    fn collect<'a>(&'a self, metadata: &Metadata<'_>, fields: &'a mut Fields) -> Collect<'a> {
        if request::is_request_span(metadata) {
            Collect::renaming(&self.shared.redactor, fields, request::log_name)
        } else {
            Collect::new(&self.shared.redactor, fields)
        }
    }

    fn write_event<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>, fields: &mut Fields)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let shared = &*self.shared;
        let parked = if shared.request_names_kept {
            request::take_access(event.metadata(), fields)
        } else {
            None
        };
        let typed = parked.is_some();
        if !typed {
            event.record(&mut Collect::new(&shared.redactor, fields));
        }
        let fields = &*fields;

        // Asked first: it takes the span's extensions for writing.
        #[cfg(feature = "otel")]
        let trace = match parked {
            // The access line brought its request's ids (or said it is not traced).
            Some(trace) => trace,
            None => self.trace_ids(event, ctx),
        };
        #[cfg(not(feature = "otel"))]
        let trace = None;

        // The spans the event is in, innermost first, read where they are stored.
        let scope: SmallVec<[SpanRef<'_, S>; 8]> =
            ctx.event_scope(event).into_iter().flatten().collect();
        let extensions: SmallVec<[Extensions<'_>; 8]> =
            scope.iter().map(SpanRef::extensions).collect();
        let spans: SmallVec<[&Fields; 8]> = extensions
            .iter()
            .filter_map(|extensions| extensions.get::<SpanFields>().map(|stored| &*stored.0))
            .collect();
        let mut category = fields.category;
        let mut class = fields.class;
        let mut request_id = None;
        for span in &spans {
            category = category.or(span.category);
            class = class.or(span.class);
            request_id = request_id.or_else(|| span.request_id());
        }
        // The request's id (its span's) is the line's: an event's own `request_id`
        // cannot replace it, and is kept as `field.request_id` when it differs.
        let own_request_id = fields.request_id();
        let (request_id, own_request_id) = match (request_id, own_request_id) {
            (Some(span), Some(own)) if span != own => (Some(span), Some(own)),
            (span, own) => (span.or(own), None),
        };
        let metadata = event.metadata();
        let category = category.unwrap_or_else(|| shared.category_of(metadata.target()));
        let class = class.unwrap_or(DataClass::Internal);

        if category == Category::Security {
            if let Some(counter) = &shared.security_events {
                let kind = fields.security_kind().unwrap_or("unspecified");
                let kind = super::audit::SecurityKind::label(kind);
                let severity = fields.security_severity().unwrap_or("unspecified");
                let severity = super::audit::Severity::label(severity);
                counter.with_label_values(&[kind, severity]).inc();
            }
        }

        let line = Line {
            shared,
            level: metadata.level().as_str(),
            target: metadata.target(),
            message: fields.message().unwrap_or(""),
            category,
            class,
            request_id,
            own_request_id,
            trace,
            fields,
            spans: &spans,
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
        #[cfg(feature = "otel")]
        if let Some(export) = &self.otlp {
            super::otlp::export(export, &line);
        }
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
        let dispatch = self.dispatch.get()?.upgrade()?;
        let scope = ctx.event_scope(event)?.map(|span| span.id());
        let cx = crate::telemetry::first_traced(scope, &dispatch)?;
        let span = cx.span();
        let context = span.span_context();
        if !context.is_valid() {
            return None;
        }
        Some(request::trace_ids(
            context.trace_id().to_bytes(),
            context.span_id().to_bytes(),
        ))
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
