//! What happens to a span after it ends: a bounded queue whose overflow is counted,
//! export outcomes counted, and export errors logged at most once per interval.
//!
//! The SDK's batch processor drops spans beyond its queue too, but only logs the
//! first drop and keeps the count to itself. [`Gate`] sits in front of it and admits
//! a span only while fewer than `capacity` spans are waiting or being exported, so
//! the SDK's own queue (as large) never overflows and every drop is ours to count.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Span, SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;

/// Counts of what became of the spans that ended, since the provider was built.
///
/// ```
/// # use readiness_core::telemetry::{OtelSettings, Telemetry};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let settings = OtelSettings::from_lookup(|_| None)?; // no endpoint: nothing exported
/// let (_layer, guard) = Telemetry::from_settings(settings)
///     .build::<tracing_subscriber::Registry>()?;
/// let stats = guard.stats();
/// assert_eq!(stats.dropped_queue_full, 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ExportStats {
    /// Spans the collector accepted.
    pub exported: u64,
    /// Spans dropped because the queue was full (the collector too slow or away).
    pub dropped_queue_full: u64,
    /// Spans lost because their export failed (refused, timed out, rejected).
    pub export_failed: u64,
    /// Spans queued or being exported right now.
    pub pending: u64,
    /// Metrics exports the collector accepted (OTLP metrics, when on).
    pub metric_exports: u64,
    /// Metrics exports that failed (refused, timed out, unreachable); the next
    /// export carries the totals again (cumulative) or the changes since the last
    /// that got through (delta).
    pub metric_exports_failed: u64,
}

/// The counters shared by the gate, the exporter and the guard, and the Prometheus
/// counters they feed when a registry was given.
#[derive(Default)]
pub(crate) struct Counters {
    pending: AtomicUsize,
    exported: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    metric_exports: AtomicU64,
    metric_exports_failed: AtomicU64,
    metrics: Option<Metrics>,
}

#[derive(Clone)]
pub(crate) struct Metrics {
    pub(crate) exported: prometheus::IntCounter,
    pub(crate) dropped_queue_full: prometheus::IntCounter,
    pub(crate) dropped_export_failed: prometheus::IntCounter,
    pub(crate) metric_exports: prometheus::IntCounter,
    pub(crate) metric_exports_failed: prometheus::IntCounter,
}

impl Counters {
    pub(crate) fn new(metrics: Option<Metrics>) -> Self {
        Self {
            metrics,
            ..Self::default()
        }
    }

    pub(crate) fn stats(&self) -> ExportStats {
        ExportStats {
            exported: self.exported.load(Ordering::Relaxed),
            dropped_queue_full: self.dropped.load(Ordering::Relaxed),
            export_failed: self.failed.load(Ordering::Relaxed),
            pending: self.pending.load(Ordering::Relaxed) as u64,
            metric_exports: self.metric_exports.load(Ordering::Relaxed),
            metric_exports_failed: self.metric_exports_failed.load(Ordering::Relaxed),
        }
    }

    /// Counts one metrics export's outcome.
    pub(crate) fn metric_export(&self, ok: bool) {
        let (count, metric) = if ok {
            (
                &self.metric_exports,
                self.metrics.as_ref().map(|m| &m.metric_exports),
            )
        } else {
            (
                &self.metric_exports_failed,
                self.metrics.as_ref().map(|m| &m.metric_exports_failed),
            )
        };
        count.fetch_add(1, Ordering::Relaxed);
        if let Some(metric) = metric {
            metric.inc();
        }
    }
}

/// Admits a span to the batch processor while fewer than `capacity` are pending.
pub(crate) struct Gate {
    inner: BatchSpanProcessor,
    counters: Arc<Counters>,
    capacity: usize,
}

impl Gate {
    pub(crate) fn new(inner: BatchSpanProcessor, counters: Arc<Counters>, capacity: usize) -> Self {
        Self {
            inner,
            counters,
            capacity,
        }
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("capacity", &self.capacity)
            .field("stats", &self.counters.stats())
            .finish_non_exhaustive()
    }
}

impl SpanProcessor for Gate {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        let admitted = self
            .counters
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pending| {
                (pending < self.capacity).then_some(pending + 1)
            })
            .is_ok();
        if admitted {
            self.inner.on_end(span);
        } else {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            if let Some(metrics) = &self.counters.metrics {
                metrics.dropped_queue_full.inc();
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Wraps the OTLP exporter: counts each batch's outcome, releases its spans from
/// the gate, and logs failures at most once per `interval`.
pub(crate) struct Counting<E> {
    inner: E,
    counters: Arc<Counters>,
    interval: Duration,
    log: Mutex<ErrorLog>,
}

/// When the last failure line was written and what happened since: the span and
/// the metrics exporters log through it, at most one line per interval.
#[derive(Default)]
pub(crate) struct ErrorLog {
    last_line: Option<Instant>,
    failures_since: u64,
    lost_since: u64,
    failing: bool,
}

impl ErrorLog {
    /// Notes a failure that lost `lost` items. When a line is due (the first
    /// failure, or `interval` after the last line), the failures and the items lost
    /// since the last line, to write now.
    pub(crate) fn failure(&mut self, lost: u64, interval: Duration) -> Option<(u64, u64)> {
        self.failing = true;
        self.failures_since += 1;
        self.lost_since += lost;
        let due = self.last_line.is_none_or(|last| last.elapsed() >= interval);
        due.then(|| {
            let since = (self.failures_since, self.lost_since);
            self.last_line = Some(Instant::now());
            self.failures_since = 0;
            self.lost_since = 0;
            since
        })
    }

    /// Notes a success. After failures, those not reported yet, for the line
    /// saying the export recovered.
    pub(crate) fn success(&mut self) -> Option<(u64, u64)> {
        let failing = self
            .failing
            .then_some((self.failures_since, self.lost_since));
        if failing.is_some() {
            *self = Self::default();
        }
        failing
    }
}

impl<E> Counting<E> {
    pub(crate) fn new(inner: E, counters: Arc<Counters>, interval: Duration) -> Self {
        Self {
            inner,
            counters,
            interval,
            log: Mutex::new(ErrorLog::default()),
        }
    }

    fn failed(&self, spans: u64, error: &dyn fmt::Display) {
        self.counters.failed.fetch_add(spans, Ordering::Relaxed);
        if let Some(metrics) = &self.counters.metrics {
            metrics.dropped_export_failed.inc_by(spans);
        }
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((failures, lost)) = log.failure(spans, self.interval) {
            tracing::warn!(
                target: "readiness::telemetry",
                category = "system",
                error = %error,
                failed_exports = failures,
                spans_lost = lost,
                next_report_s = self.interval.as_secs(),
                "span export failing; spans are being dropped"
            );
        }
    }

    fn succeeded(&self, spans: u64) {
        self.counters.exported.fetch_add(spans, Ordering::Relaxed);
        if let Some(metrics) = &self.counters.metrics {
            metrics.exported.inc_by(spans);
        }
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((failures, lost)) = log.success() {
            tracing::info!(
                target: "readiness::telemetry",
                category = "system",
                failed_exports = failures,
                spans_lost = lost,
                "span export recovered"
            );
        }
    }
}

impl<E> fmt::Debug for Counting<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counting")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl<E: SpanExporter> SpanExporter for Counting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        self.counters.pending.fetch_sub(spans, Ordering::AcqRel);
        match &result {
            Ok(()) => self.succeeded(spans as u64),
            Err(error) => self.failed(spans as u64, error),
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
