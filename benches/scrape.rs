//! One `/metrics` render of the "Scrape under load" registry (RELIABILITY.md): 20
//! routes x 9 methods x 5 statuses = 900 request series, three histograms each
//! (duration, request size, response size), plus the process families; the answer
//! the adapters' `/metrics` route returns, in the classic text format and in
//! OpenMetrics, beside the crate's own `Registry::gather` + `TextEncoder` on the
//! same registry.
//! Run with `cargo bench -p readiness-benches --bench scrape`.
//!
//! `SCRAPE_ONCE=N` skips criterion and renders N times (for callgrind:
//! `SCRAPE_ONCE=10 valgrind --tool=callgrind target/release/deps/scrape-*`).
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use readiness_core::observe::{End, RequestHead};
use readiness_core::Readiness;

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "PURGE",
];
const STATUSES: [u16; 5] = [200, 204, 302, 404, 503];
const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0,text/plain;q=0.5";

/// A service whose registry holds every one of the 900 series, each filled by a few
/// requests of varied durations and sizes.
fn filled() -> Readiness {
    let readiness = Readiness::builder()
        .service("load", "0")
        .access_log(false)
        .build()
        .unwrap();
    let observer = readiness.observer();
    let mut headers = http::HeaderMap::new();
    headers.insert("content-length", "321".parse().unwrap());
    let templates: Vec<String> = (0..20).map(|r| format!("/r{r}/{{status}}")).collect();
    for round in 0..3u64 {
        for template in &templates {
            for method in METHODS {
                for status in STATUSES {
                    let head = RequestHead::new(method, "/r/x", &headers)
                        .with_route(Some(template.as_str()));
                    let mut observation = observer.begin(&head).unwrap();
                    observation.responded(status);
                    observation.frame(17 + 1000 * round);
                    observation.end(End::Completed);
                }
            }
        }
    }
    readiness
}

fn scrape(c: &mut Criterion) {
    let readiness = filled();
    let size = readiness.metrics_response().body().len();
    if let Some(times) = std::env::var("SCRAPE_ONCE")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
    {
        for _ in 0..times {
            black_box(readiness.metrics_response());
        }
        eprintln!("{times} renders of {size} bytes");
        return;
    }
    let mut group = c.benchmark_group("scrape");
    group.throughput(Throughput::Bytes(size as u64));
    group.sample_size(20);
    group.bench_function("metrics_response", |b| {
        b.iter(|| black_box(readiness.metrics_response()));
    });
    group.bench_function("metrics_response_openmetrics", |b| {
        b.iter(|| black_box(readiness.metrics_response_for(Some(OPENMETRICS))));
    });
    let registry = readiness.registry();
    group.bench_function("prometheus_gather", |b| {
        b.iter(|| black_box(registry.gather()));
    });
    group.bench_function("prometheus_gather_text_encoder", |b| {
        use prometheus::Encoder as _;
        b.iter(|| {
            let mut body = Vec::new();
            prometheus::TextEncoder::new()
                .encode(&registry.gather(), &mut body)
                .unwrap();
            black_box(body)
        });
    });
    group.finish();
}

criterion_group!(benches, scrape);
criterion_main!(benches);
