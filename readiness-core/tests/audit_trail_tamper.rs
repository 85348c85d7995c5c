//! The audit trail against tampering: thousands of random tamperings of a
//! 10,000-record signed trail are all detected with the first bad seq named exactly.
//! Alone in its binary: it reads the trail's checkpoint lines from the log, and a
//! test writing trails on another thread of the same process, without a
//! subscriber, can leave those lines' call site turned off for it.
#![cfg(feature = "audit-trail")]

mod support;

use readiness_core::audit::{
    verify, Checkpoint, Durability, FileTrail, Problem, Verdict, VerifyOptions,
};
use readiness_core::logging::LogSettings;
use serde_json::{json, Value};
use support::capture::Capture;
use support::trail::*;
use tracing_subscriber::layer::SubscriberExt as _;

/// A 10,000-record signed trail (a checkpoint every 100 records) and the
/// checkpoints its log lines carried.
fn signed_trail() -> (Vec<u8>, Vec<Checkpoint>) {
    let path = temp("adversarial");
    let out = Capture::default();
    let logs = LogSettings::new().build(out.clone()).unwrap();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(logs));
    let trail = FileTrail::builder(&path)
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
