//! One request's whole observation, without a server: RED only, and RED with the
//! request id, the request span and the JSON access line into a sink, beside the
//! formatting of one line alone (`log_format`). What an adapter pays per request
//! on top of its own translation.
//! Run with `cargo bench -p readiness-benches --bench observation`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use readiness_core::logging::{Format, LogSettings};
use readiness_core::observe::{End, Observer, RequestHead};
use readiness_core::Readiness;
use tracing_subscriber::layer::SubscriberExt as _;

/// One `GET /orders/7` through `observer`: begin, the head, one body frame, the end.
fn request(observer: &Observer, headers: &http::HeaderMap) {
    let head = RequestHead::new("GET", "/orders/7", headers)
        .with_route(Some("/orders/{id}"))
        .with_version(http::Version::HTTP_11);
    let mut observation = observer.begin(&head).expect("not excluded");
    black_box(observation.request_id());
    observation.responded(200);
    observation.frame(2);
    observation.end(End::Completed);
}

fn observation(c: &mut Criterion) {
    let mut headers = http::HeaderMap::new();
    headers.insert("user-agent", "bench/1.0".parse().unwrap());
    headers.insert("x-request-id", "5f0c2a6e9d1b4c7a".parse().unwrap());
    let mut group = c.benchmark_group("observation");
    group.throughput(Throughput::Elements(1));

    let red = Readiness::builder().access_log(false).build().unwrap();
    let observer = red.observer();
    group.bench_function("red", |b| b.iter(|| request(&observer, &headers)));

    let logged = Readiness::builder()
        .service("orders", "1.4.2")
        .build()
        .unwrap();
    let observer = logged.observer();
    let subscriber = tracing_subscriber::registry().with(
        LogSettings::new()
            .service("orders", "1.4.2")
            .format(Format::Json)
            .build(std::io::sink)
            .unwrap(),
    );
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("red+span+access_line", |b| {
            b.iter(|| request(&observer, &headers));
        });
    });
    group.finish();
}

criterion_group!(benches, observation);
criterion_main!(benches);
