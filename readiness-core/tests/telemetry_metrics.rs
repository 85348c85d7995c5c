//! OTLP metrics: the registry `/metrics` serves, exported over OTLP/HTTP and gRPC
//! to receivers built from the protocol's own types, under semantic-convention
//! names; the variables; delta and cumulative; off when asked; a refusing collector
//! counted and harmless.
#![cfg(feature = "otel")]

mod support;

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, HistogramDataPoint, Metric,
};
use readiness_core::metrics::names::DEFAULT_DURATION_BUCKETS;
use readiness_core::observe::{End, RequestHead};
use readiness_core::telemetry::{
    MetricsExporter, OtelSettings, Protocol, Telemetry, TelemetryGuard, Temporality,
};
use readiness_core::Readiness;

/// The tests of this binary one at a time: one of them traces its request through a
/// subscriber of its own while the others send theirs with none, and run side by
/// side the request's span was at times never enabled for it (tracing's per-callsite
/// interest, cached across threads), so its server span was never exported.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn settings(vars: &[(&str, &str)]) -> OtelSettings {
    OtelSettings::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap()
}

fn service() -> Readiness {
    let readiness = Readiness::builder()
        .service("orders", "1.4.2")
        .build()
        .unwrap();
    let placed = prometheus::IntCounter::new("orders_placed_total", "Orders placed.").unwrap();
    readiness
        .registry()
        .register(Box::new(placed.clone()))
        .unwrap();
    placed.inc_by(3);
    readiness
}

/// The guard of a telemetry on `readiness`'s registry, from `vars` and
/// `OTEL_RESOURCE_ATTRIBUTES=deployment.environment=test`.
fn start(readiness: &Readiness, vars: &[(&str, &str)]) -> TelemetryGuard {
    let mut vars = vars.to_vec();
    vars.push(("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"));
    let (_layer, guard) = Telemetry::from_settings(settings(&vars))
        .service("orders", "1.4.2")
        .instance("orders-7f9c")
        .registry(readiness.registry().clone(), None)
        .build::<tracing_subscriber::Registry>()
        .unwrap();
    guard
}

fn request(readiness: &Readiness, status: u16) {
    let head = RequestHead::new("GET", "/orders/7", &()).with_route(Some("/orders/{id}"));
    let mut observation = readiness.observer().begin(&head).unwrap();
    observation.responded(status);
    observation.end(End::Completed);
}

async fn shutdown(guard: TelemetryGuard) {
    tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
}

fn metric<'a>(request: &'a ExportMetricsServiceRequest, name: &str) -> Option<&'a Metric> {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == name)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn text(value: &str) -> any_value::Value {
    any_value::Value::StringValue(value.to_owned())
}

/// The duration histogram's point for `GET /orders/{id}` with `status`.
fn duration_point(metric: &Metric, status: i64) -> Option<(&HistogramDataPoint, i32)> {
    let Some(Data::Histogram(histogram)) = &metric.data else {
        panic!("not a histogram: {metric:?}");
    };
    histogram
        .data_points
        .iter()
        .find(|p| {
            attribute(&p.attributes, "http.response.status_code")
                == Some(&any_value::Value::IntValue(status))
        })
        .map(|p| (p, histogram.aggregation_temporality))
}

fn number(value: Option<number_data_point::Value>) -> f64 {
    match value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        Some(number_data_point::Value::AsInt(v)) => v as f64,
        None => panic!("no value"),
    }
}

/// Everything the checks below want of one export of `service()` after one `GET
/// /orders/{id}` answered 200.
fn assert_semconv_export(request: &ExportMetricsServiceRequest) {
    let resource = request.resource_metrics[0].resource.as_ref().unwrap();
    assert_eq!(
        attribute(&resource.attributes, "service.name"),
        Some(&text("orders"))
    );
    assert_eq!(
        attribute(&resource.attributes, "service.version"),
        Some(&text("1.4.2"))
    );
    assert_eq!(
        attribute(&resource.attributes, "service.instance.id"),
        Some(&text("orders-7f9c"))
    );
    assert_eq!(
        attribute(&resource.attributes, "deployment.environment"),
        Some(&text("test"))
    );

    let duration = metric(request, "http.server.request.duration").expect("the duration");
    assert_eq!(duration.unit, "s");
    let (point, temporality) = duration_point(duration, 200).expect("the 200 series");
    assert_eq!(temporality, AggregationTemporality::Cumulative as i32);
    assert_eq!(
        attribute(&point.attributes, "http.request.method"),
        Some(&text("GET"))
    );
    assert_eq!(
        attribute(&point.attributes, "http.route"),
        Some(&text("/orders/{id}"))
    );
    // Not told otherwise, the adapters serve plain HTTP.
    assert_eq!(
        attribute(&point.attributes, "url.scheme"),
        Some(&text("http"))
    );
    assert_eq!(point.count, 1);
    assert_eq!(point.explicit_bounds, DEFAULT_DURATION_BUCKETS);
    assert_eq!(
        point.bucket_counts.len(),
        DEFAULT_DURATION_BUCKETS.len() + 1
    );
    // Served in well under 5 ms: the first bucket.
    assert_eq!(point.bucket_counts[0], 1, "{:?}", point.bucket_counts);
    assert_eq!(point.bucket_counts.iter().sum::<u64>(), 1);
    assert!(point.start_time_unix_nano <= point.time_unix_nano);

    // A counter of the service's own: its Prometheus name, a monotonic sum.
    let placed = metric(request, "orders_placed_total").expect("the service's own counter");
    let Some(Data::Sum(sum)) = &placed.data else {
        panic!("{placed:?}")
    };
    assert!(sum.is_monotonic);
    assert_eq!(number(sum.data_points[0].value), 3.0);
    assert_eq!(
        attribute(&sum.data_points[0].attributes, "url.scheme"),
        None
    );

    // A gauge: service_info.
    let info = metric(request, "service_info").expect("service_info");
    let Some(Data::Gauge(gauge)) = &info.data else {
        panic!("{info:?}")
    };
    assert_eq!(number(gauge.data_points[0].value), 1.0);

    // An up-down counter in the conventions: a non-monotonic sum, nothing in flight.
    let active = metric(request, "http.server.active_requests").expect("active requests");
    let Some(Data::Sum(active)) = &active.data else {
        panic!("{active:?}")
    };
    assert!(!active.is_monotonic);
    assert!(active
        .data_points
        .iter()
        .all(|p| attribute(&p.attributes, "url.scheme") == Some(&text("http"))));

    // The telemetry family: the exporter's own counters travel too.
    assert!(metric(request, "telemetry_metrics_exports_failed_total").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_http_exports_the_duration_histogram_with_its_semconv_attributes() {
    let _serial = SERIAL.lock().await;
    let (addr, received) = support::otlp::start().await;
    let readiness = service();
    let endpoint = format!("http://{addr}");
    let guard = start(
        &readiness,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=secret"),
        ],
    );
    request(&readiness, 200);
    // The interval is a minute: the one export is the last, at shutdown.
    shutdown(guard).await;
    let exports = received.metrics();
    assert_eq!(exports.len(), 1);
    assert_semconv_export(&exports[0]);
    let headers = &received.1.lock().unwrap()[0].0;
    assert!(headers.contains(&("x-api-key".to_owned(), "secret".to_owned())));
    assert!(headers.contains(&(
        "content-type".to_owned(),
        "application/x-protobuf".to_owned()
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_grpc_exports_the_same() {
    let _serial = SERIAL.lock().await;
    let (addr, received) = support::otlp::start_grpc_metrics().await;
    let readiness = service();
    let endpoint = format!("http://{addr}");
    let guard = start(
        &readiness,
        &[
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-api-key=secret"),
        ],
    );
    request(&readiness, 200);
    shutdown(guard).await;
    let exports = received.metrics();
    assert_eq!(exports.len(), 1);
    assert_semconv_export(&exports[0]);
    let headers = &received.1.lock().unwrap()[0].0;
    assert!(headers.contains(&("x-api-key".to_owned(), "secret".to_owned())));
}

/// Two requests, one before the first periodic export and one after: the 200
/// series' counts across all exports.
async fn counts_by_export(
    temporality: &str,
) -> (Vec<u64>, Vec<i32>, Vec<ExportMetricsServiceRequest>) {
    let (addr, received) = support::otlp::start().await;
    let readiness = service();
    let endpoint = format!("http://{addr}");
    let guard = start(
        &readiness,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_METRIC_EXPORT_INTERVAL", "100"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                temporality,
            ),
        ],
    );
    request(&readiness, 200);
    let waited = Instant::now();
    while received.metrics().is_empty() {
        assert!(waited.elapsed() < Duration::from_secs(10), "no export");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    request(&readiness, 200);
    shutdown(guard).await;
    let exports = received.metrics();
    let (counts, temporalities) = exports
        .iter()
        .map(|export| {
            let duration = metric(export, "http.server.request.duration").unwrap();
            let (point, temporality) = duration_point(duration, 200).unwrap();
            (point.count, temporality)
        })
        .unzip();
    (counts, temporalities, exports)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cumulative_exports_totals_and_delta_the_changes() {
    let _serial = SERIAL.lock().await;
    let (counts, temporalities, _) = counts_by_export("cumulative").await;
    assert!(counts.len() >= 2, "{counts:?}");
    assert_eq!(counts[0], 1, "{counts:?}");
    assert_eq!(*counts.last().unwrap(), 2, "{counts:?}");
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert!(temporalities
        .iter()
        .all(|t| *t == AggregationTemporality::Cumulative as i32));

    let (counts, temporalities, exports) = counts_by_export("delta").await;
    assert!(counts.len() >= 2, "{counts:?}");
    assert_eq!(counts[0], 1, "{counts:?}");
    assert_eq!(counts.iter().sum::<u64>(), 2, "{counts:?}");
    assert!(temporalities
        .iter()
        .all(|t| *t == AggregationTemporality::Delta as i32));
    // The service's counter: 3 in the first export, no change after.
    let placed: Vec<f64> = exports
        .iter()
        .map(|e| {
            let Some(Data::Sum(sum)) = &metric(e, "orders_placed_total").unwrap().data else {
                panic!()
            };
            assert_eq!(
                sum.aggregation_temporality,
                AggregationTemporality::Delta as i32
            );
            number(sum.data_points[0].value)
        })
        .collect();
    assert_eq!(placed[0], 3.0, "{placed:?}");
    assert!(placed[1..].iter().all(|v| *v == 0.0), "{placed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowmemory_keeps_observed_counters_cumulative() {
    let _serial = SERIAL.lock().await;
    let (counts, temporalities, exports) = counts_by_export("lowmemory").await;
    assert_eq!(counts.iter().sum::<u64>(), 2, "{counts:?}");
    assert!(temporalities
        .iter()
        .all(|t| *t == AggregationTemporality::Delta as i32));
    // process.cpu.time (the `system` feature) is read, not recorded: cumulative.
    if let Some(cpu) = metric(&exports[0], "process.cpu.time") {
        let Some(Data::Sum(sum)) = &cpu.data else {
            panic!("{cpu:?}")
        };
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        assert_eq!(cpu.unit, "s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_and_a_disabled_sdk_export_nothing() {
    let _serial = SERIAL.lock().await;
    let (addr, received) = support::otlp::start().await;
    let endpoint = format!("http://{addr}");
    for off in [
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_SDK_DISABLED", "true"),
    ] {
        let readiness = service();
        let guard = start(
            &readiness,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_METRIC_EXPORT_INTERVAL", "20"),
                off,
            ],
        );
        request(&readiness, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stats = guard.stats();
        shutdown(guard).await;
        assert_eq!(stats.metric_exports, 0, "{off:?}");
        assert!(received.metrics().is_empty(), "{off:?}");
        // The Prometheus endpoint serves either way.
        let body = String::from_utf8(readiness.metrics_response().body().to_vec()).unwrap();
        assert!(
            body.contains("http_server_request_duration_seconds_count"),
            "{off:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_collector_is_counted_and_costs_requests_nothing() {
    let _serial = SERIAL.lock().await;
    // A port nobody listens on: every export is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let readiness = service();
    let guard = start(
        &readiness,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_METRIC_EXPORT_INTERVAL", "20"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "200"),
        ],
    );
    let waited = Instant::now();
    let mut served = 0;
    while guard.stats().metric_exports_failed < 3 {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "no failure counted"
        );
        let started = Instant::now();
        for _ in 0..100 {
            request(&readiness, 200);
        }
        served += 100;
        // Recording does not wait on the exporter.
        assert!(started.elapsed() < Duration::from_millis(500));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(guard.stats().metric_exports, 0);
    let body = String::from_utf8(readiness.metrics_response().body().to_vec()).unwrap();
    let failed: f64 = body
        .lines()
        .find_map(|l| l.strip_prefix("telemetry_metrics_exports_failed_total "))
        .expect("the failure counter")
        .parse()
        .unwrap();
    assert!(failed >= 3.0, "{body}");
    assert!(
        body.contains(&format!(
            "http_server_request_duration_seconds_count{{http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/orders/{{id}}\"}} {served}"
        )),
        "{body}"
    );
    let started = Instant::now();
    shutdown(guard).await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The per-request cost with the exporter sending every millisecond to a refusing
/// collector, against none. Run with `cargo test --release -p readiness-core
/// --features otel --test telemetry_metrics request_cost -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement"]
async fn request_cost() {
    let _serial = SERIAL.lock().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (addr, _received) = support::otlp::start().await;
    let receiving = format!("http://{addr}/v1/metrics");
    for (label, vars) in [
        ("no exporter", vec![]),
        (
            "exporting every 1 ms",
            vec![
                ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", receiving.as_str()),
                ("OTEL_METRIC_EXPORT_INTERVAL", "1"),
            ],
        ),
        (
            "refused every 1 ms",
            vec![
                ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", endpoint.as_str()),
                ("OTEL_METRIC_EXPORT_INTERVAL", "1"),
            ],
        ),
    ] {
        let readiness = service();
        let guard = start(&readiness, &vars);
        let rounds = 200_000;
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            for _ in 0..rounds {
                request(&readiness, 200);
            }
            best = best.min(started.elapsed() / rounds);
        }
        let stats = guard.stats();
        shutdown(guard).await;
        eprintln!(
            "{label}: {best:?} per request (best of 5 x {rounds}); exports {} ok, {} failed",
            stats.metric_exports, stats.metric_exports_failed
        );
    }
}

/// The path is the route.
#[derive(Clone)]
struct PathRoute;

impl<B> readiness_core::observe::RouteTemplate<B> for PathRoute {
    fn route<'a>(&self, request: &'a http::Request<B>) -> Option<&'a str> {
        Some(request.uri().path())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_request_leaves_its_trace_on_the_histogram_point() {
    let _serial = SERIAL.lock().await;
    use tower::{Layer as _, ServiceExt as _};
    use tracing_subscriber::layer::SubscriberExt as _;

    let (addr, received) = support::otlp::start().await;
    let readiness = service();
    let endpoint = format!("http://{addr}");
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_TRACES_SAMPLER", "always_on"),
    ];
    let (otel, guard) = Telemetry::from_settings(settings(&vars))
        .registry(readiness.registry().clone(), None)
        .exemplars(readiness.red().clone())
        .build()
        .unwrap();
    let default = tracing::subscriber::set_default(tracing_subscriber::registry().with(otel));
    let app = readiness_core::observe::ObserveLayer::new(readiness.observer(), PathRoute).layer(
        tower::service_fn(|_: http::Request<String>| async {
            tokio::time::sleep(Duration::from_millis(6)).await;
            Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
        }),
    );
    let request = http::Request::get("/orders").body(String::new()).unwrap();
    drop(app.oneshot(request).await.unwrap());
    drop(default);
    shutdown(guard).await;

    let spans: Vec<_> = received
        .0
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, r)| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect();
    let server = spans
        .iter()
        .find(|s| s.name == "GET /orders")
        .unwrap_or_else(|| {
            let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
            panic!("the server span, among {names:?}")
        });
    let exports = received.metrics();
    let duration = metric(&exports[0], "http.server.request.duration").unwrap();
    let Some(Data::Histogram(histogram)) = &duration.data else {
        panic!()
    };
    let point = histogram
        .data_points
        .iter()
        .find(|p| attribute(&p.attributes, "http.route") == Some(&text("/orders")))
        .expect("the /orders series");
    assert_eq!(point.exemplars.len(), 1, "{point:?}");
    let exemplar = &point.exemplars[0];
    assert_eq!(exemplar.trace_id, server.trace_id);
    assert_eq!(exemplar.span_id, server.span_id);
    let Some(opentelemetry_proto::tonic::metrics::v1::exemplar::Value::AsDouble(value)) =
        exemplar.value
    else {
        panic!("{exemplar:?}")
    };
    assert!(value >= 0.006, "{value}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builders_url_scheme_is_on_the_span_and_the_http_server_points_only() {
    let _serial = SERIAL.lock().await;
    use tower::{Layer as _, ServiceExt as _};
    use tracing_subscriber::layer::SubscriberExt as _;

    let error = Readiness::builder().url_scheme("ftp").build().unwrap_err();
    assert_eq!(error.field(), "url_scheme");

    let (addr, received) = support::otlp::start().await;
    let readiness = Readiness::builder()
        .service("orders", "1.4.2")
        .url_scheme("HTTPS")
        .build()
        .unwrap();
    let before = readiness.metrics_response();
    let endpoint = format!("http://{addr}");
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_TRACES_SAMPLER", "always_on"),
    ];
    let (otel, guard) = Telemetry::from_settings(settings(&vars))
        .registry(readiness.registry().clone(), None)
        .exemplars(readiness.red().clone())
        .build()
        .unwrap();
    let default = tracing::subscriber::set_default(tracing_subscriber::registry().with(otel));
    let app = readiness_core::observe::ObserveLayer::new(readiness.observer(), PathRoute).layer(
        tower::service_fn(|_: http::Request<String>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
        }),
    );
    // An HTTP/1.1 request names no scheme: the builder's is the one.
    let request = http::Request::get("/orders").body(String::new()).unwrap();
    drop(app.oneshot(request).await.unwrap());
    drop(default);
    shutdown(guard).await;

    let spans: Vec<_> = received
        .0
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, r)| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect();
    let server = spans
        .iter()
        .find(|s| s.name == "GET /orders")
        .expect("the server span");
    assert_eq!(
        attribute(&server.attributes, "url.scheme"),
        Some(&text("https"))
    );
    let exports = received.metrics();
    let export = &exports[0];
    for name in [
        "http.server.request.duration",
        "http.server.active_requests",
        "http.server.request.body.size",
        "http.server.response.body.size",
    ] {
        let found = metric(export, name).unwrap_or_else(|| panic!("{name}"));
        let schemes: Vec<_> = match &found.data {
            Some(Data::Histogram(h)) => h
                .data_points
                .iter()
                .map(|p| attribute(&p.attributes, "url.scheme").cloned())
                .collect(),
            Some(Data::Sum(s)) => s
                .data_points
                .iter()
                .map(|p| attribute(&p.attributes, "url.scheme").cloned())
                .collect(),
            other => panic!("{name}: {other:?}"),
        };
        assert!(!schemes.is_empty(), "{name}");
        assert!(
            schemes.iter().all(|s| s.as_ref() == Some(&text("https"))),
            "{name}: {schemes:?}"
        );
    }
    let info = metric(export, "service_info").unwrap();
    let Some(Data::Gauge(info)) = &info.data else {
        panic!()
    };
    assert_eq!(
        attribute(&info.data_points[0].attributes, "url.scheme"),
        None
    );
    // No Prometheus label: the scrape has the same series and labels as before.
    let body = String::from_utf8(readiness.metrics_response().body().to_vec()).unwrap();
    assert!(!body.contains("scheme"), "{body}");
    assert!(!String::from_utf8_lossy(before.body()).contains("scheme"));
    assert!(body.contains(
        "http_server_request_duration_seconds_count{http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/orders\"} 1"
    ), "{body}");
}

#[test]
fn the_variables() {
    let s = settings(&[]);
    assert_eq!(s.metrics.exporter, MetricsExporter::Otlp);
    assert_eq!(s.metrics.endpoint, None);
    assert_eq!(s.metrics.interval, Duration::from_secs(60));
    assert_eq!(s.metrics.export_timeout, Duration::from_secs(30));
    assert_eq!(s.metrics.temporality, Temporality::Cumulative);

    let s = settings(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
    ]);
    assert_eq!(
        s.metrics.endpoint.as_deref(),
        Some("http://collector:4318/v1/metrics")
    );
    assert_eq!(
        s.endpoint.as_deref(),
        Some("http://collector:4318/v1/traces")
    );
    assert_eq!(s.metrics.timeout, Duration::from_secs(2));
    assert_eq!(s.metrics.headers, vec![("a".to_owned(), "1".to_owned())]);

    // The metrics-specific variables win over the generic ones.
    let s = settings(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:4317"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "500"),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "b=2"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "15000"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "5000"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "LowMemory",
        ),
        ("OTEL_METRICS_EXPORTER", "prometheus,otlp"),
    ]);
    assert_eq!(s.metrics.endpoint.as_deref(), Some("http://metrics:4317"));
    assert_eq!(s.metrics.protocol, Protocol::Grpc);
    assert_eq!(s.protocol, Protocol::HttpProtobuf);
    assert_eq!(s.metrics.timeout, Duration::from_millis(500));
    assert_eq!(s.metrics.headers, vec![("b".to_owned(), "2".to_owned())]);
    assert_eq!(s.metrics.interval, Duration::from_secs(15));
    assert_eq!(s.metrics.export_timeout, Duration::from_secs(5));
    assert_eq!(s.metrics.temporality, Temporality::LowMemory);
    assert_eq!(s.metrics.exporter, MetricsExporter::Otlp);
    // Header values stay out of Debug.
    assert!(!format!("{s:?}").contains("b\", \"2"));

    for (name, value) in [
        ("OTEL_METRICS_EXPORTER", "console"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "soon"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "-1"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "sometimes",
        ),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "collector:4318"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "1s"),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "novalue"),
    ] {
        let error =
            OtelSettings::from_lookup(|n| (n == name).then(|| value.to_owned())).expect_err(name);
        assert_eq!(error.field(), name, "{value}");
    }
}
