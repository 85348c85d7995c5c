//! The audit trail: untampered trails verify (across crashes and restarts);
//! thousands of random tamperings of a 10,000-record trail are all detected with
//! the first bad seq named exactly; the modes do what they promise.
#![cfg(feature = "audit-trail")]

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use readiness_core::logging::trail::{
    verify, AuditTrail, Checkpoint, Durability, Ed25519SigningKey, Problem, Verdict, VerifyOptions,
};
use readiness_core::logging::{AuditEvent, LogSettings, Outcome};
use serde_json::{json, Value};
use support::capture::Capture;
use tracing_subscriber::layer::SubscriberExt as _;

const SEED: [u8; 32] = [7; 32];

fn key() -> Ed25519SigningKey {
    Ed25519SigningKey::from_bytes(&SEED)
}

fn temp(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "readiness-trail-{name}-{}.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

fn event(i: u64) -> AuditEvent<'static> {
    let id: &'static str = Box::leak(i.to_string().into_boxed_str());
    AuditEvent::new("alice", "update", "invoice", Outcome::Success).resource_id(id)
}

/// A small xorshift: the same trials on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A 10,000-record signed trail (a checkpoint every 100 records) and the
/// checkpoints its log lines carried.
fn signed_trail() -> (Vec<u8>, Vec<Checkpoint>) {
    let path = temp("adversarial");
    let out = Capture::default();
    let logs = LogSettings::new().build(out.clone()).unwrap();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(logs));
    let trail = AuditTrail::builder(&path)
        .durability(Durability::Blocking)
        .sync(false)
        .checkpoint_every(99)
        .signing_key(key())
        .build()
        .unwrap();
    for i in 0..9_900 {
        trail.record(&event(i)).unwrap();
    }
    drop(trail);
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let text = out.text();
    assert!(
        text.contains("checkpoint"),
        "no checkpoint lines: {}",
        &text[..text.len().min(2000)]
    );
    (bytes, Checkpoint::from_log_lines(&text))
}

fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

fn parse(line: &[u8]) -> serde_json::Map<String, Value> {
    serde_json::from_slice::<Value>(line)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

/// SHA-256 of the canonical form, as the trail computes it (keys sorted: the
/// test builds maps without `preserve_order`, so `to_string` sorts them too).
fn rehash(record: &mut serde_json::Map<String, Value>) {
    use sha2::{Digest as _, Sha256};
    record.remove("hash");
    let canonical = serde_json::to_string(&Value::Object(record.clone())).unwrap();
    let hash: String = Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    record.insert("hash".into(), json!(hash));
}

#[test]
fn every_tampering_of_a_10000_record_trail_is_found_at_the_exact_record() {
    let (bytes, anchors) = signed_trail();
    let original = lines(&bytes);
    // The opening checkpoint, 9,900 events, a checkpoint after each 99.
    assert_eq!(original.len(), 10_001);
    assert_eq!(anchors.len(), 101);
    let options = VerifyOptions::new()
        .key(key().verifying_key())
        .anchors(anchors.clone());
    assert_eq!(
        verify(&bytes, &options),
        Verdict::Ok {
            records: 10_001,
            checkpoints: 101,
            breaks: 0
        }
    );
    let checkpoint_seqs: Vec<u64> = anchors.iter().map(|a| a.seq + 1).collect();
    // Two threads, each trial with a generator seeded by its number: the same
    // trials whichever thread runs them.
    const TRIALS: usize = 2_800;
    let started = std::time::Instant::now();
    let tallies: Vec<[u32; 7]> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|worker| {
                let (original, anchors, checkpoint_seqs, options) =
                    (&original, &anchors, &checkpoint_seqs, &options);
                scope.spawn(move || {
                    let mut tally = [0u32; 7];
                    for trial in (worker..TRIALS).step_by(2) {
                        let kind = tamper_trial(trial, original, anchors, checkpoint_seqs, options);
                        tally[kind] += 1;
                    }
                    tally
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let tally: Vec<u32> = (0..7).map(|k| tallies.iter().map(|t| t[k]).sum()).collect();
    assert_eq!(tally, [400; 7]);
    eprintln!(
        "{TRIALS} tampering trials verified in {:?}",
        started.elapsed()
    );
}

/// One tampering of the trail, of kind `trial % 6`, and the verifier's verdict on
/// it checked; returns the kind.
fn tamper_trial(
    trial: usize,
    original: &[Vec<u8>],
    anchors: &[Checkpoint],
    checkpoint_seqs: &[u64],
    options: &VerifyOptions,
) -> usize {
    let mut rng =
        Rng(0x9E37_79B9_7F4A_7C15 ^ (trial as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let kind = trial % 7;
    let mut tampered = original.to_vec();
    let (seq, problem): (u64, Option<Problem>) = match kind {
        // Flip one byte of one record (a bit pattern that changes it).
        0 => {
            let k = rng.below(10_000) as usize;
            let at = rng.below(tampered[k].len() as u64) as usize;
            tampered[k][at] ^= 1 << rng.below(7);
            (k as u64 + 1, None)
        }
        // Delete a record (not the last: nothing after it to miss it).
        1 => {
            let k = rng.below(9_999) as usize;
            tampered.remove(k);
            (k as u64 + 1, Some(Problem::Deleted { next: k as u64 + 2 }))
        }
        // Insert a forged record that links correctly and claims the next seq.
        2 => {
            let k = rng.below(9_999) as usize;
            let before = parse(&original[k]);
            let mut forged = parse(&original[k + 1]);
            forged.insert(
                "event".into(),
                json!({ "actor": "mallory", "action": "grant" }),
            );
            forged.insert("kind".into(), json!("event"));
            forged.insert("prev_hash".into(), before["hash"].clone());
            rehash(&mut forged);
            tampered.insert(k + 1, serde_json::to_vec(&Value::Object(forged)).unwrap());
            // Slipped in where a checkpoint was due, it is one event too many first.
            let problem = if parse(&original[k + 1])["kind"] == "checkpoint" {
                Problem::MissingCheckpoint
            } else {
                Problem::Inserted
            };
            (k as u64 + 2, Some(problem))
        }
        // Swap two records.
        3 => {
            let k = rng.below(9_999) as usize;
            let m = k + 1 + rng.below((9_999 - k as u64).min(50)) as usize;
            tampered.swap(k, m);
            (k as u64 + 1, Some(Problem::Reordered))
        }
        // Cut the tail behind a checkpoint kept in the log stream.
        4 => {
            let last_anchor = anchors.last().unwrap().seq;
            let keep = rng.below(last_anchor) as usize;
            tampered.truncate(keep);
            (keep as u64 + 1, Some(Problem::Truncated))
        }
        // Rewrite record k and re-chain after it, without the key: checkpoints
        // get the new hashes and keep their old signatures. (Re-chained up to
        // the first checkpoint after k, where verification stops either way.)
        5 => {
            let k = rng.below(9_900) as usize;
            let checkpoint = *checkpoint_seqs.iter().find(|c| **c > k as u64 + 1).unwrap();
            let mut prev: Option<Value> = None;
            for (i, line) in tampered
                .iter_mut()
                .enumerate()
                .take(checkpoint as usize)
                .skip(k)
            {
                let mut record = parse(line);
                if i == k {
                    record.insert("ts".into(), json!("2020-01-01T00:00:00Z"));
                }
                if let Some(prev) = &prev {
                    record.insert("prev_hash".into(), prev.clone());
                    if record["kind"] == "checkpoint" {
                        record["checkpoint"]["hash"] = prev.clone();
                    }
                }
                rehash(&mut record);
                prev = Some(record["hash"].clone());
                *line = serde_json::to_vec(&Value::Object(record)).unwrap();
            }
            (checkpoint, Some(Problem::BadSignature))
        }
        // Rewrite record k, drop every checkpoint after it and re-chain the rest,
        // without the key: the last checkpoint kept promised one within 99 events.
        _ => {
            let k = 1 + rng.below(9_600) as usize;
            let kept = *checkpoint_seqs
                .iter()
                .rfind(|c| **c <= k as u64 + 1)
                .unwrap();
            let mut rest = Vec::new();
            let mut prev = parse(&tampered[k - 1])["hash"].clone();
            // (Re-chained 150 records past the last checkpoint kept: the verdict
            // comes at 100, and the rewrite may as well end there.)
            let end = (kept as usize + 150).min(tampered.len());
            for (i, line) in tampered[k..end].iter().enumerate() {
                let mut record = parse(line);
                if i > 0 && record["kind"] == "checkpoint" {
                    continue;
                }
                if i == 0 {
                    record.insert("ts".into(), json!("2020-01-01T00:00:00Z"));
                }
                record.insert("seq".into(), json!(k as u64 + 1 + rest.len() as u64));
                record.insert("prev_hash".into(), prev.clone());
                rehash(&mut record);
                prev = record["hash"].clone();
                rest.push(serde_json::to_vec(&Value::Object(record)).unwrap());
            }
            tampered.truncate(k);
            tampered.extend(rest);
            let key_only = VerifyOptions::new().key(key().verifying_key());
            let verdict = verify(&join(&tampered), &key_only);
            assert_eq!(
                verdict,
                Verdict::Bad {
                    seq: kept + 100,
                    problem: Problem::MissingCheckpoint
                },
                "trial {trial} (kind 6, k {k}, kept {kept})"
            );
            return kind;
        }
    };
    let verdict = verify(&join(&tampered), options);
    match (&verdict, &problem) {
        (
            Verdict::Bad {
                seq: found,
                problem: what,
            },
            Some(expected),
        ) => {
            assert_eq!(
                (*found, what),
                (seq, expected),
                "trial {trial} (kind {kind})"
            );
        }
        (Verdict::Bad { seq: found, .. }, None) => {
            assert_eq!(*found, seq, "trial {trial} (kind {kind}): {verdict}");
        }
        _ => panic!("trial {trial} (kind {kind}) not detected: {verdict}"),
    }
    kind
}

#[test]
fn crash_and_restart_cycles_resume_the_chain_with_explicit_breaks() {
    let path = temp("restarts");
    let mut rng = Rng(42);
    let mut breaks = 0;
    let mut written = 0;
    for cycle in 0..6 {
        let trail = AuditTrail::builder(&path)
            .sync(false)
            .checkpoint_every(50)
            .signing_key(key())
            .build()
            .unwrap();
        for i in 0..(100 + rng.below(100)) {
            trail.record(&event(i)).unwrap();
            written += 1;
        }
        drop(trail);
        // Every other cycle dies mid-write: half a record, no newline.
        if cycle % 2 == 1 {
            let text = std::fs::read(&path).unwrap();
            let last = lines(&text).pop().unwrap();
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            file.write_all(&last[..last.len() / 2]).unwrap();
            breaks += 1;
        }
    }
    // Reopened once more: the last crash is owned up to as well.
    let trail = AuditTrail::builder(&path)
        .signing_key(key())
        .build()
        .unwrap();
    trail.checkpoint().unwrap();
    drop(trail);
    let bytes = std::fs::read(&path).unwrap();
    let verdict = verify(&bytes, &VerifyOptions::new().key(key().verifying_key()));
    let Verdict::Ok {
        breaks: found,
        records,
        ..
    } = verdict
    else {
        panic!("{verdict}");
    };
    assert_eq!(found, breaks);
    assert!(records > written, "{records} records for {written} events");
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(
        text.matches("\"kind\":\"chain_break\"").count() as u64,
        breaks
    );
    assert!(text.contains("unreadable tail of"), "the break says why");
    // The bytes a break skips are covered by its digest: changing them is found.
    let torn = text
        .lines()
        .position(|l| serde_json::from_str::<Value>(l).is_err())
        .expect("a torn line");
    let mut edited: Vec<String> = text.lines().map(str::to_owned).collect();
    edited[torn].replace_range(2..3, "Z");
    assert_ne!(edited[torn], text.lines().nth(torn).unwrap());
    let edited = edited.join("\n") + "\n";
    let Verdict::Bad { problem, .. } = verify(edited.as_bytes(), &VerifyOptions::new()) else {
        panic!("an edit of the skipped bytes passed");
    };
    assert_eq!(problem, Problem::Unreadable);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_checkpoint_of_an_empty_trail_writes_nothing_and_anchors_nothing() {
    let path = temp("empty");
    let out = Capture::default();
    let logs = LogSettings::new().build(out.clone()).unwrap();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(logs));
    let trail = AuditTrail::builder(&path).build().unwrap();
    let covered = trail.checkpoint().unwrap();
    assert_eq!(covered.seq, 0);
    drop(trail);
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.is_empty(), "{}", String::from_utf8_lossy(&bytes));
    let anchors = Checkpoint::from_log_lines(&out.text());
    assert!(anchors.is_empty(), "{anchors:?}");
    let options = VerifyOptions::new().anchors([covered]);
    assert_eq!(
        verify(&bytes, &options),
        Verdict::Ok {
            records: 0,
            checkpoints: 0,
            breaks: 0
        }
    );
    let _ = std::fs::remove_file(&path);
}

/// A writer that always fails, as a full disk does.
struct Full;

impl Write for Full {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("no space left on device"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn strict_mode_fails_the_action_when_the_record_cannot_be_written() {
    let strict = AuditTrail::to_writer(Full)
        .durability(Durability::BlockingStrict)
        .build()
        .unwrap();
    let error = strict.record(&event(1)).unwrap_err();
    assert!(error.to_string().contains("no space left"), "{error}");
    assert_eq!(strict.stats().failed, 1);
    // Blocking (not strict): counted and logged, the request goes on.
    let blocking = AuditTrail::to_writer(Full).build().unwrap();
    blocking.record(&event(1)).unwrap();
    assert_eq!(blocking.stats().failed, 1);
    assert_eq!(blocking.stats().written, 0);
}

/// Collects what is written.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::thread::sleep(std::time::Duration::from_micros(20));
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn batch_mode_under_a_burst_counts_every_drop_exactly() {
    let registry = prometheus::Registry::new();
    let sink = Sink::default();
    let trail = AuditTrail::to_writer(sink.clone())
        .durability(Durability::Batch)
        .queue(64)
        .checkpoint_every(1_000_000)
        .registry(registry.clone(), None)
        .build()
        .unwrap();
    const BURST: u64 = 20_000;
    for i in 0..BURST {
        trail.record(&event(i)).unwrap();
    }
    trail.flush().unwrap();
    let stats = trail.stats();
    assert!(
        stats.dropped > 0,
        "the burst never filled the queue: {stats:?}"
    );
    assert_eq!(stats.written + stats.dropped, BURST, "{stats:?}");
    let bytes = sink.0.lock().unwrap().clone();
    let events = lines(&bytes)
        .iter()
        .filter(|l| parse(l)["kind"] == "event")
        .count() as u64;
    assert_eq!(events, stats.written);
    assert!(matches!(
        verify(&bytes, &VerifyOptions::new()),
        Verdict::Ok { .. }
    ));
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    assert!(
        text.contains(&format!(
            "audit_records_total{{result=\"dropped\"}} {}",
            stats.dropped
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "audit_records_total{{result=\"written\"}} {}",
            stats.written
        )),
        "{text}"
    );
}

#[test]
fn a_trail_signed_with_another_key_or_unsigned_is_refused() {
    let path = temp("keys");
    let trail = AuditTrail::builder(&path).sync(false).build().unwrap();
    trail.record(&event(1)).unwrap();
    trail.checkpoint().unwrap();
    drop(trail);
    let bytes = std::fs::read(&path).unwrap();
    assert!(matches!(
        verify(&bytes, &VerifyOptions::new()),
        Verdict::Ok { .. }
    ));
    assert_eq!(
        verify(&bytes, &VerifyOptions::new().key(key().verifying_key())),
        Verdict::Bad {
            seq: 1,
            problem: Problem::Unsigned
        }
    );
    let _ = std::fs::remove_file(&path);
    let trail = AuditTrail::builder(&path)
        .sync(false)
        .signing_key(Ed25519SigningKey::from_bytes(&[9; 32]))
        .build()
        .unwrap();
    trail.record(&event(1)).unwrap();
    trail.checkpoint().unwrap();
    drop(trail);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        verify(&bytes, &VerifyOptions::new().key(key().verifying_key())),
        Verdict::Bad {
            seq: 1,
            problem: Problem::BadSignature
        }
    );
    let _ = std::fs::remove_file(&path);
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use readiness_core::logging::trail::{verify_table, PgAuditTrail};
    use support::faults::service_url;

    async fn pool() -> sqlx::PgPool {
        let url = service_url(
            "TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        );
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await
            .expect("PostgreSQL at TEST_POSTGRES_URL")
    }

    /// A table of the test's own, dropped before and after.
    struct Table(sqlx::PgPool, String);

    impl Table {
        async fn new(pool: &sqlx::PgPool, name: &str) -> Self {
            let name = format!("trail_{name}_{}", std::process::id());
            sqlx::raw_sql(&format!("DROP TABLE IF EXISTS {name}"))
                .execute(pool)
                .await
                .unwrap();
            Self(pool.clone(), name)
        }
        /// Runs `statement` with the table's triggers off, as its owner could.
        async fn behind_the_triggers(&self, statement: &str) {
            sqlx::raw_sql(&format!(
                "ALTER TABLE {0} DISABLE TRIGGER USER; {statement}; ALTER TABLE {0} ENABLE TRIGGER USER",
                self.1
            ))
            .execute(&self.0)
            .await
            .unwrap();
        }

        async fn drop(self) {
            sqlx::raw_sql(&format!(
                "DROP TABLE IF EXISTS {0}; DROP FUNCTION IF EXISTS {0}_insert_only()",
                self.1
            ))
            .execute(&self.0)
            .await
            .unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_round_trip_through_postgres_and_verify() {
        let pool = pool().await;
        let table = Table::new(&pool, "roundtrip").await;
        let trail = PgAuditTrail::builder(pool.clone())
            .table(&table.1)
            .durability(Durability::BlockingStrict)
            .checkpoint_every(10)
            .signing_key(key())
            .build()
            .await
            .unwrap();
        for i in 0..25 {
            trail.record(&event(i)).await.unwrap();
        }
        let last = trail.checkpoint().await.unwrap();
        // The opening checkpoint, 25 events, a checkpoint after each 10, and the
        // last one asked for.
        assert_eq!(last.seq, 28, "{last:?}");
        let options = VerifyOptions::new().key(key().verifying_key());
        assert_eq!(
            verify_table(&pool, &table.1, &options).await.unwrap(),
            Verdict::Ok {
                records: 29,
                checkpoints: 4,
                breaks: 0
            }
        );
        // The rows hold the events as given, queryable as JSON.
        let (actor, id): (String, String) = sqlx::query_as(&format!(
            "SELECT record::jsonb #>> '{{event,actor}}', record::jsonb #>> '{{event,resource_id}}' FROM {} WHERE seq = 2",
            table.1
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((actor.as_str(), id.as_str()), ("alice", "0"));

        // A restart resumes the chain from the last row.
        drop(trail);
        let trail = PgAuditTrail::builder(pool.clone())
            .table(&table.1)
            .signing_key(key())
            .build()
            .await
            .unwrap();
        trail.record(&event(99)).await.unwrap();
        trail.checkpoint().await.unwrap();
        assert_eq!(
            verify_table(&pool, &table.1, &options).await.unwrap(),
            Verdict::Ok {
                records: 31,
                checkpoints: 5,
                breaks: 0
            }
        );

        // The table refuses changes...
        for statement in [
            format!("UPDATE {} SET record = '{{}}' WHERE seq = 3", table.1),
            format!("DELETE FROM {} WHERE seq = 3", table.1),
            format!("TRUNCATE {}", table.1),
        ] {
            let error = sqlx::query(&statement).execute(&pool).await.unwrap_err();
            assert!(
                error.to_string().contains("insert-only"),
                "{statement}: {error}"
            );
        }
        // ...and one made by someone who switched the triggers off is found.
        table
            .behind_the_triggers(&format!(
                "UPDATE {} SET record = replace(record, '\"actor\":\"alice\"', '\"actor\":\"mallory\"') WHERE seq = 5",
                table.1
            ))
            .await;
        assert_eq!(
            verify_table(&pool, &table.1, &options).await.unwrap(),
            Verdict::Bad {
                seq: 5,
                problem: Problem::Modified
            }
        );
        table
            .behind_the_triggers(&format!("DELETE FROM {} WHERE seq = 5", table.1))
            .await;
        assert_eq!(
            verify_table(&pool, &table.1, &options).await.unwrap(),
            Verdict::Bad {
                seq: 5,
                problem: Problem::Deleted { next: 6 }
            }
        );
        table.drop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_writing_to_one_table_keep_one_chain() {
        let pool = pool().await;
        let table = Table::new(&pool, "replicas").await;
        let mut writers = Vec::new();
        for _ in 0..3 {
            writers.push(
                PgAuditTrail::builder(pool.clone())
                    .table(&table.1)
                    .checkpoint_every(7)
                    .durability(Durability::BlockingStrict)
                    .build()
                    .await
                    .unwrap(),
            );
        }
        let tasks: Vec<_> = writers
            .iter()
            .cloned()
            .map(|trail| {
                tokio::spawn(async move {
                    for i in 0..40 {
                        trail.record(&event(i)).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let events: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {} WHERE kind = 'event'",
            table.1
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(events, 120);
        let verdict = verify_table(&pool, &table.1, &VerifyOptions::new())
            .await
            .unwrap();
        assert!(matches!(verdict, Verdict::Ok { .. }), "{verdict}");
        table.drop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batch_mode_inserts_in_batches_and_flush_waits_for_them() {
        let pool = pool().await;
        let table = Table::new(&pool, "batch").await;
        let registry = prometheus::Registry::new();
        let trail = PgAuditTrail::builder(pool.clone())
            .table(&table.1)
            .durability(Durability::Batch)
            .queue(100_000)
            .registry(registry.clone(), None)
            .build()
            .await
            .unwrap();
        for i in 0..5_000 {
            trail.record(&event(i)).await.unwrap();
        }
        trail.flush().await.unwrap();
        assert_eq!(trail.stats().written, 5_000);
        assert_eq!(trail.stats().dropped, 0);
        let verdict = verify_table(&pool, &table.1, &VerifyOptions::new())
            .await
            .unwrap();
        // The opening checkpoint, 5,000 events and a checkpoint after each 1,000.
        assert_eq!(
            verdict,
            Verdict::Ok {
                records: 5_006,
                checkpoints: 6,
                breaks: 0
            }
        );
        table.drop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn strict_mode_fails_when_the_database_is_away_and_bad_names_are_refused() {
        let pool = pool().await;
        let table = Table::new(&pool, "strict").await;
        let trail = PgAuditTrail::builder(pool.clone())
            .table(&table.1)
            .durability(Durability::BlockingStrict)
            .build()
            .await
            .unwrap();
        trail.record(&event(1)).await.unwrap();
        pool.close().await;
        assert!(trail.record(&event(2)).await.is_err());
        assert_eq!(trail.stats().failed, 1);

        let pool = super::postgres::pool().await;
        let table = Table(pool.clone(), table.1);
        let error = PgAuditTrail::builder(pool.clone())
            .table("audit; DROP TABLE users")
            .build()
            .await
            .unwrap_err();
        assert_eq!(error.field(), "audit_trail.table");
        table.drop().await;
    }
}
