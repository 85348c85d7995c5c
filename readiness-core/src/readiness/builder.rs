//! [`ReadinessBuilder`]: the setters, and `build()`, which has each part check its
//! own settings and register its own metrics, then starts the checks.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::{Inner, Readiness};
use crate::endpoint::{Answers, Details, Identity, ROUTES};
use crate::error::BuildError;
use crate::health::metrics::HealthMetrics;
use crate::health::runner::Shared;
use crate::health::{CheckInfo, CheckSpec, ReadySwitch};
use crate::metrics::names::DEFAULT_DURATION_BUCKETS;
#[cfg(feature = "system")]
use crate::metrics::SystemSettings;
use crate::metrics::{CacheFamily, JobFamily, RedMetrics, RedSettings, Registrar};
use crate::observe::Observer;

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
    #[cfg(feature = "logging")]
    log_filter: Option<crate::logging::LogFilter>,
    registry: Option<prometheus::Registry>,
    namespace: Option<String>,
    buckets: Vec<f64>,
    max_routes: usize,
    excluded: Option<Vec<String>>,
    instance: Option<String>,
    access_log: bool,
    trace_checks: bool,
    trace_public_endpoint: bool,
    url_scheme: Option<String>,
    /// The first retry of failing and pending checks (`None`: off), for the checks
    /// that do not set their own.
    retry: Option<std::time::Duration>,
    #[cfg(feature = "system")]
    system_metrics: bool,
    #[cfg(feature = "system")]
    system: SystemSettings,
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
            #[cfg(feature = "logging")]
            log_filter: None,
            registry: None,
            namespace: None,
            buckets: DEFAULT_DURATION_BUCKETS.to_vec(),
            max_routes: 200,
            excluded: None,
            instance: None,
            access_log: true,
            trace_checks: false,
            trace_public_endpoint: false,
            url_scheme: None,
            retry: Some(crate::health::DEFAULT_RETRY),
            #[cfg(feature = "system")]
            system_metrics: true,
            #[cfg(feature = "system")]
            system: SystemSettings::default(),
        }
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

    /// The service's reloadable log filter: the adapters then mount the
    /// [log-level route](crate::endpoint#the-log-level-route), which reads and
    /// replaces it for the holder of the [details token](Self::details_token).
    /// Without a filter there is no such route.
    ///
    /// ```
    /// use readiness_core::logging::LogFilter;
    /// use readiness_core::Readiness;
    /// use tracing_subscriber::layer::SubscriberExt as _;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (filter, log_filter) = LogFilter::from_env("info")?; // RUST_LOG, else info
    /// let readiness = Readiness::builder()
    ///     .details_token("an-operator-token-0123")
    ///     .log_filter(log_filter)
    ///     .build()?;
    /// let _subscriber = tracing_subscriber::registry().with(filter); // then `.init()`
    /// # let _ = readiness;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "logging")]
    #[cfg_attr(docsrs, doc(cfg(feature = "logging")))]
    pub fn log_filter(mut self, filter: crate::logging::LogFilter) -> Self {
        self.log_filter = Some(filter);
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

    /// Whether the service is a public endpoint for tracing (default: no). Then a
    /// caller's `traceparent` is not the parent of the request's server span but a
    /// link on it: every request starts a trace of ours, sampled by our sampler, so an
    /// outside caller can neither join our traces nor force them sampled (as Go's
    /// otelhttp `WithPublicEndpoint`). The caller's `baggage` is ignored too. Turn it
    /// on for a service the internet calls directly; leave it off behind a gateway
    /// that starts the trace.
    ///
    /// `Setup` (feature `logging`) reads `READINESS_TRACE_PUBLIC_ENDPOINT` (`true`
    /// or `false`), which, when set, wins over this setting at `Setup::init`: how
    /// the service is exposed is the deployment's to say, as `OTEL_SERVICE_NAME`
    /// wins over the name in code.
    ///
    /// Probes and `/metrics` are never traced either way (see
    /// [`exclude_routes`](Self::exclude_routes)).
    ///
    /// ```
    /// let readiness = readiness_core::Readiness::builder()
    ///     .trace_public_endpoint(true)
    ///     .build()
    ///     .unwrap();
    /// # let _ = readiness;
    /// ```
    pub fn trace_public_endpoint(mut self, public: bool) -> Self {
        self.trace_public_endpoint = public;
        self
    }

    /// The scheme clients reach the service by, `http` or `https` (field
    /// `url_scheme`): `url.scheme` on every server span and, with OTLP metrics, on
    /// the `http.server.*` points (it is never a Prometheus label, so the series on
    /// `/metrics` are the same either way). Unset, a span takes the scheme its
    /// connection reports, if any (actix-web with TLS of its own; an HTTP/2
    /// `:scheme`), else `http`, and the points `http`: the adapters serve plain
    /// HTTP. Set `https` when TLS ends in front of the service (a load balancer, an
    /// ingress) or on a listener of your own.
    ///
    /// A setting rather than `X-Forwarded-Proto` or `Forwarded: proto=`: the
    /// conventions ask for the client's scheme when it is known, and here it is
    /// known once, by whoever deploys the service, whereas the header is whatever
    /// the last hop (or, on a public endpoint, the caller) wrote, and reading it
    /// would cost every request a lookup and let the span disagree with the
    /// metrics.
    ///
    /// ```
    /// let readiness = readiness_core::Readiness::builder()
    ///     .url_scheme("https") // TLS ends at the ingress
    ///     .build()
    ///     .unwrap();
    /// # let _ = readiness;
    /// let error = readiness_core::Readiness::builder().url_scheme("ftp").build().unwrap_err();
    /// assert_eq!(error.field(), "url_scheme");
    /// ```
    pub fn url_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.url_scheme = Some(scheme.into());
        self
    }

    /// How soon a check that is failing, or has not passed yet, is run again, for
    /// every check that does not set its own
    /// ([`CheckSpec::retry_backoff`](crate::CheckSpec::retry_backoff)): after
    /// `initial`, then twice as long after each further failed run, up to the
    /// check's interval. Default 200 ms; 10 ms to 24 h (field `retry`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    ///
    /// let readiness = readiness_core::Readiness::builder()
    ///     .retry_backoff(Duration::from_millis(500))
    ///     .build()?;
    /// # let _ = readiness;
    /// # Ok(()) }
    /// ```
    pub fn retry_backoff(mut self, initial: std::time::Duration) -> Self {
        self.retry = Some(initial);
        self
    }

    /// Turns the retry off for every check that does not set its own: a failing or
    /// pending check waits for its next interval, as before the retry existed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let readiness = readiness_core::Readiness::builder().no_retry().build()?;
    /// # let _ = readiness;
    /// # Ok(()) }
    /// ```
    pub fn no_retry(mut self) -> Self {
        self.retry = None;
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
        self.system_metrics = enabled;
        self
    }

    /// How often the background thread reads the process and host figures (default
    /// 10 s, from 1 s to 1 h). `system_cpu_utilization_ratio` is the average over it.
    #[cfg(feature = "system")]
    #[cfg_attr(docsrs, doc(cfg(feature = "system")))]
    pub fn system_metrics_interval(mut self, interval: std::time::Duration) -> Self {
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
        // Each part checks its own settings, with errors naming the field.
        #[cfg_attr(not(feature = "logging"), allow(unused_mut))]
        let mut answers = Answers::new(
            Identity {
                service: self.service,
                version: self.version,
                release_id: self.release_id,
                description: self.description,
            },
            self.details,
            self.token,
        )?;
        #[cfg(feature = "logging")]
        if let Some(filter) = self.log_filter {
            answers.log_filter = std::sync::OnceLock::from(filter);
        }
        crate::health::validate_checks(&self.checks)?;
        if let Some(initial) = self.retry {
            crate::health::validate_retry(initial)
                .map_err(|message| BuildError::new("retry", message))?;
        }
        let red_settings = RedSettings {
            namespace: self.namespace.clone(),
            buckets: self.buckets.clone(),
            max_routes: self.max_routes,
            excluded: self
                .excluded
                .unwrap_or_else(|| ROUTES.map(str::to_owned).to_vec()),
            url_scheme: self.url_scheme,
        };
        red_settings.validate()?;
        #[cfg(feature = "system")]
        let system = SystemSettings {
            namespace: self.namespace.clone(),
            ..self.system
        };
        #[cfg(feature = "system")]
        system.validate()?;
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
        let registry = self.registry.unwrap_or_default();
        let register_error = |error: prometheus::Error| {
            BuildError::new(
                "registry",
                format!("cannot register the library's metrics (is a family of the same name registered already?): {error}"),
            )
        };
        let instance = self
            .instance
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".to_owned());
        let names: Vec<(&str, bool)> = self
            .checks
            .iter()
            .map(|check| (check.check_name(), check.is_critical()))
            .collect();
        let registrar = Registrar::new(&registry);
        let registered = (|| {
            let red = RedMetrics::register(&registrar, &red_settings).map_err(register_error)?;
            let health = HealthMetrics::register(&registrar, self.namespace.as_deref(), &names)
                .map_err(register_error)?;
            let caches = CacheFamily::register(&registrar, self.namespace.as_deref())
                .map_err(register_error)?;
            let jobs = JobFamily::register(&registrar, self.namespace.as_deref())
                .map_err(register_error)?;
            #[cfg(feature = "_sqlx")]
            let pools = crate::metrics::PoolFamily::register(&registrar, self.namespace.as_deref())
                .map_err(register_error)?;
            #[cfg(not(feature = "_sqlx"))]
            let pools = ();
            crate::metrics::register_info(
                &registrar,
                self.namespace.as_deref(),
                answers.identity.service.as_deref(),
                answers.identity.version.as_deref(),
                &instance,
            )
            .map_err(register_error)?;
            #[cfg(feature = "system")]
            let sampler = self
                .system_metrics
                .then(|| crate::metrics::Sampler::start(&registrar, system))
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
            Ok((red, health, caches, (jobs, pools), sampler))
        })();
        let (red, health, caches, (jobs, pools), sampler) = match registered {
            Ok(parts) => parts,
            Err(error) => {
                registrar.rollback();
                return Err(error);
            }
        };
        #[cfg(not(feature = "system"))]
        let () = sampler;
        #[cfg(not(feature = "_sqlx"))]
        let () = pools;

        let checks: Vec<(CheckInfo, _)> = self
            .checks
            .into_iter()
            .map(|check| check.into_parts(self.retry))
            .collect();
        let mut shared = Shared::new(checks, Some(health));
        shared.trace_checks = self.trace_checks;
        let shared = Arc::new(shared);
        let tasks = runtime.map_or_else(Vec::new, |runtime| {
            (0..shared.infos.len())
                .map(|i| runtime.spawn(Arc::clone(&shared).drive(i)).abort_handle())
                .collect()
        });
        Ok(Readiness {
            inner: Arc::new(Inner {
                shared,
                answers,
                unready: ReadySwitch::default(),
                started_at: Instant::now(),
                registry,
                instance,
                namespace: self.namespace,
                buckets: self.buckets,
                observer: Observer::new(red, self.access_log, self.trace_public_endpoint),
                scrapes: crate::endpoint::Scrapes::default(),
                caches,
                jobs,
                #[cfg(feature = "_sqlx")]
                pools,
                tasks,
                #[cfg(feature = "system")]
                _sampler: sampler,
            }),
        })
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
