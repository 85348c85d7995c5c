//! `READINESS_TRACE_PUBLIC_ENDPOINT` through `Setup`, as a deployment sets it: it
//! wins over the builder, and a caller's sampled `traceparent` then becomes a link
//! of a new trace of ours, decoded by a receiver built from the protocol's types.
//!
//! Alone in its binary: `Setup::init` installs the global subscriber.
#![cfg(feature = "otel")]

mod support;

use readiness_core::logging::LogWriter;
use readiness_core::{Readiness, Setup};
use support::capture::Capture;
use tower::{Layer as _, ServiceExt as _};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[derive(Clone)]
struct OrdersRoute;

impl<B> readiness_core::observe::RouteTemplate<B> for OrdersRoute {
    fn route<'a>(&self, _request: &'a http::Request<B>) -> Option<&'a str> {
        Some("/orders")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_variable_wins_over_the_builder_and_links_the_callers_trace() {
    let (addr, received) = support::otlp::start().await;
    // In code: a private service, whose callers' traces are joined.
    let readiness = Readiness::builder()
        .service("orders", "1.4.2")
        .trace_public_endpoint(false)
        .build()
        .unwrap();
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
        ("READINESS_TRACE_PUBLIC_ENDPOINT", "true".to_owned()),
    ];
    let lookup = |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    };
    let installed = Setup::from_lookup(&readiness, lookup)
        .unwrap()
        .writer(LogWriter::to_writer(Capture::default()))
        .init()
        .unwrap();
    let service =
        readiness_core::observe::ObserveLayer::new(installed.readiness().observer(), OrdersRoute)
            .layer(tower::service_fn(|_: http::Request<String>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
            }));
    let request = http::Request::get("/orders")
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .body(String::new())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    // Dropped, `Installed` flushes the spans (and the log writer).
    tokio::task::spawn_blocking(move || drop(installed))
        .await
        .unwrap();

    let spans: Vec<_> = received
        .0
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, r)| r.resource_spans.clone())
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .filter(|s| s.name == "GET /orders")
        .collect();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let span = &spans[0];
    // A root of our own, the caller's span a link of it.
    assert_ne!(hex(&span.trace_id), CALLER_TRACE, "{span:#?}");
    assert!(span.parent_span_id.is_empty(), "{span:#?}");
    assert_eq!(span.links.len(), 1, "{span:#?}");
    assert_eq!(hex(&span.links[0].trace_id), CALLER_TRACE);
    assert_eq!(hex(&span.links[0].span_id), CALLER_SPAN);
}
