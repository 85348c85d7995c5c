//! The trail's integrity as a live signal: a check that re-verifies what was
//! appended since its last pass, and the gauge an alert selects.
//!
//! A [`Watch`] keeps where verification stands (a [`Cursor`] after the last
//! verified record) between passes. Each pass first re-reads the last verified
//! record and the last verified checkpoint where they were and re-hashes them (a
//! rewrite or truncation before the verified point shows there), then verifies only
//! the records after the verified point with the verifier's own logic. A file's
//! last line without its newline is a record still being written: the pass stops
//! before it.

use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{IntCounter, IntGauge};
use serde::Deserialize;

use super::record::line_hash;
use super::verify::{Cursor, Lines};
use super::{Ed25519VerifyingKey, Problem, Verdict, VerifyOptions};
use crate::error::BoxError;
use crate::health::{Check, CheckOutcome, CheckSpec};
use crate::logging::{SecurityEvent, SecurityKind, Severity};

/// The most bytes (file) or rows (table) one pass reads; the next pass goes on.
const FILE_CHUNK: u64 = 8 * 1024 * 1024;
#[cfg(feature = "postgres")]
const TABLE_CHUNK: i64 = 10_000;

/// The live integrity check of an audit trail: each run re-verifies what was
/// appended since the last, and sets `audit_trail_integrity_status` (1 while the
/// trail verifies from its last verified checkpoint to its tail, 0 once it does
/// not) and `audit_trail_verified_records_total` (records verified by the runs).
///
/// Get one from [`AuditTrail::integrity`](super::AuditTrail::integrity), or ready
/// to register as a check from
/// [`AuditTrail::integrity_check`](super::AuditTrail::integrity_check). A failing
/// run names the first bad record by its `seq` and what is wrong with it, never its
/// content (which may hold personal data), and logs a critical security event the
/// first time it fails (again only after a run passed).
///
/// What a run finds:
///
/// * in the records appended since the last run: everything [`verify`](super::verify)
///   finds (an edit, a broken link, a deletion, an insertion, a reordering, an
///   unreadable line, a missing or bad checkpoint, with the trail's key a bad or
///   missing signature);
/// * before them: a rewrite or removal of the last verified record or the last
///   verified checkpoint, and a file cut short before them (reported as
///   [`Problem::Truncated`](super::Problem::Truncated)), or a file deleted or
///   replaced.
///
/// What it does not find: an edit of older records that keeps their byte lengths
/// (a file) or their rows (a table) exactly where they were, and anything before
/// the last checkpoint the trail held when it was opened (the first run starts
/// there). Run `audit-verify` (the whole trail, with the checkpoints of the log
/// stream) for those, on a schedule.
///
/// ```
/// use readiness_core::audit::{AuditTrail, Durability};
/// use readiness_core::logging::{AuditEvent, Outcome};
/// use readiness_core::{Check as _, Status};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), readiness_core::BoxError> {
/// let path = std::env::temp_dir().join(format!("doc-integrity-{}.jsonl", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let trail: AuditTrail = AuditTrail::file(&path)
///     .durability(Durability::BlockingStrict)
///     .build()?
///     .into();
/// trail.record(&AuditEvent::new("alice", "delete", "invoice", Outcome::Success)).await?;
/// let outcome = trail.integrity().check().await?;
/// assert_eq!(outcome.status(), Status::Pass);
/// # let _ = std::fs::remove_file(&path);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct IntegrityCheck {
    watch: Arc<Watch>,
}

impl IntegrityCheck {
    /// The name [`AuditTrail::integrity_check`](super::AuditTrail::integrity_check)
    /// registers the check under.
    pub const NAME: &'static str = "audit-trail-integrity";

    pub(crate) fn new(watch: Arc<Watch>) -> Self {
        Self { watch }
    }

    /// The check, ready for [`ReadinessBuilder::check`](crate::ReadinessBuilder::check):
    /// named [`NAME`](Self::NAME), on the readiness probe, refreshed every 10 s with a
    /// 5 s timeout, and **non-critical**: a corrupt trail pages (through the gauge's
    /// alert) and shows as `warn`, but does not take the pods out of the load
    /// balancer, since serving requests does not make a trail more or less corrupt
    /// and every pod would fail at once. Call `.critical(true)` on the result to
    /// change that (with `blocking-strict` writes, say, where an unverifiable trail
    /// should stop audited work).
    ///
    /// ```
    /// use readiness_core::audit::{FileTrail, IntegrityCheck};
    ///
    /// # fn main() -> Result<(), readiness_core::BuildError> {
    /// let path = std::env::temp_dir().join(format!("doc-into-spec-{}.jsonl", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let trail = FileTrail::builder(&path).build()?;
    /// let spec = trail.integrity().into_spec();
    /// assert_eq!(spec.check_name(), IntegrityCheck::NAME);
    /// assert!(!spec.is_critical());
    /// // Critical after all: a failing run fails readiness.
    /// assert!(trail.integrity().into_spec().critical(true).is_critical());
    /// # let _ = std::fs::remove_file(&path);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn into_spec(self) -> CheckSpec {
        let readable = !matches!(self.watch.source, Source::Unreadable);
        let spec = CheckSpec::new(Self::NAME, self)
            .non_critical()
            .interval(Duration::from_secs(10))
            .timeout(Duration::from_secs(5));
        if readable {
            spec
        } else {
            spec.deferred_error(
                "audit_trail",
                "a trail written to a writer cannot be read back: give it a path".to_owned(),
            )
        }
    }
}

impl std::fmt::Debug for IntegrityCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrityCheck").finish_non_exhaustive()
    }
}

impl Check for IntegrityCheck {
    async fn check(&self) -> Result<CheckOutcome, BoxError> {
        let passed = match &self.watch.source {
            Source::File { .. } => {
                let watch = Arc::clone(&self.watch);
                tokio::task::spawn_blocking(move || watch.file_pass())
                    .await
                    .map_err(|e| BoxError::from(e.to_string()))?
            }
            #[cfg(feature = "postgres")]
            Source::Table { .. } => self.watch.table_pass().await,
            Source::Unreadable => return Ok(CheckOutcome::fail("audit trail cannot be read")),
        };
        Ok(self.watch.settle(passed))
    }
}

/// Where the verification of a trail stands, and its gauge and counter.
pub(crate) struct Watch {
    source: Source,
    options: VerifyOptions,
    metrics: Option<(IntGauge, IntCounter)>,
    /// A security event was logged for the current failure.
    alerted: AtomicBool,
}

#[allow(clippy::large_enum_variant)] // one a trail
enum Source {
    File {
        path: PathBuf,
        point: Mutex<Point>,
    },
    #[cfg(feature = "postgres")]
    Table {
        pool: sqlx::PgPool,
        table: String,
        point: tokio::sync::Mutex<Point>,
    },
    /// A trail written to a writer.
    Unreadable,
}

/// The verified point: the cursor after the last verified record, where the next
/// record starts (a file's byte offset), and the records re-hashed on every pass.
#[derive(Clone)]
struct Point {
    cursor: Cursor,
    offset: u64,
    /// The last verified record, then the last verified checkpoint.
    anchors: [Option<Anchor>; 2],
}

/// A verified record and where it is: its line's offset and length in a file.
#[derive(Clone)]
struct Anchor {
    seq: u64,
    hash: String,
    offset: u64,
    len: usize,
}

/// What one pass found: the records newly verified and the first bad one, if
/// any; or the trail could not be read.
type Pass = Result<(u64, Option<Verdict>), io::Error>;

/// A pass that found `verdict` before verifying anything new.
fn bad(seq: u64, problem: Problem) -> Pass {
    Ok((0, Some(Verdict::Bad { seq, problem })))
}

impl Watch {
    fn new(source: Source, key: Option<Ed25519VerifyingKey>) -> Self {
        let options = match key {
            Some(key) => VerifyOptions::new().key(key),
            None => VerifyOptions::new(),
        };
        Self {
            source,
            options,
            metrics: None,
            alerted: AtomicBool::new(false),
        }
    }

    /// A watch with nothing to read.
    pub(crate) fn unreadable() -> Self {
        Self::new(Source::Unreadable, None)
    }

    /// Whether there is nothing to read (a trail written to a writer).
    pub(crate) fn is_unreadable(&self) -> bool {
        matches!(self.source, Source::Unreadable)
    }

    /// Watches the file at `path`, from its last checkpoint (which the first pass
    /// verifies too), and runs that first pass: the gauge and counter are set when
    /// they are registered.
    pub(crate) fn file(
        path: PathBuf,
        key: Option<Ed25519VerifyingKey>,
        metrics: Option<(IntGauge, IntCounter)>,
    ) -> io::Result<Self> {
        let point = start_in_file(&path)?;
        let mut watch = Self::new(
            Source::File {
                path,
                point: Mutex::new(point),
            },
            key,
        );
        watch.metrics = metrics;
        let passed = watch.file_pass();
        watch.settle(passed);
        Ok(watch)
    }

    /// Watches `table` from its last checkpoint, and runs the first pass.
    #[cfg(feature = "postgres")]
    pub(crate) async fn table(
        pool: sqlx::PgPool,
        table: String,
        key: Option<Ed25519VerifyingKey>,
        metrics: Option<(IntGauge, IntCounter)>,
    ) -> Result<Self, sqlx::Error> {
        let point = start_in_table(&pool, &table).await?;
        let mut watch = Self::new(
            Source::Table {
                pool,
                table,
                point: tokio::sync::Mutex::new(point),
            },
            key,
        );
        watch.metrics = metrics;
        let passed = watch.table_pass().await;
        watch.settle(passed);
        Ok(watch)
    }

    /// Sets the gauge and counter from a pass, logs the security event on a first
    /// failure, and says what the check reports.
    fn settle(&self, passed: Pass) -> CheckOutcome {
        let (records, verdict) = match passed {
            Ok(found) => found,
            Err(error) => {
                return CheckOutcome::fail("audit trail cannot be read")
                    .with_detail(format!("audit trail integrity check: {error}"))
            }
        };
        if let Some((_, verified)) = &self.metrics {
            verified.inc_by(records);
        }
        match verdict {
            None => {
                if let Some((status, _)) = &self.metrics {
                    status.set(1);
                }
                self.alerted.store(false, Ordering::Relaxed);
                CheckOutcome::pass()
            }
            Some(verdict) => {
                if let Some((status, _)) = &self.metrics {
                    status.set(0);
                }
                let message = format!("audit trail integrity: {verdict}");
                if !self.alerted.swap(true, Ordering::Relaxed) {
                    SecurityEvent::new(SecurityKind::SuspiciousPattern, Severity::Critical)
                        .resource("audit_trail")
                        .reason(&message)
                        .emit();
                }
                CheckOutcome::fail(message)
            }
        }
    }

    /// One pass over a file: the anchors re-hashed where they were, then the
    /// complete lines after the verified point.
    fn file_pass(&self) -> Pass {
        let Source::File { path, point } = &self.source else {
            return Ok((0, None));
        };
        let mut point = point
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut file = match File::open(path) {
            Ok(file) => file,
            // The trail (made at build) is gone, and the verified records with it.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return bad(
                    point.cursor.expected().saturating_sub(1).max(1),
                    Problem::Truncated,
                );
            }
            Err(e) => return Err(e),
        };
        let size = file.metadata()?.len();
        for anchor in point.anchors.iter().flatten() {
            let end = anchor.offset + anchor.len as u64 + 1;
            if size < end {
                return bad(anchor.seq, Problem::Truncated);
            }
            let mut line = vec![0; anchor.len + 1];
            file.seek(SeekFrom::Start(anchor.offset))?;
            file.read_exact(&mut line)?;
            if line.pop() != Some(b'\n') || !intact(&line, &anchor.hash) {
                return bad(anchor.seq, Problem::Modified);
            }
        }
        if size < point.offset {
            return bad(
                point.cursor.expected().saturating_sub(1),
                Problem::Truncated,
            );
        }
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(point.offset))?;
        (&mut file)
            .take(FILE_CHUNK.min(size - point.offset))
            .read_to_end(&mut bytes)?;
        // Only whole lines: the last one may still be being written.
        let whole = match memchr::memrchr(b'\n', &bytes) {
            Some(at) => at + 1,
            None if point.offset + (bytes.len() as u64) < size => {
                // A chunk with no line end in it: no record is that long.
                return bad(point.cursor.expected(), Problem::Unreadable);
            }
            None => 0,
        };
        let bytes = &bytes[..whole];
        let lines = Lines::new(bytes);
        let before = point.cursor.records();
        let base = point.offset;
        let mut anchors = point.anchors.clone();
        let fed = point.cursor.feed(&lines, &self.options, |record| {
            let line = lines.raw[record.line];
            let anchor = Anchor {
                seq: record.seq,
                hash: record.hash.to_owned(),
                offset: base + (line.as_ptr() as usize - bytes.as_ptr() as usize) as u64,
                len: line.len(),
            };
            if record.checkpoint {
                anchors[1] = Some(anchor.clone());
            }
            anchors[0] = Some(anchor);
        });
        let verified = point.cursor.records() - before;
        if let Some(Anchor { offset, len, .. }) = &anchors[0] {
            point.offset = point.offset.max(offset + *len as u64 + 1);
        }
        if fed.is_ok() {
            // Unreadable lines a chain break owned are behind the point too.
            point.offset = base + whole as u64;
        }
        point.anchors = anchors;
        Ok((verified, fed.err()))
    }

    /// One pass over a table: the anchors' rows re-hashed, then the rows after
    /// the verified point.
    #[cfg(feature = "postgres")]
    async fn table_pass(&self) -> Pass {
        use futures_util::TryStreamExt as _;
        let Source::Table { pool, table, point } = &self.source else {
            return Ok((0, None));
        };
        let mut point = point.lock().await;
        for anchor in point.anchors.iter().flatten() {
            let row: Option<String> =
                sqlx::query_scalar(&format!("SELECT record FROM {table} WHERE seq = $1"))
                    .bind(i64::try_from(anchor.seq).unwrap_or(i64::MAX))
                    .fetch_optional(pool)
                    .await
                    .map_err(io::Error::other)?;
            let problem = match row {
                None => Problem::Truncated,
                Some(record) if !intact(record.as_bytes(), &anchor.hash) => Problem::Modified,
                Some(_) => continue,
            };
            return bad(anchor.seq, problem);
        }
        let from = i64::try_from(point.cursor.expected()).unwrap_or(i64::MAX);
        let query =
            format!("SELECT record FROM {table} WHERE seq >= $1 ORDER BY seq LIMIT {TABLE_CHUNK}");
        let mut rows = sqlx::query_scalar::<_, String>(&query)
            .bind(from)
            .fetch(pool);
        let mut bytes = Vec::new();
        while let Some(line) = rows.try_next().await.map_err(io::Error::other)? {
            // A newline inside a row would split it: keep each row one line.
            bytes.extend(line.bytes().map(|b| if b == b'\n' { b' ' } else { b }));
            bytes.push(b'\n');
        }
        let lines = Lines::new(&bytes);
        let before = point.cursor.records();
        let mut anchors = point.anchors.clone();
        let fed = point.cursor.feed(&lines, &self.options, |record| {
            let anchor = Anchor {
                seq: record.seq,
                hash: record.hash.to_owned(),
                offset: 0,
                len: 0,
            };
            if record.checkpoint {
                anchors[1] = Some(anchor.clone());
            }
            anchors[0] = Some(anchor);
        });
        point.anchors = anchors;
        let verified = point.cursor.records() - before;
        Ok((verified, fed.err()))
    }
}

/// Whether `line` is an intact record whose hash is `hash`.
fn intact(line: &[u8], hash: &str) -> bool {
    line_hash(line).is_some_and(|(claimed, matches)| matches && claimed == hash)
}

/// What the start needs of a record.
#[derive(Deserialize)]
struct Head {
    seq: u64,
    kind: String,
    prev_hash: String,
}

/// The verified point a file's watch starts at: its last checkpoint (found in a
/// window from the end that grows until it holds one), not yet verified; the
/// start of the file when it has none.
fn start_in_file(path: &std::path::Path) -> io::Result<Point> {
    let genesis = Point {
        cursor: Cursor::genesis(),
        offset: 0,
        anchors: [None, None],
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(genesis),
        Err(error) => return Err(error),
    };
    let size = file.metadata()?.len();
    let mut window: u64 = 64 * 1024;
    loop {
        let from = size.saturating_sub(window);
        file.seek(SeekFrom::Start(from))?;
        let mut bytes = Vec::new();
        (&mut file).take(size - from).read_to_end(&mut bytes)?;
        // Unless the window starts the file, its first line may be cut; its last
        // line may still be being written.
        let first = if from == 0 {
            0
        } else {
            memchr::memchr(b'\n', &bytes).map_or(bytes.len(), |at| at + 1)
        };
        let last = memchr::memrchr(b'\n', &bytes).map_or(0, |at| at + 1);
        if first < last {
            let whole = &bytes[first..last];
            let lines = super::record::lines(whole);
            let found = lines.iter().rev().find_map(|line| {
                let head: Head = serde_json::from_slice(line).ok()?;
                (head.kind == "checkpoint").then_some((line, head))
            });
            if let Some((line, head)) = found {
                let at = from + (first + (line.as_ptr() as usize - whole.as_ptr() as usize)) as u64;
                return Ok(Point {
                    cursor: Cursor::at(head.seq, head.prev_hash),
                    offset: at,
                    anchors: [None, None],
                });
            }
        }
        if from == 0 {
            return Ok(genesis);
        }
        window = window.saturating_mul(4);
    }
}

/// The verified point a table's watch starts at: its last checkpoint, not yet
/// verified; the first row when it has none.
#[cfg(feature = "postgres")]
async fn start_in_table(pool: &sqlx::PgPool, table: &str) -> Result<Point, sqlx::Error> {
    let row: Option<String> = sqlx::query_scalar(&format!(
        "SELECT record FROM {table} WHERE kind = 'checkpoint' ORDER BY seq DESC LIMIT 1"
    ))
    .fetch_optional(pool)
    .await?;
    let cursor = row
        .and_then(|record| serde_json::from_str::<Head>(&record).ok())
        .map_or_else(Cursor::genesis, |head| Cursor::at(head.seq, head.prev_hash));
    Ok(Point {
        cursor,
        offset: 0,
        anchors: [None, None],
    })
}
