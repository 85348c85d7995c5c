//! Background jobs (operations): run durations, outcomes and queue depth, for
//! job failure and backlog alerts.

use std::future::Future;
use std::time::{Duration, Instant};

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
};

use super::names::{JOB_DURATION, JOB_QUEUE_DEPTH, JOB_RUNS, OPERATION, OUTCOME};

/// Buckets of `job_duration_seconds`, in seconds: 10 ms to an hour.
const JOB_DURATION_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    3600.0,
];

/// Records the runs of one background job (operation) as
/// `job_duration_seconds{operation}`, `job_runs_total{operation, outcome}` (`success`,
/// `failure`) and `job_queue_depth{operation}`; get it from
/// [`Readiness::job`](crate::Readiness::job). Every series of the operation exists at
/// zero from then on, so alerts see it before the first run. The duration buckets
/// run from 10 ms to an hour (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
/// 300, 600, 1800, 3600 s). Cheap to clone; resolve
/// it once and keep it beside the job.
///
/// A run is timed by the guard [`start`](Self::start) returns, by
/// [`run`](Self::run) around a future, or recorded after the fact with
/// [`record`](Self::record). A run whose guard is dropped without an outcome (the job
/// panicked, or its future was cancelled) counts as a failure.
///
/// ```
/// use readiness_core::Readiness;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let readiness = Readiness::builder().build()?;
/// let export = readiness.job("report_export")?;
/// let text = String::from_utf8(readiness.metrics_response().body().to_vec())?;
/// assert!(text.contains(r#"job_runs_total{operation="report_export",outcome="failure"} 0"#));
///
/// export.set_queue_depth(3);
/// let rows = export.run(async { Ok::<_, std::io::Error>(42) }).await?;
/// assert_eq!(rows, 42);
/// let run = export.start();
/// run.failure(); // or drop it: a run without an outcome failed
///
/// let text = String::from_utf8(readiness.metrics_response().body().to_vec())?;
/// assert!(text.contains(r#"job_runs_total{operation="report_export",outcome="success"} 1"#));
/// assert!(text.contains(r#"job_runs_total{operation="report_export",outcome="failure"} 1"#));
/// assert!(text.contains(r#"job_duration_seconds_count{operation="report_export"} 2"#));
/// assert!(text.contains(r#"job_queue_depth{operation="report_export"} 3"#));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct JobMetrics {
    duration: Histogram,
    success: IntCounter,
    failure: IntCounter,
    queue_depth: IntGauge,
}

impl JobMetrics {
    /// Starts timing a run. Call [`JobRun::success`] or [`JobRun::failure`] when it
    /// ends; dropping the guard without either records a failure.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = readiness_core::Readiness::builder().build()?;
    /// let cleanup = readiness.job("cleanup")?;
    /// let run = cleanup.start();
    /// // ... the work ...
    /// run.success();
    /// # Ok(()) }
    /// ```
    pub fn start(&self) -> JobRun {
        JobRun {
            metrics: self.clone(),
            started: Instant::now(),
            finished: false,
        }
    }

    /// Records a run that took `duration` and succeeded when `ok` is true.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = readiness_core::Readiness::builder().build()?;
    /// readiness.job("cleanup")?.record(std::time::Duration::from_millis(120), true);
    /// # Ok(()) }
    /// ```
    pub fn record(&self, duration: Duration, ok: bool) {
        self.duration.observe(duration.as_secs_f64());
        if ok {
            self.success.inc();
        } else {
            self.failure.inc();
        }
    }

    /// Runs `job` as one run: timed, a success when it returns `Ok`, a failure when it
    /// returns `Err`, panics or is dropped before it finishes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = readiness_core::Readiness::builder().build()?;
    /// let cleanup = readiness.job("cleanup")?;
    /// let removed = cleanup.run(async { Ok::<u32, std::io::Error>(7) }).await?;
    /// # assert_eq!(removed, 7);
    /// # Ok(()) }
    /// ```
    pub async fn run<T, E>(&self, job: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        let run = self.start();
        let result = job.await;
        run.finish(result.is_ok());
        result
    }

    /// Sets the number of work items waiting for this job (saturating at `i64::MAX`).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = readiness_core::Readiness::builder().build()?;
    /// let (tx, rx) = std::sync::mpsc::channel::<u32>();
    /// tx.send(1)?;
    /// readiness.job("mailer")?.set_queue_depth(rx.try_iter().count());
    /// # Ok(()) }
    /// ```
    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// The queue depth gauge itself, to `inc()` on enqueue and `dec()` on dequeue.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = readiness_core::Readiness::builder().build()?;
    /// let mailer = readiness.job("mailer")?;
    /// mailer.queue_depth().inc(); // enqueued
    /// mailer.queue_depth().dec(); // taken by the worker
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn queue_depth(&self) -> &IntGauge {
        &self.queue_depth
    }
}

/// One run of a job, timed from [`JobMetrics::start`]. End it with
/// [`success`](Self::success) or [`failure`](Self::failure); dropped without either,
/// it records a failure, so a job that panics or is cancelled is still counted.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let readiness = readiness_core::Readiness::builder().build()?;
/// let run = readiness.job("cleanup")?.start();
/// drop(run); // counted in job_runs_total{outcome="failure"}
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a run dropped at once is recorded as an instant failure"]
pub struct JobRun {
    metrics: JobMetrics,
    started: Instant,
    finished: bool,
}

impl JobRun {
    /// Ends the run as a success.
    pub fn success(self) {
        self.finish(true);
    }

    /// Ends the run as a failure.
    pub fn failure(self) {
        self.finish(false);
    }

    /// Ends the run, a success when `ok` is true.
    pub fn finish(mut self, ok: bool) {
        self.end(ok);
    }

    /// Time since the run started.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn end(&mut self, ok: bool) {
        if !self.finished {
            self.finished = true;
            self.metrics.record(self.started.elapsed(), ok);
        }
    }
}

impl Drop for JobRun {
    fn drop(&mut self) {
        self.end(false);
    }
}

/// The three job families, registered once by the builder.
#[derive(Clone, Debug)]
pub(crate) struct JobFamily {
    duration: HistogramVec,
    runs: IntCounterVec,
    queue_depth: IntGaugeVec,
}

impl JobFamily {
    pub(crate) fn register(
        registry: &super::registrar::Registrar<'_>,
        namespace: Option<&str>,
    ) -> prometheus::Result<Self> {
        let duration = HistogramVec::new(
            HistogramOpts::from(super::opts(
                namespace,
                JOB_DURATION,
                "Background job run durations, in seconds, by operation.",
            ))
            .buckets(JOB_DURATION_BUCKETS.to_vec()),
            &[OPERATION],
        )?;
        let runs = IntCounterVec::new(
            super::opts(
                namespace,
                JOB_RUNS,
                "Background job runs, by operation and outcome (success, failure).",
            ),
            &[OPERATION, OUTCOME],
        )?;
        let queue_depth = IntGaugeVec::new(
            super::opts(
                namespace,
                JOB_QUEUE_DEPTH,
                "Work items waiting for a background job, by operation.",
            ),
            &[OPERATION],
        )?;
        registry.register(&duration)?;
        registry.register(&runs)?;
        registry.register(&queue_depth)?;
        Ok(Self {
            duration,
            runs,
            queue_depth,
        })
    }

    /// Every series of `operation`, created now so they read 0 until the first run.
    pub(crate) fn job(&self, operation: &str) -> Result<JobMetrics, crate::BuildError> {
        super::validate_label_value("operation", operation)?;
        Ok(JobMetrics {
            duration: self.duration.with_label_values(&[operation]),
            success: self.runs.with_label_values(&[operation, "success"]),
            failure: self.runs.with_label_values(&[operation, "failure"]),
            queue_depth: self.queue_depth.with_label_values(&[operation]),
        })
    }
}
