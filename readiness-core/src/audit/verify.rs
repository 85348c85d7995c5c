//! The verifier: every link, every checkpoint, and the checkpoints kept elsewhere.

use std::fmt;

use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use std::borrow::Cow;

use serde::Deserialize;

use super::record::{checkpoint_message, line_hash, lines, skipped_digest, unhex, GENESIS};
use super::Checkpoint;

/// What to check a trail against.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct VerifyOptions {
    key: Option<VerifyingKey>,
    anchors: Vec<Checkpoint>,
}

impl VerifyOptions {
    /// No key, no outside checkpoints: links and in-file checkpoints only.
    pub fn new() -> Self {
        Self::default()
    }

    /// The public key the checkpoints must be signed with; an unsigned checkpoint
    /// is then a finding too.
    pub fn key(mut self, key: VerifyingKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The key as 64 hex digits.
    ///
    /// # Errors
    ///
    /// A message when it is not a valid Ed25519 public key.
    pub fn key_hex(self, hex: &str) -> Result<Self, String> {
        let bytes = unhex::<32>(hex).ok_or("the key must be 64 hex digits")?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|e| format!("not an Ed25519 public key: {e}"))?;
        Ok(self.key(key))
    }

    /// Checkpoints kept outside the trail (from the log stream, a ticket, another
    /// store): the trail must still hold each, unchanged. This is what reveals a
    /// trail cut short, or rewritten whole without the signing key.
    pub fn anchors(mut self, anchors: impl IntoIterator<Item = Checkpoint>) -> Self {
        self.anchors.extend(anchors);
        self
    }
}

/// What is wrong at the first bad record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The record's content does not match its hash.
    Modified,
    /// The record does not link to the one before it.
    BrokenLink,
    /// Records are missing from here (up to, not including, `next`).
    Deleted {
        /// The next sequence number found.
        next: u64,
    },
    /// A record that does not belong: its sequence number was used already.
    Inserted,
    /// This record and the next are swapped.
    Reordered,
    /// The line is not a record, and no `chain_break` owns up to it.
    Unreadable,
    /// A checkpoint names a hash the record it covers does not have.
    CheckpointMismatch,
    /// A checkpoint's signature does not verify.
    BadSignature,
    /// A checkpoint carries no signature though a key was given.
    Unsigned,
    /// More events follow a checkpoint than it promised before the next: the
    /// checkpoints after it were removed (a rewrite of the chain from here on).
    MissingCheckpoint,
    /// An outside checkpoint covers a record that differs from it.
    AnchorMismatch,
    /// The trail ends before this record, which an outside checkpoint covers.
    Truncated,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Modified => f.write_str("modified: its content does not match its hash"),
            Self::BrokenLink => {
                f.write_str("broken link: prev_hash is not the previous record's hash")
            }
            Self::Deleted { next } => write!(f, "deleted: records missing up to seq {next}"),
            Self::Inserted => f.write_str("inserted: a record that does not belong"),
            Self::Reordered => f.write_str("reordered: out of sequence"),
            Self::Unreadable => f.write_str("unreadable: not a record"),
            Self::CheckpointMismatch => f.write_str("checkpoint mismatch: it names another hash"),
            Self::BadSignature => f.write_str("bad signature on a checkpoint"),
            Self::Unsigned => f.write_str("unsigned checkpoint"),
            Self::MissingCheckpoint => f.write_str(
                "missing checkpoint: more events than the last checkpoint promised before the next",
            ),
            Self::AnchorMismatch => f.write_str("differs from a checkpoint kept outside the trail"),
            Self::Truncated => {
                f.write_str("truncated: missing, though a checkpoint kept outside covers it")
            }
        }
    }
}

/// The verdict on a trail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Every record, link and checkpoint holds.
    Ok {
        /// Records read (events, checkpoints and chain breaks).
        records: u64,
        /// Checkpoints among them.
        checkpoints: u64,
        /// `chain_break` records: restarts after an unreadable tail, each owning
        /// up to what it skipped.
        breaks: u64,
    },
    /// The first bad record.
    Bad {
        /// Its sequence number.
        seq: u64,
        /// What is wrong.
        problem: Problem,
    },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok {
                records,
                checkpoints,
                breaks,
            } => write!(
                f,
                "OK: {records} records, {checkpoints} checkpoints, {breaks} chain breaks"
            ),
            Self::Bad { seq, problem } => write!(f, "BAD at seq {seq}: {problem}"),
        }
    }
}

/// What the verifier reads of a record; the rest (the event, `ts`, a break's
/// `reason`) is covered by the hash and only has to be valid JSON.
#[derive(Deserialize)]
struct Head<'a> {
    seq: u64,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    prev_hash: Cow<'a, str>,
    #[serde(borrow)]
    hash: Cow<'a, str>,
    #[serde(borrow, default)]
    checkpoint: Option<Covers<'a>>,
    /// A `chain_break`'s body.
    #[serde(default, rename = "break")]
    chain_break: Option<Break>,
}

#[derive(Deserialize)]
struct Break {
    /// The digest of the lines it skips.
    skipped_sha256: Option<String>,
}

#[derive(Deserialize)]
struct Covers<'a> {
    seq: u64,
    /// The most events before the next checkpoint.
    every: u64,
    #[serde(borrow)]
    hash: Cow<'a, str>,
    #[serde(borrow, default)]
    signature: Option<Cow<'a, str>>,
}

/// The trail's lines, each parsed when first needed: a verdict found early costs
/// no parse of the rest.
pub(crate) struct Lines<'a> {
    pub(crate) raw: Vec<&'a [u8]>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { raw: lines(bytes) }
    }

    fn len(&self) -> usize {
        self.raw.len()
    }

    /// The record on line `i`, or `None` when it is not one.
    fn head(&self, i: usize) -> Option<Head<'a>> {
        serde_json::from_slice(self.raw[i]).ok()
    }
}

/// A record the verifier accepted: its line, `seq` and `hash`, and whether it is a
/// checkpoint.
pub(crate) struct Accepted<'r> {
    pub(crate) line: usize,
    pub(crate) seq: u64,
    pub(crate) hash: &'r str,
    pub(crate) checkpoint: bool,
}

/// Where a verification stands: the record expected next, the hash it must link
/// to, and the checkpoint rhythm so far. [`verify`] runs one over a whole trail; the
/// live integrity check keeps one between passes and feeds it what is new.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    expected: u64,
    prev: String,
    /// Events since the last checkpoint, and how many it allowed.
    since: u64,
    promised: Option<u64>,
    records: u64,
    checkpoints: u64,
    breaks: u64,
}

impl Cursor {
    /// At the start of a chain.
    pub(crate) fn genesis() -> Self {
        Self::at(1, GENESIS.to_owned())
    }

    /// At record `seq`, which must link to `prev`: what comes before is taken as
    /// verified.
    pub(crate) fn at(seq: u64, prev: String) -> Self {
        Self {
            expected: seq,
            prev,
            since: 0,
            promised: None,
            records: 0,
            checkpoints: 0,
            breaks: 0,
        }
    }

    /// The sequence number of the record expected next.
    pub(crate) fn expected(&self) -> u64 {
        self.expected
    }

    /// Records accepted so far.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    /// The verdict so far.
    fn ok(&self) -> Verdict {
        Verdict::Ok {
            records: self.records,
            checkpoints: self.checkpoints,
            breaks: self.breaks,
        }
    }

    /// Checks `lines` in order, going on from where the cursor stands, and calls
    /// `accepted` for each good record. At the first bad one, its verdict; the cursor
    /// then stands after the last good record.
    pub(crate) fn feed(
        &mut self,
        lines: &Lines<'_>,
        options: &VerifyOptions,
        mut accepted: impl FnMut(Accepted<'_>),
    ) -> Result<(), Verdict> {
        let bad = |seq: u64, problem: Problem| Err(Verdict::Bad { seq, problem });
        let mut i = 0;
        while i < lines.len() {
            let expected = self.expected;
            let Some(record) = lines.head(i) else {
                // Unreadable: fine only when a chain break right after owns up to it.
                let mut j = i + 1;
                while j < lines.len() && lines.head(j).is_none() {
                    j += 1;
                }
                // ...and names their digest, so they cannot be changed either.
                let owned = j < lines.len()
                    && lines.head(j).is_some_and(|next| {
                        next.kind == "chain_break"
                            && next.seq == expected
                            && next.prev_hash == self.prev
                            && next.chain_break.and_then(|b| b.skipped_sha256)
                                == Some(skipped_digest(&lines.raw[i..j]))
                    });
                if owned {
                    i = j;
                    continue;
                }
                return bad(expected, Problem::Unreadable);
            };
            // A record whose content does not match its hash is the bad one, whatever
            // sequence number it claims.
            let intact = line_hash(lines.raw[i])
                .is_some_and(|(claimed, matches)| matches && claimed == record.hash);
            if !intact {
                return bad(expected, Problem::Modified);
            }
            let seq = record.seq;
            if seq != expected {
                let later =
                    (i + 1..lines.len()).any(|j| lines.head(j).is_some_and(|r| r.seq == expected));
                return if seq > expected && later {
                    bad(expected, Problem::Reordered)
                } else if seq > expected {
                    bad(expected, Problem::Deleted { next: seq })
                } else {
                    // A sequence number seen already: the record before was slipped in.
                    bad(expected - 1, Problem::Inserted)
                };
            }
            if record.prev_hash != self.prev {
                return bad(seq, Problem::BrokenLink);
            }
            match record.kind.as_ref() {
                "checkpoint" => {
                    let Some(covers) = &record.checkpoint else {
                        return bad(seq, Problem::CheckpointMismatch);
                    };
                    if covers.seq != seq - 1 || covers.hash != self.prev || covers.every == 0 {
                        return bad(seq, Problem::CheckpointMismatch);
                    }
                    if let Some(key) = &options.key {
                        let Some(signature) = &covers.signature else {
                            return bad(seq, Problem::Unsigned);
                        };
                        let valid = unhex::<64>(signature)
                            .map(|bytes| Signature::from_bytes(&bytes))
                            .is_some_and(|signature| {
                                key.verify(
                                    &checkpoint_message(seq - 1, &self.prev, covers.every),
                                    &signature,
                                )
                                .is_ok()
                            });
                        if !valid {
                            return bad(seq, Problem::BadSignature);
                        }
                    }
                    self.checkpoints += 1;
                    self.promised = Some(covers.every);
                    self.since = 0;
                }
                "chain_break" => self.breaks += 1,
                "event" => {
                    if self.promised.is_some_and(|every| self.since + 1 > every) {
                        return bad(seq, Problem::MissingCheckpoint);
                    }
                    self.since += 1;
                }
                _ => return bad(seq, Problem::Unreadable),
            }
            self.records += 1;
            self.prev = record.hash.into_owned();
            self.expected += 1;
            accepted(Accepted {
                line: i,
                seq,
                hash: &self.prev,
                checkpoint: record.kind == "checkpoint",
            });
            i += 1;
        }
        Ok(())
    }
}

/// Checks a trail's bytes (a file's content). See [`Verdict`].
pub fn verify(bytes: &[u8], options: &VerifyOptions) -> Verdict {
    let lines = Lines::new(bytes);
    let mut cursor = Cursor::genesis();
    let mut hashes: Vec<(u64, String)> = Vec::new();
    let keep = !options.anchors.is_empty();
    let fed = cursor.feed(&lines, options, |record| {
        if keep {
            hashes.push((record.seq, record.hash.to_owned()));
        }
    });
    if let Err(verdict) = fed {
        return verdict;
    }
    // Checkpoints kept outside: each record they cover must be here, unchanged.
    let mut anchors: Vec<&Checkpoint> = options.anchors.iter().collect();
    anchors.sort_by_key(|a| a.seq);
    for anchor in anchors {
        if anchor.seq == 0 && anchor.hash == GENESIS {
            continue; // the start of every chain
        }
        match hashes.binary_search_by_key(&anchor.seq, |(seq, _)| *seq) {
            Ok(at) if hashes[at].1 == anchor.hash => {}
            Ok(_) => {
                return Verdict::Bad {
                    seq: anchor.seq,
                    problem: Problem::AnchorMismatch,
                }
            }
            Err(_) => {
                return Verdict::Bad {
                    seq: cursor.expected,
                    problem: Problem::Truncated,
                }
            }
        }
    }
    cursor.ok()
}
