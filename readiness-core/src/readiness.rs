//! `Readiness`, the single entry point, and its builder.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::endpoint::{
    CHECK_PATH, HEALTH_PATH, LIVEZ_PATH, METRICS_PATH, READYZ_PATH, STARTUPZ_PATH,
};
use crate::error::BuildError;
use crate::health::runner::Shared;
use crate::health::{CheckInfo, CheckSpec, Probe, Status};
use crate::metrics::health::HealthMetrics;
use crate::metrics::names::{DEFAULT_DURATION_BUCKETS, SERVICE_INFO};
use crate::metrics::{CacheFamily, CacheMetrics, RedMetrics, RedSettings, Registrar};
use crate::observe::Observer;

/// How much of a health body anonymous callers see.
///
/// Failure messages can name hosts and versions can point at known vulnerabilities,
/// so the default shows components with their status and latency but no messages and
/// no version. A caller presenting the [details token](ReadinessBuilder::details_token)
/// always sees [`Full`](Self::Full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Details {
    /// Only the overall `status`.
    StatusOnly,
    /// Status, plus each check with its status, latency, type and time. The default.
    #[default]
    Components,
    /// Everything: failure messages, measurements, version and release.
    Full,
}

/// Builds a [`Readiness`]. See [`Readiness::builder`].
#[must_use]
pub struct ReadinessBuilder {
    service: Option<String>,
    version: Option<String>,
    release_id: Option<String>,
    description: Option<String>,
    checks: Vec<CheckSpec>,
    details: Details,
    token: Option<String>,
    registry: Option<prometheus::Registry>,
    namespace: Option<String>,
    buckets: Vec<f64>,
    max_routes: usize,
    excluded: Option<Vec<String>>,
    instance: Option<String>,
    access_log: bool,
    trace_checks: bool,
    #[cfg(feature = "system")]
    system: SystemMetricsSettings,
}

#[cfg(feature = "system")]
struct SystemMetricsSettings {
    enabled: bool,
    interval: Duration,
    disks: Vec<std::path::PathBuf>,
}

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
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) service: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) release_id: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) details: Details,
    pub(crate) token: Option<String>,
    pub(crate) unready: RwLock<Option<Cow<'static, str>>>,
    pub(crate) started_at: Instant,
    pub(crate) registry: prometheus::Registry,
    #[cfg_attr(not(any(feature = "logging", feature = "ops-kit")), allow(dead_code))]
    pub(crate) namespace: Option<String>,
    #[cfg_attr(not(feature = "ops-kit"), allow(dead_code))]
    pub(crate) buckets: Vec<f64>,
    pub(crate) observer: Observer,
    caches: CacheFamily,
    tasks: Vec<tokio::task::AbortHandle>,
    #[cfg(feature = "system")]
    _sampler: Option<crate::metrics::Sampler>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Readiness {
    /// Starts a builder with the defaults: no checks, [`Details::Components`].
    pub fn builder() -> ReadinessBuilder {
        ReadinessBuilder {
            service: None,
            version: None,
            release_id: None,
            description: None,
            checks: Vec::new(),
            details: Details::default(),
            token: None,
            registry: None,
            namespace: None,
            buckets: DEFAULT_DURATION_BUCKETS.to_vec(),
            max_routes: 200,
            excluded: None,
            instance: None,
            access_log: true,
            trace_checks: false,
            #[cfg(feature = "system")]
            system: SystemMetricsSettings {
                enabled: true,
                interval: Duration::from_secs(10),
                disks: vec![std::path::PathBuf::from("/")],
            },
        }
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
        if let (Some(service), Some(version)) = (&self.inner.service, &self.inner.version) {
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
    /// A [`BuildError`] naming the `OTEL_*` variable holding an unusable value.
    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    pub fn telemetry(&self) -> Result<crate::telemetry::Telemetry, BuildError> {
        let mut telemetry = crate::telemetry::Telemetry::from_env()?
            .registry(self.inner.registry.clone(), self.inner.namespace.clone());
        if let (Some(service), Some(version)) = (&self.inner.service, &self.inner.version) {
            telemetry = telemetry.service(service.clone(), version.clone());
        }
        Ok(telemetry)
    }

    /// The `/metrics` answer: every family of the registry in Prometheus' text format.
    #[must_use]
    pub fn metrics_response(&self) -> http::Response<bytes::Bytes> {
        use prometheus::Encoder as _;
        let encoder = prometheus::TextEncoder::new();
        let mut body = Vec::new();
        let (code, content_type) = match encoder.encode(&self.inner.registry.gather(), &mut body) {
            Ok(()) => (http::StatusCode::OK, encoder.format_type().to_owned()),
            Err(error) => {
                tracing::error!(target: "readiness::metrics", error = %error, "metrics encoding failed");
                body.clear();
                (
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8".to_owned(),
                )
            }
        };
        let mut response = http::Response::new(bytes::Bytes::from(body));
        *response.status_mut() = code;
        let headers = response.headers_mut();
        if let Ok(value) = http::HeaderValue::from_str(&content_type) {
            headers.insert(http::header::CONTENT_TYPE, value);
        }
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        // A scrape stays out of the RED metrics and the access log wherever mounted.
        response
            .extensions_mut()
            .insert(crate::observe::EndpointRoute(METRICS_PATH));
        response
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
        let reason = reason.into();
        tracing::info!(target: "readiness::health", reason = %reason, "marked not ready");
        *self
            .inner
            .unready
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(reason);
    }

    /// Clears [`mark_unready`](Self::mark_unready): readiness follows the checks again.
    pub fn mark_ready(&self) {
        let previous = self
            .inner
            .unready
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if previous.is_some() {
            tracing::info!(target: "readiness::health", "marked ready again");
        }
    }

    /// The reason given to [`mark_unready`](Self::mark_unready), if it is in force.
    #[must_use]
    pub fn unready_reason(&self) -> Option<String> {
        self.inner
            .unready
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_deref()
            .map(str::to_owned)
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
    /// check. A check that has not finished its first run reports `warn`.
    #[must_use]
    pub fn check_status(&self, name: &str) -> Option<Status> {
        let shared = &self.inner.shared;
        let index = shared.infos.iter().position(|info| info.name == name)?;
        let snapshot = shared.snapshot.load();
        Some(
            snapshot.results[index]
                .as_ref()
                .map_or(Status::Warn, |result| result.status),
        )
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
        self.inner.service.as_deref()
    }

    /// The version given to [`ReadinessBuilder::service`].
    #[must_use]
    pub fn version(&self) -> Option<&str> {
        self.inner.version.as_deref()
    }

    /// Time since [`build`](ReadinessBuilder::build).
    #[must_use]
    pub fn uptime(&self) -> Duration {
        self.inner.started_at.elapsed()
    }
}

impl ReadinessBuilder {
    /// The service's name and version (`serviceId` and `version` in health bodies).
    pub fn service(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self.version = Some(version.into());
        self
    }

    /// The release identifier (`releaseId`), such as a commit or image tag. Defaults
    /// to the version.
    pub fn release_id(mut self, release_id: impl Into<String>) -> Self {
        self.release_id = Some(release_id.into());
        self
    }

    /// A human-readable description of the service (`description`).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds a check. Names must be unique; [`build`](Self::build) rejects duplicates.
    pub fn check(mut self, check: CheckSpec) -> Self {
        self.checks.push(check);
        self
    }

    /// How much anonymous callers see (default [`Details::Components`]).
    pub fn details(mut self, details: Details) -> Self {
        self.details = details;
        self
    }

    /// A bearer token that unlocks [`Details::Full`] when sent as
    /// `Authorization: Bearer TOKEN`. At least 16 visible ASCII characters.
    pub fn details_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// A `prometheus::Registry` of the service's own: the library's families are
    /// registered on it and `/metrics` serves all of it. Default: a new registry.
    pub fn registry(mut self, registry: prometheus::Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// A prefix for every metric name (`orders` gives `orders_http_server_...`).
    pub fn metrics_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Buckets of the request duration histogram, in seconds, strictly increasing.
    /// Default: OpenTelemetry's recommended buckets, 5 ms to 10 s.
    pub fn duration_buckets(mut self, buckets: Vec<f64>) -> Self {
        self.buckets = buckets;
        self
    }

    /// The most distinct route templates recorded (default 200, up to 10 000);
    /// routes beyond it share the label `_OTHER`.
    pub fn max_routes(mut self, routes: usize) -> Self {
        self.max_routes = routes;
        self
    }

    /// Route templates not counted by the RED middleware. Default: the probe routes
    /// and `/metrics`, so a kubelet probing every 10 s is not counted as traffic.
    pub fn exclude_routes<I, S>(mut self, routes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.excluded = Some(routes.into_iter().map(Into::into).collect());
        self
    }

    /// Whether the middleware gives each request (probes and `/metrics` excepted) an
    /// id, a `request` span and an access line (default: yes).
    ///
    /// The id is the caller's `X-Request-Id` when it is safe (see
    /// [`RequestId`](crate::RequestId)), else a new one; it is echoed in the answer's
    /// `X-Request-Id` and put in the request's extensions for handlers. The span
    /// (target `readiness::request`) carries `request_id`, `method`, `route`, `path`
    /// (without the query string, which often holds tokens) and `user_agent`, so
    /// every event inside the handler has them (on actix-web, which routes after its
    /// middleware, `route` joins the span when the answer is ready, so a handler's
    /// own lines carry `path` but not `route`); the access line (target
    /// `readiness::access`, category `performance`) adds `status`, `duration_ms`,
    /// `request_bytes` and `response_bytes` when the last body byte is out.
    pub fn access_log(mut self, enabled: bool) -> Self {
        self.access_log = enabled;
        self
    }

    /// Whether each check run gets a span of its own (target `readiness::check`,
    /// named `check {name}` in OpenTelemetry, an error when the run fails), so the
    /// queries a check makes show up in traces and its log lines carry trace ids.
    /// Default: no, since a check every 10 s per pod would fill a trace store with
    /// probes.
    pub fn trace_checks(mut self, enabled: bool) -> Self {
        self.trace_checks = enabled;
        self
    }

    /// The `instance` label of `service_info` (default: `HOSTNAME`, as Kubernetes
    /// sets it to the pod name, else `unknown`).
    pub fn instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Whether to serve the `process_*` and `system_*` families (default: yes). Turn
    /// it off when the registry already has a process collector, or when a node
    /// exporter covers the host. See the [`metrics` module docs](crate::metrics).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let readiness = readiness_core::Readiness::builder().system_metrics(false).build()?;
    /// # let _ = readiness;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "system")]
    #[cfg_attr(docsrs, doc(cfg(feature = "system")))]
    pub fn system_metrics(mut self, enabled: bool) -> Self {
        self.system.enabled = enabled;
        self
    }

    /// How often the background thread reads the process and host figures (default
    /// 10 s, from 1 s to 1 h). `system_cpu_utilization_ratio` is the average over it.
    #[cfg(feature = "system")]
    #[cfg_attr(docsrs, doc(cfg(feature = "system")))]
    pub fn system_metrics_interval(mut self, interval: Duration) -> Self {
        self.system.interval = interval;
        self
    }

    /// The paths whose file systems `system_filesystem_*` report, one series per
    /// mount point (default `/`). Absolute paths; the data volume is usually the one
    /// worth watching:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let readiness = readiness_core::Readiness::builder()
    ///     .system_metrics_disks(["/", "/tmp"])
    ///     .build()?;
    /// # let _ = readiness;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "system")]
    #[cfg_attr(docsrs, doc(cfg(feature = "system")))]
    pub fn system_metrics_disks<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<std::path::PathBuf>,
    {
        self.system.disks = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Validates the configuration and starts refreshing the checks in the background.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the field for an invalid or duplicate check name, a
    /// timeout or interval out of range, a bad threshold or token, or when called
    /// outside a Tokio runtime while checks are configured.
    pub fn build(self) -> Result<Readiness, BuildError> {
        for (field, value) in [
            ("service.name", &self.service),
            ("service.version", &self.version),
            ("release_id", &self.release_id),
            ("description", &self.description),
        ] {
            if let Some(value) = value {
                validate_text(field, value)?;
            }
        }
        if let Some(token) = &self.token {
            if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(BuildError::new(
                    "details_token",
                    "must be at least 16 visible ASCII characters (no spaces)",
                ));
            }
        }
        let mut seen = HashSet::new();
        for spec in &self.checks {
            spec.validate()?;
            if !seen.insert(spec.check_name()) {
                return Err(BuildError::new(
                    format!("checks[{}].name", spec.check_name()),
                    format!(
                        "duplicate check name {:?}: names must be unique",
                        spec.check_name()
                    ),
                ));
            }
        }

        let runtime = if self.checks.is_empty() {
            None
        } else {
            Some(tokio::runtime::Handle::try_current().map_err(|_| {
                BuildError::new(
                    "runtime",
                    "build() must be called inside a Tokio runtime (such as #[tokio::main] \
                     or #[actix_web::main]) so that checks can refresh in the background",
                )
            })?)
        };

        if let Some(namespace) = &self.namespace {
            let mut chars = namespace.chars();
            let first_ok = chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(BuildError::new(
                    "metrics_namespace",
                    format!(
                        "{namespace:?} must be letters, digits and `_`, not starting with a digit"
                    ),
                ));
            }
        }
        if self.buckets.is_empty()
            || self.buckets.iter().any(|b| !b.is_finite() || *b <= 0.0)
            || self.buckets.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(BuildError::new(
                "duration_buckets",
                "must be positive, finite and strictly increasing, and not empty",
            ));
        }
        if !(1..=10_000).contains(&self.max_routes) {
            return Err(BuildError::new(
                "max_routes",
                format!("must be between 1 and 10000, got {}", self.max_routes),
            ));
        }
        #[cfg(feature = "system")]
        self.system.validate()?;
        let registry = self.registry.unwrap_or_default();
        let register_error = |error: prometheus::Error| {
            BuildError::new(
                "registry",
                format!("cannot register the library's metrics (is a family of the same name registered already?): {error}"),
            )
        };
        let excluded = self.excluded.unwrap_or_else(|| {
            [
                LIVEZ_PATH,
                READYZ_PATH,
                STARTUPZ_PATH,
                HEALTH_PATH,
                CHECK_PATH,
                METRICS_PATH,
            ]
            .map(str::to_owned)
            .to_vec()
        });
        let instance = self
            .instance
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".to_owned());
        let names: Vec<&str> = self.checks.iter().map(CheckSpec::check_name).collect();
        let registrar = Registrar::new(&registry);
        let registered = (|| {
            let red = RedMetrics::register(
                &registrar,
                &RedSettings {
                    namespace: self.namespace.clone(),
                    buckets: self.buckets.clone(),
                    max_routes: self.max_routes,
                },
            )
            .map_err(register_error)?;
            let health = HealthMetrics::register(&registrar, self.namespace.as_deref(), &names)
                .map_err(register_error)?;
            let caches = CacheFamily::register(&registrar, self.namespace.as_deref())
                .map_err(register_error)?;
            register_info(
                &registrar,
                self.namespace.as_deref(),
                self.service.as_deref(),
                self.version.as_deref(),
                &instance,
            )
            .map_err(register_error)?;
            #[cfg(feature = "system")]
            let sampler = self
                .system
                .enabled
                .then(|| {
                    crate::metrics::Sampler::start(
                        &registrar,
                        crate::metrics::SystemSettings {
                            namespace: self.namespace.clone(),
                            interval: self.system.interval,
                            disks: self.system.disks,
                        },
                    )
                })
                .transpose()
                .map_err(|error| {
                    BuildError::new(
                        "system_metrics",
                        format!(
                            "cannot register the process and system metrics (does the registry \
                             hold a process collector already? then turn them off): {error}"
                        ),
                    )
                })?;
            #[cfg(not(feature = "system"))]
            let sampler = ();
            Ok((red, health, caches, sampler))
        })();
        let (red, health, caches, sampler) = match registered {
            Ok(parts) => parts,
            Err(error) => {
                registrar.rollback();
                return Err(error);
            }
        };
        #[cfg(not(feature = "system"))]
        let () = sampler;

        let checks: Vec<(CheckInfo, _)> =
            self.checks.into_iter().map(CheckSpec::into_parts).collect();
        let mut shared = Shared::new(checks, Some(health));
        shared.trace_checks = self.trace_checks;
        let shared = Arc::new(shared);
        let tasks = runtime.map_or_else(Vec::new, |runtime| {
            (0..shared.infos.len())
                .map(|i| runtime.spawn(Arc::clone(&shared).drive(i)).abort_handle())
                .collect()
        });
        let release_id = self.release_id.or_else(|| self.version.clone());
        Ok(Readiness {
            inner: Arc::new(Inner {
                shared,
                service: self.service,
                version: self.version,
                release_id,
                description: self.description,
                details: self.details,
                token: self.token,
                unready: RwLock::new(None),
                started_at: Instant::now(),
                registry,
                namespace: self.namespace,
                buckets: self.buckets,
                observer: Observer::new(red, excluded, self.access_log),
                caches,
                tasks,
                #[cfg(feature = "system")]
                _sampler: sampler,
            }),
        })
    }
}

#[cfg(feature = "system")]
impl SystemMetricsSettings {
    fn validate(&self) -> Result<(), BuildError> {
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&self.interval) {
            return Err(BuildError::new(
                "system_metrics_interval",
                format!("must be from 1 s to 1 h, got {:?}", self.interval),
            ));
        }
        for (i, path) in self.disks.iter().enumerate() {
            if !path.is_absolute() {
                return Err(BuildError::new(
                    format!("system_metrics_disks[{i}]"),
                    format!("must be an absolute path, got {}", path.display()),
                ));
            }
        }
        Ok(())
    }
}

fn register_info(
    registry: &Registrar<'_>,
    namespace: Option<&str>,
    service: Option<&str>,
    version: Option<&str>,
    instance: &str,
) -> prometheus::Result<()> {
    let opts = crate::metrics::opts(
        namespace,
        SERVICE_INFO,
        "The service's identity; the value is always 1.",
    );
    let info = prometheus::IntGaugeVec::new(opts, &["service", "version", "instance"])?;
    registry.register(&info)?;
    info.with_label_values(&[
        service.unwrap_or("unknown"),
        version.unwrap_or("unknown"),
        instance,
    ])
    .set(1);
    Ok(())
}

fn validate_text(field: &'static str, value: &str) -> Result<(), BuildError> {
    if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
        return Err(BuildError::new(
            field,
            format!("must be 1 to 256 characters without control characters, got {value:?}"),
        ));
    }
    Ok(())
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readiness")
            .field("service", &self.inner.service)
            .field("version", &self.inner.version)
            .field("checks", &self.inner.shared.infos)
            .field("details", &self.inner.details)
            .field(
                "details_token",
                &self.inner.token.as_ref().map(|_| "<redacted>"),
            )
            .field("unready", &self.unready_reason())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ReadinessBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadinessBuilder")
            .field("service", &self.service)
            .field("version", &self.version)
            .field("checks", &self.checks)
            .field("details", &self.details)
            .field("details_token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}
