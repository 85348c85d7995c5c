//! The request span and its access line: the log (and, with OpenTelemetry, the
//! trace) side of an observation.

use super::head::{RequestHead, RequestHeader};
use crate::metrics::names::{ACCESS_TARGET, REQUEST_TARGET};
use crate::metrics::Finished;
use crate::request_id::RequestId;

/// The request's span, and with OpenTelemetry its server span's context.
pub(super) struct RequestSpan {
    pub(super) span: tracing::Span,
    /// The OpenTelemetry context of the span, when an OpenTelemetry layer traces it,
    /// and its ids, read once when it starts (they never change after).
    #[cfg(feature = "otel")]
    otel: Option<(opentelemetry::Context, crate::telemetry::server_span::Ids)>,
}

/// Opens the request's span (target `readiness::request`), its fields named as
/// OpenTelemetry's HTTP conventions name them: `request_id`, `http.request.method`
/// (`_OTHER` for a method not known), `http.route` when known, `url.path` (without
/// the query), `user_agent.original`, `url.scheme` (the builder's, else the
/// connection's, else `http`), and the connection's `network.protocol.version` and
/// `client.address` when known. Our log layer writes
/// the first ones as `method` (as sent), `route`, `path` and `user_agent`, and
/// leaves the connection's out. With an OpenTelemetry layer in the subscriber it is
/// the server span: named `{method} {route}`, kind server, its fields its attributes
/// and `server.address`, with the caller's trace as its parent, or with `public`
/// (a public endpoint) as a link of a new trace (`otel.*` fields steer
/// tracing-opentelemetry and are not logged).
pub(super) fn open_span(
    id: &RequestId,
    head: &RequestHead<'_>,
    method_label: &'static str,
    url_scheme: Option<&'static str>,
    #[cfg_attr(not(feature = "otel"), allow(unused_variables))] public: bool,
) -> RequestSpan {
    #[cfg_attr(not(feature = "logging"), allow(unused_variables))]
    let method = head.method;
    let route = head.route;
    let path = head.path;
    let user_agent = head.header_str(RequestHeader::UserAgent);
    // The builder's scheme (the clients'), else the connection's, else `http`: the
    // conventions require the attribute, and the adapters serve plain HTTP. A field,
    // so it is there when the span starts, as the conventions ask for sampling.
    let scheme = url_scheme.or(head.scheme).unwrap_or("http");
    let id = id.as_str();
    // The same values, typed, for our log layer (see `logging::request`).
    #[cfg(feature = "logging")]
    let _parked = crate::logging::request::ParkedSpan::new(id, method, route, path, user_agent);
    let span = tracing::info_span!(
        target: REQUEST_TARGET,
        "request",
        request_id = id,
        "http.request.method" = method_label,
        "http.route" = route,
        "url.path" = path,
        "user_agent.original" = user_agent,
        "url.scheme" = scheme,
        "network.protocol.version" = head.version,
        "client.address" = head.client.map(tracing::field::display),
        "otel.kind" = "server",
    );
    #[cfg(not(feature = "otel"))]
    {
        RequestSpan { span }
    }
    #[cfg(feature = "otel")]
    {
        use crate::telemetry::server_span as otel;
        // The parent (or the link) goes in before the span starts; nothing is done
        // without a `traceparent` (or without an OpenTelemetry layer).
        let get = |name: &str| {
            let header = match name {
                "traceparent" => RequestHeader::TraceParent,
                "tracestate" => RequestHeader::TraceState,
                "baggage" => RequestHeader::Baggage,
                _ => return None,
            };
            head.header_str(header)
        };
        if public {
            otel::link_remote(&span, &get);
        } else {
            otel::set_remote_parent(&span, &get);
        }
        // Without an OpenTelemetry layer nothing more is built for the trace side.
        let Some(cx) = otel::start(&span) else {
            return RequestSpan { span, otel: None };
        };
        if method != method_label {
            otel::original_method(&cx, method);
        }
        // Set here rather than as a field: finding the `Host` header is not free,
        // and only the trace wants it.
        if let Some(host) = head.host.or_else(|| head.header_str(RequestHeader::Host)) {
            otel::server_address(&cx, host);
        }
        otel::rename(&cx, method_label, route);
        let ids = otel::ids(&cx);
        RequestSpan {
            span,
            otel: Some((cx, ids)),
        }
    }
}

impl RequestSpan {
    /// The trace and span ids of the server span when it is sampled: the request's
    /// exemplar on the duration histogram.
    #[inline]
    pub(super) fn exemplar(&self) -> Option<([u8; 16], [u8; 8])> {
        #[cfg(feature = "otel")]
        if let Some((_, ids)) = &self.otel {
            return ids.sampled.then_some((ids.trace, ids.span));
        }
        None
    }

    /// The route, named after the span opened (a server that routes late).
    pub(super) fn routed(&self, method: &'static str, route: &str) {
        // The same value, typed, for our log layer (see `logging::request`).
        #[cfg(feature = "logging")]
        let _parked = crate::logging::request::ParkedRoute::new(route);
        self.span.record("http.route", route);
        #[cfg(feature = "otel")]
        if let Some((cx, _)) = &self.otel {
            crate::telemetry::server_span::rename(cx, method, Some(route));
        }
        #[cfg(not(feature = "otel"))]
        let _ = method;
    }

    /// The access line of a finished request, inside its span (its parent, without
    /// entering it): target `readiness::access`, `WARN` for 5xx, else `INFO`.
    pub(super) fn finished(&self, finished: &Finished) {
        let span = &self.span;
        let status = finished.status;
        #[cfg(feature = "otel")]
        if let Some((cx, _)) = &self.otel {
            crate::telemetry::server_span::finished(cx, status);
        }
        let duration_ms = (finished.seconds * 1e6).round() / 1e3;
        let request_bytes = finished.request_size;
        let response_bytes = finished.response_size;
        #[cfg(feature = "logging")]
        let _parked = crate::logging::request::ParkedAccess::new(crate::logging::request::Access {
            status,
            duration_ms,
            request_bytes,
            response_bytes,
            #[cfg(feature = "otel")]
            trace: self
                .otel
                .as_ref()
                .map(|(_, ids)| crate::logging::trace_ids(ids.trace, ids.span)),
            #[cfg(not(feature = "otel"))]
            trace: None,
        });
        if status >= 500 {
            tracing::warn!(
                target: ACCESS_TARGET,
                parent: span,
                status,
                duration_ms,
                request_bytes,
                response_bytes,
                "request finished"
            );
        } else {
            tracing::info!(
                target: ACCESS_TARGET,
                parent: span,
                status,
                duration_ms,
                request_bytes,
                response_bytes,
                "request finished"
            );
        }
    }
}
