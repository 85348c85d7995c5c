//! The OpenTelemetry layer: ids without an exporter, log lines joined to spans, and a
//! shutdown bounded even when the collector refuses.
#![cfg(feature = "otel")]

mod support;

use std::time::{Duration, Instant};

use readiness_core::logging::{Format, LogSettings};
use readiness_core::telemetry::{OtelSettings, Protocol, Telemetry};
use support::capture::Capture;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;

fn no_env() -> OtelSettings {
    OtelSettings::from_lookup(|_| None).unwrap()
}

/// Headers of a caller that sends its trace (`00f067aa0ba902b7` its span).
fn caller_trace() -> http::HeaderMap {
    let mut caller = http::HeaderMap::new();
    caller.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    caller
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

/// The layer's own level: below it, a call site no other layer wants is switched
/// off (it costs nothing), a span is not traced, and a line inside such a span
/// carries the trace of the nearest traced span around it.
#[test]
fn the_layer_traces_from_its_level_up_and_lines_below_it_keep_the_trace_around_them() {
    for (level, debug_traced) in [(None, false), (Some(LevelFilter::DEBUG), true)] {
        let mut telemetry = Telemetry::from_settings(no_env());
        if let Some(level) = level {
            telemetry = telemetry.level(level);
        }
        let (otel, guard) = telemetry.build().unwrap();
        let out = Capture::default();
        let logs = LogSettings::new()
            .format(Format::Json)
            .level(LevelFilter::DEBUG)
            .build(out.clone())
            .unwrap();
        let subscriber = tracing_subscriber::registry().with(otel).with(logs);
        tracing::subscriber::with_default(subscriber, || {
            // No layer takes TRACE: switched off whatever the trace's level.
            assert!(!tracing::enabled!(tracing::Level::TRACE));
            tracing::info_span!("request").in_scope(|| {
                tracing::info!("in the request");
                tracing::debug_span!("detail").in_scope(|| tracing::debug!("in the detail"));
            });
        });
        let lines = out.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        let trace = field(&lines[0], "trace_id").expect("traced");
        let request = field(&lines[0], "span_id").unwrap();
        // Always in the request's trace.
        assert_eq!(field(&lines[1], "trace_id"), Some(trace), "{level:?}");
        // In a span of its own only when the debug span is traced.
        let span = field(&lines[1], "span_id").unwrap();
        assert_eq!(span != request, debug_traced, "{level:?}: {lines:?}");
        drop(guard);
    }
    // With TRACE, trace call sites are on.
    let (otel, _guard) = Telemetry::from_settings(no_env())
        .level(LevelFilter::TRACE)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(otel), || {
        assert!(tracing::enabled!(tracing::Level::TRACE));
    });
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
        // Not one span delivered: never reported as a clean shutdown.
        assert!(report.error.is_some(), "{protocol:?}: {report:?}");
        assert_eq!(report.stats.exported, 0, "{protocol:?}: {report:?}");
        assert_eq!(
            report.stats.export_failed + report.stats.pending + report.stats.dropped_queue_full,
            100,
            "{protocol:?}: {report:?}"
        );
        eprintln!("{protocol:?}: shutdown with the collector refusing took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_real_otlp_receivers_over_grpc_and_http_and_shutdown_delivers_all() {
    const SPANS: usize = 300;
    for protocol in ["grpc", "http/protobuf"] {
        let (addr, received) = if protocol == "grpc" {
            support::otlp::start_grpc().await
        } else {
            support::otlp::start().await
        };
        let endpoint = format!("http://{addr}");
        // No schedule delay set: the SDK's default of 5 s, so the spans are still
        // queued when shutdown starts and only the shutdown's flush delivers them.
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k%3D123"),
            ("OTEL_SERVICE_NAME", "orders-from-env"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"),
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
            let caller = caller_trace();
            let first = tracing::info_span!("work", i = 0);
            readiness_core::telemetry::set_remote_parent(&first, &caller);
            first.in_scope(|| tracing::info!("working"));
            for i in 1..SPANS {
                tracing::info_span!("work", i).in_scope(|| tracing::info!("working"));
            }
        });
        assert_eq!(received.span_names().len(), 0, "{protocol}: exported early");
        let report = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(report.error, None, "{protocol}: {report:?}");
        assert_eq!(
            report.stats.exported, SPANS as u64,
            "{protocol}: {report:?}"
        );
        assert_eq!(report.stats.pending, 0, "{protocol}: {report:?}");

        assert_eq!(received.span_names(), vec!["work"; SPANS], "{protocol}");
        let exports = received.0.lock().unwrap();
        let (headers, request) = &exports[0];
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "x-api-key" && v == "k=123"),
            "{protocol}: {headers:?}"
        );
        let resource = request.resource_spans[0].resource.as_ref().unwrap();
        let attribute = |key: &str| {
            resource
                .attributes
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.as_ref())
                .map(|v| format!("{:?}", v.value))
                .unwrap_or_default()
        };
        // OTEL_SERVICE_NAME wins over the name given in code.
        assert!(
            attribute("service.name").contains("\"orders-from-env\""),
            "{protocol}: {resource:?}"
        );
        assert!(attribute("service.version").contains("1.4.2"));
        assert!(attribute("deployment.environment").contains("test"));
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let spans: Vec<_> = exports
            .iter()
            .flat_map(|(_, r)| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        // The first span continues the caller's trace.
        let first = spans
            .iter()
            .find(|span| hex(&span.parent_span_id) == "00f067aa0ba902b7")
            .unwrap_or_else(|| panic!("{protocol}: no span with the caller as parent"));
        assert_eq!(hex(&first.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        // Each log line names the trace and span it was written in.
        let exported: Vec<(String, String)> = spans
            .iter()
            .map(|span| (hex(&span.trace_id), hex(&span.span_id)))
            .collect();
        let lines = out.lines();
        assert_eq!(lines.len(), SPANS);
        for line in lines {
            let ids = (
                field(&line, "trace_id").unwrap(),
                field(&line, "span_id").unwrap(),
            );
            assert!(exported.contains(&ids), "{protocol}: {ids:?} not exported");
        }
    }
}

/// One route template for every request: enough for a tower stack without a router.
#[derive(Clone)]
struct UsersRoute;

impl<B> readiness_core::observe::RouteTemplate<B> for UsersRoute {
    fn route<'a>(&self, _request: &'a http::Request<B>) -> Option<&'a str> {
        Some("/users/{id}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_is_a_server_span_with_the_http_conventions() {
    use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
    use tower::{Layer as _, ServiceExt as _};

    let (addr, received) = support::otlp::start().await;
    let out = Capture::default();
    let (otel, guard) = Telemetry::from_settings(no_env())
        .endpoint(format!("http://{addr}/v1/traces"), Protocol::HttpProtobuf)
        .build()
        .unwrap();
    let logs = LogSettings::new().build(out.clone()).unwrap();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(otel).with(logs));
    let readiness = readiness_core::Readiness::builder().build().unwrap();
    let service = readiness_core::observe::ObserveLayer::new(readiness.observer(), UsersRoute)
        .layer(tower::service_fn(
            |request: http::Request<String>| async move {
                tracing::info!("handling");
                let status = if request.uri().path() == "/users/0" {
                    500
                } else {
                    200
                };
                Ok::<_, std::convert::Infallible>(
                    http::Response::builder()
                        .status(status)
                        .body(String::from("body"))
                        .unwrap(),
                )
            },
        ));
    for (path, traceparent) in [
        (
            "/users/7",
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ),
        ("/users/0", None),
    ] {
        let mut request = http::Request::get(path)
            .header("user-agent", "test/1")
            .header("host", "api.example.com");
        if let Some(parent) = traceparent {
            request = request.header("traceparent", parent);
        }
        let response = service
            .clone()
            .oneshot(request.body(String::new()).unwrap())
            .await
            .unwrap();
        drop(response); // the body: the request is over
    }
    drop(_default);
    let report = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(report.error, None);

    let exports = received.0.lock().unwrap();
    let spans: Vec<_> = exports
        .iter()
        .flat_map(|(_, r)| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let attribute = |span: &opentelemetry_proto::tonic::trace::v1::Span, key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .map(|v| format!("{:?}", v.value))
            .unwrap_or_default()
    };
    for span in &spans {
        assert_eq!(span.name, "GET /users/{id}");
        assert_eq!(span.kind, SpanKind::Server as i32);
        assert!(attribute(span, "http.request.method").contains("GET"));
        assert!(attribute(span, "http.route").contains("/users/{id}"));
        assert!(attribute(span, "user_agent.original").contains("test/1"));
        assert!(attribute(span, "server.address").contains("api.example.com"));
        assert!(attribute(span, "network.protocol.version").contains("1.1"));
        assert!(!span.attributes.iter().any(|kv| kv.key.starts_with("otel.")));
    }
    let ok = spans
        .iter()
        .find(|s| attribute(s, "url.path").contains("/users/7"))
        .unwrap();
    assert!(attribute(ok, "http.response.status_code").contains("200"));
    // The caller's trace continues, with the caller's span as parent.
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(hex(&ok.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex(&ok.parent_span_id), "00f067aa0ba902b7");
    let failed = spans
        .iter()
        .find(|s| attribute(s, "url.path").contains("/users/0"))
        .unwrap();
    assert!(attribute(failed, "http.response.status_code").contains("500"));
    assert_eq!(
        failed.status.as_ref().unwrap().code,
        StatusCode::Error as i32
    );
    assert_eq!(
        ok.status.as_ref().map_or(0, |s| s.code),
        StatusCode::Unset as i32
    );

    // The `otel.*` fields steer the exporter and stay out of the log lines.
    let text = out.text();
    assert!(
        text.contains("handling") && !text.contains("otel."),
        "{text}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn check_runs_are_traced_only_when_asked() {
    let (addr, received) = support::otlp::start().await;
    let (otel, guard) = Telemetry::from_settings(no_env())
        .endpoint(format!("http://{addr}/v1/traces"), Protocol::HttpProtobuf)
        .build()
        .unwrap();
    let default = tracing::subscriber::set_default(tracing_subscriber::registry().with(otel));
    let check = |name: &'static str, ok: bool| {
        readiness_core::checks::from_fn(name, move || async move {
            tracing::info!("querying");
            ok
        })
        .interval(Duration::from_secs(3600))
    };
    let quiet = readiness_core::Readiness::builder()
        .check(check("cache", true))
        .build()
        .unwrap();
    quiet.refresh().await;
    let traced = readiness_core::Readiness::builder()
        .trace_checks(true)
        .check(check("db", true))
        .check(check("queue", false))
        .build()
        .unwrap();
    traced.refresh().await;
    drop(default);
    let report = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(report.error, None);
    let mut names = received.span_names();
    names.sort();
    // One run each (the first run and the refresh share a single run).
    assert_eq!(
        names,
        ["check db", "check queue"],
        "the untraced check made no span"
    );
    let exports = received.0.lock().unwrap();
    let queue = exports
        .iter()
        .flat_map(|(_, r)| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .find(|s| s.name == "check queue")
        .unwrap();
    assert_eq!(
        queue.status.as_ref().unwrap().code,
        opentelemetry_proto::tonic::trace::v1::status::StatusCode::Error as i32
    );
}

#[cfg(feature = "http")]
#[test]
fn a_reqwest_request_carries_the_current_trace_and_baggage() {
    use readiness_core::telemetry::TraceContextExt as _;
    let (otel, _guard) = Telemetry::from_settings(no_env()).build().unwrap();
    let subscriber = tracing_subscriber::registry().with(otel);
    tracing::subscriber::with_default(subscriber, || {
        let mut caller = caller_trace();
        caller.insert("baggage", "tenant=acme".parse().unwrap());
        let span = tracing::info_span!("handler");
        readiness_core::telemetry::set_remote_parent(&span, &caller);
        let request = span.in_scope(|| {
            reqwest::Client::new()
                .get("http://inventory.invalid/stock/42")
                .with_trace_context()
                .build()
                .unwrap()
        });
        let traceparent = request.headers()["traceparent"].to_str().unwrap();
        assert!(
            traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{traceparent}"
        );
        assert!(!traceparent.contains("00f067aa0ba902b7"), "{traceparent}");
        assert_eq!(request.headers()["baggage"], "tenant=acme");
    });
}

/// A call made inside a span below the layer's level (a client function's
/// `debug_span!`, logged at DEBUG, traced from INFO) still carries the request's
/// trace: the nearest traced span's.
#[test]
fn a_call_under_an_untraced_span_carries_the_trace_around_it() {
    let (otel, _guard) = Telemetry::from_settings(no_env()).build().unwrap();
    let logs = LogSettings::new()
        .level(LevelFilter::DEBUG)
        .build(Capture::default())
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(otel).with(logs);
    tracing::subscriber::with_default(subscriber, || {
        let caller = caller_trace();
        let span = tracing::info_span!("handler");
        readiness_core::telemetry::set_remote_parent(&span, &caller);
        let (in_handler, in_client) = span.in_scope(|| {
            let mut in_handler = http::HeaderMap::new();
            readiness_core::telemetry::inject_context(&mut in_handler);
            let in_client = tracing::debug_span!("client").in_scope(|| {
                let mut headers = http::HeaderMap::new();
                readiness_core::telemetry::inject_context(&mut headers);
                headers
            });
            (in_handler, in_client)
        });
        let traceparent = in_client["traceparent"].to_str().unwrap();
        assert!(
            traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{traceparent}"
        );
        // The handler's own span is the parent the call names.
        assert_eq!(in_client["traceparent"], in_handler["traceparent"]);
    });
}

/// tracing-opentelemetry's attributes about the instrumentation (thread, source
/// location, busy time) are left out unless asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrumentation_attributes_only_when_asked() {
    for on in [false, true] {
        let (addr, received) = support::otlp::start().await;
        let endpoint = format!("http://{addr}/v1/traces");
        let (otel, guard) = Telemetry::from_settings(no_env())
            .endpoint(endpoint, Protocol::HttpProtobuf)
            .instrumentation_attributes(on)
            .build()
            .unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(otel), || {
            tracing::info_span!("work").in_scope(|| {});
        });
        let report = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(report.stats.exported, 1, "{report:?}");
        let exports = received.0.lock().unwrap();
        let keys: Vec<String> = exports
            .iter()
            .flat_map(|(_, r)| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .flat_map(|span| &span.attributes)
            .map(|kv| kv.key.clone())
            .collect();
        for key in ["thread.id", "busy_ns"] {
            assert_eq!(
                keys.iter().any(|k| k == key),
                on,
                "{key} with {on}: {keys:?}"
            );
        }
    }
}
