//! The file sink: records appended to a file (or any writer), synced as the mode
//! asks, with a writer thread of its own in `batch` mode.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::{json, Value};

use super::chain::{Chain, Resume};
use super::integrity::{IntegrityCheck, Watch};
use super::outcome::{Counts, Fate};
use super::{
    AuditTrailBuilder, Checkpoint, Durability, Ed25519VerifyingKey, TrailError, TrailStats,
};
use crate::error::BuildError;
use crate::health::CheckSpec;
use crate::logging::AuditEvent;

/// Where a file trail goes: see [`FileTrail::builder`] and
/// [`AuditTrailBuilder::sync`].
pub struct FileSink {
    target: Target,
    pub(super) sync: bool,
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

/// A tamper-evident audit trail. See the [module docs](super). Cheap to clone.
#[derive(Clone)]
pub struct FileTrail {
    inner: Arc<Inner>,
}

struct Inner {
    durability: Durability,
    verifying_key: Option<Ed25519VerifyingKey>,
    chain: Arc<Mutex<Chain>>,
    queue: Option<SyncSender<Message>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    counts: Arc<Counts>,
    watch: Arc<Watch>,
}

enum Message {
    Event(Value),
    Flush(mpsc::SyncSender<Result<(), String>>),
}

impl FileTrail {
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
    /// # use readiness_core::audit::FileTrail;
    /// # use readiness_core::logging::{AuditEvent, Outcome};
    /// # #[allow(dead_code)]
    /// # async fn handler(trail: FileTrail) -> Result<(), Box<dyn std::error::Error>> {
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

    /// The live integrity check of this trail: see [`IntegrityCheck`].
    ///
    /// ```
    /// use readiness_core::audit::FileTrail;
    /// use readiness_core::{Check as _, Status};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), readiness_core::BoxError> {
    /// let path = std::env::temp_dir().join(format!("doc-file-integrity-{}.jsonl", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let trail = FileTrail::builder(&path).build()?;
    /// assert_eq!(trail.integrity().check().await?.status(), Status::Pass);
    /// # let _ = std::fs::remove_file(&path);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn integrity(&self) -> IntegrityCheck {
        IntegrityCheck::new(Arc::clone(&self.inner.watch))
    }

    /// The live integrity check, ready to register: see
    /// [`IntegrityCheck::into_spec`] (non-critical, every 10 s).
    ///
    /// ```
    /// use readiness_core::audit::FileTrail;
    /// use readiness_core::Readiness;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let path = std::env::temp_dir().join(format!("doc-file-check-{}.jsonl", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let registry = prometheus::Registry::new();
    /// let trail = FileTrail::builder(&path).registry(registry.clone(), None).build()?;
    /// let readiness = Readiness::builder()
    ///     .registry(registry)
    ///     .check(trail.integrity_check())
    ///     .build()?;
    /// # let _ = readiness;
    /// # let _ = std::fs::remove_file(&path);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn integrity_check(&self) -> CheckSpec {
        self.integrity().into_spec()
    }
}

impl fmt::Debug for FileTrail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileTrail")
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
    pub fn build(self) -> Result<FileTrail, BuildError> {
        let counts = self.checked()?;
        let integrity = self.integrity_metrics()?;
        let verifying_key = self.verifying_key();
        let path_error = |path: &Path, e: io::Error| {
            BuildError::new("audit_trail.path", format!("{}: {e}", path.display()))
        };
        let resume = match &self.sink.target {
            Target::Writer(_) => Resume::default(),
            Target::Path(path) => Resume::read(path).map_err(|e| path_error(path, e))?,
        };
        let links = self.links(&resume.tail);
        let watched = match &self.sink.target {
            Target::Path(path) => Some(path.clone()),
            Target::Writer(_) => None,
        };
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
        let metadata = file
            .as_ref()
            .map(File::metadata)
            .transpose()
            .map_err(|e| BuildError::new("audit_trail.path", e.to_string()))?;
        let len = metadata.as_ref().map_or(0, std::fs::Metadata::len);
        // Only a regular file can be read back (not `/dev/full`, say).
        let watched = watched.filter(|_| metadata.as_ref().is_some_and(std::fs::Metadata::is_file));
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
        // The first integrity pass, from the file's last checkpoint to what was
        // just written, sets the gauge before it is registered.
        let watch = match watched {
            Some(path) => Watch::file(path.clone(), verifying_key, integrity.clone())
                .map_err(|e| path_error(&path, e))?,
            None => Watch::unreadable(),
        };
        super::settings::register_integrity(
            self.registry.as_ref(),
            integrity.filter(|_| !watch.is_unreadable()),
        )?;
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
        Ok(FileTrail {
            inner: Arc::new(Inner {
                durability: self.durability,
                verifying_key,
                chain,
                queue,
                thread: Mutex::new(thread),
                counts,
                watch: Arc::new(watch),
            }),
        })
    }
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
