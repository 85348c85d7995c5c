//! Audit trail throughput: records appended per second (hashing, the JSON line,
//! the write; with and without an fsync per record, and queued in `batch` mode),
//! and records verified per second over a 10,000-record signed trail.
//! Run with `cargo bench -p readiness-benches --bench audit_trail`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use readiness_core::audit::{
    verify, Durability, Ed25519SigningKey, FileTrail, Verdict, VerifyOptions,
};
use readiness_core::logging::{AuditEvent, Outcome};

fn event() -> AuditEvent<'static> {
    AuditEvent::new("alice@example.com", "update", "invoice", Outcome::Success)
        .resource_id("INV-2024-000042")
        .tenant("acme")
}

fn key() -> Ed25519SigningKey {
    Ed25519SigningKey::from_bytes(&[7; 32])
}

fn temp(name: &str) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("bench-trail-{name}-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("audit_append");
    group.throughput(Throughput::Elements(1));
    let sink = FileTrail::to_writer(std::io::sink())
        .signing_key(key())
        .build()
        .unwrap();
    group.bench_function("blocking, to a sink", |b| {
        b.iter(|| sink.record(&event()).unwrap());
    });
    let path = temp("nosync");
    let file = FileTrail::builder(&path)
        .sync(false)
        .signing_key(key())
        .build()
        .unwrap();
    group.bench_function("blocking, file, no fsync", |b| {
        b.iter(|| file.record(&event()).unwrap());
    });
    drop(file);
    let _ = std::fs::remove_file(&path);
    let path = temp("sync");
    let synced = FileTrail::builder(&path)
        .signing_key(key())
        .build()
        .unwrap();
    group.sample_size(20);
    group.bench_function("blocking, file, fsync per record", |b| {
        b.iter(|| synced.record(&event()).unwrap());
    });
    drop(synced);
    let _ = std::fs::remove_file(&path);
    group.sample_size(100);
    let path = temp("batch");
    let batch = FileTrail::builder(&path)
        .durability(Durability::Batch)
        .queue(1_000_000)
        .signing_key(key())
        .build()
        .unwrap();
    // Each iteration queues 1,000 records and waits until they are on disk
    // (one fsync per batch the writer thread takes).
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("batch, file, 1,000 then flush", |b| {
        b.iter(|| {
            for _ in 0..1_000 {
                batch.record(&event()).unwrap();
            }
            batch.flush().unwrap();
        });
    });
    drop(batch);
    let _ = std::fs::remove_file(&path);
    group.finish();
}

fn verification(c: &mut Criterion) {
    let path = temp("verify");
    let trail = FileTrail::builder(&path)
        .sync(false)
        .checkpoint_every(100)
        .signing_key(key())
        .build()
        .unwrap();
    for _ in 0..10_000 {
        trail.record(&event()).unwrap();
    }
    drop(trail);
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let options = VerifyOptions::new().key(key().verifying_key());
    let Verdict::Ok { records, .. } = verify(&bytes, &options) else {
        panic!("the bench trail does not verify");
    };
    let mut group = c.benchmark_group("audit_verify");
    group.throughput(Throughput::Elements(records));
    group.bench_function("10,000 events, signed checkpoint every 100", |b| {
        b.iter_batched(|| (), |()| verify(&bytes, &options), BatchSize::SmallInput);
    });
    group.finish();
}

criterion_group!(benches, append, verification);
criterion_main!(benches);
