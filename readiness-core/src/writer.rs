//! Delivery: a bounded queue drained by a thread of its own, to stdout or to files
//! rotated by `tracing-appender`, with a guard that flushes at shutdown.
//!
//! `tracing-appender`'s own non-blocking writer drops any line when its buffer is
//! full; here the policy depends on the line: audit and security lines wait for
//! room (up to the critical timeout, default 1 s: a destination nobody reads must
//! not hold a request for ever), the others follow [`Overflow`], and every dropped
//! line is counted. A critical line dropped at its deadline is also told to the
//! thread that wrote it ([`AuditEvent::try_emit`](crate::logging::AuditEvent::try_emit)), so
//! a service that must not act unrecorded can refuse the request.

use std::cell::Cell;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_appender::rolling::{RollingFileAppender, Rotation as AppenderRotation};
use tracing_subscriber::fmt::MakeWriter;

use crate::error::BuildError;

/// Where a [`LogLayer`](crate::logging::LogLayer) puts a finished line.
pub(crate) trait Sink: Send + Sync + 'static {
    /// `critical` lines (audit, security) must not be dropped.
    fn write_line(&self, line: &[u8], critical: bool);
}

/// Any `MakeWriter` (stdout, a test buffer, `tracing-appender`'s writers): each line
/// goes out in one `write_all`.
pub(crate) struct MakeWriterSink<W>(pub(crate) W);

impl<W> Sink for MakeWriterSink<W>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    fn write_line(&self, line: &[u8], _critical: bool) {
        let _ = self.0.make_writer().write_all(line);
    }
}

thread_local! {
    /// Set when a critical line written on this thread was dropped at its deadline.
    static CRITICAL_LOST: Cell<bool> = const { Cell::new(false) };
    /// Set while [`defer_critical`] runs: a critical line that finds the queue full
    /// is handed back to wait asynchronously instead of holding up this thread.
    static DEFER: Cell<bool> = const { Cell::new(false) };
    static DEFERRED: std::cell::RefCell<Option<Deferred>> = const { std::cell::RefCell::new(None) };
}

/// Runs `log` (which writes a critical line: an audit event); when that line finds
/// the [`LogWriter`]'s queue full it is not waited for on this thread (a runtime
/// worker serving other requests) but handed back, to [`Deferred::queue`] in the
/// caller's task.
pub(crate) fn defer_critical(log: impl FnOnce()) -> Option<Deferred> {
    /// Puts the flag back however `log` ends (a panicking layer included), so no
    /// later line on this thread is deferred by mistake.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            DEFER.set(self.0);
        }
    }
    let restore = Restore(DEFER.replace(true));
    log();
    drop(restore);
    DEFERRED.with(|deferred| deferred.borrow_mut().take())
}

/// A critical line that found the queue full, waiting for room in its task.
pub(crate) struct Deferred {
    line: Vec<u8>,
    shared: Arc<WriterShared>,
    /// Queued or counted as dropped: nothing left to do when it goes.
    settled: bool,
    /// Counted in the queue's `blocked` (the writer then wakes it when it takes
    /// the queue), to be uncounted when the wait ends or is cancelled.
    waiting: bool,
}

impl Deferred {
    /// Waits without blocking the thread for room, up to the writer's critical
    /// timeout, and queues the line: whether it was (else it is dropped and counted,
    /// as a line that waited on its thread would be). Dropped before it settles (its
    /// request went away), the line is dropped and counted too.
    pub(crate) async fn queue(mut self) -> bool {
        let shared = Arc::clone(&self.shared);
        let deadline = tokio::time::Instant::now() + shared.critical_timeout;
        loop {
            // Registered before the queue is looked at: a take in between wakes it.
            let room = shared.room_async.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut queue = shared.lock();
                if shared.has_room(&queue) {
                    shared.push(&mut queue, &self.line);
                    self.settled = true;
                    return true;
                }
                if tokio::time::Instant::now() >= deadline {
                    drop(queue);
                    shared.count_drop();
                    self.settled = true;
                    return false;
                }
                queue.blocked += 1;
                self.waiting = true;
            }
            // Woken or timed out, the queue is looked at once more above.
            let _ = tokio::time::timeout_at(deadline, room).await;
            shared.lock().blocked -= 1;
            self.waiting = false;
        }
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        if self.waiting {
            // Its task went away mid-wait.
            self.shared.lock().blocked -= 1;
        }
        if !self.settled {
            self.shared.count_drop();
        }
    }
}

/// Whether a critical line written on this thread since the last call was dropped
/// (the flag is cleared).
pub(crate) fn take_critical_lost() -> bool {
    CRITICAL_LOST.with(Cell::take)
}

/// What happens to an ordinary line when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Overflow {
    /// Drop it and count it in `log_lines_dropped_total`. The default: a slow disk
    /// or pipe never slows the service down.
    #[default]
    Drop,
    /// Wait for room: no line is ever lost, at the price of latency.
    Block,
}

/// How often log files start anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rotation {
    /// One file per hour.
    Hourly,
    /// One file per day.
    Daily,
    /// One file for ever.
    Never,
}

enum Destination {
    Stdout,
    Writer(Box<dyn Write + Send>),
    File {
        directory: PathBuf,
        prefix: String,
        rotation: Rotation,
        keep: usize,
    },
}

/// Builds a [`LogWriter`]: `LogWriter::stdout()` or `LogWriter::file(dir, prefix)`.
#[must_use]
pub struct LogWriterBuilder {
    destination: Destination,
    capacity: usize,
    overflow: Overflow,
    flush_timeout: Duration,
    critical_timeout: Duration,
    /// Lines handed over per batch, and the longest a line waits for its batch to
    /// fill (the OTLP log export; the JSON writer writes what it finds).
    batch: Option<(usize, Duration)>,
    thread_name: &'static str,
}

/// The lines waiting for the writer thread, appended to one buffer: a line costs a
/// copy, not an allocation and a hand-off of its own.
struct Queue {
    bytes: Vec<u8>,
    lines: usize,
    /// Flush requests, answered once the lines queued before them are written.
    flushes: Vec<SyncSender<()>>,
    /// The writer thread waits for a line (rather than napping between looks).
    asleep: bool,
    /// Lines waiting for room.
    blocked: usize,
    /// Every `LogWriter` is gone: the thread writes what is left and ends.
    closed: bool,
    /// With batching: when the first line not yet taken was queued.
    first_line: Option<Instant>,
}

/// The non-blocking writer: lines are queued (up to the capacity, default 64k
/// lines) and written by a thread of its own. Give it to
/// [`LogSettings::build_with_writer`](crate::logging::LogSettings::build_with_writer); keep
/// the [`LogGuard`] until the end of `main`, or hand it to the shutdown sequence.
///
/// ```no_run
/// use readiness_core::logging::{LogWriter, Overflow, Rotation};
///
/// # fn main() -> Result<(), readiness_core::BuildError> {
/// let (writer, guard) = LogWriter::file("/var/log/orders", "orders")
///     .rotation(Rotation::Daily)
///     .keep(30)
///     .overflow(Overflow::Drop)
///     .build()?;
/// # let _ = (writer, guard);
/// # Ok(()) }
/// ```
pub struct LogWriter {
    shared: Arc<WriterShared>,
}

struct WriterShared {
    queue: Mutex<Queue>,
    /// Signalled when a line arrives for a sleeping writer, or at close.
    arrived: Condvar,
    /// Signalled when the writer took the queue (room for blocked lines).
    room: Condvar,
    /// The same, for critical lines waiting in a task ([`Deferred`]).
    room_async: tokio::sync::Notify,
    capacity: usize,
    overflow: Overflow,
    critical_timeout: Duration,
    batch: Option<(usize, Duration)>,
    dropped: AtomicU64,
    dropped_metric: OnceLock<prometheus::IntCounter>,
    /// Live `LogWriter` clones.
    writers: AtomicUsize,
}

impl WriterShared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic never happens with the lock held (only appends and swaps), but a
        // poisoned queue is still a usable one.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clone for LogWriter {
    fn clone(&self) -> Self {
        self.shared.writers.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if self.shared.writers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.lock().closed = true;
            self.shared.arrived.notify_all();
        }
    }
}

/// Flushes the [`LogWriter`] when dropped (or by [`flush`](Self::flush)): every line
/// queued before is written, within the flush timeout (default 5 s).
#[must_use = "dropping the guard at once stops the writer"]
pub struct LogGuard {
    shared: Arc<WriterShared>,
    thread: Option<JoinHandle<()>>,
    timeout: Duration,
    /// Flushed by [`finish_within`](Self::finish_within): not again when dropped.
    finished: bool,
}

impl LogWriter {
    /// Lines to standard output.
    pub fn stdout() -> LogWriterBuilder {
        LogWriterBuilder::new(Destination::Stdout)
    }

    /// Lines to any `io::Write` (a pipe, a socket, a file opened by the service).
    pub fn to_writer(writer: impl Write + Send + 'static) -> LogWriterBuilder {
        LogWriterBuilder::new(Destination::Writer(Box::new(writer)))
    }

    /// Lines to `DIRECTORY/PREFIX.DATE.log`, rotated daily and keeping 7 files unless
    /// set otherwise.
    pub fn file(directory: impl Into<PathBuf>, prefix: impl Into<String>) -> LogWriterBuilder {
        LogWriterBuilder::new(Destination::File {
            directory: directory.into(),
            prefix: prefix.into(),
            rotation: Rotation::Daily,
            keep: 7,
        })
    }

    /// Lines dropped so far because the queue was full.
    #[must_use]
    pub fn dropped_lines(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn set_drop_counter(&self, counter: prometheus::IntCounter) {
        let _ = self.shared.dropped_metric.set(counter);
    }

    /// Queues `line` if there is room, whatever it holds, and never waits: whether
    /// it was queued. Counts nothing; the caller counts what it drops (the OTLP log
    /// export, whose collector may be away for long: no line waits for it).
    #[cfg(feature = "otel")]
    pub(crate) fn try_write_line(&self, line: &[u8]) -> bool {
        let shared = &*self.shared;
        let mut queue = shared.lock();
        if queue.lines >= shared.capacity {
            return false;
        }
        shared.push(&mut queue, line);
        true
    }
}

impl WriterShared {
    fn push(&self, queue: &mut Queue, line: &[u8]) {
        if queue.lines == 0 && self.batch.is_some() {
            queue.first_line = Some(Instant::now());
        }
        queue.bytes.extend_from_slice(line);
        queue.lines += 1;
        if queue.asleep {
            queue.asleep = false;
            self.arrived.notify_one();
        }
    }
}

impl WriterShared {
    /// Whether a line may be queued now: the queue is under its capacity, or
    /// closed (the writer then writes what is left and nothing waits).
    fn has_room(&self, queue: &Queue) -> bool {
        queue.lines < self.capacity || queue.closed
    }

    /// Counts a dropped line.
    fn count_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        if let Some(counter) = self.dropped_metric.get() {
            counter.inc();
        }
    }
}

impl Sink for LogWriter {
    fn write_line(&self, line: &[u8], critical: bool) {
        let shared = &*self.shared;
        let mut queue = shared.lock();
        if queue.lines >= shared.capacity {
            if !critical && shared.overflow == Overflow::Drop {
                drop(queue);
                shared.count_drop();
                return;
            }
            if critical && DEFER.get() {
                drop(queue);
                let deferred = Deferred {
                    line: line.to_vec(),
                    shared: Arc::clone(&self.shared),
                    settled: false,
                    waiting: false,
                };
                // One critical line per deferred call; a second one (not made by
                // the library) replaces nothing silently: the first is counted.
                let _earlier = DEFERRED.with(|slot| slot.borrow_mut().replace(deferred));
                return;
            }
            // Critical lines wait for room up to their deadline; every other line
            // with `Overflow::Block` for as long as it takes.
            let deadline = critical.then(|| Instant::now() + shared.critical_timeout);
            queue.blocked += 1;
            while !shared.has_room(&queue) {
                let Some(deadline) = deadline else {
                    queue = shared.room.wait(queue).unwrap_or_else(|e| e.into_inner());
                    continue;
                };
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    queue.blocked -= 1;
                    drop(queue);
                    shared.count_drop();
                    CRITICAL_LOST.with(|lost| lost.set(true));
                    return;
                }
                queue = shared
                    .room
                    .wait_timeout(queue, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            queue.blocked -= 1;
        }
        shared.push(&mut queue, line);
    }
}

impl LogWriterBuilder {
    fn new(destination: Destination) -> Self {
        Self {
            destination,
            capacity: 65_536,
            overflow: Overflow::default(),
            flush_timeout: Duration::from_secs(5),
            critical_timeout: Duration::from_secs(1),
            batch: None,
            thread_name: "readiness-log",
        }
    }

    /// Hands lines over `lines` at a time, or, when fewer are queued, `delay` after
    /// the first of them (and at every flush).
    #[cfg(feature = "otel")]
    pub(crate) fn batching(mut self, lines: usize, delay: Duration) -> Self {
        self.batch = Some((lines.max(1), delay));
        self
    }

    /// The writer thread's name.
    #[cfg(feature = "otel")]
    pub(crate) fn thread_name(mut self, name: &'static str) -> Self {
        self.thread_name = name;
        self
    }

    /// How many lines may wait in the queue (default 65 536, from 16 to 10 million).
    pub fn capacity(mut self, lines: usize) -> Self {
        self.capacity = lines;
        self
    }

    /// What happens to an ordinary line when the queue is full (default
    /// [`Overflow::Drop`]). Audit and security lines wait for room up to the
    /// [critical timeout](Self::critical_timeout).
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// How long an audit or security line waits for room in a full queue (default
    /// 1 s) before it is dropped, counted in `log_lines_dropped_total` and reported
    /// to [`AuditEvent::try_emit`](crate::logging::AuditEvent::try_emit). The thread that
    /// logs it waits that long: a destination nobody reads (a stdout pipe never
    /// drained) holds each such request this long, not for ever.
    pub fn critical_timeout(mut self, timeout: Duration) -> Self {
        self.critical_timeout = timeout;
        self
    }

    /// How often files rotate (files only; default daily).
    pub fn rotation(mut self, rotation: Rotation) -> Self {
        if let Destination::File { rotation: r, .. } = &mut self.destination {
            *r = rotation;
        }
        self
    }

    /// How many files to keep; older ones are deleted (files only; default 7).
    pub fn keep(mut self, files: usize) -> Self {
        if let Destination::File { keep, .. } = &mut self.destination {
            *keep = files;
        }
        self
    }

    /// How long the guard waits for the queue to drain (default 5 s).
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// Opens the destination and starts the writing thread.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the field for a capacity or file count out of range,
    /// or a directory that cannot be written.
    pub fn build(self) -> Result<(LogWriter, LogGuard), BuildError> {
        if !(16..=10_000_000).contains(&self.capacity) {
            return Err(BuildError::new(
                "log_writer.capacity",
                format!("must be from 16 to 10000000 lines, got {}", self.capacity),
            ));
        }
        let output: Box<dyn Write + Send> = match self.destination {
            Destination::Stdout => Box::new(std::io::stdout()),
            Destination::Writer(writer) => writer,
            Destination::File {
                directory,
                prefix,
                rotation,
                keep,
            } => {
                if keep == 0 {
                    return Err(BuildError::new(
                        "log_writer.keep",
                        "must keep at least 1 file",
                    ));
                }
                let rotation = match rotation {
                    Rotation::Hourly => AppenderRotation::HOURLY,
                    Rotation::Daily => AppenderRotation::DAILY,
                    Rotation::Never => AppenderRotation::NEVER,
                };
                let appender = RollingFileAppender::builder()
                    .rotation(rotation)
                    .filename_prefix(prefix)
                    .filename_suffix("log")
                    .max_log_files(keep)
                    .build(&directory)
                    .map_err(|error| {
                        BuildError::new(
                            "log_writer.directory",
                            format!("cannot write logs in {}: {error}", directory.display()),
                        )
                    })?;
                Box::new(appender)
            }
        };
        let shared = Arc::new(WriterShared {
            queue: Mutex::new(Queue {
                bytes: Vec::with_capacity(BATCH),
                lines: 0,
                flushes: Vec::new(),
                asleep: false,
                blocked: 0,
                closed: false,
                first_line: None,
            }),
            arrived: Condvar::new(),
            room: Condvar::new(),
            room_async: tokio::sync::Notify::new(),
            capacity: self.capacity,
            overflow: self.overflow,
            critical_timeout: self.critical_timeout,
            batch: self.batch,
            dropped: AtomicU64::new(0),
            dropped_metric: OnceLock::new(),
            writers: AtomicUsize::new(1),
        });
        let drained = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(self.thread_name.to_owned())
            .spawn(move || drain(&drained, output))
            .map_err(|error| {
                BuildError::new(
                    "log_writer",
                    format!("cannot start the writer thread: {error}"),
                )
            })?;
        Ok((
            LogWriter {
                shared: Arc::clone(&shared),
            },
            LogGuard {
                shared,
                thread: Some(thread),
                timeout: self.flush_timeout,
                finished: false,
            },
        ))
    }
}

/// How long the writer thread naps between looks at a busy queue.
const NAP: Duration = Duration::from_millis(1);
/// How long the queue must stay empty before the thread sleeps until woken instead.
const IDLE: Duration = Duration::from_millis(50);
/// The size a batch buffer is kept at between writes.
const BATCH: usize = 64 * 1024;
/// How long the thread naps while a batch fills (see `LogWriterBuilder::batching`).
const BATCH_NAP: Duration = Duration::from_millis(5);

/// The writer thread: takes every queued line at once (swapping buffers, so lines
/// keep arriving while it writes) and writes them in one call. While lines keep
/// coming it naps between looks rather than being woken, so a logging request never
/// pays for waking it (a futex call and a context switch per line); after `IDLE`
/// without a line it sleeps until the next one wakes it.
fn drain(shared: &WriterShared, mut output: Box<dyn Write + Send>) {
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH);
    let mut flushes: Vec<SyncSender<()>> = Vec::new();
    let mut last_line = Instant::now();
    loop {
        let (closed, blocked) = {
            let mut queue = shared.lock();
            if let Some((lines, delay)) = shared.batch {
                // A batch not yet full waits, up to `delay` from its first line
                // (as a batch processor's export timer would), for more lines.
                let waited = queue.first_line.map_or(Duration::ZERO, |at| at.elapsed());
                if queue.lines > 0
                    && queue.lines < lines
                    && waited < delay
                    && queue.flushes.is_empty()
                    && !queue.closed
                    && queue.blocked == 0
                {
                    drop(queue);
                    std::thread::sleep((delay - waited).min(BATCH_NAP));
                    continue;
                }
            }
            if queue.lines == 0 && queue.flushes.is_empty() && !queue.closed {
                if last_line.elapsed() < IDLE {
                    drop(queue);
                    std::thread::sleep(NAP);
                    continue;
                }
                queue.asleep = true;
                while queue.asleep && !queue.closed {
                    queue = shared
                        .arrived
                        .wait(queue)
                        .unwrap_or_else(|e| e.into_inner());
                }
                queue.asleep = false;
                // Woken by a line: a batch starts with it, and waits for more.
                if shared.batch.is_some() {
                    continue;
                }
            }
            std::mem::swap(&mut queue.bytes, &mut batch);
            std::mem::swap(&mut queue.flushes, &mut flushes);
            queue.first_line = None;
            queue.lines = 0;
            (queue.closed, queue.blocked > 0)
        };
        if blocked {
            shared.room.notify_all();
            shared.room_async.notify_waiters();
        }
        if !batch.is_empty() {
            last_line = Instant::now();
            // A failing destination loses the batch; nothing better can be done
            // from here (stderr may be the failing one).
            let _ = output.write_all(&batch);
            batch.clear();
            if batch.capacity() > 4 * BATCH {
                batch = Vec::with_capacity(BATCH);
            }
        }
        if !flushes.is_empty() || closed {
            let _ = output.flush();
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
        }
        if closed && shared.lock().lines == 0 {
            break;
        }
    }
}

impl LogGuard {
    /// Waits until every line queued before this call is written and flushed, or
    /// the flush timeout passes. Returns whether it finished in time.
    pub fn flush(&self) -> bool {
        self.flush_within(self.timeout)
    }

    /// [`flush`](Self::flush), waiting at most `timeout`.
    pub(crate) fn flush_within(&self, timeout: Duration) -> bool {
        let (done, wait) = mpsc::sync_channel(1);
        {
            // The flush request is answered after the lines already queued.
            let mut queue = self.shared.lock();
            if queue.closed {
                // Every writer is gone: the thread writes what is left, flushes and
                // ends by itself.
                drop(queue);
                return self.wait_for_thread(timeout);
            }
            queue.flushes.push(done);
            if queue.asleep {
                queue.asleep = false;
                self.shared.arrived.notify_one();
            }
        }
        wait.recv_timeout(timeout).is_ok()
    }

    /// Flushes within `timeout`, and not again when dropped: whether it finished.
    #[cfg(feature = "otel")]
    pub(crate) fn finish_within(mut self, timeout: Duration) -> bool {
        self.finished = true;
        self.flush_within(timeout)
    }

    fn wait_for_thread(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let Some(thread) = &self.thread else {
            return true;
        };
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let flushed = self.flush();
        if let Some(thread) = self.thread.take() {
            // The thread ends when every `LogWriter` clone is gone (the layer may
            // outlive the guard); it has flushed already, so it is not waited for.
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
        if !flushed {
            // The writer is stuck (a full pipe, a hung disk): say so where we can.
            let _ = writeln!(
                std::io::stderr(),
                "readiness: log lines not flushed within {:?}",
                self.timeout
            );
        }
    }
}

impl fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogWriter")
            .field("overflow", &self.shared.overflow)
            .field("dropped", &self.dropped_lines())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for LogWriterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogWriterBuilder")
            .field("capacity", &self.capacity)
            .field("overflow", &self.overflow)
            .field("critical_timeout", &self.critical_timeout)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogGuard")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
