//! The OpenTelemetry layer: ids without an exporter, log lines joined to spans, and a
//! shutdown bounded even when the collector refuses.
#![cfg(feature = "otel")]

mod support;

use std::time::{Duration, Instant};

use readiness_core::logging::{Format, LogSettings};
use readiness_core::telemetry::{OtelSettings, Protocol, Telemetry};
use support::capture::Capture;
use tracing_subscriber::layer::SubscriberExt as _;

fn no_env() -> OtelSettings {
    OtelSettings::from_lookup(|_| None).unwrap()
}

fn field(line: &str, key: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    value.get(key).and_then(|v| v.as_str()).map(str::to_owned)
}

#[test]
fn without_an_endpoint_spans_still_have_ids_and_log_lines_carry_them() {
    let out = Capture::default();
    let (otel, guard) = Telemetry::from_settings(no_env())
        .service("orders", "1.0.0")
        .build()
        .unwrap();
    let logs = LogSettings::new()
        .format(Format::Json)
        .build(out.clone())
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(otel).with(logs);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("outside any span");
        let outer = tracing::info_span!("request");
        outer.in_scope(|| {
            tracing::info!("first");
            tracing::info!("second");
            tracing::info_span!("query").in_scope(|| tracing::info!("nested"));
        });
        tracing::info_span!("another request").in_scope(|| tracing::info!("other trace"));
    });
    let lines = out.lines();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(field(&lines[0], "trace_id"), None);
    let trace = field(&lines[1], "trace_id").expect("a trace id inside a span");
    assert_eq!(trace.len(), 32);
    assert!(trace.bytes().all(|b| b.is_ascii_hexdigit()) && trace != "0".repeat(32));
    let span = field(&lines[1], "span_id").unwrap();
    assert_eq!(span.len(), 16);
    assert_eq!(
        field(&lines[2], "trace_id").as_deref(),
        Some(trace.as_str())
    );
    assert_eq!(field(&lines[2], "span_id").as_deref(), Some(span.as_str()));
    // A child span: the same trace, a span of its own.
    assert_eq!(
        field(&lines[3], "trace_id").as_deref(),
        Some(trace.as_str())
    );
    assert_ne!(field(&lines[3], "span_id").as_deref(), Some(span.as_str()));
    assert_ne!(
        field(&lines[4], "trace_id").as_deref(),
        Some(trace.as_str())
    );

    let report = guard.shutdown(Duration::from_secs(1));
    assert_eq!(report.error, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_collector_never_holds_shutdown_past_its_deadline() {
    // A port nothing listens on: every export is refused.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        let endpoint = match protocol {
            Protocol::HttpProtobuf => format!("http://127.0.0.1:{port}/v1/traces"),
            _ => format!("http://127.0.0.1:{port}"),
        };
        let (otel, guard) = Telemetry::from_settings(no_env())
            .endpoint(endpoint, protocol)
            .build()
            .unwrap();
        let subscriber = tracing_subscriber::registry().with(otel);
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..100 {
                tracing::info_span!("work", i).in_scope(|| {});
            }
        });
        let started = Instant::now();
        let report =
            tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_millis(1500)))
                .await
                .unwrap();
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "{protocol:?}: shutdown took {took:?} ({report:?})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_a_real_otlp_receiver_with_resource_headers_and_log_ids() {
    let (addr, received) = support::otlp::start().await;
    let endpoint = format!("http://{addr}");
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k%3D123"),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let settings = OtelSettings::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let out = Capture::default();
    let (otel, guard) = Telemetry::from_settings(settings)
        .service("orders", "1.4.2")
        .build()
        .unwrap();
    let logs = LogSettings::new().build(out.clone()).unwrap();
    let subscriber = tracing_subscriber::registry().with(otel).with(logs);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..3 {
            tracing::info_span!("work", i).in_scope(|| tracing::info!("working"));
        }
    });
    let report = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(report.error, None, "{report:?}");

    assert_eq!(received.span_names(), ["work", "work", "work"]);
    let exports = received.0.lock().unwrap();
    let (headers, request) = &exports[0];
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "x-api-key" && v == "k=123"),
        "{headers:?}"
    );
    let resource = request.resource_spans[0].resource.as_ref().unwrap();
    let attribute = |key: &str| {
        resource
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .map(|v| format!("{:?}", v.value))
    };
    assert!(attribute("service.name").unwrap().contains("orders"));
    assert!(attribute("service.version").unwrap().contains("1.4.2"));
    assert!(attribute("deployment.environment")
        .unwrap()
        .contains("test"));
    // Each log line names the trace and span it was written in.
    let exported: Vec<(String, String)> = exports
        .iter()
        .flat_map(|(_, r)| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|span| {
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            (hex(&span.trace_id), hex(&span.span_id))
        })
        .collect();
    for line in out.lines() {
        let ids = (
            field(&line, "trace_id").unwrap(),
            field(&line, "span_id").unwrap(),
        );
        assert!(exported.contains(&ids), "{ids:?} not among {exported:?}");
    }
}
