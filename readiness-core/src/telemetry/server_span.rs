//! The HTTP server span's OpenTelemetry side: its name, the semantic-convention
//! attributes, the caller's trace as its parent, and its status.

use opentelemetry::propagation::{Extractor, TextMapPropagator as _};

/// The caller's trace (`traceparent`, `tracestate`, `baggage`), read through `get`
/// (lower-case names), as the parent of `span`. A missing or malformed `traceparent`
/// leaves the span as it was (a new trace).
pub(crate) fn set_remote_parent<'h>(span: &tracing::Span, get: &dyn Fn(&str) -> Option<&'h str>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    if get("traceparent").is_none() {
        return;
    }
    let cx = super::propagation::propagator().extract(&Getter(get));
    let _ = span.set_parent(cx);
}

/// Hands header lookups of any framework to the propagators.
struct Getter<'a, 'h>(&'a dyn Fn(&str) -> Option<&'h str>);

impl Extractor for Getter<'_, '_> {
    fn get(&self, key: &str) -> Option<&str> {
        (self.0)(key)
    }

    fn keys(&self) -> Vec<&str> {
        ["traceparent", "tracestate", "baggage"]
            .into_iter()
            .filter(|name| (self.0)(name).is_some())
            .collect()
    }
}

/// The server span's name: `{method} {route}`, or the method alone while the route is
/// not known (OpenTelemetry's HTTP conventions; never the raw path).
pub(crate) fn name(method: &str, route: Option<&str>) -> String {
    match route {
        // Concatenated, not `format!`: a tenth of the instructions.
        Some(route) => {
            let mut name = String::with_capacity(method.len() + 1 + route.len());
            name.push_str(method);
            name.push(' ');
            name.push_str(route);
            name
        }
        None => method.to_owned(),
    }
}

/// Sets `network.protocol.name` (`http`) on `span` and says whether an
/// OpenTelemetry layer took it. The value is built only when that layer asks for
/// it, so without one this costs a lookup and the caller skips the rest of the
/// span's OpenTelemetry side.
pub(crate) fn traced(span: &tracing::Span) -> bool {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let taken = std::cell::Cell::new(false);
    span.set_attribute(
        "network.protocol.name",
        Probe {
            value: "http",
            taken: &taken,
        },
    );
    taken.get()
}

/// A value that notes when it is taken (see [`traced`]).
struct Probe<'a> {
    value: &'static str,
    taken: &'a std::cell::Cell<bool>,
}

impl From<Probe<'_>> for opentelemetry::Value {
    fn from(probe: Probe<'_>) -> Self {
        probe.taken.set(true);
        Self::from(probe.value)
    }
}

/// The method as sent, when it is not one of the known ones (`http.request.method`
/// is then `_OTHER`).
pub(crate) fn original_method(span: &tracing::Span, method: &str) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    span.set_attribute("http.request.method_original", method.to_owned());
}

/// Names the server span `{method} {route}` (or the method alone while the route is
/// not known): when the request arrives, and again once a framework that routes
/// after its middleware knows the route (the `http.route` field is recorded on the
/// span by the caller). Starts the OpenTelemetry span if it was not yet.
pub(crate) fn rename(span: &tracing::Span, method: &str, route: Option<&str>) {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    span.context().span().update_name(name(method, route));
}

/// The answer's status; a 5xx marks the span as an error (a 4xx is the client's).
pub(crate) fn finished(span: &tracing::Span, status: u16) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    span.set_attribute("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.set_status(opentelemetry::trace::Status::error(format!(
            "HTTP {status}"
        )));
    }
}

/// The server's address as the request names it (`Host`, or the URI's authority),
/// without any userinfo a client put before an `@`.
pub(crate) fn server_address(span: &tracing::Span, host: &str) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    span.set_attribute("server.address", host.to_owned());
}
