//! The audit trail's life: untampered trails verify across crashes and restarts,
//! an empty trail stays empty, the durability modes do what they promise, and a
//! trail signed with another key (or unsigned) is refused.
#![cfg(feature = "audit-trail")]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use readiness_core::audit::{
    verify, Checkpoint, Durability, Ed25519SigningKey, FileTrail, Problem, Verdict, VerifyOptions,
};
use readiness_core::logging::LogSettings;
use serde_json::Value;
use support::capture::Capture;
use support::trail::*;
use tracing_subscriber::layer::SubscriberExt as _;

#[test]
fn crash_and_restart_cycles_resume_the_chain_with_explicit_breaks() {
    let path = temp("restarts");
    let mut rng = Rng(42);
    let mut breaks = 0;
    let mut written = 0;
    for cycle in 0..6 {
        let trail = FileTrail::builder(&path)
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
    let trail = FileTrail::builder(&path)
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
    let trail = FileTrail::builder(&path).build().unwrap();
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
    let strict = FileTrail::to_writer(Full)
        .durability(Durability::BlockingStrict)
        .build()
        .unwrap();
    let error = strict.record(&event(1)).unwrap_err();
    assert!(error.to_string().contains("no space left"), "{error}");
    assert_eq!(strict.stats().failed, 1);
    // Blocking (not strict): counted and logged, the request goes on.
    let blocking = FileTrail::to_writer(Full).build().unwrap();
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
    let trail = FileTrail::to_writer(sink.clone())
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
    let trail = FileTrail::builder(&path).sync(false).build().unwrap();
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
    let trail = FileTrail::builder(&path)
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
