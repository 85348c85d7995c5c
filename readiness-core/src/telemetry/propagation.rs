//! W3C trace context in and out: `traceparent` and `tracestate` on HTTP headers.

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Writes the current span's trace context (`traceparent`, and `tracestate` when
/// there is one) into `headers`, so the service called continues the trace. For any
/// client: reqwest's `RequestBuilder::headers`, hyper, a hand-built request.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// readiness_core::telemetry::inject_context(&mut headers);
/// // Outside a traced span there is nothing to send.
/// assert!(headers.get("traceparent").is_none());
/// ```
pub fn inject_context(headers: &mut http::HeaderMap) {
    let cx = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
}

/// Makes the trace context a caller sent in `headers` the parent of `span`. A
/// missing or malformed `traceparent` leaves the span as it was (a new trace).
pub fn set_remote_parent(span: &tracing::Span, headers: &http::HeaderMap) {
    if headers.contains_key("traceparent") {
        let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        let _ = span.set_parent(cx);
    }
}
