//! Framework-neutral answers for the probe, health and `/metrics` routes, and the
//! route constants every adapter mounts them under.
//!
//! Adapters turn their request into a [`ProbeRequest`] and the returned
//! `http::Response<Bytes>` into theirs, so every framework answers byte for byte the
//! same.
//!
//! | path | what it answers |
//! |---|---|
//! | `/livez` | liveness checks |
//! | `/readyz` | readiness checks, the startup gate and the manual switch |
//! | `/startupz` | `pass` once every critical readiness and startup check passed once |
//! | `/health` | every check, the service's identity and uptime |
//! | `/health/{check}` | one check; 404 for an unknown name |
//! | `/metrics` | the registry in Prometheus' text format, or in OpenMetrics with exemplars when the scraper's `Accept` asks for it ([`Readiness::metrics_response_for`](crate::Readiness::metrics_response_for)) |
//!
//! `200` for `pass` and `warn`, `503` for `fail`, `405` for methods other than GET
//! and HEAD, `400` for a `?tag=` no check carries. HEAD is answered like GET, body
//! included, so the server can state its length; hyper (axum) and actix-web drop the
//! body when they write a HEAD response. Query parameters follow
//! Kubernetes: `?verbose` answers a plain-text list (`[+]db ok`), `?exclude=NAME`
//! (repeatable) leaves a check out; `?tag=NAME` keeps only the checks with that tag.
//!
//! # Pending checks
//!
//! A check that has not reported a status yet — its first run has not ended, or its
//! first runs failed fewer times than its failure threshold — is *pending*. It has
//! not passed, so it is never answered as healthy on its own:
//!
//! | where | a pending check |
//! |---|---|
//! | `/health/{check}` | `503`, `"status":"fail"`, `"output":"pending: not checked yet"` (or `"pending"`; with full details `"pending: OUTPUT (failure N of M)"`) |
//! | its entry in any body | `"status":"fail"` with that `output`, no `time` before the first run |
//! | `/readyz`, `/health` | counts as failing: a critical one fails them (before startup `/readyz` says `starting`), a non-critical one makes them `warn` |
//! | `/livez` | makes it `warn` (200): a check that has not run is no reason to restart |
//! | `?verbose` | `[-]db pending: not checked yet` (`[-]db pending` when reasons are withheld) |
//! | [`Readiness::check_status`](crate::Readiness::check_status) | [`Status::Fail`](crate::Status::Fail); [`Readiness::is_pending`](crate::Readiness::is_pending) tells it apart |
//!
//! `health_check_status` keeps `0.5` for a pending check: it is not a failure to
//! alert on. Failing and pending checks are retried soon (see the
//! [`health` module docs](crate::health#retry)), so a check stays pending for about a
//! second when its dependency is up.
//!
//! # The log-level route
//!
//! With the `logging` feature and a [`LogFilter`](crate::logging::LogFilter) given to
//! [`ReadinessBuilder::log_filter`](crate::ReadinessBuilder::log_filter) (or
//! installed by [`Setup::init`](crate::Setup::init)), the adapters also mount [`LOG_LEVEL_PATH`] (`/log-level`), answered by
//! [`Readiness::respond_log_level`](crate::Readiness::respond_log_level). It changes
//! the log filter at run time, without a restart (as Spring's `/actuator/loggers`):
//!
//! | request | answer |
//! |---|---|
//! | `GET` | `200 {"filter":"orders=debug,info","startup":"info"}`: the filter in force and the start-up one |
//! | `PUT` or `POST` `{"filter":"info,orders=debug"}` (or the directives as plain text) | sets it; `200` with the new state |
//! | `DELETE` (or `PUT`/`POST` `{"reset":true}`) | back to the start-up filter; `200` |
//! | a filter that does not parse, or none | `400` with the parser's message (`application/problem+json`); nothing changed |
//!
//! Every request needs the [details token](crate::ReadinessBuilder::details_token),
//! checked as for the full health details: `401` (with `WWW-Authenticate: Bearer`)
//! without it or with a wrong one, `403` when the service has no token at all; each
//! refusal is a security event (`authentication_failure`). Each change is an audit
//! line (`actor` `details-token`, `action` `update` or `reset`, `resource_type`
//! `log_filter`, `from` and `to`, the request's `request_id`), written under the
//! filter that shows it: before the change when the new filter would hide it.
//! Directives are `tracing_subscriber`'s `Targets`: `LEVEL`, `TARGET=LEVEL`, comma
//! separated; levels `trace`, `debug`, `info`, `warn`, `error`, `off`.
//!
//! ```
//! use readiness_core::endpoint::LogLevelRequest;
//! use readiness_core::logging::LogFilter;
//! use readiness_core::Readiness;
//! use tracing_subscriber::layer::SubscriberExt as _;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (filter, log_filter) = LogFilter::new("info")?;
//! let readiness = Readiness::builder()
//!     .details_token("an-operator-token-0123")
//!     .log_filter(log_filter)
//!     .build()?;
//! let _subscriber = tracing_subscriber::registry().with(filter); // then your layers, `.init()`
//! # tracing::subscriber::with_default(_subscriber, || {
//! let set = LogLevelRequest::new("PUT", b"info,orders=debug")
//!     .with_authorization(Some(b"Bearer an-operator-token-0123"));
//! let response = readiness.respond_log_level(&set);
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.body(), r#"{"filter":"orders=debug,info","startup":"info"}"#);
//! let anonymous = LogLevelRequest::new("GET", b"");
//! assert_eq!(readiness.respond_log_level(&anonymous).status(), 401);
//! # });
//! # Ok(()) }
//! ```
//!
//! # An admin listener
//!
//! The probes, `/metrics` and the log-level route can be served on a listener of
//! their own (a port Kubernetes and Prometheus reach and the public does not):
//! `readiness_axum::admin_router` with `readiness_axum::serve_with_admin`, and
//! `readiness_actix::admin_server` with `readiness_actix::run_with_admin`. Requests
//! there are not observed (no RED series, no access line), and one graceful shutdown
//! drives both listeners: readiness fails on both at once, then both drain. Leave
//! the routes off the main listener then (`Instrument::health_routes(false)` and its
//! siblings on axum; no `configure` on actix), so that they answer on one port only.

mod answer;
mod healthcheck;
#[cfg(feature = "logging")]
mod log_level;
mod openmetrics;
mod report;
mod scrape;
mod text;

pub use healthcheck::{healthcheck, probe_status};

#[cfg(feature = "logging")]
#[cfg_attr(docsrs, doc(cfg(feature = "logging")))]
pub use log_level::{LogLevelRequest, LOG_LEVEL_MAX_BODY};

pub(crate) use answer::{Answers, Identity, State};
#[cfg(feature = "logging")]
pub(crate) use log_level::respond as respond_log_level;
pub(crate) use scrape::Scrapes;

/// The path of the liveness probe.
pub const LIVEZ_PATH: &str = "/livez";
/// The path of the readiness probe.
pub const READYZ_PATH: &str = "/readyz";
/// The path of the startup probe.
pub const STARTUPZ_PATH: &str = "/startupz";
/// The path of the whole health report.
pub const HEALTH_PATH: &str = "/health";
/// The prefix of the one-check reports, `/health/{check}`.
pub const HEALTH_CHECK_PREFIX: &str = "/health/";
/// The route template of the one-check reports; the parameter is `check`.
pub const CHECK_PATH: &str = "/health/{check}";
/// The path of the Prometheus scrape endpoint.
pub const METRICS_PATH: &str = "/metrics";
/// The path of the log-level route (see [the module docs](self#the-log-level-route)).
pub const LOG_LEVEL_PATH: &str = "/log-level";
/// The library's own routes, at the root: the probes, the health reports and the
/// scrape, which the RED metrics and the access log leave out by default (see
/// [`ReadinessBuilder::exclude_routes`](crate::ReadinessBuilder::exclude_routes)).
pub const ROUTES: [&str; 6] = [
    LIVEZ_PATH,
    READYZ_PATH,
    STARTUPZ_PATH,
    HEALTH_PATH,
    CHECK_PATH,
    METRICS_PATH,
];
/// The media type of health bodies.
pub const HEALTH_JSON: &str = "application/health+json";

/// How much of a health body anonymous callers see.
///
/// Failure messages can name hosts and versions can point at known vulnerabilities,
/// so the default shows components with their status and latency but no messages and
/// no version. A caller presenting the [details token](crate::ReadinessBuilder::details_token)
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

/// Which health route a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint<'a> {
    /// `/livez`
    Livez,
    /// `/readyz`
    Readyz,
    /// `/startupz`
    Startupz,
    /// `/health`
    Health,
    /// `/health/{check}`
    Check(&'a str),
}

impl Endpoint<'_> {
    /// The route template the endpoint is served under, at the root.
    #[must_use]
    pub fn route(&self) -> &'static str {
        match self {
            Self::Livez => LIVEZ_PATH,
            Self::Readyz => READYZ_PATH,
            Self::Startupz => STARTUPZ_PATH,
            Self::Health => HEALTH_PATH,
            Self::Check(_) => CHECK_PATH,
        }
    }
}

impl<'a> Endpoint<'a> {
    /// The endpoint served at `path`, if any.
    ///
    /// ```
    /// use readiness_core::Endpoint;
    /// assert_eq!(Endpoint::from_path("/health/db"), Some(Endpoint::Check("db")));
    /// assert_eq!(Endpoint::from_path("/orders"), None);
    /// ```
    #[must_use]
    pub fn from_path(path: &'a str) -> Option<Self> {
        match path {
            LIVEZ_PATH => Some(Self::Livez),
            READYZ_PATH => Some(Self::Readyz),
            STARTUPZ_PATH => Some(Self::Startupz),
            HEALTH_PATH => Some(Self::Health),
            _ => path
                .strip_prefix(HEALTH_CHECK_PREFIX)
                .filter(|name| !name.is_empty() && !name.contains('/'))
                .map(Self::Check),
        }
    }

    fn label(self) -> &'a str {
        match self {
            Self::Livez => "livez",
            Self::Readyz => "readyz",
            Self::Startupz => "startupz",
            Self::Health => "health",
            Self::Check(name) => name,
        }
    }
}

/// A request to a health route, in framework-neutral terms.
///
/// ```
/// use readiness_core::{Endpoint, ProbeRequest};
///
/// let request = ProbeRequest::new(Endpoint::Readyz, "GET")
///     .with_query(Some("verbose&exclude=cache"))
///     .with_authorization(Some(b"Bearer 0123456789abcdef"));
/// # let _ = request;
/// ```
#[derive(Clone, Copy)]
pub struct ProbeRequest<'a> {
    endpoint: Endpoint<'a>,
    method: &'a str,
    query: Option<&'a str>,
    authorization: Option<&'a [u8]>,
}

impl<'a> ProbeRequest<'a> {
    /// A request for `endpoint` with the HTTP `method` (`GET`, `HEAD`, ...).
    #[must_use]
    pub fn new(endpoint: Endpoint<'a>, method: &'a str) -> Self {
        Self {
            endpoint,
            method,
            query: None,
            authorization: None,
        }
    }

    /// The raw query string, without the `?`.
    #[must_use]
    pub fn with_query(mut self, query: Option<&'a str>) -> Self {
        self.query = query;
        self
    }

    /// The raw `Authorization` header value.
    #[must_use]
    pub fn with_authorization(mut self, authorization: Option<&'a [u8]>) -> Self {
        self.authorization = authorization;
        self
    }
}

impl std::fmt::Debug for ProbeRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeRequest")
            .field("endpoint", &self.endpoint)
            .field("method", &self.method)
            .field("query", &self.query)
            .field("authorization", &self.authorization.map(|_| "<redacted>"))
            .finish()
    }
}
