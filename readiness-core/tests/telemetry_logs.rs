//! OTLP logs: each line the log layer writes, as a log record decoded by a receiver
//! built from the protocol's own types, over OTLP/HTTP and gRPC; joined to its span,
//! redacted like the line, drops counted apart for audit and security records, export
//! resumed once a refusing collector is back, nothing when off.
#![cfg(feature = "otel")]

mod support;

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use readiness_core::logging::{LogSettings, RESERVED_KEYS};
use readiness_core::telemetry::{OtelSettings, Telemetry};
use support::capture::Capture;
use tower::{Layer as _, ServiceExt as _};
use tracing_subscriber::layer::SubscriberExt as _;

const SECRET: &str = "sk-live-canary-7f3a";
const USERINFO: &str = "hunter2canary";

fn settings(vars: &[(&str, String)]) -> OtelSettings {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    OtelSettings::from_lookup(move |name| {
        vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
    .unwrap()
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.clone()),
            Some(other) => Some(format!("{other:?}")),
            None => None,
        })
}

fn records(received: &support::otlp::Received) -> Vec<LogRecord> {
    received
        .logs()
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .cloned()
        .collect()
}

#[derive(Clone)]
struct UsersRoute;

impl<B> readiness_core::observe::RouteTemplate<B> for UsersRoute {
    fn route<'a>(&self, _request: &'a http::Request<B>) -> Option<&'a str> {
        Some("/users/{id}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_line_is_a_log_record_joined_to_its_span_and_redacted() {
    let (addr, received) = support::otlp::start().await;
    let out = Capture::default();
    let (otel, guard) = Telemetry::from_settings(settings(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
        ("OTEL_LOGS_EXPORTER", "otlp".to_owned()),
        ("OTEL_BLRP_SCHEDULE_DELAY", "50".to_owned()),
    ]))
    .service("orders", "1.4.2")
    .instance("orders-7f9c")
    .build()
    .unwrap();
    let export = guard.log_export().expect("OTEL_LOGS_EXPORTER=otlp");
    let logs = LogSettings::new()
        .secret_values([SECRET])
        .otlp(export.clone())
        .build(out.clone())
        .unwrap();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(otel).with(logs));
    let readiness = readiness_core::Readiness::builder().build().unwrap();
    let service = readiness_core::observe::ObserveLayer::new(readiness.observer(), UsersRoute)
        .layer(tower::service_fn(
            |_request: http::Request<String>| async move {
                tracing::info!(
                    note = format!("calling upstream with {SECRET}").as_str(),
                    upstream = format!("https://svc:{USERINFO}@db.example.com/orders").as_str(),
                    attempt = 2,
                    "handling {SECRET}"
                );
                tracing::info!(category = "audit", action = "order.viewed", "audited");
                Ok::<_, std::convert::Infallible>(
                    http::Response::builder()
                        .status(200)
                        .body(String::from("body"))
                        .unwrap(),
                )
            },
        ));
    let response = service
        .oneshot(
            http::Request::get("/users/7")
                .header("user-agent", "test/1")
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap();
    drop(response);
    drop(_default);
    let report = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(report.error, None);

    let records = records(&received);
    let access = records
        .iter()
        .find(|r| text(&r.attributes, "target").as_deref() == Some("readiness::access"))
        .unwrap_or_else(|| panic!("no access record in {records:#?}"));
    // The same trace as the exported server span.
    let spans: Vec<_> = received
        .0
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, r)| r.resource_spans.clone())
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(access.trace_id, spans[0].trace_id);
    assert_eq!(access.span_id.len(), 8);
    assert_eq!(access.severity_number, 9);
    assert_eq!(access.severity_text, "INFO");
    assert!(access.time_unix_nano > 0 && access.observed_time_unix_nano > 0);
    assert_eq!(
        text(&access.attributes, "category").as_deref(),
        Some("performance")
    );
    assert_eq!(
        text(&access.attributes, "classification").as_deref(),
        Some("internal")
    );
    // Every field of the JSON access line is an attribute of its record.
    let line = out
        .lines()
        .into_iter()
        .find(|l| l.contains("\"target\":\"readiness::access\""))
        .unwrap();
    let line: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&line).unwrap();
    for key in line.keys() {
        if RESERVED_KEYS.contains(&key.as_str()) && key != "request_id" {
            continue;
        }
        assert!(
            text(&access.attributes, key).is_some(),
            "{key} missing from {:#?}",
            access.attributes
        );
    }
    if let Some(serde_json::Value::String(id)) = line.get("request_id") {
        assert_eq!(text(&access.attributes, "request_id").as_ref(), Some(id));
    }

    // The handler's line: redacted as the JSON line is, inside the same trace.
    let handling = records
        .iter()
        .find(|r| {
            r.body
                .as_ref()
                .is_some_and(|b| format!("{b:?}").contains("handling"))
        })
        .unwrap();
    assert_eq!(handling.trace_id, spans[0].trace_id);
    assert!(text(&handling.attributes, "attempt").is_some());
    let audit = records
        .iter()
        .find(|r| text(&r.attributes, "category").as_deref() == Some("audit"))
        .unwrap();
    assert_eq!(
        text(&audit.attributes, "action").as_deref(),
        Some("order.viewed")
    );

    // One resource with the spans.
    let resource = |attributes: &[KeyValue]| {
        let mut pairs: Vec<_> = attributes
            .iter()
            .map(|kv| (kv.key.clone(), format!("{:?}", kv.value)))
            .collect();
        pairs.sort();
        pairs
    };
    let log_resource = received.logs()[0].resource_logs[0]
        .resource
        .clone()
        .unwrap();
    let span_resource = received.0.lock().unwrap()[0].1.resource_spans[0]
        .resource
        .clone()
        .unwrap();
    assert_eq!(
        resource(&log_resource.attributes),
        resource(&span_resource.attributes)
    );
    assert_eq!(
        text(&log_resource.attributes, "service.name").as_deref(),
        Some("orders")
    );

    // The secret and the URL's password are in no exported byte.
    let bytes = received.log_bytes();
    assert!(!bytes.is_empty());
    for canary in [SECRET, USERINFO] {
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "{canary} exported"
        );
        assert!(!out.text().contains(canary), "{canary} written");
    }
    let stats = export.stats();
    assert_eq!(stats.exported, records.len() as u64);
    assert_eq!(stats.dropped_queue_full + stats.export_failed, 0);
}

/// A collector that accepts connections and never answers: the export thread waits
/// on it while the queue fills.
fn stalled_collector() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    (listener, endpoint)
}

#[test]
fn audit_and_security_records_dropped_on_a_full_queue_are_counted_apart() {
    let (_listener, endpoint) = stalled_collector();
    let registry = prometheus::Registry::new();
    let (otel, guard) = Telemetry::from_settings(settings(&[
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            format!("{endpoint}/v1/logs"),
        ),
        ("OTEL_LOGS_EXPORTER", "otlp".to_owned()),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "16".to_owned()),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "16".to_owned()),
        ("OTEL_BLRP_SCHEDULE_DELAY", "10".to_owned()),
        ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "1500".to_owned()),
    ]))
    .registry(registry.clone(), None)
    .build()
    .unwrap();
    let export = guard.log_export().unwrap();
    let out = Capture::default();
    let logs = LogSettings::new()
        .otlp(export.clone())
        .build(out.clone())
        .unwrap();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(otel).with(logs));

    // The first record is taken, and its export hangs on the collector.
    tracing::info!("first");
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..16 {
        tracing::info!(i, "filling");
    }
    let started = std::time::Instant::now();
    for _ in 0..5 {
        tracing::info!(category = "audit", action = "order.deleted", "audited");
    }
    for _ in 0..3 {
        tracing::warn!(category = "security", kind = "auth_failure", "refused");
    }
    tracing::info!("ordinary");
    // Nothing waited for room.
    assert!(started.elapsed() < Duration::from_millis(200));
    // Every line is written all the same.
    assert_eq!(out.lines().len(), 1 + 16 + 5 + 3 + 1);

    let stats = export.stats();
    assert_eq!(stats.dropped_queue_full, 9, "{stats:?}");
    assert_eq!(stats.critical_dropped_queue_full, 8, "{stats:?}");
    let dropped = |reason: &str, category: &str| {
        registry
            .gather()
            .iter()
            .find(|f| f.name() == "log_records_dropped_total")
            .unwrap()
            .get_metric()
            .iter()
            .find(|m| {
                let labels = m.get_label();
                labels
                    .iter()
                    .any(|l| l.name() == "reason" && l.value() == reason)
                    && labels
                        .iter()
                        .any(|l| l.name() == "category" && l.value() == category)
            })
            .map(|m| m.get_counter().get_value())
            .unwrap()
    };
    assert_eq!(dropped("queue_full", "audit"), 5.0);
    assert_eq!(dropped("queue_full", "security"), 3.0);
    assert_eq!(dropped("queue_full", "other"), 1.0);
    assert_eq!(dropped("export_failed", "audit"), 0.0);
    drop(_default);
    let _ = guard.shutdown(Duration::from_millis(100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_exporter_none_exports_nothing() {
    let (addr, received) = support::otlp::start().await;
    // Unset, it follows the specification: an endpoint alone exports logs too,
    // over either protocol.
    let endpoint = format!("http://{addr}");
    let (_, guard) = Telemetry::from_settings(settings(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        endpoint.clone(),
    )]))
    .build::<tracing_subscriber::Registry>()
    .unwrap();
    assert!(guard.log_export().is_some(), "unset: exported");
    let _ = guard.shutdown(Duration::from_millis(100));
    let (_, guard) = Telemetry::from_settings(settings(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
    ]))
    .build::<tracing_subscriber::Registry>()
    .unwrap();
    assert!(guard.log_export().is_some(), "unset over gRPC: exported");
    let _ = guard.shutdown(Duration::from_millis(100));
    for exporter in [Some("none")] {
        let mut vars = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"))];
        if let Some(exporter) = exporter {
            vars.push(("OTEL_LOGS_EXPORTER", exporter.to_owned()));
        }
        let settings = settings(&vars);
        let (otel, guard) = Telemetry::from_settings(settings).build().unwrap();
        assert!(guard.log_export().is_none(), "{exporter:?}");
        let logs = LogSettings::new().build(Capture::default()).unwrap();
        let _default =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(otel).with(logs));
        tracing::info_span!("work").in_scope(|| tracing::info!("inside"));
        drop(_default);
        let report = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(report.error, None);
    }
    assert!(!received.span_names().is_empty(), "the endpoint works");
    assert!(received.logs().is_empty());

    // OTEL_SDK_DISABLED turns the log export off as well.
    let (_otel, guard) = Telemetry::from_settings(settings(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
        ("OTEL_LOGS_EXPORTER", "otlp".to_owned()),
        ("OTEL_SDK_DISABLED", "true".to_owned()),
    ]))
    .build::<tracing_subscriber::Registry>()
    .unwrap();
    assert!(guard.log_export().is_none());
}

#[test]
fn unusable_log_settings_name_their_variable() {
    let err = OtelSettings::from_lookup(|n| (n == "OTEL_LOGS_EXPORTER").then(|| "kafka".into()))
        .unwrap_err();
    assert_eq!(err.field(), "OTEL_LOGS_EXPORTER");
    let err = OtelSettings::from_lookup(|n| {
        (n == "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE").then(|| "4096".into())
    })
    .unwrap_err();
    assert_eq!(err.field(), "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE");
    let err = OtelSettings::from_lookup(|n| {
        (n == "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL").then(|| "http/json".into())
    })
    .unwrap_err();
    assert_eq!(err.field(), "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL");
    // A header that cannot be gRPC metadata: said at build, naming the endpoint.
    let err = Telemetry::from_settings(settings(&[
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "http://127.0.0.1:4317".to_owned(),
        ),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "bad header=1".to_owned()),
    ]))
    .build::<tracing_subscriber::Registry>()
    .map(|_| ())
    .unwrap_err();
    assert_eq!(err.field(), "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT");
}

/// The caller's trace id of the current span, through the W3C header it would send.
fn current_trace_id() -> Vec<u8> {
    let mut headers = http::HeaderMap::new();
    readiness_core::telemetry::inject_context(&mut headers);
    let traceparent = headers["traceparent"].to_str().unwrap().to_owned();
    let hex = traceparent.split('-').nth(1).unwrap();
    (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_grpc_one_endpoint_exports_all_three_signals() {
    // One collector port serving the three services, and only the generic
    // variables: the spans, the metrics and the log records all arrive.
    let (addr, received) = support::otlp::start_grpc_all().await;
    let registry = prometheus::Registry::new();
    let (otel, guard) = Telemetry::from_settings(settings(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=secret".to_owned()),
        ("OTEL_BLRP_SCHEDULE_DELAY", "50".to_owned()),
    ]))
    .service("orders", "1.4.2")
    .registry(registry.clone(), None)
    .build()
    .unwrap();
    let export = guard.log_export().expect("unset: exported over gRPC");
    let out = Capture::default();
    let logs = LogSettings::new()
        .secret_values([SECRET])
        .otlp(export.clone())
        .build(out.clone())
        .unwrap();
    let default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(otel).with(logs));
    let trace_id = tracing::info_span!("work").in_scope(|| {
        tracing::info!(
            attempt = 2,
            token = SECRET,
            order = "o-17",
            "placing order with {SECRET}"
        );
        current_trace_id()
    });
    drop(default);
    let report = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(report.error, None);

    let records = records(&received);
    let placed = records
        .iter()
        .find(|r| {
            r.body
                .as_ref()
                .is_some_and(|b| format!("{b:?}").contains("placing order"))
        })
        .unwrap_or_else(|| panic!("no record in {records:#?}"));
    assert_eq!(placed.trace_id, trace_id);
    assert_eq!(placed.span_id.len(), 8);
    assert_eq!(placed.severity_text, "INFO");
    assert_eq!(text(&placed.attributes, "order").as_deref(), Some("o-17"));
    assert_eq!(
        text(&placed.attributes, "attempt").as_deref(),
        Some("IntValue(2)")
    );
    assert!(!received
        .log_bytes()
        .windows(SECRET.len())
        .any(|w| w == SECRET.as_bytes()));
    // The headers travel as metadata.
    let metadata = received.3.lock().unwrap().clone();
    assert!(!metadata.is_empty());
    assert!(metadata
        .iter()
        .all(|m| m.contains(&("x-api-key".to_owned(), "secret".to_owned()))));
    // The span and the metrics over the same port.
    let spans: Vec<_> = received
        .0
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, r)| r.resource_spans.clone())
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].trace_id, trace_id);
    assert!(!received.metrics().is_empty(), "no metrics export");
    assert_eq!(export.stats().exported, records.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_grpc_a_refusing_collector_is_counted_and_export_resumes() {
    let (receiver, received) = support::otlp::start_grpc_logs().await;
    let proxy = support::proxy::Proxy::start(receiver).await;
    let registry = prometheus::Registry::new();
    let (otel, guard) = Telemetry::from_settings(settings(&[
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            format!("http://{}", proxy.addr()),
        ),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "400".to_owned()),
        ("OTEL_BLRP_SCHEDULE_DELAY", "20".to_owned()),
    ]))
    .registry(registry.clone(), None)
    .build()
    .unwrap();
    let export = guard.log_export().unwrap();
    let out = Capture::default();
    let logs = LogSettings::new()
        .otlp(export.clone())
        .build(out.clone())
        .unwrap();
    let default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(otel).with(logs));
    let bodies = |received: &support::otlp::Received| -> Vec<String> {
        records(received)
            .iter()
            .filter_map(|r| r.body.as_ref().map(|b| format!("{b:?}")))
            .collect()
    };
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };

    tracing::info!("before");
    wait("the first record", &|| export.stats().exported == 1);
    assert!(bodies(&received)[0].contains("before"));

    // Refused: the records of the failed export are counted, audit apart.
    proxy.set(support::proxy::Mode::Refuse).await;
    tracing::info!("while refused");
    tracing::info!(category = "audit", action = "order.deleted", "audited");
    wait("a failed export", &|| export.stats().export_failed == 2);
    let stats = export.stats();
    assert!(stats.failed_exports >= 1, "{stats:?}");
    assert_eq!(stats.critical_export_failed, 1, "{stats:?}");
    assert_eq!(stats.exported, 1, "{stats:?}");
    let dropped = |category: &str| {
        registry
            .gather()
            .iter()
            .find(|f| f.name() == "log_records_dropped_total")
            .unwrap()
            .get_metric()
            .iter()
            .find(|m| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == "reason" && l.value() == "export_failed")
                    && m.get_label()
                        .iter()
                        .any(|l| l.name() == "category" && l.value() == category)
            })
            .map(|m| m.get_counter().get_value())
            .unwrap()
    };
    assert_eq!(dropped("other"), 1.0);
    assert_eq!(dropped("audit"), 1.0);

    // Back: later records arrive again.
    proxy.set(support::proxy::Mode::Pass).await;
    tracing::info!("after");
    wait("the record after", &|| export.stats().exported == 2);
    let bodies = bodies(&received);
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(bodies[1].contains("after"), "{bodies:?}");
    drop(default);
    let report = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(report.error, None);
}
