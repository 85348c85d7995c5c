//! W3C trace context in and out: `traceparent`, `tracestate` and `baggage` on HTTP
//! headers.

use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator as _};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// W3C Trace Context and W3C Baggage, in that order.
pub(super) fn propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
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
    let cx = tracing::Span::current().context();
    propagator().inject_context(&cx, &mut HeaderInjector(headers));
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
