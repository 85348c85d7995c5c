//! Events per second of our JSON line against `tracing-subscriber`'s own JSON format,
//! on the same events into a sink: one event with five fields inside a span with
//! three, as a handler's line inside a request span. Ours writes more (service,
//! version, category, classification, the span's fields flattened) and checks every
//! name against the deny-list.
//! Run with `cargo bench -p readiness-benches --bench log_format`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use readiness_core::logging::{Format, LogSettings};
use tracing_subscriber::layer::SubscriberExt as _;

fn event() {
    let span = tracing::info_span!(
        "request",
        request_id = "5f0c2a6e9d1b4c7a8e3f0b1d2c4e6a8b",
        method = "GET",
        route = "/orders/{id}"
    );
    let _entered = span.enter();
    tracing::info!(
        order_id = 42_u64,
        customer = "ada",
        paid = true,
        amount = 19.5,
        items = ?["book", "pen"],
        "order placed"
    );
}

fn formats(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_line");
    group.throughput(Throughput::Elements(1));

    let ours = tracing_subscriber::registry().with(
        LogSettings::new()
            .service("orders", "1.4.2")
            .format(Format::Json)
            .build(std::io::sink)
            .unwrap(),
    );
    tracing::subscriber::with_default(ours, || {
        group.bench_function("readiness_json", |b| b.iter(event));
    });

    let theirs = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::sink),
    );
    tracing::subscriber::with_default(theirs, || {
        group.bench_function("tracing_subscriber_json", |b| b.iter(event));
    });
    group.finish();
}

criterion_group!(benches, formats);
criterion_main!(benches);
