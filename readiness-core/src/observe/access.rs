//! The request span and its access line: the log (and, with OpenTelemetry, the
//! trace) side of an observation.

use super::head::{RequestHead, RequestHeader};
use crate::metrics::Finished;
use crate::request_id::RequestId;

/// Opens the request's span (target `readiness::request`: `request_id`, `method`,
/// `route` when known, `path` without the query, `user_agent`). With OpenTelemetry
/// it is the server span: named `{method} {route}`, kind server, with the HTTP
/// semantic-convention attributes and the caller's trace as its parent (`otel.*`
/// fields steer tracing-opentelemetry and are not logged).
pub(super) fn open_span(id: &RequestId, head: &RequestHead<'_>) -> tracing::Span {
    let method = head.method;
    let route = head.route;
    let path = head.path;
    let user_agent = head.header_str(RequestHeader::UserAgent);
    #[cfg(not(feature = "otel"))]
    let span = tracing::info_span!(
        target: "readiness::request",
        "request",
        request_id = %id,
        method,
        route,
        path,
        user_agent,
    );
    #[cfg(feature = "otel")]
    let span = {
        use crate::telemetry::server_span as otel;
        let span = tracing::info_span!(
            target: "readiness::request",
            "request",
            request_id = %id,
            method,
            route,
            path,
            user_agent,
            "otel.name" = %otel::name(method, route),
            "otel.kind" = "server",
        );
        otel::set_remote_parent(&span, &|name| {
            let header = match name {
                "traceparent" => RequestHeader::TraceParent,
                "tracestate" => RequestHeader::TraceState,
                "baggage" => RequestHeader::Baggage,
                _ => return None,
            };
            head.header_str(header)
        });
        otel::started(&span, method, route, path, user_agent);
        let client = head.client.map(|ip| ip.to_string());
        otel::connection(
            &span,
            head.scheme,
            head.host.or_else(|| head.header_str(RequestHeader::Host)),
            head.version,
            client.as_deref(),
        );
        span
    };
    span
}

/// The route, named after the span opened (a server that routes late).
#[cfg_attr(not(feature = "otel"), allow(unused_variables))]
pub(super) fn routed(span: &tracing::Span, method: &str, route: &str) {
    span.record("route", route);
    #[cfg(feature = "otel")]
    crate::telemetry::server_span::routed(span, method, route);
}

/// The access line of a finished request, inside its span: target
/// `readiness::access`, `WARN` for 5xx, else `INFO`.
pub(super) fn finished(span: &tracing::Span, finished: &Finished) {
    let status = finished.status;
    #[cfg(feature = "otel")]
    crate::telemetry::server_span::finished(span, status);
    let _entered = span.enter();
    let duration_ms = (finished.seconds * 1e6).round() / 1e3;
    let request_bytes = finished.request_size;
    let response_bytes = finished.response_size;
    if status >= 500 {
        tracing::warn!(
            target: "readiness::access",
            status,
            duration_ms,
            request_bytes,
            response_bytes,
            "request finished"
        );
    } else {
        tracing::info!(
            target: "readiness::access",
            status,
            duration_ms,
            request_bytes,
            response_bytes,
            "request finished"
        );
    }
}
