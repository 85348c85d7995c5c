//! Helpers of the audit trail suites: a fixed key, temporary paths, events, a
//! seeded generator, and line surgery for tampering.

use std::path::PathBuf;

use readiness_core::audit::Ed25519SigningKey;
use readiness_core::logging::{AuditEvent, Outcome};
use serde_json::{json, Value};

pub const SEED: [u8; 32] = [7; 32];

pub fn key() -> Ed25519SigningKey {
    Ed25519SigningKey::from_bytes(&SEED)
}

pub fn temp(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "readiness-trail-{name}-{}.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

pub fn event(i: u64) -> AuditEvent<'static> {
    let id: &'static str = Box::leak(i.to_string().into_boxed_str());
    AuditEvent::new("alice", "update", "invoice", Outcome::Success).resource_id(id)
}

/// A small xorshift: the same trials on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

pub fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

pub fn parse(line: &[u8]) -> serde_json::Map<String, Value> {
    serde_json::from_slice::<Value>(line)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

/// SHA-256 of the canonical form, as the trail computes it (keys sorted: the
/// test builds maps without `preserve_order`, so `to_string` sorts them too).
pub fn rehash(record: &mut serde_json::Map<String, Value>) {
    use sha2::{Digest as _, Sha256};
    record.remove("hash");
    let canonical = serde_json::to_string(&Value::Object(record.clone())).unwrap();
    let hash: String = Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    record.insert("hash".into(), json!(hash));
}
