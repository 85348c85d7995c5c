//! Log export over OTLP (HTTP or gRPC): every line the log layer writes, as an OTLP
//! log record, after the same redaction and classification.
//!
//! The layer encodes each record on the calling thread (its `LogRecord` message,
//! written once with the span exporter's protobuf writer) and queues it without
//! waiting on a [`LogWriter`](crate::logging::LogWriter) of its own: bounded, whatever the line holds, so a
//! collector that is away costs a request nothing. A full queue drops the record
//! and counts it, audit and security records under their own label. The writer's
//! thread hands the records over in batches (`OTEL_BLRP_MAX_EXPORT_BATCH_SIZE`, or
//! after `OTEL_BLRP_SCHEDULE_DELAY`), and this module wraps them in an
//! `ExportLogsServiceRequest` under the spans' resource and POSTs it to `/v1/logs`
//! over HTTP, or, over gRPC, calls the collector's `LogsService/Export` with it,
//! through the [`Sender`] the spans use.
//!
//! The export never feeds itself: events on its own thread (its error lines, the
//! HTTP client's) and events of the HTTP stack's targets and of
//! `readiness::telemetry` are written as lines but not exported, or each failed
//! export would log a line that is exported, and so on.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_sdk::Resource;

use super::config::LogsSettings;
use super::otlp_http as pb;
use super::sender::{Sender, LOGS_EXPORT};
use crate::error::BuildError;
use crate::metrics::names;
use crate::writer::{LogGuard, LogWriter};

thread_local! {
    /// Set on the export's own thread: nothing logged there is exported.
    static EXPORTING: Cell<bool> = const { Cell::new(false) };
}

/// Targets never exported (nor anything below them): the exporter's own
/// diagnostics and the HTTP stack it sends with, whose events would otherwise
/// describe each export in a record of the next.
const NOT_EXPORTED: &[&str] = &[
    "readiness::telemetry",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
    "tonic",
    "tower",
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
];

/// The `category` label values, by the kind byte each queued record starts with.
const CATEGORIES: [&str; 3] = ["other", "audit", "security"];
/// The `reason` label values.
const REASONS: [&str; 2] = ["queue_full", "export_failed"];
const QUEUE_FULL: usize = 0;
const EXPORT_FAILED: usize = 1;

/// Where the log layer hands each line's record when logs are exported over OTLP.
/// Given by [`TelemetryGuard::log_export`](super::TelemetryGuard::log_export) when
/// `OTEL_LOGS_EXPORTER=otlp`; pass it to
/// [`LogSettings::otlp`](crate::logging::LogSettings::otlp).
/// [`Setup::init`](crate::Setup::init) does both.
///
/// ```
/// use readiness_core::logging::LogSettings;
/// use readiness_core::telemetry::{OtelSettings, Telemetry};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (otel, guard) = Telemetry::from_settings(OtelSettings::from_env()?)
///     .build::<tracing_subscriber::Registry>()?;
/// let mut logs = LogSettings::new();
/// if let Some(export) = guard.log_export() {
///     logs = logs.otlp(export); // OTEL_LOGS_EXPORTER=otlp and an endpoint
/// }
/// # let _ = (otel, logs);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LogExport {
    writer: LogWriter,
    counters: Arc<Counters>,
}

/// What became of the log records handed to a [`LogExport`], since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LogExportStats {
    /// Records the collector accepted.
    pub exported: u64,
    /// Records dropped because the queue was full (the collector slow or away).
    pub dropped_queue_full: u64,
    /// Records lost because their export failed (refused, timed out, unreachable).
    pub export_failed: u64,
    /// Of `dropped_queue_full`, the audit and security records.
    pub critical_dropped_queue_full: u64,
    /// Of `export_failed`, the audit and security records.
    pub critical_export_failed: u64,
    /// Export requests that failed.
    pub failed_exports: u64,
}

#[derive(Default)]
struct Counters {
    exported: AtomicU64,
    /// By reason, then category.
    dropped: [[AtomicU64; 3]; 2],
    failed_exports: AtomicU64,
    metrics: Option<Metrics>,
}

struct Metrics {
    exported: prometheus::IntCounter,
    dropped: [[prometheus::IntCounter; 3]; 2],
}

impl Counters {
    fn dropped(&self, reason: usize, counts: [u64; 3]) {
        for (category, count) in counts.into_iter().enumerate() {
            if count > 0 {
                self.dropped[reason][category].fetch_add(count, Ordering::Relaxed);
                if let Some(metrics) = &self.metrics {
                    metrics.dropped[reason][category].inc_by(count);
                }
            }
        }
    }

    fn exported(&self, count: u64) {
        self.exported.fetch_add(count, Ordering::Relaxed);
        if let Some(metrics) = &self.metrics {
            metrics.exported.inc_by(count);
        }
    }

    fn stats(&self) -> LogExportStats {
        let get =
            |reason: usize, category: usize| self.dropped[reason][category].load(Ordering::Relaxed);
        let critical = |reason| get(reason, 1) + get(reason, 2);
        LogExportStats {
            exported: self.exported.load(Ordering::Relaxed),
            dropped_queue_full: critical(QUEUE_FULL) + get(QUEUE_FULL, 0),
            export_failed: critical(EXPORT_FAILED) + get(EXPORT_FAILED, 0),
            critical_dropped_queue_full: critical(QUEUE_FULL),
            critical_export_failed: critical(EXPORT_FAILED),
            failed_exports: self.failed_exports.load(Ordering::Relaxed),
        }
    }
}

impl LogExport {
    /// What became of the records so far.
    #[must_use]
    pub fn stats(&self) -> LogExportStats {
        self.counters.stats()
    }

    /// Whether an event of `target`, on this thread, is exported (see the
    /// [module docs](self)).
    pub(crate) fn wants(target: &str) -> bool {
        if EXPORTING.with(Cell::get) {
            return false;
        }
        !NOT_EXPORTED.iter().any(|prefix| {
            target.starts_with(prefix)
                && matches!(target.as_bytes().get(prefix.len()), None | Some(b':'))
        })
    }

    /// Queues one framed record (`kind`, its length as a varint, the `LogRecord`
    /// message), or counts it dropped; never waits.
    pub(crate) fn offer(&self, frame: &[u8], kind: u8) {
        if !self.writer.try_write_line(frame) {
            let mut counts = [0; 3];
            counts[usize::from(kind).min(2)] = 1;
            self.counters.dropped(QUEUE_FULL, counts);
        }
    }
}

impl fmt::Debug for LogExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogExport")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Starts the export: the queue, its thread, the sender.
pub(crate) fn start(
    settings: &LogsSettings,
    endpoint: &str,
    resource: &Resource,
    registry: Option<(&prometheus::Registry, Option<&str>)>,
    log_interval: Duration,
) -> Result<(LogExport, LogGuard), BuildError> {
    let metrics = match registry {
        Some((registry, namespace)) => Some(register(registry, namespace)?),
        None => None,
    };
    let counters = Arc::new(Counters {
        metrics,
        ..Counters::default()
    });
    let timeout = settings.timeout.min(settings.batch.export_timeout);
    let sender =
        Sender::new(settings.protocol, endpoint, &settings.headers, timeout).map_err(|error| {
            BuildError::new(
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                format!("cannot make the OTLP log exporter for {endpoint}: {error}"),
            )
        })?;
    let mut scope = Vec::new();
    pb::bytes(&mut scope, 1, b"readiness");
    pb::bytes(&mut scope, 2, env!("CARGO_PKG_VERSION").as_bytes());
    let output = Output {
        sender,
        resource: pb::resource_message(resource),
        scope,
        batch: settings.batch.max_export_batch_size,
        counters: counters.clone(),
        log_interval,
        last_logged: None,
        failures: 0,
        lost: 0,
    };
    let (writer, guard) = LogWriter::to_writer(output)
        .capacity(settings.batch.max_queue_size.clamp(16, 10_000_000))
        .batching(
            settings.batch.max_export_batch_size,
            settings.batch.scheduled_delay,
        )
        .flush_timeout(timeout)
        .thread_name("readiness-otlp-logs")
        .build()
        .map_err(|error| BuildError::new("OTEL_BLRP_MAX_QUEUE_SIZE", error.to_string()))?;
    Ok((LogExport { writer, counters }, guard))
}

fn register(
    registry: &prometheus::Registry,
    namespace: Option<&str>,
) -> Result<Metrics, BuildError> {
    let register_error = |error: prometheus::Error| {
        BuildError::new(
            "telemetry.registry",
            format!("cannot register the log export metrics: {error}"),
        )
    };
    let exported = prometheus::IntCounter::with_opts(crate::metrics::opts(
        namespace,
        names::LOG_RECORDS_EXPORTED,
        "Log records the OTLP collector accepted.",
    ))
    .map_err(register_error)?;
    let dropped = prometheus::IntCounterVec::new(
        crate::metrics::opts(
            namespace,
            names::LOG_RECORDS_DROPPED,
            "Log records not exported: the export queue was full, or their export failed; \
             audit and security records under their own category.",
        ),
        &[names::REASON, names::CATEGORY],
    )
    .map_err(register_error)?;
    registry
        .register(Box::new(exported.clone()))
        .map_err(register_error)?;
    if let Err(error) = registry.register(Box::new(dropped.clone())) {
        let _ = registry.unregister(Box::new(exported));
        return Err(register_error(error));
    }
    // Every series from the start, at zero.
    let series = |reason: usize| {
        CATEGORIES.map(|category| dropped.with_label_values(&[REASONS[reason], category]))
    };
    Ok(Metrics {
        exported,
        dropped: [series(QUEUE_FULL), series(EXPORT_FAILED)],
    })
}

/// The export thread's end of the queue: each batch of framed records it is given
/// becomes export requests of at most `batch` records.
struct Output {
    sender: Sender,
    /// The `Resource` and `InstrumentationScope` messages, written once.
    resource: Vec<u8>,
    scope: Vec<u8>,
    batch: usize,
    counters: Arc<Counters>,
    log_interval: Duration,
    last_logged: Option<Instant>,
    /// Failed exports and records lost since the last error line.
    failures: u64,
    lost: u64,
}

/// An export's `ResourceLogs`: the `Resource` and `InstrumentationScope` messages,
/// written once, and the `LogRecord` messages as queued.
struct ResourceLogs<'a> {
    resource: &'a [u8],
    scope: &'a [u8],
    records: &'a [&'a [u8]],
}

impl pb::Encode for ResourceLogs<'_> {
    fn encode(&self, out: &mut impl pb::Sink) {
        pb::bytes_always(out, 1, self.resource);
        pb::message(
            out,
            2,
            &ScopeLogs {
                scope: self.scope,
                records: self.records,
            },
        );
    }
}

/// A `ScopeLogs`: the scope, then each record.
struct ScopeLogs<'a> {
    scope: &'a [u8],
    records: &'a [&'a [u8]],
}

impl pb::Encode for ScopeLogs<'_> {
    fn encode(&self, out: &mut impl pb::Sink) {
        pb::bytes_always(out, 1, self.scope);
        for record in self.records {
            pb::bytes_always(out, 2, record);
        }
    }
}

impl Output {
    /// Sends `records` (`LogRecord` messages), counted by category in `kinds`, in
    /// one body written at its exact size: each record copied once, from the
    /// queue's batch into the body.
    fn send(&mut self, records: &[&[u8]], kinds: [u64; 3]) {
        let count: u64 = kinds.iter().sum();
        if count == 0 {
            return;
        }
        let body = pb::body(
            1,
            &ResourceLogs {
                resource: &self.resource,
                scope: &self.scope,
                records,
            },
        );
        match self.sender.send(body, LOGS_EXPORT) {
            Ok(()) => {
                self.counters.exported(count);
                if self.failures > 0 && self.last_logged.is_some() {
                    tracing::info!(
                        target: "readiness::telemetry",
                        category = "system",
                        "OTLP log export works again"
                    );
                    self.last_logged = None;
                }
                self.failures = 0;
                self.lost = 0;
            }
            Err(error) => {
                self.counters.dropped(EXPORT_FAILED, kinds);
                self.counters.failed_exports.fetch_add(1, Ordering::Relaxed);
                self.failures += 1;
                self.lost += count;
                // One line per interval, never one per export.
                if self
                    .last_logged
                    .is_none_or(|at| at.elapsed() >= self.log_interval)
                {
                    tracing::warn!(
                        target: "readiness::telemetry",
                        category = "system",
                        failures = self.failures,
                        records_lost = self.lost,
                        error = %error,
                        "OTLP log export failing; lost records are counted in log_records_dropped_total"
                    );
                    self.last_logged = Some(Instant::now());
                    self.failures = 0;
                    self.lost = 0;
                }
            }
        }
    }
}

impl io::Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        EXPORTING.with(|exporting| exporting.set(true));
        let mut rest = buf;
        let mut records = Vec::new();
        while !rest.is_empty() {
            records.clear();
            let mut kinds = [0u64; 3];
            while records.len() < self.batch && !rest.is_empty() {
                let Some((kind, record, left)) = pb::next_frame(rest) else {
                    rest = &[];
                    break;
                };
                records.push(record);
                kinds[usize::from(kind).min(2)] += 1;
                rest = left;
            }
            self.send(&records, kinds);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
