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
//! ```
//! use readiness_core::logging::trail::{verify, AuditTrail, Durability, Verdict, VerifyOptions};
//! use readiness_core::logging::{AuditEvent, Outcome};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let path = std::env::temp_dir().join(format!("doc-trail-{}.jsonl", std::process::id()));
//! # let _ = std::fs::remove_file(&path);
//! let trail = AuditTrail::builder(&path).durability(Durability::BlockingStrict).build()?;
//! trail.record(&AuditEvent::new("alice", "delete", "invoice", Outcome::Success).resource_id("42"))?;
//! trail.checkpoint()?;
//! let verdict = verify(&std::fs::read(&path)?, &VerifyOptions::new());
//! // The chain's opening checkpoint, the event, the checkpoint asked for.
//! assert!(matches!(verdict, Verdict::Ok { records: 3, checkpoints: 2, .. }), "{verdict}");
//! # let _ = std::fs::remove_file(&path);
//! # Ok(()) }
//! ```

#[cfg(feature = "postgres")]
mod postgres;
mod record;
mod verify;

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

pub use ed25519_dalek::{SigningKey as Ed25519SigningKey, VerifyingKey as Ed25519VerifyingKey};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{verify_table, PgAuditTrail, PgSink};
pub use verify::{verify, Problem, Verdict, VerifyOptions};

use self::record::{line_hash, log_checkpoint, unhex, Built, Links, Tail, GENESIS};
use super::AuditEvent;
use crate::error::BuildError;

/// How a record reaches the trail, and what a failure to write it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Queued for the trail's own thread; a record beyond the queue is dropped and
    /// counted (`audit_records_total{result="dropped"}`). The request never waits.
    Batch,
    /// Written and synced before [`AuditTrail::record`] returns; a failure is
    /// counted and logged, and the request goes on.
    Blocking,
    /// As `Blocking`, and a failure is an error the request must fail with (a 503):
    /// no audited action proceeds unrecorded.
    BlockingStrict,
}

impl FromStr for Durability {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "batch" => Ok(Self::Batch),
            "blocking" => Ok(Self::Blocking),
            "blocking-strict" => Ok(Self::BlockingStrict),
            other => Err(format!(
                "must be `batch`, `blocking` or `blocking-strict`, got {other:?}"
            )),
        }
    }
}

/// A checkpoint: the record `seq` had hash `hash`. Kept outside the trail, it
/// anchors verification ([`VerifyOptions::anchors`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The sequence number of the record covered.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

impl Checkpoint {
    /// The checkpoints in log lines written by trails (`readiness::audit_trail`
    /// lines with `checkpoint_seq` and `checkpoint_hash`); other lines are skipped.
    ///
    /// ```
    /// use readiness_core::logging::trail::Checkpoint;
    /// let lines = r#"{"message":"audit trail checkpoint","checkpoint_seq":1000,"checkpoint_hash":"ab12"}"#;
    /// assert_eq!(Checkpoint::from_log_lines(lines)[0].seq, 1000);
    /// ```
    #[must_use]
    pub fn from_log_lines(text: &str) -> Vec<Self> {
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|line| {
                Some(Self {
                    seq: line.get("checkpoint_seq")?.as_u64()?,
                    hash: line.get("checkpoint_hash")?.as_str()?.to_owned(),
                })
            })
            .collect()
    }
}

/// Why a record was not written.
#[derive(Debug)]
#[non_exhaustive]
pub enum TrailError {
    /// The trail could not write it (disk full, file gone, ...).
    Write(io::Error),
    /// The trail's writer thread has stopped.
    Closed,
}

impl fmt::Display for TrailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Write(error) => write!(f, "the audit record could not be written: {error}"),
            Self::Closed => f.write_str("the audit trail is closed"),
        }
    }
}

impl std::error::Error for TrailError {}

/// Counts of what became of the records given to the trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TrailStats {
    /// Event records written.
    pub written: u64,
    /// Records dropped because the batch queue was full.
    pub dropped: u64,
    /// Records that could not be written.
    pub failed: u64,
}

/// Settings of an [`AuditTrail`] (`S` = [`FileSink`]) or, with the `postgres`
/// feature, of a `PgAuditTrail` (`S` = `PgSink`): the chain's settings are the
/// same, the sink's are its own.
#[must_use]
pub struct AuditTrailBuilder<S = FileSink> {
    sink: S,
    durability: Durability,
    checkpoint_every: u64,
    checkpoint_interval: Duration,
    key: Option<SigningKey>,
    queue: usize,
    registry: Option<(prometheus::Registry, Option<String>)>,
}

/// Where a file trail goes: see [`AuditTrail::builder`] and
/// [`AuditTrailBuilder::sync`].
pub struct FileSink {
    target: Target,
    sync: bool,
}

enum Target {
    Path(PathBuf),
    Writer(Box<dyn Write + Send>),
}

impl fmt::Debug for FileSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match &self.target {
            Target::Path(path) => path.display().to_string(),
            Target::Writer(_) => "a writer".to_owned(),
        };
        f.debug_struct("FileSink")
            .field("target", &target)
            .field("sync", &self.sync)
            .finish()
    }
}

impl<S: fmt::Debug> fmt::Debug for AuditTrailBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditTrailBuilder")
            .field("sink", &self.sink)
            .field("durability", &self.durability)
            .field("checkpoint_every", &self.checkpoint_every)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("signed", &self.key.is_some())
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

/// A tamper-evident audit trail. See the [module docs](self). Cheap to clone.
#[derive(Clone)]
pub struct AuditTrail {
    inner: Arc<Inner>,
}

struct Inner {
    durability: Durability,
    verifying_key: Option<Ed25519VerifyingKey>,
    chain: Arc<Mutex<Chain>>,
    queue: Option<SyncSender<Message>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    counts: Arc<Counts>,
}

#[derive(Default)]
pub(crate) struct Counts {
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    metrics: Option<[prometheus::IntCounter; 3]>,
}

/// What became of a record.
#[derive(Clone, Copy)]
pub(crate) enum Fate {
    Written,
    Dropped,
    Failed,
}

impl Counts {
    pub(crate) fn new(metrics: Option<[prometheus::IntCounter; 3]>) -> Self {
        Self {
            metrics,
            ..Self::default()
        }
    }

    pub(crate) fn stats(&self) -> TrailStats {
        TrailStats {
            written: self.written.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// Counts `n` records as `fate`.
    pub(crate) fn add(&self, fate: Fate, n: u64) {
        let counter = match fate {
            Fate::Written => &self.written,
            Fate::Dropped => &self.dropped,
            Fate::Failed => &self.failed,
        };
        counter.fetch_add(n, Ordering::Relaxed);
        if let Some(metrics) = &self.metrics {
            metrics[fate as usize].inc_by(n);
        }
    }

    /// Counts a record written in a `blocking` mode, or not; a failure is logged,
    /// and an error only in `blocking-strict` mode.
    pub(crate) fn settle(
        &self,
        durability: Durability,
        written: Result<(), TrailError>,
    ) -> Result<(), TrailError> {
        match written {
            Ok(()) => {
                self.add(Fate::Written, 1);
                Ok(())
            }
            Err(error) => {
                self.add(Fate::Failed, 1);
                tracing::error!(target: "readiness::audit_trail", category = "system", error = %error, "audit record not written");
                if durability == Durability::BlockingStrict {
                    Err(error)
                } else {
                    Ok(())
                }
            }
        }
    }
}

enum Message {
    Event(Value),
    Flush(mpsc::SyncSender<Result<(), String>>),
}

/// The writing end: the file and where the chain stands.
struct Chain {
    out: Box<dyn Write + Send>,
    file: Option<File>,
    sync: bool,
    links: Links,
    /// The file's length after the last whole line: a write cut short is cut
    /// back to it, so the next record starts on a line of its own.
    len: u64,
    /// Checkpoints written but not yet synced: logged once they are on disk.
    unlogged: Vec<Built>,
    /// The next record is preceded by a checkpoint: the chain is new (the
    /// checkpoint is its signed promise of the interval), or an earlier process
    /// left records after its last checkpoint.
    open: bool,
}

impl AuditTrail {
    /// A trail appended to the file at `path` (made if missing).
    pub fn builder(path: impl AsRef<Path>) -> AuditTrailBuilder {
        AuditTrailBuilder::new(FileSink {
            target: Target::Path(path.as_ref().to_path_buf()),
            sync: true,
        })
    }

    /// A trail written to any writer (a new chain; nothing to resume from).
    pub fn to_writer(writer: impl Write + Send + 'static) -> AuditTrailBuilder {
        AuditTrailBuilder::new(FileSink {
            target: Target::Writer(Box::new(writer)),
            sync: true,
        })
    }

    /// Records `event`. In `batch` mode it is queued (or dropped when the queue is
    /// full); otherwise it is written and synced first.
    ///
    /// # Errors
    ///
    /// Only in `blocking-strict` mode: the record could not be written, and the
    /// audited action must not proceed.
    pub fn record(&self, event: &AuditEvent<'_>) -> Result<(), TrailError> {
        self.record_fields(event.to_json())
    }

    /// Records an event given as JSON fields (for events beyond [`AuditEvent`]).
    ///
    /// # Errors
    ///
    /// As [`record`](Self::record).
    pub fn record_fields(&self, fields: Value) -> Result<(), TrailError> {
        let inner = &self.inner;
        if let Some(queue) = &inner.queue {
            match queue.try_send(Message::Event(fields)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => inner.counts.add(Fate::Dropped, 1),
                Err(TrySendError::Disconnected(_)) => inner.counts.add(Fate::Failed, 1),
            }
            return Ok(());
        }
        let written = lock(&inner.chain)
            .append_event(&fields)
            .map_err(TrailError::Write);
        inner.counts.settle(inner.durability, written)
    }

    /// [`record`](Self::record) for async handlers: in the `blocking` modes the
    /// write and its sync run on Tokio's blocking pool, so a runtime worker never
    /// waits on the disk; the handler still waits for the record.
    ///
    /// ```
    /// # use readiness_core::logging::trail::AuditTrail;
    /// # use readiness_core::logging::{AuditEvent, Outcome};
    /// # #[allow(dead_code)]
    /// # async fn handler(trail: AuditTrail) -> Result<(), Box<dyn std::error::Error>> {
    /// trail.record_async(&AuditEvent::new("bob", "export", "report", Outcome::Success)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`record`](Self::record).
    pub async fn record_async(&self, event: &AuditEvent<'_>) -> Result<(), TrailError> {
        let fields = event.to_json();
        if self.inner.queue.is_some() {
            return self.record_fields(fields);
        }
        let trail = self.clone();
        match tokio::task::spawn_blocking(move || trail.record_fields(fields)).await {
            Ok(result) => result,
            Err(panicked) => Err(TrailError::Write(io::Error::other(panicked))),
        }
    }

    /// Writes a checkpoint now (after what is queued) and returns it.
    ///
    /// # Errors
    ///
    /// The write failed, or the writer thread stopped.
    pub fn checkpoint(&self) -> Result<Checkpoint, TrailError> {
        self.flush()?;
        lock(&self.inner.chain)
            .checkpoint()
            .map_err(TrailError::Write)
    }

    /// Waits until every queued record is written and synced (`batch` mode; the
    /// other modes write as they go).
    ///
    /// # Errors
    ///
    /// The writer thread stopped, or its last write failed.
    pub fn flush(&self) -> Result<(), TrailError> {
        if let Some(queue) = &self.inner.queue {
            let (done, wait) = mpsc::sync_channel(1);
            queue
                .send(Message::Flush(done))
                .map_err(|_| TrailError::Closed)?;
            wait.recv()
                .map_err(|_| TrailError::Closed)?
                .map_err(|e| TrailError::Write(io::Error::other(e)))?;
        }
        Ok(())
    }

    /// What became of the records so far.
    #[must_use]
    pub fn stats(&self) -> TrailStats {
        self.inner.counts.stats()
    }

    /// The mode chosen.
    #[must_use]
    pub fn durability(&self) -> Durability {
        self.inner.durability
    }

    /// The public half of the signing key, for the verifier (and to publish).
    #[must_use]
    pub fn verifying_key(&self) -> Option<Ed25519VerifyingKey> {
        self.inner.verifying_key
    }
}

impl fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditTrail")
            .field("durability", &self.inner.durability)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The queue closes with the last handle: the thread writes what is left,
        // checkpoints, and ends.
        self.queue = None;
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<S> AuditTrailBuilder<S> {
    pub(crate) fn new(sink: S) -> Self {
        Self {
            sink,
            durability: Durability::Blocking,
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(60),
            key: None,
            queue: 10_000,
            registry: None,
        }
    }

    /// The mode (default `blocking`).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// A checkpoint after this many records (default 1,000).
    pub fn checkpoint_every(mut self, records: u64) -> Self {
        self.checkpoint_every = records;
        self
    }

    /// A checkpoint once this long has passed since the last, at the next record
    /// (default 60 s; in `batch` mode also when the trail is idle).
    pub fn checkpoint_interval(mut self, interval: Duration) -> Self {
        self.checkpoint_interval = interval;
        self
    }

    /// Signs every checkpoint with this Ed25519 key; the verifier checks them with
    /// its public half.
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The signing key as 64 hex digits (its 32-byte seed).
    ///
    /// # Errors
    ///
    /// A [`BuildError`] (field `audit_trail.signing_key`) when it is not 64 hex digits.
    pub fn signing_key_hex(self, hex: &str) -> Result<Self, BuildError> {
        let seed = unhex::<32>(hex).ok_or_else(|| {
            BuildError::new(
                "audit_trail.signing_key",
                "must be 64 hex digits (a 32-byte seed)",
            )
        })?;
        Ok(self.signing_key(SigningKey::from_bytes(&seed)))
    }

    /// Records the `batch` queue holds (default 10,000).
    pub fn queue(mut self, records: usize) -> Self {
        self.queue = records;
        self
    }

    /// Counts records on `registry` as `audit_records_total{result="written"|
    /// "dropped"|"failed"}`.
    pub fn registry(mut self, registry: prometheus::Registry, namespace: Option<String>) -> Self {
        self.registry = Some((registry, namespace));
        self
    }

    /// The checks every sink's `build` starts with, and the record counters.
    pub(crate) fn checked(&self) -> Result<Arc<Counts>, BuildError> {
        if self.checkpoint_every == 0 {
            return Err(BuildError::new(
                "audit_trail.checkpoint_every",
                "must be at least 1",
            ));
        }
        if self.queue == 0 {
            return Err(BuildError::new("audit_trail.queue", "must be at least 1"));
        }
        let metrics = match &self.registry {
            None => None,
            Some((registry, namespace)) => Some(register(registry, namespace.as_deref())?),
        };
        Ok(Arc::new(Counts::new(metrics)))
    }

    /// The chain, going on from `tail`.
    pub(crate) fn links(&self, tail: &Tail) -> Links {
        Links::new(
            tail,
            self.checkpoint_every,
            self.checkpoint_interval,
            self.key.clone(),
        )
    }

    pub(crate) fn verifying_key(&self) -> Option<Ed25519VerifyingKey> {
        self.key.as_ref().map(SigningKey::verifying_key)
    }
}

impl AuditTrailBuilder<FileSink> {
    /// Whether each write is synced to disk (default true: a record the request
    /// waited for survives a crash of the machine).
    pub fn sync(mut self, on: bool) -> Self {
        self.sink.sync = on;
        self
    }

    /// Opens the trail: resumes the chain of an existing file (with a
    /// `chain_break` record after an unreadable tail), and starts the writer thread
    /// in `batch` mode.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the setting: the file cannot be opened, read or
    /// appended to, a zero checkpoint count or queue, or metrics that cannot be
    /// registered.
    pub fn build(self) -> Result<AuditTrail, BuildError> {
        let counts = self.checked()?;
        let verifying_key = self.verifying_key();
        let path_error = |path: &Path, e: io::Error| {
            BuildError::new("audit_trail.path", format!("{}: {e}", path.display()))
        };
        let resume = match &self.sink.target {
            Target::Writer(_) => Resume::default(),
            Target::Path(path) => Resume::read(path).map_err(|e| path_error(path, e))?,
        };
        let links = self.links(&resume.tail);
        let (out, file) = match self.sink.target {
            Target::Writer(writer) => (writer, None),
            Target::Path(path) => {
                let field = |e: io::Error| path_error(&path, e);
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(field)?;
                let writer = file.try_clone().map_err(field)?;
                (Box::new(writer) as Box<dyn Write + Send>, Some(file))
            }
        };
        let len = match &file {
            Some(file) => file
                .metadata()
                .map_err(|e| BuildError::new("audit_trail.path", e.to_string()))?
                .len(),
            None => 0,
        };
        let mut chain = Chain {
            out,
            file,
            sync: self.sink.sync,
            links,
            len,
            unlogged: Vec::new(),
            open: resume.tail.seq == 0 || resume.tail.promised.is_none(),
        };
        let field = |e: io::Error| BuildError::new("audit_trail.path", e.to_string());
        if resume.partial_line {
            // A write cut short: the next record starts on a line of its own.
            chain.out.write_all(b"\n").map_err(field)?;
            chain.len += 1;
        }
        let broke = resume.broken.is_some();
        if let Some((reason, skipped)) = resume.broken {
            chain
                .append(
                    "chain_break",
                    "break",
                    &json!({ "reason": reason, "skipped_sha256": skipped }),
                )
                .map_err(field)?;
            chain.sync_now().map_err(field)?;
            tracing::warn!(target: "readiness::audit_trail", category = "system", reason = %reason, seq = chain.links.seq, "audit trail resumed after a chain break");
        }
        // What an earlier process left after its last checkpoint is covered by
        // a checkpoint before the next record, within the interval it promised.
        chain.open |= broke;
        let chain = Arc::new(Mutex::new(chain));
        let (queue, thread) = if self.durability == Durability::Batch {
            let (sender, receiver) = mpsc::sync_channel(self.queue);
            let thread = std::thread::Builder::new()
                .name("readiness-audit".into())
                .spawn({
                    let chain = Arc::clone(&chain);
                    let counts = Arc::clone(&counts);
                    move || batch_writer(&receiver, &chain, &counts)
                })
                .map_err(|e| {
                    BuildError::new("audit_trail", format!("cannot start its thread: {e}"))
                })?;
            (Some(sender), Some(thread))
        } else {
            (None, None)
        };
        Ok(AuditTrail {
            inner: Arc::new(Inner {
                durability: self.durability,
                verifying_key,
                chain,
                queue,
                thread: Mutex::new(thread),
                counts,
            }),
        })
    }
}

pub(crate) fn register(
    registry: &prometheus::Registry,
    namespace: Option<&str>,
) -> Result<[prometheus::IntCounter; 3], BuildError> {
    let counter = prometheus::IntCounterVec::new(
        crate::metrics::opts(
            namespace,
            crate::metrics::names::AUDIT_RECORDS,
            "Audit trail records, by result: written, dropped (batch queue full), failed.",
        ),
        &[crate::metrics::names::RESULT],
    )
    .and_then(|counter| {
        registry
            .register(Box::new(counter.clone()))
            .map(|()| counter)
    })
    .map_err(|e| BuildError::new("audit_trail.registry", e.to_string()))?;
    Ok(["written", "dropped", "failed"].map(|r| counter.with_label_values(&[r])))
}

/// Writes queued records in batches, syncing once per batch; checkpoints when the
/// trail is idle past the interval; on close, writes what is left and a last
/// checkpoint.
fn batch_writer(receiver: &Receiver<Message>, chain: &Mutex<Chain>, counts: &Counts) {
    let mut last_error: Option<String> = None;
    loop {
        let interval = lock(chain).links.interval();
        let first = match receiver.recv_timeout(interval) {
            Ok(message) => message,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let mut chain = lock(chain);
                if chain.links.uncovered() {
                    let _ = chain.checkpoint();
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut chain = lock(chain);
        let mut flushes = Vec::new();
        let mut handle = |message: Message, chain: &mut Chain| match message {
            Message::Event(fields) => match chain.append_unsynced(&fields) {
                Ok(()) => counts.add(Fate::Written, 1),
                Err(error) => {
                    counts.add(Fate::Failed, 1);
                    last_error = Some(error.to_string());
                }
            },
            Message::Flush(done) => flushes.push(done),
        };
        handle(first, &mut chain);
        while let Ok(message) = receiver.try_recv() {
            handle(message, &mut chain);
        }
        let synced = chain.sync_now();
        if let Err(error) = &synced {
            last_error = Some(error.to_string());
        }
        for done in flushes {
            let _ = done.send(last_error.take().map_or(Ok(()), Err));
        }
    }
    let mut chain = lock(chain);
    if chain.links.uncovered() {
        let _ = chain.checkpoint();
    }
}

impl Chain {
    /// Writes `built` and moves the chain on to it.
    fn write(&mut self, built: &Built) -> io::Result<()> {
        let mut line = Vec::with_capacity(built.line.len() + 1);
        line.extend_from_slice(built.line.as_bytes());
        line.push(b'\n');
        if let Err(error) = self.out.write_all(&line) {
            // Part of the line may be in the file (a disk filling up): cut it off.
            if let Some(file) = &self.file {
                let _ = file.set_len(self.len);
            }
            return Err(error);
        }
        self.len += line.len() as u64;
        self.links.advance(built);
        Ok(())
    }

    /// Appends one record of `kind` carrying `body` under `key`.
    fn append(&mut self, kind: &'static str, key: &str, body: &Value) -> io::Result<()> {
        let built = self.links.build(kind, key, body);
        self.write(&built)
    }

    fn append_unsynced(&mut self, fields: &Value) -> io::Result<()> {
        if self.open {
            self.checkpoint_unsynced()?;
            self.open = false;
        }
        self.append("event", "event", fields)?;
        if self.links.checkpoint_due() {
            self.checkpoint_unsynced()?;
        }
        Ok(())
    }

    fn append_event(&mut self, fields: &Value) -> io::Result<()> {
        self.append_unsynced(fields)?;
        self.sync_now()
    }

    fn sync_now(&mut self) -> io::Result<()> {
        self.out.flush()?;
        if let (true, Some(file)) = (self.sync, &self.file) {
            file.sync_data()?;
        }
        // Only what is on disk goes out as an anchor.
        self.unlogged
            .drain(..)
            .for_each(|built| log_checkpoint(&built));
        Ok(())
    }

    fn checkpoint_unsynced(&mut self) -> io::Result<Checkpoint> {
        let covered = Checkpoint {
            seq: self.links.seq,
            hash: self.links.last_hash.clone(),
        };
        let built = self.links.build_checkpoint();
        self.write(&built)?;
        self.unlogged.push(built);
        Ok(covered)
    }

    /// A checkpoint, synced; none on a trail with nothing to cover yet.
    fn checkpoint(&mut self) -> io::Result<Checkpoint> {
        if self.links.seq == 0 {
            return Ok(Checkpoint {
                seq: 0,
                hash: GENESIS.to_owned(),
            });
        }
        let checkpoint = self.checkpoint_unsynced()?;
        self.open = false;
        self.sync_now()?;
        Ok(checkpoint)
    }
}

/// Where an existing trail stands.
#[derive(Default)]
struct Resume {
    /// The last intact record; `promised` is set when it is a checkpoint, and the
    /// events after the last checkpoint are then none.
    tail: Tail,
    /// Why the chain cannot simply go on (an unreadable tail), and the SHA-256 of
    /// the lines it skips, so they are covered too.
    broken: Option<(String, String)>,
    /// The file ends inside a line (a write cut short).
    partial_line: bool,
}

impl Resume {
    /// Reads the file's tail (a window that grows until it holds a whole valid
    /// record, so a year-long trail is not read into memory at start-up).
    fn read(path: &Path) -> io::Result<Self> {
        use std::io::{Seek as _, SeekFrom};
        let mut resume = Self::default();
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(resume),
            Err(error) => return Err(error),
        };
        let metadata = file.metadata()?;
        // A device or a pipe (`/dev/full`, say) has nothing to resume.
        if !metadata.is_file() || metadata.len() == 0 {
            return Ok(resume);
        }
        let size = metadata.len();
        let mut window: u64 = 64 * 1024;
        loop {
            let from = size.saturating_sub(window);
            file.seek(SeekFrom::Start(from))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            resume.partial_line = !bytes.ends_with(b"\n");
            // Unless the window starts the file, its first line may be cut.
            let whole = if from == 0 {
                &bytes[..]
            } else {
                match memchr::memchr(b'\n', &bytes) {
                    Some(at) => &bytes[at + 1..],
                    None => &[][..],
                }
            };
            let mut skipped = Vec::new();
            let mut found = None;
            for line in record::lines(whole).into_iter().rev() {
                if let Some(tail) = valid_record(line) {
                    found = Some(tail);
                    break;
                }
                skipped.push(line);
            }
            skipped.reverse();
            match found {
                Some(tail) => resume.tail = tail,
                // Nothing valid in the window: a larger one, up to the whole file.
                None if from > 0 => {
                    window = window.saturating_mul(4);
                    continue;
                }
                None => {}
            }
            if !skipped.is_empty() {
                let bytes: usize = skipped.iter().map(|l| l.len()).sum();
                resume.broken = Some((
                    format!(
                        "unreadable tail of {bytes} bytes after seq {}",
                        resume.tail.seq
                    ),
                    record::skipped_digest(&skipped),
                ));
            }
            return Ok(resume);
        }
    }
}

/// Where the chain stands after `line`, when it is a whole, intact record: its
/// `seq` and `hash`, and for a checkpoint the `every` it promised.
fn valid_record(line: &[u8]) -> Option<Tail> {
    let record: Value = serde_json::from_slice(line).ok()?;
    let seq = record.get("seq")?.as_u64()?;
    let (claimed, matches) = line_hash(line)?;
    let stored = record.get("hash")?.as_str()?;
    let every = record.pointer("/checkpoint/every").and_then(Value::as_u64);
    (matches && claimed == stored).then(|| Tail {
        seq,
        hash: stored.to_owned(),
        since: 0,
        promised: every,
    })
}
