//! A tamper-evident audit trail: audit events as hash-chained JSON lines with
//! signed checkpoints, written in the durability mode the service chooses, and a
//! verifier that names the first bad record.
//!
//! Each record carries `seq` (1, 2, 3, ...), `prev_hash` (the previous record's
//! `hash`) and `hash`: SHA-256 of the record's canonical JSON (keys sorted) without
//! `hash`. Every `checkpoint_every` records (default 1,000) or `checkpoint_interval`
//! (default 60 s, checked as records come), a `checkpoint` record names the last
//! record's `{seq, hash}`, signed with the service's Ed25519 key when it has one,
//! and the same checkpoint goes to the log stream (target `readiness::audit_trail`),
//! so a copy lives outside the file: [`VerifyOptions::anchors`] checks the file
//! against it. A restart resumes the chain from the last good record; an unreadable
//! tail (a crash mid-write) is followed by an explicit `chain_break` record saying
//! why, never a silent new chain.
//!
//! Modes ([`Durability`]): `batch` queues records for a thread of the trail's own
//! (bounded; a record beyond the queue is dropped and counted); `blocking` writes
//! (and syncs) before the audited request goes on; `blocking-strict` also fails the
//! request when the record cannot be written, so no audited action proceeds
//! unrecorded.
//!
//! Integrity is also a live signal: [`AuditTrail::integrity_check`] re-verifies,
//! every 10 s, only the records appended since its last run (and re-hashes the last
//! verified record and checkpoint where they were), sets
//! `audit_trail_integrity_status` to 0 and logs a critical security event at the
//! first bad record; see [`IntegrityCheck`] for what it finds and what it leaves
//! to a full `audit-verify`.
//!
//! ```
//! use readiness_core::audit::{verify, FileTrail, Durability, Verdict, VerifyOptions};
//! use readiness_core::logging::{AuditEvent, Outcome};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let path = std::env::temp_dir().join(format!("doc-trail-{}.jsonl", std::process::id()));
//! # let _ = std::fs::remove_file(&path);
//! let trail = FileTrail::builder(&path).durability(Durability::BlockingStrict).build()?;
//! trail.record(&AuditEvent::new("alice", "delete", "invoice", Outcome::Success).resource_id("42"))?;
//! trail.checkpoint()?;
//! let verdict = verify(&std::fs::read(&path)?, &VerifyOptions::new());
//! // The chain's opening checkpoint, the event, the checkpoint asked for.
//! assert!(matches!(verdict, Verdict::Ok { records: 3, checkpoints: 2, .. }), "{verdict}");
//! # let _ = std::fs::remove_file(&path);
//! # Ok(()) }
//! ```

mod chain;
mod command;
mod file;
mod handle;
mod integrity;
mod outcome;
#[cfg(feature = "postgres")]
mod postgres;
mod record;
mod settings;
#[cfg(feature = "postgres")]
mod table;
mod verify;

pub use command::{VerifyArgs, VerifySource};
pub use ed25519_dalek::{SigningKey as Ed25519SigningKey, VerifyingKey as Ed25519VerifyingKey};
pub use file::{FileSink, FileTrail};
pub use handle::AuditTrail;
pub use integrity::IntegrityCheck;
pub use outcome::{Checkpoint, TrailError, TrailStats};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PgSink, PgTrail};
pub use settings::{AuditTrailBuilder, Durability};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use table::verify_table;
pub use verify::{verify, Problem, Verdict, VerifyOptions};
