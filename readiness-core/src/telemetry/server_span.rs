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

/// The caller's trace (`traceparent`, `tracestate`), read through `get`, as a link of
/// `span`, which starts a trace of its own (a public endpoint: an outside caller
/// neither joins our traces nor decides what we sample). A missing or malformed
/// `traceparent` adds nothing; `baggage` is not read.
pub(crate) fn link_remote<'h>(span: &tracing::Span, get: &dyn Fn(&str) -> Option<&'h str>) {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    if get("traceparent").is_none() {
        return;
    }
    let trace_only = |name: &str| if name == "baggage" { None } else { get(name) };
    let cx = super::propagation::propagator().extract(&Getter(&trace_only));
    let remote = cx.span().span_context().clone();
    // `add_link` drops an invalid context.
    span.add_link(remote);
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
pub(crate) fn name(method: &'static str, route: Option<&str>) -> std::borrow::Cow<'static, str> {
    match route {
        // Concatenated, not `format!`: a tenth of the instructions.
        Some(route) => {
            let mut name = String::with_capacity(method.len() + 1 + route.len());
            name.push_str(method);
            name.push(' ');
            name.push_str(route);
            name.into()
        }
        // A method label is static: nothing to copy.
        None => method.into(),
    }
}

/// Starts the OpenTelemetry side of `span` and returns its context, through which
/// the rest of the request sets attributes on the SDK's span directly (one lookup
/// here instead of one through `tracing` per attribute). `None` when no
/// OpenTelemetry layer traces `span`: the caller then skips the trace side.
pub(crate) fn start(span: &tracing::Span) -> Option<opentelemetry::Context> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let cx = span.context();
    cx.has_active_span().then_some(cx)
}

/// The method as sent, when it is not one of the known ones (`http.request.method`
/// is then `_OTHER`).
pub(crate) fn original_method(cx: &opentelemetry::Context, method: &str) {
    use opentelemetry::trace::TraceContextExt as _;
    cx.span().set_attribute(opentelemetry::KeyValue::new(
        "http.request.method_original",
        method.to_owned(),
    ));
}

/// Names the server span `{method} {route}` (or the method alone while the route is
/// not known): when the request arrives, and again once a framework that routes
/// after its middleware knows the route (the `http.route` field is recorded on the
/// span by the caller).
pub(crate) fn rename(cx: &opentelemetry::Context, method: &'static str, route: Option<&str>) {
    use opentelemetry::trace::TraceContextExt as _;
    cx.span().update_name(name(method, route));
}

/// The answer's status; a 5xx marks the span as an error (a 4xx is the client's).
pub(crate) fn finished(cx: &opentelemetry::Context, status: u16) {
    use opentelemetry::trace::TraceContextExt as _;
    let span = cx.span();
    span.set_attribute(opentelemetry::KeyValue::new(
        "http.response.status_code",
        i64::from(status),
    ));
    if status >= 500 {
        span.set_status(opentelemetry::trace::Status::error(format!(
            "HTTP {status}"
        )));
    }
}

/// The server's address as the request names it (`Host`, or the URI's authority),
/// without any userinfo a client put before an `@`.
pub(crate) fn server_address(cx: &opentelemetry::Context, host: &str) {
    use opentelemetry::trace::TraceContextExt as _;
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    cx.span().set_attribute(opentelemetry::KeyValue::new(
        "server.address",
        shared_host(host),
    ));
}

/// `host` as a shared string: a server is reached by the same few names, so the
/// thread's last one is kept and the next request with that name shares it (a
/// reference count) instead of allocating its copy.
fn shared_host(host: &str) -> opentelemetry::StringValue {
    use std::cell::RefCell;
    use std::sync::Arc;
    thread_local! {
        static LAST: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
    }
    LAST.try_with(|last| {
        let Ok(mut last) = last.try_borrow_mut() else {
            return host.to_owned().into();
        };
        match &*last {
            Some(shared) if **shared == *host => Arc::clone(shared).into(),
            _ => {
                let shared: Arc<str> = host.into();
                *last = Some(Arc::clone(&shared));
                shared.into()
            }
        }
    })
    // The thread is ending: its copy.
    .unwrap_or_else(|_| host.to_owned().into())
}

/// A server span's ids, and whether it is sampled (only then is it an exemplar).
#[derive(Clone, Copy)]
pub(crate) struct Ids {
    pub(crate) trace: [u8; 16],
    pub(crate) span: [u8; 8],
    pub(crate) sampled: bool,
}

/// The ids of `cx`'s span.
pub(crate) fn ids(cx: &opentelemetry::Context) -> Ids {
    use opentelemetry::trace::TraceContextExt as _;
    let span = cx.span();
    let context = span.span_context();
    Ids {
        trace: context.trace_id().to_bytes(),
        span: context.span_id().to_bytes(),
        sampled: context.is_sampled(),
    }
}
