//! OTLP logs against a collector that refuses: requests do not wait, failures are
//! counted, and the exporter's own error lines (and the HTTP stack's events) are
//! written but never exported, so they cannot feed the export they describe. Its
//! own test binary: the subscriber is the global one, which the export thread and
//! the HTTP client's thread log to.
#![cfg(feature = "otel")]

mod support;

use std::time::{Duration, Instant};

use readiness_core::logging::LogSettings;
use readiness_core::telemetry::{OtelSettings, Telemetry};
use support::capture::Capture;
use tracing_subscriber::layer::SubscriberExt as _;

#[test]
fn a_refusing_collector_costs_requests_nothing_counts_failures_and_does_not_feed_itself() {
    // A port nobody listens on: every connection is refused.
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let vars = [
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            format!("http://{refused}/v1/logs"),
        ),
        ("OTEL_LOGS_EXPORTER", "otlp".to_owned()),
        ("OTEL_BLRP_SCHEDULE_DELAY", "20".to_owned()),
        ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "300".to_owned()),
    ];
    let settings = OtelSettings::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let registry = prometheus::Registry::new();
    let (otel, guard) = Telemetry::from_settings(settings)
        .registry(registry.clone(), None)
        // Every failed export logs a line: the loop, if there were one, would show.
        .error_log_interval(Duration::ZERO)
        .build()
        .unwrap();
    let export = guard.log_export().unwrap();
    let out = Capture::default();
    let logs = LogSettings::new()
        // Every event, the HTTP stack's debug and trace ones too.
        .level(tracing::level_filters::LevelFilter::TRACE)
        .otlp(export.clone())
        .build(out.clone())
        .unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel).with(logs))
        .unwrap();

    const LINES: u64 = 30;
    let mut slowest = Duration::ZERO;
    for i in 0..LINES {
        let started = Instant::now();
        tracing::info!(target: "orders", i, "request handled");
        slowest = slowest.max(started.elapsed());
        std::thread::sleep(Duration::from_millis(10));
    }
    // A line costs the same with the collector away.
    assert!(slowest < Duration::from_millis(50), "{slowest:?}");

    let attempted = || {
        let stats = export.stats();
        stats.exported + stats.export_failed + stats.dropped_queue_full
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while attempted() < LINES && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = export.stats();
    assert_eq!(attempted(), LINES, "{stats:?}");
    assert!(stats.failed_exports >= 2, "{stats:?}");
    assert_eq!(stats.exported, 0);
    // The failures were logged, as lines only: nothing more is attempted.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(attempted(), LINES, "{:?}", export.stats());
    let text = out.text();
    let errors = text.matches("OTLP log export failing").count();
    assert!(errors >= 2, "{text}");
    let failed = registry
        .gather()
        .iter()
        .find(|f| f.name() == "log_records_dropped_total")
        .unwrap()
        .get_metric()
        .iter()
        .filter(|m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == "reason" && l.value() == "export_failed")
        })
        .map(|m| m.get_counter().get_value())
        .sum::<f64>();
    assert_eq!(failed, LINES as f64);
    let report = guard.shutdown(Duration::from_millis(200));
    assert!(report.took < Duration::from_secs(1));
}
