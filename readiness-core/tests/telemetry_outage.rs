//! A collector that goes away and comes back, through a proxy of the test's own: the
//! requests never wait for it, the queue stays bounded and its overflow is counted
//! exactly, export errors are logged once per interval, later spans arrive once it is
//! back, and shutdown stays within its deadline while it hangs.
//!
//! Alone in its binary: the SDK's export thread logs through the global subscriber.
#![cfg(feature = "otel")]

mod support;

use std::time::{Duration, Instant};

use readiness_core::logging::LogSettings;
use readiness_core::telemetry::{OtelSettings, Telemetry};
use support::capture::Capture;
use support::proxy::{Mode, Proxy};
use tower::{Layer as _, ServiceExt as _};
use tracing_subscriber::layer::SubscriberExt as _;

#[derive(Clone)]
struct UsersRoute;

impl<B> readiness_core::observe::RouteTemplate<B> for UsersRoute {
    fn route<'a>(&self, _request: &'a http::Request<B>) -> Option<&'a str> {
        Some("/users/{id}")
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_away_costs_requests_nothing_and_is_caught_up_with_on_return() {
    let (receiver, received) = support::otlp::start().await;
    let proxy = Proxy::start(receiver).await;
    let endpoint = format!("http://{}", proxy.addr());
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "50"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "50"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let settings = OtelSettings::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let registry = prometheus::Registry::new();
    let out = Capture::default();
    let (otel, guard) = Telemetry::from_settings(settings)
        .service("orders", "1.0.0")
        .registry(registry.clone(), None)
        .build()
        .unwrap();
    let logs = LogSettings::new().build(out.clone()).unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel).with(logs))
        .unwrap();

    let readiness = readiness_core::Readiness::builder().build().unwrap();
    let service = readiness_core::observe::ObserveLayer::new(readiness.observer(), UsersRoute)
        .layer(tower::service_fn(|_: http::Request<String>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
        }));
    // Sends `n` requests one after another; returns the slowest one's time.
    let send = |n: usize| {
        let service = service.clone();
        async move {
            let mut slowest = Duration::ZERO;
            for _ in 0..n {
                let started = Instant::now();
                let response = service
                    .clone()
                    .oneshot(http::Request::get("/users/7").body(String::new()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                drop(response);
                slowest = slowest.max(started.elapsed());
            }
            slowest
        }
    };
    let failing_lines = |out: &Capture| {
        out.lines()
            .into_iter()
            .filter(|l| l.contains("span export failing"))
            .count()
    };

    // The collector is there.
    send(5).await;
    wait_for("5 spans exported", || guard.stats().exported == 5).await;
    assert_eq!(received.span_names().len(), 5);

    // It hangs: 50 spans wait (the queue's size), the other 150 are dropped and
    // counted, and no request waits for the 2 s export timeout.
    proxy.set(Mode::Blackhole).await;
    let slowest = send(200).await;
    let stats = guard.stats();
    assert_eq!(stats.pending, 50, "{stats:?}");
    assert_eq!(stats.dropped_queue_full, 150, "{stats:?}");
    assert!(
        slowest < Duration::from_millis(500),
        "a request took {slowest:?} while the collector hung"
    );
    wait_for("the hung export to fail", || {
        guard.stats().export_failed == 50
    })
    .await;
    assert_eq!(guard.stats().pending, 0);

    // It refuses: three more failed exports, still one log line in the interval.
    proxy.set(Mode::Refuse).await;
    for round in 1..=3u64 {
        send(10).await;
        wait_for("a refused export", || {
            guard.stats().export_failed == 50 + 10 * round
        })
        .await;
    }
    assert_eq!(failing_lines(&out), 1, "{}", out.text());

    // It is back: later spans arrive, and one line says so.
    proxy.set(Mode::Pass).await;
    send(5).await;
    wait_for("5 more spans exported", || guard.stats().exported == 10).await;
    assert_eq!(received.span_names().len(), 10);
    let lines = out.lines();
    let recovered: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("span export recovered"))
        .collect();
    assert_eq!(recovered.len(), 1, "{}", out.text());
    let recovered: serde_json::Value = serde_json::from_str(recovered[0]).unwrap();
    assert_eq!(recovered["failed_exports"], 3, "{recovered}");
    assert_eq!(recovered["spans_lost"], 30, "{recovered}");
    assert_eq!(recovered["category"], "system", "{recovered}");

    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    for series in [
        "trace_spans_exported_total 10",
        "trace_spans_dropped_total{reason=\"queue_full\"} 150",
        "trace_spans_dropped_total{reason=\"export_failed\"} 80",
    ] {
        assert!(text.contains(series), "{series} not in\n{text}");
    }

    // It hangs at shutdown: the flush is cut at the deadline, the spans it could not
    // deliver are reported, and the process can exit.
    proxy.set(Mode::Blackhole).await;
    send(3).await;
    let started = Instant::now();
    let report = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_millis(1500)))
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "shutdown took {took:?}");
    assert!(report.error.is_some(), "{report:?}");
    assert_eq!(report.stats.exported, 10, "{report:?}");
    assert_eq!(report.stats.pending, 3, "{report:?}");
}
