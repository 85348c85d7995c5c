//! Exemplars on the request-duration histogram, the public-endpoint trace policy,
//! and the routes never traced: spans decoded by a real OTLP receiver, classic
//! expositions checked by `promtool`, OpenMetrics ones by the official Python
//! client's strict parser.
#![cfg(feature = "otel")]

#[path = "support/openmetrics.rs"]
mod openmetrics;
mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::Span;
use readiness_core::telemetry::{OtelSettings, Protocol, SamplerSetting, Telemetry};
use readiness_core::Readiness;
use tower::{Layer as _, ServiceExt as _};
use tracing_subscriber::layer::SubscriberExt as _;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0,text/plain;q=0.5";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Label values that break naive encoders (as in `hostile_values.rs`): quotes,
/// backslashes, line breaks, braces, a forged exposition line and exemplar, and
/// control characters.
const HOSTILE: [&str; 7] = [
    "a\"b\\c",
    "line one\nline two\r\nline three",
    "}{\"level\":\"error\",\"x\":\"{",
    "evil_total{job=\"x\"} 1\n# EOF",
    "x\"} 1 # {trace_id=\"ffffffffffffffffffffffffffffffff\"} 1",
    "sep\u{2028}and\u{2029}para\u{85}nel",
    "tab\tnul\0esc\u{1b}[31m",
];

/// A route named by the test, for texts no URI can hold.
#[derive(Clone)]
struct NamedRoute(String);

/// The path is the route (probes and `/metrics` reach the middleware as such),
/// unless the request carries a [`NamedRoute`].
#[derive(Clone)]
struct PathRoute;

impl<B> readiness_core::observe::RouteTemplate<B> for PathRoute {
    fn route<'a>(&self, request: &'a http::Request<B>) -> Option<&'a str> {
        match request.extensions().get::<NamedRoute>() {
            Some(named) => Some(&named.0),
            None => Some(request.uri().path()),
        }
    }
}

/// Sends `requests` (path, `traceparent`) through the middleware of `readiness`
/// under an OpenTelemetry layer with `sampler`, and returns the spans the receiver
/// decoded once the guard flushed. A "path" without a leading `/` is a route name:
/// the request goes to `/named` with that [`NamedRoute`].
async fn serve(
    readiness: &Readiness,
    sampler: SamplerSetting,
    requests: &[(&str, Option<String>)],
) -> Vec<Span> {
    let (addr, received) = support::otlp::start().await;
    let (otel, guard) = Telemetry::from_settings(OtelSettings::from_lookup(|_| None).unwrap())
        .endpoint(format!("http://{addr}/v1/traces"), Protocol::HttpProtobuf)
        .sampler(sampler)
        .build()
        .unwrap();
    let default = tracing::subscriber::set_default(tracing_subscriber::registry().with(otel));
    let service = readiness_core::observe::ObserveLayer::new(readiness.observer(), PathRoute)
        .layer(tower::service_fn(|_: http::Request<String>| async {
            // Long enough to land past the first buckets.
            tokio::time::sleep(Duration::from_millis(6)).await;
            Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
        }));
    for (path, traceparent) in requests {
        let mut request = if path.starts_with('/') {
            http::Request::get(*path)
        } else {
            http::Request::get("/named").extension(NamedRoute((*path).to_owned()))
        };
        if let Some(parent) = traceparent {
            request = request.header("traceparent", parent);
        }
        let response = service
            .clone()
            .oneshot(request.body(String::new()).unwrap())
            .await
            .unwrap();
        drop(response);
    }
    drop(default);
    let report = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(report.error, None);
    let exports = received.0.lock().unwrap();
    exports
        .iter()
        .flat_map(|(_, r)| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect()
}

/// `promtool check metrics` on `text` (Debian's `prometheus` package); its stdout
/// and stderr on failure.
fn promtool_check(text: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not found: install Debian's `prometheus` package (`bash .ci/test` does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_request_leaves_its_trace_on_its_bucket() {
    let readiness = Readiness::builder()
        .service("orders", "1.0.0")
        .build()
        .unwrap();
    // The service's own family in the same registry.
    let own = prometheus::IntCounterVec::new(
        prometheus::Opts::new("orders_placed_total", "Orders placed."),
        &["kind"],
    )
    .unwrap();
    own.with_label_values(&["web"]).inc_by(3);
    readiness.registry().register(Box::new(own)).unwrap();

    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let spans = serve(
        &readiness,
        SamplerSetting::ParentBasedAlwaysOn,
        &[("/orders", Some(traceparent))],
    )
    .await;
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let span = &spans[0];
    assert_eq!(hex(&span.trace_id), CALLER_TRACE);

    // The raw ids, for an OTLP metrics exporter.
    let exemplars = readiness.red().duration_exemplars();
    assert_eq!(exemplars.len(), 1, "{exemplars:?}");
    let series = &exemplars[0];
    assert_eq!(
        (series.method, &*series.route, series.status),
        ("GET", "/orders", 200)
    );
    assert_eq!(series.buckets.len(), 1, "{series:?}");
    let (bound, exemplar) = series.buckets[0];
    assert_eq!(exemplar.trace_id_hex(), CALLER_TRACE);
    assert_eq!(exemplar.span_id(), span.span_id.as_slice());
    assert!(
        exemplar.value() >= 0.006 && exemplar.value() <= bound,
        "{exemplar:?} in {bound}"
    );

    // OpenMetrics: the exemplar on its bucket line, the service's counter with `_total`.
    let scrape = readiness.metrics_response_for(Some(OPENMETRICS));
    assert_eq!(
        scrape.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = std::str::from_utf8(scrape.body()).unwrap().to_owned();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let span_hex = hex(&span.span_id);
    let line = text
        .lines()
        .find(|l| l.contains("# {trace_id="))
        .unwrap_or_else(|| panic!("no exemplar in\n{text}"));
    assert!(
        line.starts_with("http_server_request_duration_seconds_bucket{")
            && line.contains(&format!(
                "# {{trace_id=\"{CALLER_TRACE}\",span_id=\"{span_hex}\"}} "
            )),
        "{line}"
    );
    assert_eq!(text.matches("# {trace_id=").count(), 1, "{text}");
    assert!(text.contains("# TYPE orders_placed counter\n"), "{text}");
    assert!(
        text.contains("orders_placed_total{kind=\"web\"} 3\n"),
        "{text}"
    );
    // The official Python client's strict parser accepts it and reads the exemplar
    // back on its bucket.
    let parsed = openmetrics::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(parsed.len(), 1, "{parsed:?}");
    assert_eq!(
        parsed[0].sample,
        "http_server_request_duration_seconds_bucket"
    );
    assert_eq!(parsed[0].labels["http_route"], "/orders");
    assert_eq!(parsed[0].exemplar["trace_id"], CALLER_TRACE);
    assert_eq!(parsed[0].exemplar["span_id"], span_hex);
    assert_eq!(parsed[0].value, exemplar.value());
    assert_eq!(parsed[0].labels["le"].parse::<f64>().unwrap(), bound);

    // Classic: no exemplars, and promtool accepts it (promtool parses the classic
    // format only; Prometheus parses OpenMetrics on scrape, see the examples' tests).
    let classic = readiness.metrics_response_for(Some("text/plain"));
    assert!(classic.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let classic = std::str::from_utf8(classic.body()).unwrap();
    assert!(!classic.contains("trace_id") && !classic.contains("# EOF"));
    assert_eq!(
        classic,
        std::str::from_utf8(readiness.metrics_response().body()).unwrap()
    );
    promtool_check(classic).unwrap();
}

#[test]
fn the_openmetrics_parser_refuses_a_broken_exposition() {
    openmetrics::assert_refuses_broken();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_routes_keep_their_exemplars_well_formed() {
    let readiness = Readiness::builder().build().unwrap();
    let requests: Vec<(&str, Option<String>)> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, route)| {
            let parent = format!("00-{:032x}-{CALLER_SPAN}-01", i + 1);
            (*route, Some(parent))
        })
        .collect();
    let spans = serve(&readiness, SamplerSetting::ParentBasedAlwaysOn, &requests).await;
    assert_eq!(spans.len(), HOSTILE.len(), "{spans:#?}");
    let text = String::from_utf8(
        readiness
            .metrics_response_for(Some(OPENMETRICS))
            .body()
            .to_vec(),
    )
    .unwrap();
    // Each route's exemplar read back whole: the route exactly, its own trace, and
    // nothing a route forged.
    let parsed = openmetrics::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(parsed.len(), HOSTILE.len(), "{parsed:#?}\n{text}");
    for (i, route) in HOSTILE.iter().enumerate() {
        let found = parsed
            .iter()
            .find(|p| p.labels["http_route"] == *route)
            .unwrap_or_else(|| panic!("no exemplar for {route:?}: {parsed:#?}"));
        assert_eq!(found.exemplar["trace_id"], format!("{:032x}", i + 1));
        assert_eq!(found.exemplar.len(), 2, "{found:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsampled_request_leaves_no_exemplar() {
    let readiness = Readiness::builder().build().unwrap();
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-00");
    let spans = serve(
        &readiness,
        SamplerSetting::ParentBasedAlwaysOn,
        &[("/orders", Some(traceparent)), ("/orders", None)],
    )
    .await;
    // The caller's "not sampled" is followed; the new trace is kept.
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let exemplars = readiness.red().duration_exemplars();
    assert_eq!(exemplars.len(), 1);
    assert_eq!(exemplars[0].buckets.len(), 1);
    assert_eq!(
        exemplars[0].buckets[0].1.trace_id(),
        spans[0].trace_id.as_slice()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_endpoint_links_the_callers_trace_instead_of_joining_it() {
    let readiness = Readiness::builder()
        .trace_public_endpoint(true)
        .build()
        .unwrap();
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let spans = serve(
        &readiness,
        SamplerSetting::ParentBasedAlwaysOn,
        &[("/orders", Some(traceparent))],
    )
    .await;
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let span = &spans[0];
    // A trace of our own, no parent, and the caller's span as a link.
    assert_ne!(hex(&span.trace_id), CALLER_TRACE);
    assert!(span.parent_span_id.is_empty(), "{span:#?}");
    assert_eq!(span.links.len(), 1, "{span:#?}");
    assert_eq!(hex(&span.links[0].trace_id), CALLER_TRACE);
    assert_eq!(hex(&span.links[0].span_id), CALLER_SPAN);
    // The exemplar leads to our trace, not the caller's.
    let exemplars = readiness.red().duration_exemplars();
    assert_eq!(
        exemplars[0].buckets[0].1.trace_id(),
        span.trace_id.as_slice()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_cannot_force_a_public_endpoint_to_sample() {
    // Our sampler keeps no new trace; a caller's "sampled" decides for a private
    // service only.
    let sampled = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let public = Readiness::builder()
        .trace_public_endpoint(true)
        .build()
        .unwrap();
    let spans = serve(
        &public,
        SamplerSetting::ParentBasedAlwaysOff,
        &[("/orders", Some(sampled.clone()))],
    )
    .await;
    assert!(spans.is_empty(), "{spans:#?}");
    assert!(public.red().duration_exemplars().is_empty());

    let private = Readiness::builder().build().unwrap();
    let spans = serve(
        &private,
        SamplerSetting::ParentBasedAlwaysOff,
        &[("/orders", Some(sampled))],
    )
    .await;
    assert_eq!(spans.len(), 1, "{spans:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_metrics_are_never_traced() {
    let readiness = Readiness::builder().build().unwrap();
    let traceparent = Some(format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"));
    let paths = [
        "/livez",
        "/readyz",
        "/startupz",
        "/health",
        "/metrics",
        "/orders",
    ];
    let requests: Vec<(&str, Option<String>)> =
        paths.iter().map(|p| (*p, traceparent.clone())).collect();
    let spans = serve(&readiness, SamplerSetting::AlwaysOn, &requests).await;
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["GET /orders"], "{spans:#?}");
}
