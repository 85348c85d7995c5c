//! The `/metrics` rendering: the classic text is what the `prometheus` crate's
//! encoder writes for the same families; [`Readiness::scrape`] renders off the
//! runtime's worker and once for concurrent scrapes; a rendering's buffer is written
//! again once its answers are dropped.

use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use futures_util::FutureExt as _;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::Encoder as _;
use readiness_core::observe::{End, RequestHead};
use readiness_core::Readiness;

/// A collector that notes the thread each collection runs on, and counts them.
struct Witness {
    gauge: prometheus::IntGauge,
    threads: Mutex<Vec<ThreadId>>,
}

impl Witness {
    fn threads(&self) -> Vec<ThreadId> {
        self.threads.lock().unwrap().clone()
    }
}

/// The registry's handle on the shared witness.
struct Forward(Arc<Witness>);

impl Collector for Forward {
    fn desc(&self) -> Vec<&Desc> {
        self.0.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut threads = self.0.threads.lock().unwrap();
        threads.push(std::thread::current().id());
        self.0.gauge.set(threads.len() as i64);
        self.0.gauge.collect()
    }
}

fn witnessed() -> (Readiness, Arc<Witness>) {
    let witness = Arc::new(Witness {
        gauge: prometheus::IntGauge::new("collections", "Collections so far.").unwrap(),
        threads: Mutex::new(Vec::new()),
    });
    let registry = prometheus::Registry::new();
    registry
        .register(Box::new(Forward(Arc::clone(&witness))))
        .unwrap();
    let readiness = Readiness::builder().registry(registry).build().unwrap();
    (readiness, witness)
}

fn text(response: &http::Response<bytes::Bytes>) -> &str {
    std::str::from_utf8(response.body()).unwrap()
}

/// The RED histograms of many series (awkward route templates among them), the
/// library's own families: the same bytes as the crate's `TextEncoder`.
#[test]
fn the_classic_text_is_the_crate_encoders() {
    let readiness = Readiness::builder().system_metrics(false).build().unwrap();
    let observer = readiness.observer();
    let headers = http::HeaderMap::new();
    for (i, method) in ["GET", "POST", "PURGE"].iter().enumerate() {
        for route in ["/a/{id}", "/b\\\"quoted\"", "/c\nline", "/d"] {
            for status in [200, 404, 503] {
                let head = RequestHead::new(method, "/x", &headers).with_route(Some(route));
                let mut observation = observer.begin(&head).unwrap();
                observation.responded(status);
                observation.frame(100 * i as u64 + 7);
                observation.end(End::Completed);
            }
        }
    }
    let ours = readiness.metrics_response();
    let mut theirs = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&readiness.registry().gather(), &mut theirs)
        .unwrap();
    assert_eq!(text(&ours), std::str::from_utf8(&theirs).unwrap());
    assert_eq!(ours.headers()["content-type"], prometheus::TEXT_FORMAT);
    assert!(text(&ours).contains("http_route=\"/c\\nline\""));
}

#[tokio::test(flavor = "current_thread")]
async fn renders_off_the_worker_and_once_for_concurrent_scrapes() {
    let (readiness, witness) = witnessed();
    let scrapes: Vec<_> = (0..8).map(|_| readiness.scrape(None)).collect();
    let answers = futures_util::future::join_all(scrapes).await;
    let threads = witness.threads();
    assert_eq!(threads.len(), 1, "one rendering for 8 concurrent scrapes");
    assert_ne!(threads[0], std::thread::current().id(), "not on the worker");
    for answer in &answers {
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.body(), answers[0].body());
        assert!(text(answer).contains("\ncollections 1\n"));
    }
    // A scrape after it renders anew, and OpenMetrics has a rendering of its own.
    let again = readiness.scrape(None).await;
    assert!(text(&again).contains("\ncollections 2\n"));
    let open = readiness
        .scrape(Some("application/openmetrics-text;version=1.0.0"))
        .await;
    assert!(text(&open).ends_with("# EOF\n"));
    assert_eq!(witness.threads().len(), 3);
}

#[test]
fn without_a_runtime_a_scrape_renders_on_the_caller() {
    let (readiness, witness) = witnessed();
    let answer = readiness
        .scrape(None)
        .now_or_never()
        .expect("ready at once");
    assert_eq!(answer.status(), 200);
    assert_eq!(witness.threads(), [std::thread::current().id()]);
    // The same answer as the synchronous one.
    let direct = readiness.metrics_response();
    // The same headers but the render time each rendering took.
    let others = |answer: &http::Response<_>| {
        let mut headers = answer.headers().clone();
        let timing = headers.remove("server-timing").expect("a render time");
        assert!(timing.to_str().unwrap().starts_with("render;dur="));
        headers
    };
    assert_eq!(others(&answer), others(&direct));
    assert!(text(&direct).contains("\ncollections 2\n"));
}

#[test]
fn a_dropped_answers_buffer_is_written_again() {
    let (readiness, _witness) = witnessed();
    let first = readiness.metrics_response();
    // Held: the next rendering needs a buffer of its own.
    let second = readiness.metrics_response();
    let kept = [first.body().as_ptr(), second.body().as_ptr()];
    assert_ne!(kept[0], kept[1]);
    drop((first, second));
    let third = readiness.metrics_response();
    assert!(kept.contains(&third.body().as_ptr()), "a kept buffer");
    assert!(text(&third).contains("\ncollections 3\n"));
}
