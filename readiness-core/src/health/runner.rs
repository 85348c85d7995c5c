//! The background runner: refresh on an interval, one run at a time per check,
//! timeouts that drop the check's future, panics caught and recorded.

use std::any::Any;
use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use futures_util::FutureExt as _;

use super::boxed::BoxedCheck;
use super::check::{CheckOutcome, Status};
use super::metrics::HealthMetrics;
use super::snapshot::{CheckResult, SnapshotCell};
use super::CheckInfo;
use crate::error::BoxError;
use crate::redact::{redact_urls_in, redact_urls_owned};

tokio::task_local! {
    /// When the running check's timeout ends; see [`time_left`].
    static DEADLINE: Instant;
}

/// The time the running check has left before its timeout, or `None` outside a
/// check run.
///
/// A check that waits on something of its own, such as a connection from the
/// application's pool, can give up a little earlier and say why, instead of being
/// dropped at the timeout with a generic message.
///
/// ```
/// use readiness_core::health::time_left;
/// use readiness_core::{checks, CheckOutcome};
/// use std::time::Duration;
///
/// let spec = checks::from_fn("queue", || async {
///     let budget = time_left().unwrap_or(Duration::from_secs(1)).mul_f32(0.8);
///     match tokio::time::timeout(budget, std::future::ready(())).await {
///         Ok(()) => CheckOutcome::pass(),
///         Err(_) => CheckOutcome::fail("no worker free"),
///     }
/// });
/// # let _ = spec;
/// ```
pub fn time_left() -> Option<std::time::Duration> {
    DEADLINE
        .try_with(|deadline| deadline.saturating_duration_since(Instant::now()))
        .ok()
}

/// Consecutive-run counters for flap dampening, like a kubelet probe's thresholds.
#[derive(Debug, Default)]
struct Damper {
    failures: u32,
    successes: u32,
    /// `None` while pending: no run yet, or fewer failures than the threshold so far.
    reported: Option<Status>,
}

impl Damper {
    /// Feeds one run's status and returns the status to report, `None` while pending.
    fn apply(&mut self, raw: Status, info: &CheckInfo) -> Option<Status> {
        if raw == Status::Fail {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        } else {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        }
        let failed = self.failures >= info.failure_threshold;
        let next = match self.reported {
            // Like a kubelet probe, a check fails only after `failure_threshold` runs,
            // the first ones included.
            None if raw == Status::Fail && !failed => None,
            None => Some(raw),
            Some(_) if raw == Status::Fail && failed => Some(Status::Fail),
            Some(prev) if raw == Status::Fail => Some(prev),
            Some(Status::Fail) if self.successes < info.success_threshold => Some(Status::Fail),
            Some(_) => Some(raw),
        };
        self.reported = next;
        next
    }
}

#[derive(Debug)]
struct CheckRunner {
    check: BoxedCheck,
    /// Held for the whole run: two refreshes of one check never overlap.
    damper: tokio::sync::Mutex<Damper>,
    /// Bumped after every finished run, so a caller that waited for the lock can
    /// share the run that just finished instead of starting another.
    generation: AtomicU64,
}

/// Everything the background tasks and the probes share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) infos: Vec<CheckInfo>,
    runners: Vec<CheckRunner>,
    pub(crate) snapshot: SnapshotCell,
    metrics: Option<HealthMetrics>,
    /// Whether each run gets a span of its own (see `ReadinessBuilder::trace_checks`).
    pub(crate) trace_checks: bool,
}

/// The span of one check run (target `readiness::check`): `check` names it; with
/// OpenTelemetry it is exported as `check {name}`.
fn check_span(name: &str) -> tracing::Span {
    #[cfg(feature = "otel")]
    let span = tracing::info_span!(
        target: "readiness::check",
        "health check",
        check = %name,
        "otel.name" = %format_args!("check {name}"),
    );
    #[cfg(not(feature = "otel"))]
    let span = tracing::info_span!(target: "readiness::check", "health check", check = %name);
    span
}

/// One run's result before dampening, with the detail that goes to the log only.
struct RawRun {
    status: Status,
    output: Option<Cow<'static, str>>,
    measurements: Vec<crate::health::Measurement>,
    detail: Option<String>,
}

impl Shared {
    pub(crate) fn new(
        checks: Vec<(CheckInfo, BoxedCheck)>,
        metrics: Option<HealthMetrics>,
    ) -> Self {
        let mut infos = Vec::with_capacity(checks.len());
        let mut runners = Vec::with_capacity(checks.len());
        for (info, check) in checks {
            infos.push(info);
            runners.push(CheckRunner {
                check,
                damper: tokio::sync::Mutex::new(Damper::default()),
                generation: AtomicU64::new(0),
            });
        }
        let snapshot = SnapshotCell::new(&infos);
        Self {
            infos,
            runners,
            snapshot,
            metrics,
            trace_checks: false,
        }
    }

    /// Refreshes check `index` forever, starting at once: on its interval while it
    /// is healthy, and sooner while it fails or has not passed yet (see
    /// [`retry_delay`]).
    pub(crate) async fn drive(self: Arc<Self>, index: usize) {
        let info = &self.infos[index];
        // Generation 0: a `refresh()` right after `build()` shares this first run,
        // and a first run that `refresh()` already made is not repeated.
        let mut seen = 0;
        // The delay before the next retry; `None` until a run leaves the check
        // unhealthy.
        let mut backoff = None;
        // Like the first tick of an interval: the timer's next millisecond, so a
        // `refresh()` made right after `build()` finds the first run not yet
        // finished and shares it.
        tokio::time::sleep_until(tokio::time::Instant::now()).await;
        loop {
            let started = tokio::time::Instant::now();
            // The check's own panics are caught inside; this catches the rest (a
            // panicking `Drop` of a timed-out future, say) so the refresh goes on.
            let run = AssertUnwindSafe(self.run_check_after(index, seen)).catch_unwind();
            if run.await.is_err() {
                tracing::error!(target: "readiness::health", check = %info.name, "health check runner panicked; continuing");
            }
            let healthy = self.snapshot.load().results[index]
                .as_ref()
                .is_some_and(|result| !result.pending && result.status.is_healthy());
            let wake = match retry_delay(info, healthy, &mut backoff) {
                // A retry waits from the end of the run, so a slow failure is not
                // retried back to back.
                Some(delay) => tokio::time::Instant::now() + delay,
                // On the interval from the start of the run, like a ticker that
                // delays a missed tick.
                None => started + info.interval,
            };
            tokio::time::sleep_until(wake).await;
            seen = self.runners[index].generation.load(Ordering::Acquire);
        }
    }

    /// Runs check `index` once. A caller that finds a run in flight waits for it and
    /// shares its result instead of starting another.
    pub(crate) async fn run_check(&self, index: usize) {
        let seen = self.runners[index].generation.load(Ordering::Acquire);
        self.run_check_after(index, seen).await;
    }

    /// Runs check `index` unless a run has finished since generation `seen`.
    async fn run_check_after(&self, index: usize, seen: u64) {
        let info = &self.infos[index];
        let runner = &self.runners[index];
        let mut damper = runner.damper.lock().await;
        if runner.generation.load(Ordering::Acquire) != seen {
            return;
        }

        let started = Instant::now();
        let span = if self.trace_checks {
            check_span(&info.name)
        } else {
            tracing::Span::none()
        };
        // Inside the async block, so a panic while the future is made is caught too.
        let run = AssertUnwindSafe(tracing::Instrument::instrument(
            async { runner.check.run().await },
            span.clone(),
        ))
        .catch_unwind();
        let run = DEADLINE.scope(started + info.timeout, run);
        // On timeout `run` is dropped here, and with it the check's future.
        let raw = match tokio::time::timeout(info.timeout, run).await {
            Ok(Ok(Ok(outcome))) => RawRun::from_outcome(outcome),
            Ok(Ok(Err(error))) => RawRun::error(&error),
            Ok(Err(panic)) => RawRun::panic(&*panic),
            Err(_) => RawRun::failed(
                format!("timed out after {} ms", info.timeout.as_millis()),
                None,
            ),
        };
        let latency = started.elapsed();
        #[cfg(feature = "otel")]
        if raw.status == Status::Fail && !span.is_none() {
            crate::telemetry::check_span_failed(&span, raw.output.as_deref().unwrap_or("failed"));
        }
        drop(span);
        let mut raw = raw;
        if raw.status == Status::Pass {
            if let Some(limit) = info.warn_above.filter(|limit| latency > *limit) {
                raw.status = Status::Warn;
                raw.output = Some(
                    format!(
                        "slow: {} ms, above {} ms",
                        latency.as_millis(),
                        limit.as_millis()
                    )
                    .into(),
                );
            }
        }

        let previous = damper.reported;
        let reported = damper.apply(raw.status, info);
        // A pending check (no status reported yet) has not passed: it answers as
        // failing, holds the startup latch and is retried soon.
        let pending = reported.is_none();
        let status = reported.unwrap_or(Status::Fail);
        let output = if reported == Some(raw.status) {
            raw.output
        } else if raw.status == Status::Fail {
            Some(
                format!(
                    "{} (failure {} of {})",
                    raw.output.as_deref().unwrap_or("failed"),
                    damper.failures,
                    info.failure_threshold
                )
                .into(),
            )
        } else {
            Some(
                format!(
                    "recovering: {} of {} good runs",
                    damper.successes, info.success_threshold
                )
                .into(),
            )
        };

        if let Some(status) = reported.filter(|_| previous != reported) {
            log_check_change(
                info,
                previous,
                status,
                output.as_deref(),
                raw.detail.as_deref(),
            );
        } else if let Some(detail) = &raw.detail {
            tracing::debug!(target: "readiness::health", check = %info.name, status = %raw.status, detail = %detail, "health check run failed");
        }

        if let Some(metrics) = &self.metrics {
            // The gauge keeps 0.5 for a pending check: not a failure to alert on.
            metrics.record(
                &info.name,
                info.critical,
                reported.unwrap_or(Status::Warn),
                raw.status,
                latency,
                &raw.measurements,
            );
        }
        let published = self.snapshot.publish(
            &self.infos,
            index,
            reported.is_some_and(Status::is_healthy),
            CheckResult {
                status,
                pending,
                output,
                latency,
                time: SystemTime::now(),
                measurements: raw.measurements,
            },
        );
        runner.generation.fetch_add(1, Ordering::Release);
        drop(damper);

        if published.overall_before != published.overall_after {
            let (from, to) = (published.overall_before, published.overall_after);
            if to == Status::Fail {
                tracing::warn!(target: "readiness::health", from = %from, to = %to, "service health changed");
            } else {
                tracing::info!(target: "readiness::health", from = %from, to = %to, "service health changed");
            }
        }
        if published.started_now {
            tracing::info!(target: "readiness::health", "startup complete: every critical check has passed once");
        }
    }
}

/// The wait before the next run of a check that is not `healthy` (failing, or
/// pending: no status reported yet): `info.retry` at first, doubled after each
/// further unhealthy run, never above the interval. `None` when the check is
/// healthy or has no retry: the next run is on the interval, and the next
/// unhealthy run starts the backoff again.
fn retry_delay(
    info: &CheckInfo,
    healthy: bool,
    backoff: &mut Option<std::time::Duration>,
) -> Option<std::time::Duration> {
    let Some(initial) = info.retry.filter(|_| !healthy) else {
        *backoff = None;
        return None;
    };
    let delay = backoff.unwrap_or(initial).min(info.interval);
    *backoff = Some(delay.saturating_mul(2).min(info.interval));
    Some(delay)
}

fn log_check_change(
    info: &CheckInfo,
    previous: Option<Status>,
    status: Status,
    output: Option<&str>,
    detail: Option<&str>,
) {
    let from = previous.map_or("unknown", Status::as_str);
    if status == Status::Fail {
        tracing::warn!(target: "readiness::health", check = %info.name, from, to = %status, output, detail, "health check status changed");
    } else {
        tracing::info!(target: "readiness::health", check = %info.name, from, to = %status, output, detail, "health check status changed");
    }
}

impl RawRun {
    /// A check's own outcome. Its output and detail, like every text of a run, have
    /// the credentials of any URL in them redacted here, before they reach a body,
    /// a log line or a span.
    fn from_outcome(outcome: CheckOutcome) -> Self {
        Self {
            status: outcome.status,
            output: outcome.output.map(redact_urls_in),
            measurements: outcome.measurements,
            detail: outcome.detail.map(redact_urls_owned),
        }
    }

    fn failed(output: impl Into<Cow<'static, str>>, detail: Option<String>) -> Self {
        Self {
            status: Status::Fail,
            output: Some(redact_urls_in(output.into())),
            measurements: Vec::new(),
            detail: detail.map(redact_urls_owned),
        }
    }

    fn error(error: &BoxError) -> Self {
        // The error's text may name hosts or users: the log gets it, the body does not.
        Self::failed("check returned an error", Some(error_chain(&**error)))
    }

    fn panic(payload: &(dyn Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned());
        Self::failed("check panicked", Some(format!("panic: {message}")))
    }
}

/// `error: cause: cause`, the whole `source()` chain on one line.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
