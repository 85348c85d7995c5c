//! `Readiness`, the single entry point: the facade over the parts, which its
//! [builder](ReadinessBuilder) puts together.

mod builder;
#[cfg(feature = "logging")]
mod log_level;
#[cfg(feature = "logging")]
mod setup;

pub use builder::ReadinessBuilder;
#[cfg(feature = "logging")]
pub use setup::{Installed, Setup};

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::endpoint::{Answers, ProbeRequest, State};
use crate::health::runner::Shared;
use crate::health::{Probe, ReadySwitch, Status};
use crate::metrics::{CacheFamily, CacheMetrics, JobFamily, JobMetrics, RedMetrics};
use crate::observe::Observer;

/// The health of a service: its checks, their background refresh, the probe answers
/// and the manual ready switch.
///
/// Cheap to clone (an `Arc`). The background tasks stop when the last clone is dropped.
/// See the [`health` module docs](crate::health) for the probe rules.
///
/// ```
/// use readiness_core::{checks, Probe, Readiness, Status};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let readiness = Readiness::builder()
///     .service("orders", "1.4.2")
///     .check(checks::from_fn("queue", || async { true }))
///     .build()?;
/// readiness.refresh().await;
/// assert_eq!(readiness.status(Probe::Readiness), Status::Pass);
///
/// readiness.mark_unready("maintenance");
/// assert_eq!(readiness.status(Probe::Readiness), Status::Fail);
/// assert_eq!(readiness.status(Probe::Liveness), Status::Pass);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Readiness {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) shared: Arc<Shared>,
    pub(super) answers: Answers,
    pub(super) unready: ReadySwitch,
    pub(super) started_at: Instant,
    pub(super) registry: prometheus::Registry,
    /// `service_info`'s `instance`; `service.instance.id` on the OpenTelemetry resource.
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    pub(super) instance: String,
    #[cfg_attr(not(any(feature = "logging", feature = "ops-kit")), allow(dead_code))]
    pub(super) namespace: Option<String>,
    #[cfg_attr(not(feature = "ops-kit"), allow(dead_code))]
    pub(super) buckets: Vec<f64>,
    pub(super) observer: Observer,
    /// The `/metrics` renderings under way (see [`Readiness::scrape`]).
    pub(super) scrapes: crate::endpoint::Scrapes,
    pub(super) caches: CacheFamily,
    pub(super) jobs: JobFamily,
    #[cfg(feature = "_sqlx")]
    pub(super) pools: crate::metrics::PoolFamily,
    pub(super) tasks: Vec<tokio::task::AbortHandle>,
    #[cfg(feature = "system")]
    pub(super) _sampler: Option<crate::metrics::Sampler>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Readiness {
    /// Answers a health request from the cached results: no I/O, no waiting on checks.
    ///
    /// ```
    /// use readiness_core::{checks, Endpoint, ProbeRequest, Readiness};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let readiness = Readiness::builder()
    ///     .check(checks::from_fn("queue", || async { true }))
    ///     .build()?;
    /// readiness.refresh().await;
    /// let response = readiness.respond(&ProbeRequest::new(Endpoint::Readyz, "GET"));
    /// assert_eq!(response.status(), 200);
    /// assert_eq!(response.headers()["content-type"], "application/health+json");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn respond(&self, request: &ProbeRequest<'_>) -> http::Response<bytes::Bytes> {
        let state = State {
            shared: &self.inner.shared,
            unready: self.unready_reason(),
            uptime: self.uptime(),
        };
        self.inner.answers.respond(&state, request)
    }

    /// The operations kit of this service: its name, metric namespace and duration
    /// buckets filled in. See the [`ops` module docs](crate::ops).
    #[cfg(feature = "ops-kit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ops-kit")))]
    pub fn ops_kit(&self) -> crate::ops::OpsKitBuilder {
        let service = self.service_name().unwrap_or("service");
        crate::ops::OpsKit::builder(
            service,
            self.inner.namespace.clone(),
            self.inner.buckets.clone(),
        )
    }

    /// The graceful shutdown of this service: it fails readiness first and waits for
    /// the requests in flight. See the [`shutdown` module docs](crate::shutdown).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let readiness = readiness_core::Readiness::builder().build()?;
    /// let shutdown = readiness.shutdown().signals(false).build()?;
    /// # let _ = shutdown;
    /// # Ok(()) }
    /// ```
    pub fn shutdown(&self) -> crate::shutdown::ShutdownBuilder {
        crate::shutdown::ShutdownBuilder::new(self.inner.unready.clone(), self.red().clone())
    }

    /// The RED recorder the adapters' middleware feeds. See the
    /// [`metrics` module docs](crate::metrics).
    #[must_use]
    pub fn red(&self) -> &RedMetrics {
        self.inner.observer.red()
    }

    /// What the adapters' middleware observes each request with: RED metrics, the
    /// request id, the request span and the access line. See the
    /// [`observe` module docs](crate::observe) to write an adapter of your own.
    #[must_use]
    pub fn observer(&self) -> Observer {
        self.inner.observer.clone()
    }

    /// Hit and miss counters for the cache named `name` (`cache_requests_total`).
    /// Resolve it once and keep it beside the cache. See [`CacheMetrics`].
    #[must_use]
    pub fn cache(&self, name: &str) -> CacheMetrics {
        self.inner.caches.cache(name)
    }

    /// Duration, outcome and queue depth of the background job named `operation`
    /// (`job_duration_seconds`, `job_runs_total`, `job_queue_depth`), every series
    /// at zero from now on. Resolve it once and keep it beside the job; asking again
    /// for the same name gives the same series. See [`JobMetrics`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let readiness = readiness_core::Readiness::builder().build()?;
    /// let export = readiness.job("report_export")?;
    /// export.start().success();
    /// assert_eq!(readiness.job("").unwrap_err().field(), "operation");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`BuildError`](crate::BuildError) naming `operation` when the name is empty,
    /// longer than 100 bytes or holds control characters. Each name is a series of
    /// its own: use a fixed set, never ids or user input.
    pub fn job(&self, operation: &str) -> Result<JobMetrics, crate::BuildError> {
        self.inner.jobs.job(operation)
    }

    /// Connections used, idle and allowed of `pool`, read on every scrape
    /// (`db_client_connections`, `db_client_connections_max`), and the time taken
    /// by the acquires made through the handle
    /// (`db_client_connection_wait_time_seconds`), all under `pool="NAME"` and at
    /// zero from now on. Works with a pool of any `sqlx` database. See
    /// [`PoolMetrics`](crate::metrics::PoolMetrics).
    ///
    /// ```
    /// # #[cfg(feature = "postgres")]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let readiness = readiness_core::Readiness::builder().build()?;
    /// let pool = sqlx::PgPool::connect_lazy("postgres://app@db.internal/orders")?;
    /// let orders = readiness.sqlx_pool("orders", pool)?;
    /// # let _ = orders;
    /// # Ok(()) }
    /// # #[cfg(not(feature = "postgres"))] fn main() {}
    /// ```
    ///
    /// # Errors
    ///
    /// A [`BuildError`](crate::BuildError) naming `pool` when the name is empty,
    /// longer than 100 bytes, holds control characters or is taken by a pool
    /// registered before.
    #[cfg(feature = "_sqlx")]
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite")))
    )]
    pub fn sqlx_pool<DB: sqlx::Database>(
        &self,
        name: &str,
        pool: sqlx::Pool<DB>,
    ) -> Result<crate::metrics::PoolMetrics<DB>, crate::BuildError> {
        self.inner.pools.add(name, pool)
    }

    /// The registry holding every family of this library, and the service's own
    /// when it passed its registry to [`ReadinessBuilder::registry`].
    #[must_use]
    pub fn registry(&self) -> &prometheus::Registry {
        &self.inner.registry
    }

    /// Log settings for this service: its name and version on every line, and the
    /// logging metrics (`security_events_total`, `log_lines_dropped_total`) on its
    /// registry. See the [`logging` module docs](crate::logging).
    ///
    /// ```
    /// use readiness_core::logging::LogWriter;
    /// use readiness_core::Readiness;
    /// use tracing_subscriber::layer::SubscriberExt as _;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let readiness = Readiness::builder().service("orders", "1.4.2").build()?;
    /// let (writer, _guard) = LogWriter::stdout().build()?;
    /// let layer = readiness.log_settings().build_with_writer(&writer)?;
    /// let _subscriber = tracing_subscriber::registry().with(layer); // then `.init()`
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "logging")]
    #[cfg_attr(docsrs, doc(cfg(feature = "logging")))]
    pub fn log_settings(&self) -> crate::logging::LogSettings {
        let mut settings = crate::logging::LogSettings::new()
            .registry(self.inner.registry.clone(), self.inner.namespace.clone());
        if let (Some(service), Some(version)) = (
            &self.inner.answers.identity.service,
            &self.inner.answers.identity.version,
        ) {
            settings = settings.service(service.clone(), version.clone());
        }
        settings
    }

    /// Tracing for this service: the `OTEL_*` variables, its name and version as
    /// `service.name` (unless `OTEL_SERVICE_NAME` says otherwise) and
    /// `service.version`, and the span export counters on its registry. See
    /// [`Telemetry`](crate::telemetry::Telemetry).
    ///
    /// ```
    /// use readiness_core::Readiness;
    /// use tracing_subscriber::layer::SubscriberExt as _;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let readiness = Readiness::builder().service("orders", "1.4.2").build()?;
    /// let (otel, otel_guard) = readiness.telemetry()?.build()?;
    /// let _subscriber = tracing_subscriber::registry().with(otel); // with the log layer
    /// # drop(otel_guard); Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`BuildError`](crate::BuildError) naming the `OTEL_*` variable holding an unusable value.
    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    pub fn telemetry(&self) -> Result<crate::telemetry::Telemetry, crate::BuildError> {
        Ok(self.telemetry_from(crate::telemetry::OtelSettings::from_env()?))
    }

    /// [`telemetry`](Self::telemetry) from settings read elsewhere.
    #[cfg(feature = "otel")]
    pub(crate) fn telemetry_from(
        &self,
        settings: crate::telemetry::OtelSettings,
    ) -> crate::telemetry::Telemetry {
        let mut telemetry = crate::telemetry::Telemetry::from_settings(settings)
            .registry(self.inner.registry.clone(), self.inner.namespace.clone());
        if let (Some(service), Some(version)) = (
            &self.inner.answers.identity.service,
            &self.inner.answers.identity.version,
        ) {
            telemetry = telemetry.service(service.clone(), version.clone());
        }
        if self.inner.instance != "unknown" {
            telemetry = telemetry.instance(self.inner.instance.clone());
        }
        telemetry.exemplars(self.red().clone())
    }

    /// The `/metrics` answer: every family of the registry in Prometheus' classic
    /// text format. See [`metrics_response_for`](Self::metrics_response_for).
    #[must_use]
    pub fn metrics_response(&self) -> http::Response<bytes::Bytes> {
        self.metrics_response_for(None)
    }

    /// The `/metrics` answer for a scraper whose `Accept` header is `accept`: in the
    /// OpenMetrics text format (`application/openmetrics-text; version=1.0.0`) when
    /// it names `application/openmetrics-text`, as Prometheus' does, with the
    /// [exemplars](crate::metrics::RedMetrics::duration_exemplars) of
    /// `http_server_request_duration_seconds` on its bucket lines; else in the
    /// classic text format, which has no exemplars. Every family of the registry is
    /// written either way, the service's own included. The adapters' `/metrics`
    /// route calls this.
    ///
    /// ```
    /// let readiness = readiness_core::Readiness::builder().build().unwrap();
    /// let scrape = readiness.metrics_response_for(Some("application/openmetrics-text;version=1.0.0"));
    /// let text = std::str::from_utf8(scrape.body()).unwrap();
    /// assert!(text.ends_with("# EOF\n"));
    /// assert!(scrape.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    /// ```
    ///
    /// It renders on the calling thread: a registry of many series takes milliseconds
    /// (900 request series are 5.5 MB of text). On a tokio runtime, answer scrapes
    /// with [`scrape`](Self::scrape) instead, as the adapters do.
    #[must_use]
    pub fn metrics_response_for(&self, accept: Option<&str>) -> http::Response<bytes::Bytes> {
        let inner = &*self.inner;
        inner
            .scrapes
            .respond(&inner.registry, inner.observer.red(), accept)
    }

    /// The answer of [`metrics_response_for`](Self::metrics_response_for), rendered
    /// on tokio's blocking pool (`spawn_blocking`) so that the runtime worker that
    /// received the scrape goes on serving requests meanwhile; and shared: a scrape
    /// that arrives while a rendering of the same format is under way answers with
    /// that rendering, so concurrent scrapers cost one rendering at a time. The
    /// adapters' `/metrics` route calls this. The format is chosen from `accept`
    /// when called; outside a tokio runtime the rendering happens then, on the
    /// calling thread.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let readiness = readiness_core::Readiness::builder().build().unwrap();
    /// let (first, second) = tokio::join!(readiness.scrape(None), readiness.scrape(None));
    /// assert_eq!(first.status(), 200);
    /// // Both waited for the same rendering.
    /// assert_eq!(first.body().as_ptr(), second.body().as_ptr());
    /// # }
    /// ```
    pub fn scrape(
        &self,
        accept: Option<&str>,
    ) -> impl std::future::Future<Output = http::Response<bytes::Bytes>> + Send + 'static {
        let inner = &*self.inner;
        inner
            .scrapes
            .respond_shared(&inner.registry, inner.observer.red(), accept)
    }

    /// Runs every check now, concurrently, and returns when all have finished. A
    /// check already running is not started twice: its run is awaited and shared.
    pub async fn refresh(&self) {
        let shared = &self.inner.shared;
        futures_util::future::join_all((0..shared.infos.len()).map(|i| shared.run_check(i))).await;
    }

    /// Marks the service not ready: `/readyz` fails with `reason` until
    /// [`mark_ready`](Self::mark_ready). Liveness is not affected. Used by graceful
    /// shutdown (`"shutting down"`) and for maintenance.
    pub fn mark_unready(&self, reason: impl Into<Cow<'static, str>>) {
        self.inner.unready.mark_unready(reason.into());
    }

    /// Clears [`mark_unready`](Self::mark_unready): readiness follows the checks again.
    pub fn mark_ready(&self) {
        self.inner.unready.mark_ready();
    }

    /// Resolves when a graceful shutdown stops accepting connections (after the
    /// drain delay, as the drain starts), at once if it already has; never if no
    /// shutdown runs.
    ///
    /// The server's drain waits for requests in flight but not for connections a
    /// handler took over (WebSockets, other upgrades) nor for streams that never
    /// end: a handler that holds one awaits this and closes it (a WebSocket close
    /// frame, `1001 going away`) within the drain timeout, while the process is
    /// still there to send it. The future is `'static`: move it into the task.
    ///
    /// ```
    /// # use readiness_core::Readiness;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let readiness = Readiness::builder().build()?;
    /// let draining = readiness.draining();
    /// tokio::spawn(async move {
    ///     tokio::select! {
    ///         () = draining => { /* send a close frame, then return */ }
    ///         // () = socket.next() => { ... }
    ///     }
    /// });
    /// # Ok(()) }
    /// ```
    pub fn draining(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.inner.unready.draining()
    }

    /// The reason given to [`mark_unready`](Self::mark_unready), if it is in force.
    #[must_use]
    pub fn unready_reason(&self) -> Option<String> {
        self.inner.unready.reason()
    }

    /// The current status of a probe, from the cached results.
    #[must_use]
    pub fn status(&self, probe: Probe) -> Status {
        let snapshot = self.inner.shared.snapshot.load();
        let status = snapshot.probe_status(&self.inner.shared.infos, probe);
        if probe == Probe::Readiness && self.unready_reason().is_some() {
            return Status::Fail;
        }
        status
    }

    /// The reported status of the check named `name`, or `None` if there is no such
    /// check. A pending check (see [`is_pending`](Self::is_pending)) reports `fail`,
    /// as `/health/{check}` answers 503 for it: it has not passed.
    #[must_use]
    pub fn check_status(&self, name: &str) -> Option<Status> {
        let shared = &self.inner.shared;
        let index = shared.infos.iter().position(|info| info.name == name)?;
        Some(shared.snapshot.load().check_status(index))
    }

    /// Whether the check named `name` is pending, or `None` if there is no such
    /// check. A check is pending until it reports a status: before its first run
    /// ends, and while its first runs have failed fewer times than its
    /// [failure threshold](crate::CheckSpec::failure_threshold). See the
    /// [`endpoint` module docs](crate::endpoint#pending-checks) for the answers.
    ///
    /// ```
    /// use readiness_core::{checks, Readiness};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let readiness = Readiness::builder()
    ///     .check(checks::from_fn("db", || async { true }))
    ///     .build()?;
    /// readiness.refresh().await;
    /// assert_eq!(readiness.is_pending("db"), Some(false));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn is_pending(&self, name: &str) -> Option<bool> {
        let shared = &self.inner.shared;
        let index = shared.infos.iter().position(|info| info.name == name)?;
        Some(shared.snapshot.load().is_pending(index))
    }

    /// The names of the configured checks, in registration order.
    pub fn check_names(&self) -> impl Iterator<Item = &str> {
        self.inner
            .shared
            .infos
            .iter()
            .map(|info| info.name.as_str())
    }

    /// The service name given to [`ReadinessBuilder::service`].
    #[must_use]
    pub fn service_name(&self) -> Option<&str> {
        self.inner.answers.identity.service.as_deref()
    }

    /// The version given to [`ReadinessBuilder::service`].
    #[must_use]
    pub fn version(&self) -> Option<&str> {
        self.inner.answers.identity.version.as_deref()
    }

    /// Time since [`build`](ReadinessBuilder::build).
    #[must_use]
    pub fn uptime(&self) -> Duration {
        self.inner.started_at.elapsed()
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readiness")
            .field("service", &self.inner.answers.identity.service)
            .field("version", &self.inner.answers.identity.version)
            .field("checks", &self.inner.shared.infos)
            .field("details", &self.inner.answers.details())
            .field(
                "details_token",
                &self.inner.answers.has_token().then_some("<redacted>"),
            )
            .field("unready", &self.unready_reason())
            .finish_non_exhaustive()
    }
}
