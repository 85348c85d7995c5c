//! One record of the trail: its canonical form and hash, and checkpoint signatures.

use std::time::{Duration, Instant, SystemTime};

use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::Checkpoint;

/// The `prev_hash` of the first record.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The bytes a checkpoint's signature covers.
pub(crate) fn checkpoint_message(seq: u64, hash: &str, every: u64) -> Vec<u8> {
    format!("readiness-audit-checkpoint:{seq}:{hash}:{every}").into_bytes()
}

/// JSON with every object's keys sorted, whatever order the map keeps (serde_json's
/// `preserve_order` may be on in the service's build): the form a record is hashed in.
pub(crate) fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(key, out);
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        Value::String(text) => string(text, out),
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The hash a written line claims, and whether it is its content's, read off the
/// line's bytes: a record is written in its canonical form, where the top-level
/// `"hash"` comes right after the body (`checkpoint`, `event` or `reason`, each
/// sorting before it) and is the last `,"hash":"` of the line (what follows it,
/// `kind`, `prev_hash`, `seq` and `ts`, holds no object). Removing
/// `,"hash":"…"` leaves exactly the canonical form [`Links::build`] hashed. A line that
/// is not canonical (any byte changed or re-encoded) gets a hash that
/// does not match (moving the `hash` field itself changes nothing it covers).
/// `None`: no hash field where one must be.
pub(crate) fn line_hash(line: &[u8]) -> Option<(&str, bool)> {
    const FIELD: &[u8] = b",\"hash\":\"";
    let start = memchr::memmem::rfind(line, FIELD)?;
    let value = start + FIELD.len();
    let end = value + 64;
    if line.get(end) != Some(&b'"') {
        return None;
    }
    let claimed = std::str::from_utf8(&line[value..end]).ok()?;
    let mut digest = Sha256::new();
    digest.update(&line[..start]);
    digest.update(&line[end + 1..]);
    let matches = hex_is(&digest.finalize(), claimed.as_bytes());
    Some((claimed, matches))
}

/// Lowercase hex digits.
const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Whether `text` is `bytes` in lowercase hex.
fn hex_is(bytes: &[u8], text: &[u8]) -> bool {
    text.len() == bytes.len() * 2
        && bytes.iter().zip(text.chunks_exact(2)).all(|(b, pair)| {
            pair[0] == DIGITS[usize::from(b >> 4)] && pair[1] == DIGITS[usize::from(b & 0xf)]
        })
}

/// A JSON string literal, escaped as serde_json escapes it.
fn string(text: &str, out: &mut String) {
    if text
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&Value::String(text.to_owned()).to_string());
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Parses hex into exactly `N` bytes.
pub(crate) fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.trim();
    if text.len() != N * 2 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

/// Where a chain stands and when it is due a checkpoint. No I/O: a sink builds a
/// record with [`Links::build`], writes it, and only then [`Links::advance`]s, so
/// a failed write leaves the chain where it was.
#[derive(Clone)]
pub(crate) struct Links {
    pub(crate) seq: u64,
    pub(crate) last_hash: String,
    since_checkpoint: u64,
    last_checkpoint: Instant,
    /// The `every` the chain's last checkpoint promised (`None` before the first):
    /// the next one comes within that many events, whatever this writer's own
    /// setting, or the verifier calls it missing.
    promised: Option<u64>,
    every: u64,
    interval: Duration,
    key: Option<SigningKey>,
}

/// A record ready to be written.
pub(crate) struct Built {
    pub(crate) seq: u64,
    pub(crate) kind: &'static str,
    pub(crate) hash: String,
    /// The JSON line, without its newline.
    pub(crate) line: String,
    /// For a checkpoint: what it covers and its signature.
    pub(crate) covers: Option<(Checkpoint, Option<String>)>,
}

impl Links {
    /// A chain going on from `tail`, checkpointing every `every` events or
    /// `interval`, signed with `key`.
    pub(crate) fn new(
        tail: &Tail,
        every: u64,
        interval: Duration,
        key: Option<SigningKey>,
    ) -> Self {
        Self {
            seq: tail.seq,
            last_hash: tail.hash.clone(),
            since_checkpoint: tail.since,
            last_checkpoint: Instant::now(),
            promised: tail.promised,
            every,
            interval,
            key,
        }
    }

    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    /// The next record of `kind`, carrying `body` under `key`, which sorts before
    /// `hash` (see [`line_hash`]).
    pub(crate) fn build(&self, kind: &'static str, key: &str, body: &Value) -> Built {
        debug_assert!(key < "hash", "the body key {key} must sort before `hash`");
        let seq = self.seq + 1;
        // The canonical form (keys sorted), written out once: the body, which sorts
        // first, then `hash` (left out of what is hashed), then the rest.
        let mut head = String::with_capacity(512);
        head.push('{');
        string(key, &mut head);
        head.push(':');
        canonical(body, &mut head);
        let mut rest = String::with_capacity(160);
        rest.push_str(",\"kind\":");
        string(kind, &mut rest);
        rest.push_str(",\"prev_hash\":");
        string(&self.last_hash, &mut rest);
        rest.push_str(&format!(",\"seq\":{seq},\"ts\":"));
        string(
            &humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
            &mut rest,
        );
        rest.push('}');
        let mut digest = Sha256::new();
        digest.update(head.as_bytes());
        digest.update(rest.as_bytes());
        let hash = hex(&digest.finalize());
        let line = format!("{head},\"hash\":\"{hash}\"{rest}");
        Built {
            seq,
            kind,
            hash,
            line,
            covers: None,
        }
    }

    /// A checkpoint covering the last record, signed when there is a key.
    pub(crate) fn build_checkpoint(&self) -> Built {
        let covered = Checkpoint {
            seq: self.seq,
            hash: self.last_hash.clone(),
        };
        let mut body = json!({ "seq": covered.seq, "hash": covered.hash, "every": self.every });
        let signature = self.key.as_ref().map(|key| {
            hex(&key
                .sign(&checkpoint_message(covered.seq, &covered.hash, self.every))
                .to_bytes())
        });
        if let Some(signature) = &signature {
            body["signature"] = json!(signature);
        }
        let mut built = self.build("checkpoint", "checkpoint", &body);
        built.covers = Some((covered, signature));
        built
    }

    /// `built` was written: the chain goes on from it.
    pub(crate) fn advance(&mut self, built: &Built) {
        self.seq = built.seq;
        self.last_hash.clone_from(&built.hash);
        match built.kind {
            "event" => self.since_checkpoint += 1,
            "checkpoint" => {
                self.since_checkpoint = 0;
                self.last_checkpoint = Instant::now();
                self.promised = Some(self.every);
            }
            _ => {}
        }
    }

    /// Whether the records since the last checkpoint call for one now.
    pub(crate) fn checkpoint_due(&self) -> bool {
        let every = self.promised.map_or(self.every, |p| p.min(self.every));
        self.since_checkpoint > 0
            && (self.since_checkpoint >= every || self.last_checkpoint.elapsed() >= self.interval)
    }

    /// Where the chain stands as read back from its store: the last record, the
    /// events after its last checkpoint, and what that checkpoint promised.
    #[cfg(feature = "postgres")]
    pub(crate) fn resume_at(&mut self, tail: &Tail) {
        self.seq = tail.seq;
        self.last_hash.clone_from(&tail.hash);
        self.since_checkpoint = tail.since;
        self.promised = tail.promised;
    }

    /// Whether any record is not yet covered by a checkpoint.
    pub(crate) fn uncovered(&self) -> bool {
        self.since_checkpoint > 0
    }
}

/// Writes a checkpoint to the log stream, once it is in the trail: the copy kept
/// outside that [`Checkpoint::from_log_lines`] reads back.
pub(crate) fn log_checkpoint(built: &Built) {
    if let Some((covered, signature)) = &built.covers {
        tracing::info!(
            target: "readiness::audit_trail",
            category = "audit",
            checkpoint_seq = covered.seq,
            checkpoint_hash = %covered.hash,
            signature = signature.as_deref(),
            "audit trail checkpoint"
        );
    }
}

/// The non-empty lines of `bytes`.
pub(crate) fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', bytes).chain([bytes.len()]) {
        if end > start {
            out.push(&bytes[start..end]);
        }
        start = end + 1;
    }
    out
}

/// SHA-256 (hex) of unreadable lines a `chain_break` skips: each line and its
/// newline, in file order.
pub(crate) fn skipped_digest(lines: &[&[u8]]) -> String {
    let mut digest = Sha256::new();
    for line in lines {
        digest.update(line);
        digest.update(b"\n");
    }
    hex(&digest.finalize())
}

/// Where a stored chain ends: what [`Links::new`] goes on from.
#[derive(Debug, Clone)]
pub(crate) struct Tail {
    pub(crate) seq: u64,
    pub(crate) hash: String,
    /// Events after the last checkpoint.
    pub(crate) since: u64,
    /// The last checkpoint's `every`.
    pub(crate) promised: Option<u64>,
}

impl Default for Tail {
    fn default() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.to_owned(),
            since: 0,
            promised: None,
        }
    }
}
