//! W3C trace context in and out: `traceparent`, `tracestate` and `baggage` on HTTP
//! headers.

use opentelemetry::propagation::{
    text_map_propagator::FieldIter, Extractor, Injector, TextMapCompositePropagator,
    TextMapPropagator,
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// W3C Trace Context and W3C Baggage, in that order, a caller's `tracestate` cut to
/// the W3C limits.
pub(super) fn propagator() -> Propagator {
    Propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]))
}

/// The propagators, extracting a `tracestate` of at most [`MAX_TRACE_STATE`]
/// characters.
#[derive(Debug)]
pub(super) struct Propagator(TextMapCompositePropagator);

impl TextMapPropagator for Propagator {
    fn inject_context(&self, cx: &opentelemetry::Context, injector: &mut dyn Injector) {
        self.0.inject_context(cx, injector);
    }

    fn extract_with_context(
        &self,
        cx: &opentelemetry::Context,
        extractor: &dyn Extractor,
    ) -> opentelemetry::Context {
        let valid = extractor
            .get("traceparent")
            .is_some_and(|value| valid_traceparent(value.trim_matches([' ', '\t'])));
        if valid {
            cap_trace_state(&self.0.extract_with_context(cx, extractor))
        } else {
            // OpenTelemetry takes a one-digit version (`0-…`); the W3C does not. A
            // malformed `traceparent` starts a new trace, its `tracestate` unread.
            self.0.extract_with_context(cx, &NoTrace(extractor))
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        self.0.fields()
    }
}

/// Writes the current span's trace context (`traceparent`, and `tracestate` and
/// `baggage` when there are any, such as the baggage a caller sent) into `headers`,
/// so the service called continues the trace. For any client: reqwest's
/// `RequestBuilder::headers`, hyper, a hand-built request (with the `http` feature,
/// [`TraceContextExt`](super::TraceContextExt) does it for reqwest in one call).
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// readiness_core::telemetry::inject_context(&mut headers);
/// // Outside a traced span there is nothing to send.
/// assert!(headers.get("traceparent").is_none());
/// ```
pub fn inject_context(headers: &mut http::HeaderMap) {
    propagator().inject_context(&current_context(), &mut HeaderInjector(headers));
}

/// The current span's trace context, or its nearest traced ancestor's: a span below
/// the OpenTelemetry layer's [level](super::Telemetry::level) (a client function's
/// `debug_span!` under an `INFO` trace) has none of its own, and the call it makes
/// still belongs to the request's trace.
fn current_context() -> opentelemetry::Context {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_subscriber::registry::LookupSpan as _;
    let current = tracing::Span::current();
    let cx = current.context();
    if cx.has_active_span() {
        return cx;
    }
    let Some(id) = current.id() else {
        return cx;
    };
    // The ancestors are known to the registry; with a registry of another type,
    // the current span's (empty) context stands.
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let ancestors = registry.span(&id)?.scope().skip(1).map(|span| span.id());
        first_traced(ancestors, dispatch)
    })
    .unwrap_or(cx)
}

/// The trace context of the first of `spans` the OpenTelemetry layer traced, nearest
/// first: a span its level left out has no context of its own. For a log line's ids
/// and for [`inject_context`].
pub(crate) fn first_traced(
    spans: impl IntoIterator<Item = tracing::Id>,
    dispatch: &tracing::Dispatch,
) -> Option<opentelemetry::Context> {
    use opentelemetry::trace::TraceContextExt as _;
    spans.into_iter().find_map(|id| {
        tracing_opentelemetry::get_otel_context(&id, dispatch)
            .filter(opentelemetry::Context::has_active_span)
    })
}

/// Makes the trace context a caller sent in `headers` the parent of `span`, with the
/// caller's `baggage`, which [`inject_context`] hands on. A missing or malformed
/// `traceparent` leaves the span as it was (a new trace).
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert(
///     "traceparent",
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap(),
/// );
/// let span = tracing::info_span!("request");
/// readiness_core::telemetry::set_remote_parent(&span, &headers);
/// ```
pub fn set_remote_parent(span: &tracing::Span, headers: &http::HeaderMap) {
    if headers.contains_key("traceparent") {
        let cx = propagator().extract(&HeaderExtractor(headers));
        let _ = span.set_parent(cx);
    }
}

/// Hides `traceparent` and `tracestate` (the baggage is still read).
struct NoTrace<'a>(&'a dyn Extractor);

impl Extractor for NoTrace<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" | "tracestate" => None,
            _ => self.0.get(key),
        }
    }

    fn keys(&self) -> Vec<&str> {
        let mut keys = self.0.keys();
        keys.retain(|k| !matches!(*k, "traceparent" | "tracestate"));
        keys
    }
}

/// A W3C `traceparent`: `version-traceid-parentid-flags`, lower-case hex of 2, 32,
/// 16 and 2 digits, ids not all zero, version not `ff`; a version after `00` may go
/// on after a `-`.
fn valid_traceparent(value: &str) -> bool {
    let hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if value.len() < 55 || !value.is_ascii() {
        return false;
    }
    let (head, rest) = value.split_at(55);
    let (version, ids) = head.split_at(2);
    let parts: Vec<&str> = ids.split('-').collect();
    hex(version)
        && version != "ff"
        && (rest.is_empty() || (version != "00" && rest.starts_with('-')))
        && parts.len() == 4
        && parts[0].is_empty()
        && parts[1].len() == 32
        && parts[2].len() == 16
        && parts[3].len() == 2
        && parts[1..].iter().all(|p| hex(p))
        && parts[1].bytes().any(|b| b != b'0')
        && parts[2].bytes().any(|b| b != b'0')
}

/// The longest `tracestate` handed on, in characters: the 512 the W3C says every
/// vendor should propagate. (OpenTelemetry keeps the 32 list members it allows.)
const MAX_TRACE_STATE: usize = 512;

/// `cx` with its `tracestate` held to the W3C rules: members whose key or value
/// break the grammar are dropped (OpenTelemetry accepts empty keys and values and
/// any character but `,` and `=` in a value, control characters included), then
/// the rest cut to [`MAX_TRACE_STATE`] characters as the W3C says to cut: members
/// over 128 characters first, then members from the end.
fn cap_trace_state(cx: &opentelemetry::Context) -> opentelemetry::Context {
    use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceState};
    let span = cx.span();
    let context = span.span_context();
    let header = context.trace_state().header();
    if header.is_empty() {
        return cx.clone();
    }
    let valid = |member: &&str| {
        member
            .split_once('=')
            .is_some_and(|(key, value)| valid_key(key) && valid_value(value))
    };
    let mut members: Vec<&str> = header.split(',').filter(valid).collect();
    let mut len = members.iter().map(|m| m.len() + 1).sum::<usize>();
    if len > MAX_TRACE_STATE + 1 {
        members.retain(|m| m.len() <= 128);
        len = members.iter().map(|m| m.len() + 1).sum::<usize>();
    }
    while len > MAX_TRACE_STATE + 1 {
        len -= members.pop().map_or(len, |m| m.len() + 1);
    }
    if members.len() == header.split(',').count() {
        return cx.clone();
    }
    let state = TraceState::from_key_value(members.iter().filter_map(|m| m.split_once('=')))
        .unwrap_or_default();
    let capped = SpanContext::new(
        context.trace_id(),
        context.span_id(),
        context.trace_flags(),
        context.is_remote(),
        state,
    );
    cx.with_remote_span_context(capped)
}

/// A W3C `tracestate` key: `lcalpha 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/")`,
/// or `tenant@system` (a tenant of up to 241 characters starting with a letter or
/// digit, a system of up to 14 starting with a letter).
fn valid_key(key: &str) -> bool {
    let rest = |s: &[u8]| {
        s.iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/".contains(b))
    };
    match key.split_once('@') {
        None => {
            let b = key.as_bytes();
            (1..=256).contains(&b.len()) && b[0].is_ascii_lowercase() && rest(&b[1..])
        }
        Some((tenant, system)) => {
            let (t, s) = (tenant.as_bytes(), system.as_bytes());
            (1..=241).contains(&t.len())
                && (t[0].is_ascii_lowercase() || t[0].is_ascii_digit())
                && rest(&t[1..])
                && (1..=14).contains(&s.len())
                && s[0].is_ascii_lowercase()
                && rest(&s[1..])
        }
    }
}

/// A W3C `tracestate` value: 1 to 256 printable ASCII characters but `,` and `=`,
/// not ending in a space.
fn valid_value(value: &str) -> bool {
    (1..=256).contains(&value.len())
        && value
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
        && !value.ends_with(' ')
}

/// Hands the current trace on to a reqwest request: `traceparent`, `tracestate`
/// and `baggage`, as [`inject_context`] writes them.
///
/// ```no_run
/// use readiness_core::telemetry::TraceContextExt as _;
///
/// async fn stock(client: &reqwest::Client) -> reqwest::Result<String> {
///     client
///         .get("http://inventory:8080/stock/42")
///         .with_trace_context()
///         .send()
///         .await?
///         .text()
///         .await
/// }
/// # let _ = stock;
/// ```
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(all(feature = "otel", feature = "http"))))]
pub trait TraceContextExt {
    /// The request with the current trace context in its headers.
    #[must_use]
    fn with_trace_context(self) -> Self;
}

#[cfg(feature = "http")]
impl TraceContextExt for reqwest::RequestBuilder {
    fn with_trace_context(self) -> Self {
        let mut headers = http::HeaderMap::new();
        inject_context(&mut headers);
        self.headers(headers)
    }
}
