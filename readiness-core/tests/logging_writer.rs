//! The non-blocking writer: drops counted exactly, audit and security lines never
//! dropped, every line flushed by the guard, files rotated by name.
#![cfg(feature = "logging")]

use std::io::Write;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use readiness_core::logging::{AuditEvent, LogSettings, LogWriter, Outcome, Overflow, Rotation};
use tracing_subscriber::layer::SubscriberExt as _;

/// A destination that holds every write until the test opens the gate, and tells
/// when a write has started.
struct Gate {
    started: mpsc::Sender<()>,
    open: Arc<Mutex<mpsc::Receiver<()>>>,
    opened: bool,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Write for Gate {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.opened {
            let _ = self.started.send(());
            let _ = self.open.lock().unwrap().recv();
            self.opened = true;
        }
        self.out.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_full_queue_drops_ordinary_lines_counted_exactly_but_never_audit_lines() {
    let (started_tx, started) = mpsc::channel();
    let (open_tx, open) = mpsc::channel();
    let out = Arc::new(Mutex::new(Vec::new()));
    let gate = Gate {
        started: started_tx,
        open: Arc::new(Mutex::new(open)),
        opened: false,
        out: Arc::clone(&out),
    };
    let (writer, guard) = LogWriter::to_writer(gate)
        .capacity(16)
        .overflow(Overflow::Drop)
        .build()
        .unwrap();
    let registry = prometheus::Registry::new();
    let layer = LogSettings::new()
        .registry(registry.clone(), None)
        .build_with_writer(&writer)
        .unwrap();
    let subscriber = Arc::new(tracing_subscriber::registry().with(layer));

    tracing::subscriber::with_default(Arc::clone(&subscriber), || {
        tracing::info!(n = 0, "first");
    });
    // The writer thread holds line 0 and waits at the gate; the queue is empty.
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    tracing::subscriber::with_default(Arc::clone(&subscriber), || {
        for n in 1..=100 {
            tracing::info!(n, "burst");
        }
    });
    // 16 fit in the queue, 84 were dropped.
    assert_eq!(writer.dropped_lines(), 84);

    // An audit line waits for room instead of being dropped.
    let audit = std::thread::spawn({
        let subscriber = Arc::clone(&subscriber);
        move || {
            tracing::subscriber::with_default(subscriber, || {
                AuditEvent::new("user:1", "delete", "invoice", Outcome::Success).emit();
            });
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(!audit.is_finished(), "the audit line did not wait for room");
    open_tx.send(()).unwrap();
    audit.join().unwrap();
    assert!(guard.flush());

    let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 16 + 1, "{text}");
    assert!(
        lines[17].contains("\"category\":\"audit\""),
        "{}",
        lines[17]
    );
    assert_eq!(writer.dropped_lines(), 84);
    let mut metrics = Vec::new();
    prometheus::Encoder::encode(
        &prometheus::TextEncoder::new(),
        &registry.gather(),
        &mut metrics,
    )
    .unwrap();
    assert!(String::from_utf8(metrics)
        .unwrap()
        .contains("log_lines_dropped_total 84"));
}

/// A writer whose destination holds its first write until `open_tx` sends, with
/// that first line taken and the 16-line queue behind it full.
struct Stuck {
    writer: LogWriter,
    guard: readiness_core::logging::LogGuard,
    out: Arc<Mutex<Vec<u8>>>,
    open_tx: mpsc::Sender<()>,
    dispatch: tracing::Dispatch,
}

fn stuck(critical_timeout: Duration) -> Stuck {
    let (started_tx, started) = mpsc::channel();
    let (open_tx, open) = mpsc::channel();
    let out = Arc::new(Mutex::new(Vec::new()));
    let gate = Gate {
        started: started_tx,
        open: Arc::new(Mutex::new(open)),
        opened: false,
        out: Arc::clone(&out),
    };
    let (writer, guard) = LogWriter::to_writer(gate)
        .capacity(16)
        .critical_timeout(critical_timeout)
        .build()
        .unwrap();
    let layer = LogSettings::new().build_with_writer(&writer).unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || tracing::info!("first"));
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        for n in 0..16 {
            tracing::info!(n, "fills the queue");
        }
    });
    Stuck {
        writer,
        guard,
        out,
        open_tx,
        dispatch,
    }
}

#[test]
fn an_audit_line_past_its_critical_timeout_is_dropped_counted_and_reported() {
    let Stuck {
        writer,
        guard,
        out,
        open_tx,
        dispatch,
    } = stuck(Duration::from_millis(200));
    let (waited, result) = tracing::dispatcher::with_default(&dispatch, || {
        let event = || AuditEvent::new("user:1", "delete", "invoice", Outcome::Success);
        let start = std::time::Instant::now();
        let result = event().try_emit();
        let waited = start.elapsed();
        (waited, result)
    });
    // It waited its deadline, then was dropped, counted, and reported.
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    let error = result.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(writer.dropped_lines(), 1);
    open_tx.send(()).unwrap();
    assert!(guard.flush());
    // With room, the next one is queued and reported as such.
    let layer = LogSettings::new().build_with_writer(&writer).unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        AuditEvent::new("user:1", "delete", "invoice", Outcome::Success)
            .try_emit()
            .unwrap();
    });
    assert!(guard.flush());
    let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    assert_eq!(text.lines().count(), 1 + 16 + 1, "{text}");
    assert_eq!(writer.dropped_lines(), 1);
}

#[test]
fn the_guard_flushes_every_line_and_files_rotate_by_name() {
    let dir = std::env::temp_dir().join(format!("readiness-logs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (writer, guard) = LogWriter::file(&dir, "orders")
        .rotation(Rotation::Daily)
        .keep(3)
        .overflow(Overflow::Block)
        .capacity(64)
        .build()
        .unwrap();
    let layer = LogSettings::new().build_with_writer(&writer).unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for n in 0..10_000 {
            tracing::info!(n, "line");
        }
    });
    drop(guard); // flushes: nothing accepted before is lost
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("orders.") && name.ends_with(".log"),
        "{name}"
    );
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(text.lines().count(), 10_000);
    assert_eq!(writer.dropped_lines(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn writer_settings_are_validated_naming_the_field() {
    let err = LogWriter::stdout().capacity(1).build().unwrap_err();
    assert_eq!(err.field(), "log_writer.capacity");
    let err = LogWriter::file("/tmp", "x").keep(0).build().unwrap_err();
    assert_eq!(err.field(), "log_writer.keep");
    let err = LogWriter::file("/proc/readiness-cannot-write-here", "x")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "log_writer.directory");
}

/// `try_emit_async` waits for room in its task, not on its thread: on a
/// one-thread runtime another task keeps running while an audit line waits. Past
/// the deadline the line is dropped, counted and reported; a wait cancelled (its
/// request gone) drops and counts it too; room made mid-wait queues it.
#[tokio::test(flavor = "current_thread")]
async fn an_audit_line_waits_for_room_in_its_task_not_on_its_thread() {
    let Stuck {
        writer,
        guard,
        out,
        open_tx,
        dispatch,
    } = stuck(Duration::from_millis(300));
    let emit = || {
        tracing::dispatcher::with_default(&dispatch, || {
            AuditEvent::new("user:1", "delete", "invoice", Outcome::Success).try_emit_async()
        })
    };

    // Cancelled mid-wait: dropped and counted.
    assert!(tokio::time::timeout(Duration::from_millis(50), emit())
        .await
        .is_err());
    assert_eq!(writer.dropped_lines(), 1);

    // Past its deadline, while another task on this one thread keeps ticking.
    let ticks = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let ticker = tokio::spawn({
        let ticks = Arc::clone(&ticks);
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    let start = std::time::Instant::now();
    let error = emit().await.unwrap_err();
    let waited = start.elapsed();
    ticker.abort();
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    let ticked = ticks.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("another task ticked {ticked} times while the audit line waited {waited:?}");
    assert!(
        ticked >= 10,
        "the thread was held: {ticked} ticks in {waited:?}"
    );
    assert_eq!(writer.dropped_lines(), 2);

    // Room made mid-wait (the destination takes its writes again): queued.
    let waiting = emit();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        open_tx.send(()).unwrap();
    });
    waiting.await.unwrap();
    assert!(guard.flush());
    let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    assert_eq!(text.lines().count(), 1 + 16 + 1, "{text}");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .contains("\"category\":\"audit\""),
        "{text}"
    );
    assert_eq!(writer.dropped_lines(), 2);
}
