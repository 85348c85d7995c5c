//! What one probe costs: `Readiness::respond` reads the cached snapshot and renders the
//! answer, with no I/O. Run with `cargo bench -p readiness-benches --bench health_snapshot`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use readiness_core::{checks, CheckOutcome, Details, Endpoint, ProbeRequest, Readiness};

fn readiness(runtime: &tokio::runtime::Runtime, checks: usize) -> Readiness {
    runtime.block_on(async {
        let mut builder = Readiness::builder()
            .service("bench", "1.0.0")
            .details(Details::Components);
        for i in 0..checks {
            let spec = checks::from_fn(format!("check-{i}"), move || async move {
                if i % 5 == 4 {
                    CheckOutcome::warn("slow")
                } else {
                    CheckOutcome::pass()
                }
            })
            .interval(Duration::from_secs(3600));
            builder = builder.check(if i % 3 == 2 {
                spec.non_critical()
            } else {
                spec
            });
        }
        let readiness = builder.build().expect("valid configuration");
        readiness.refresh().await;
        readiness
    })
}

fn probes(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for count in [1, 10] {
        let readiness = readiness(&runtime, count);
        let mut group = c.benchmark_group(format!("{count}_checks"));
        let cases = [
            ("livez_json", Endpoint::Livez, None, "GET"),
            ("readyz_json", Endpoint::Readyz, None, "GET"),
            ("readyz_head", Endpoint::Readyz, None, "HEAD"),
            ("readyz_verbose", Endpoint::Readyz, Some("verbose"), "GET"),
            ("health_json", Endpoint::Health, None, "GET"),
            ("one_check_json", Endpoint::Check("check-0"), None, "GET"),
        ];
        for (name, endpoint, query, method) in cases {
            let request = ProbeRequest::new(endpoint, method).with_query(query);
            group.bench_function(name, |b| {
                b.iter(|| black_box(readiness.respond(black_box(&request))))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, probes);
criterion_main!(benches);
